"""Each toxic's effect on real bytes through real echo/sink servers (reference §3, §5.2-5.5).

Bounds are generous on the slow side (a noisy 2-core machine), strict on the fast side: a toxic
that does nothing always fails.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from harness.faults import ToxiproxyClient
from tests.integration.proxy.conftest import (
    TcpServer,
    connect,
    is_listening,
    read_until_eof,
    recv_exactly,
    wait_for,
)

pytestmark = pytest.mark.integration

SLACK = 0.25  # seconds allowed above an expected delay on this machine


def _round_trip(sock: socket.socket, payload: bytes = b"ping") -> float:
    start = time.monotonic()
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    return time.monotonic() - start


@pytest.fixture
def echo_proxy(client: ToxiproxyClient, echo_server: TcpServer) -> str:
    return client.create_proxy("echo", echo_server.address).listen


@pytest.mark.parametrize("size", [5, 64 * 1024, 3 * 1024 * 1024])
def test_bytes_pass_intact(echo_proxy: str, size: int) -> None:
    payload = os.urandom(size)
    with connect(echo_proxy) as sock:
        threading.Thread(target=sock.sendall, args=(payload,), daemon=True).start()
        assert recv_exactly(sock, size) == payload


def test_two_part_message(echo_proxy: str) -> None:
    with connect(echo_proxy) as sock:
        sock.sendall(b"hello ")
        sock.sendall(b"world")
        assert recv_exactly(sock, 11) == b"hello world"


def test_unreachable_upstream_gives_a_prompt_eof(client: ToxiproxyClient) -> None:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{spare.getsockname()[1]}"
    proxy = client.create_proxy("down", dead)
    start = time.monotonic()
    with connect(proxy.listen) as sock:
        assert sock.recv(10) == b""
    assert time.monotonic() - start < 0.5


@pytest.mark.parametrize(("up_ms", "down_ms"), [(100, 0), (0, 100), (100, 100), (300, 50), (0, 0)])
def test_latency_per_direction(
    client: ToxiproxyClient, echo_proxy: str, up_ms: int, down_ms: int
) -> None:
    if up_ms:
        client.add_toxic("echo", "latency", stream="upstream", attributes={"latency": up_ms})
    if down_ms:
        client.add_toxic("echo", "latency", stream="downstream", attributes={"latency": down_ms})
    with connect(echo_proxy) as sock:
        elapsed = min(_round_trip(sock) for _ in range(3))
    expected = (up_ms + down_ms) / 1000
    assert expected - 0.002 <= elapsed <= expected + SLACK


def test_upstream_latency_delays_the_server_read(
    client: ToxiproxyClient, sink_server: TcpServer
) -> None:
    proxy = client.create_proxy("sink", sink_server.address)
    client.add_toxic("sink", "latency", stream="upstream", attributes={"latency": 200})
    with connect(proxy.listen) as sock:
        sent = time.monotonic()
        sock.sendall(b"x")
        wait_for(lambda: bool(sink_server.received))
    assert 0.198 <= sink_server.received[0][0] - sent <= 0.2 + SLACK


def test_stacked_latencies_add_up(client: ToxiproxyClient, echo_proxy: str) -> None:
    client.add_toxic("echo", "latency", name="a", stream="upstream", attributes={"latency": 250})
    client.add_toxic("echo", "latency", name="b", stream="upstream", attributes={"latency": 250})
    with connect(echo_proxy) as sock:
        assert 0.498 <= _round_trip(sock) <= 0.5 + SLACK


def test_latency_is_pipelined_not_serialised(client: ToxiproxyClient, echo_proxy: str) -> None:
    client.add_toxic("echo", "latency", attributes={"latency": 200})
    with connect(echo_proxy) as sock:
        start = time.monotonic()
        for index in range(5):
            sock.sendall(bytes([65 + index]))
            time.sleep(0.02)
        assert recv_exactly(sock, 5) == b"ABCDE"
    # Five chunks 20 ms apart with 200 ms each: about 280 ms, far from 5 x 200 ms.
    assert 0.27 <= time.monotonic() - start <= 0.28 + SLACK


def test_jitter_stays_in_range(client: ToxiproxyClient, echo_proxy: str) -> None:
    client.add_toxic("echo", "latency", attributes={"latency": 100, "jitter": 50})
    with connect(echo_proxy) as sock:
        samples = [_round_trip(sock) for _ in range(12)]
    assert min(samples) >= 0.048
    assert max(samples) <= 0.15 + SLACK
    assert max(samples) - min(samples) > 0.01  # jitter really varies


def test_removing_latency_forwards_held_data_at_once(
    client: ToxiproxyClient, echo_proxy: str
) -> None:
    client.add_toxic("echo", "latency", name="slow", attributes={"latency": 5000})
    with connect(echo_proxy) as sock:
        sock.sendall(b"held")
        time.sleep(0.1)
        start = time.monotonic()
        client.remove_toxic("echo", "slow")
        assert recv_exactly(sock, 4) == b"held"
        assert time.monotonic() - start < 1.0


def test_bandwidth_limits_throughput(client: ToxiproxyClient, sink_server: TcpServer) -> None:
    proxy = client.create_proxy("bw", sink_server.address)
    client.add_toxic("bw", "bandwidth", stream="upstream", attributes={"rate": 400})
    payload = os.urandom(200_000)  # 0.5 s at 400 KB/s
    with connect(proxy.listen) as sock:
        start = time.monotonic()
        sock.sendall(payload)
        wait_for(lambda: sum(len(d) for _, d in sink_server.received) == len(payload), 10)
    elapsed = sink_server.received[-1][0] - start
    assert 0.45 <= elapsed <= 0.5 + SLACK
    assert b"".join(d for _, d in sink_server.received) == payload


def test_bandwidth_zero_holds_data_until_removed(client: ToxiproxyClient, echo_proxy: str) -> None:
    client.add_toxic("echo", "bandwidth", name="stop", attributes={"rate": 0})
    with connect(echo_proxy, timeout=0.3) as sock:
        sock.sendall(b"blocked")
        with pytest.raises(TimeoutError):
            sock.recv(10)
        client.remove_toxic("echo", "stop")
        sock.settimeout(5)
        assert recv_exactly(sock, 7) == b"blocked"


def test_slow_close_delays_the_close(client: ToxiproxyClient) -> None:
    def reply_and_close(conn: socket.socket, server: TcpServer) -> None:
        conn.recv(10)
        conn.sendall(b"bye")
        server.closed_at.append(time.monotonic())

    server = TcpServer(reply_and_close)
    try:
        proxy = client.create_proxy("sc", server.address)
        client.add_toxic("sc", "slow_close", attributes={"delay": 300})
        with connect(proxy.listen) as sock:
            sock.sendall(b"hi")
            assert read_until_eof(sock) == b"bye"
            closed = time.monotonic()
        assert 0.29 <= closed - server.closed_at[0] <= 0.3 + SLACK
    finally:
        server.close()


def test_timeout_zero_drops_data_and_removal_closes_both_sides(
    client: ToxiproxyClient, sink_server: TcpServer
) -> None:
    proxy = client.create_proxy("to", sink_server.address)
    client.add_toxic("to", "timeout", name="hole", stream="upstream", attributes={"timeout": 0})
    with connect(proxy.listen, timeout=2) as sock:
        sock.sendall(b"lost")
        time.sleep(0.2)
        assert sink_server.received == []
        start = time.monotonic()
        client.remove_toxic("to", "hole")
        assert sock.recv(10) == b""
        wait_for(lambda: bool(sink_server.closed_at), 1.0, "server side closed")
    assert time.monotonic() - start < 1.0
    assert sink_server.received == []


def test_timeout_closes_after_quiet_period(client: ToxiproxyClient, echo_proxy: str) -> None:
    client.add_toxic("echo", "timeout", attributes={"timeout": 300})
    with connect(echo_proxy, timeout=3) as sock:
        start = time.monotonic()
        assert sock.recv(10) == b""
    assert 0.29 <= time.monotonic() - start <= 0.3 + SLACK


def test_timeout_behind_latency_does_not_hang_removal(
    client: ToxiproxyClient, echo_proxy: str
) -> None:
    client.add_toxic("echo", "latency", name="lat", attributes={"latency": 2000})
    client.add_toxic("echo", "timeout", name="hole", attributes={"timeout": 0})
    with connect(echo_proxy, timeout=3) as sock:
        sock.sendall(b"x")
        time.sleep(0.1)
        start = time.monotonic()
        client.remove_toxic("echo", "lat")
        assert time.monotonic() - start < 1.0


def _reset_error(sock: socket.socket) -> None:
    with pytest.raises(ConnectionResetError):
        sock.recv(10)


@pytest.mark.parametrize(
    ("stream", "timeout_ms"), [("upstream", 0), ("upstream", 100), ("downstream", 100)]
)
def test_reset_peer_sends_rst(
    client: ToxiproxyClient, echo_proxy: str, stream: str, timeout_ms: int
) -> None:
    client.add_toxic("echo", "reset_peer", stream=stream, attributes={"timeout": timeout_ms})
    with connect(echo_proxy, timeout=3) as sock:
        start = time.monotonic()
        sock.sendall(b"line\n")
        _reset_error(sock)
        elapsed = time.monotonic() - start
        assert sock.recv(10) == b""
    assert timeout_ms / 1000 - 0.002 <= elapsed <= timeout_ms / 1000 + SLACK


def test_reset_peer_added_to_an_open_connection_closes_with_fin(
    client: ToxiproxyClient, echo_proxy: str
) -> None:
    with connect(echo_proxy, timeout=3) as sock:
        assert _round_trip(sock) >= 0
        client.add_toxic("echo", "reset_peer", stream="upstream")
        sock.sendall(b"x")
        assert sock.recv(10) == b""


def test_slicer_keeps_data_and_spaces_pieces(client: ToxiproxyClient, echo_proxy: str) -> None:
    client.add_toxic(
        "echo", "slicer", attributes={"average_size": 1, "size_variation": 0, "delay": 10_000}
    )
    payload = bytes(range(65, 65 + 24))
    with connect(echo_proxy) as sock:
        start = time.monotonic()
        sock.sendall(payload)
        assert recv_exactly(sock, 24) == payload
    assert time.monotonic() - start >= 23 * 0.0095  # 24 pieces, 10 ms apart


@pytest.mark.parametrize(
    "attributes",
    [
        {},  # average_size 0: Toxiproxy 2.12 accepts it, then overflows its stack
        {"average_size": 10, "size_variation": 20},  # likewise
        {"average_size": 10, "delay": -5},  # a negative delay counts as none
    ],
)
def test_slicer_values_toxiproxy_accepts_keep_every_byte(
    client: ToxiproxyClient, echo_proxy: str, attributes: dict[str, int]
) -> None:
    client.add_toxic("echo", "slicer", attributes=attributes)
    payload = os.urandom(50_000)
    with connect(echo_proxy, timeout=5) as sock:
        threading.Thread(target=sock.sendall, args=(payload,), daemon=True).start()
        assert recv_exactly(sock, len(payload)) == payload
    assert client.toxics("echo")[0].attributes == {
        "average_size": 0,
        "size_variation": 0,
        "delay": 0,
        **attributes,
    }


def test_a_negative_bandwidth_holds_data_like_rate_0(
    client: ToxiproxyClient, echo_proxy: str
) -> None:
    client.add_toxic("echo", "bandwidth", attributes={"rate": -5})  # Toxiproxy 2.12: a panic
    with connect(echo_proxy, timeout=0.5) as sock:
        sock.sendall(b"held")
        with pytest.raises(TimeoutError):
            sock.recv(10)
    client.remove_toxic("echo", "bandwidth_downstream")
    with connect(echo_proxy, timeout=3) as sock:
        assert _round_trip(sock) >= 0  # the server is fine


def test_limit_data_cuts_and_closes(client: ToxiproxyClient, sink_server: TcpServer) -> None:
    proxy = client.create_proxy("lim", sink_server.address)
    client.add_toxic("lim", "limit_data", stream="upstream", attributes={"bytes": 10})
    with connect(proxy.listen, timeout=3) as sock:
        sock.sendall(b"0123456")
        time.sleep(0.05)
        sock.sendall(b"789abcdef")
        assert sock.recv(10) == b""
    wait_for(lambda: bool(sink_server.closed_at), 2.0, "server side closed")
    assert b"".join(d for _, d in sink_server.received) == b"0123456789"


def test_toxicity_zero_passes_and_update_applies_to_live_links(
    client: ToxiproxyClient, echo_proxy: str
) -> None:
    client.add_toxic("echo", "timeout", name="t", toxicity=0, attributes={"timeout": 100})
    with connect(echo_proxy, timeout=3) as sock:
        assert _round_trip(sock) < 0.1
        start = time.monotonic()
        client.update_toxic("echo", "t", toxicity=1)
        assert sock.recv(10) == b""
    assert time.monotonic() - start <= 0.1 + SLACK


def test_toxicity_is_drawn_per_connection(client: ToxiproxyClient, echo_proxy: str) -> None:
    client.add_toxic("echo", "latency", toxicity=0.5, attributes={"latency": 150})
    slow = 0
    for _ in range(40):
        with connect(echo_proxy) as sock:
            slow += _round_trip(sock) >= 0.149
    assert 8 <= slow <= 32  # binomial(40, 0.5): outside this is < 1e-4


def test_disable_closes_live_connections_and_enable_reuses_the_port(
    client: ToxiproxyClient, echo_proxy: str
) -> None:
    with connect(echo_proxy, timeout=3) as sock:
        assert _round_trip(sock) >= 0
        client.set_enabled("echo", False)
        assert sock.recv(10) == b""
    assert not is_listening(echo_proxy)
    assert client.set_enabled("echo", True).listen == echo_proxy
    with connect(echo_proxy) as sock:
        assert _round_trip(sock) >= 0


def test_upstream_change_drops_connections_same_value_keeps_them(
    client: ToxiproxyClient, echo_proxy: str, echo_server: TcpServer, proxy_server: object
) -> None:
    import requests

    url = f"{client.url}/proxies/echo"
    with connect(echo_proxy, timeout=3) as sock:
        requests.patch(url, json={"upstream": echo_server.address}, timeout=5).raise_for_status()
        host_port = echo_proxy.replace("127.0.0.1", "localhost")
        requests.patch(url, json={"listen": host_port}, timeout=5).raise_for_status()
        assert _round_trip(sock) >= 0  # same values: still connected
        moved = echo_server.address.replace("127.0.0.1", "localhost")
        requests.patch(url, json={"upstream": moved}, timeout=5).raise_for_status()
        assert sock.recv(10) == b""


def _paced_send(sock: socket.socket, payload: bytes, piece: int = 16 * 1024) -> None:
    """Send in pieces about 2 ms apart, so the transfer spans many toxic changes."""
    for offset in range(0, len(payload), piece):
        sock.sendall(payload[offset : offset + piece])
        time.sleep(0.002)


def test_no_data_lost_while_toxics_flip(client: ToxiproxyClient, echo_proxy: str) -> None:
    """TestNoDataDropped: toxics added and removed over and over during a long transfer."""
    payload = os.urandom(8 * 1024 * 1024)
    received = bytearray()
    with connect(echo_proxy, timeout=20) as sock:
        reader = threading.Thread(
            target=lambda: received.extend(recv_exactly(sock, len(payload))), daemon=True
        )
        reader.start()
        writer = threading.Thread(target=_paced_send, args=(sock, payload), daemon=True)
        writer.start()
        kinds = [("latency", {"latency": 1}), ("noop", {}), ("slicer", {"average_size": 4096})]
        flips = 0
        while writer.is_alive() or reader.is_alive():
            kind, attributes = kinds[flips % len(kinds)]
            stream = "upstream" if flips % 2 else "downstream"
            client.add_toxic("echo", kind, name="flip", stream=stream, attributes=attributes)
            client.remove_toxic("echo", "flip")
            flips += 1
            reader.join(0.001)
            assert flips < 5000, "transfer stalled"
        reader.join()
    assert flips >= 20
    assert bytes(received) == payload


def test_noop_toxics_never_break_a_persistent_connection(
    client: ToxiproxyClient, echo_proxy: str
) -> None:
    with connect(echo_proxy) as sock:
        for index in range(100):
            if index % 2 == 0:
                client.add_toxic("echo", "noop", stream="upstream" if index % 4 else "downstream")
            else:
                client.reset()
            payload = f"round {index}".encode()
            assert _round_trip(sock, payload) >= 0
