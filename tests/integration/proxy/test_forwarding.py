"""The fast path forwards from the socket's data callback (harness/proxy/forwarding.py); what
must hold whatever the path: a receiver that stops reading holds the sender back (the proxy
does not soak the stream up in memory), and every byte arrives once, in order."""

from __future__ import annotations

import hashlib
import socket
import threading

import pytest

from harness.faults import ToxiproxyClient
from tests.integration.proxy.conftest import ProxyProcess, connect, wait_for

pytestmark = pytest.mark.integration

BLOCK = 1 << 20
BLOCKS = 128  # far more than every socket buffer on the way can hold (about 40 MiB here)


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _block(index: int) -> bytes:
    return index.to_bytes(4, "big") * (BLOCK // 4)  # each block its own: a reorder shows


def test_a_receiver_that_stops_reading_holds_the_sender_back_and_loses_nothing(
    client: ToxiproxyClient, proxy_server: ProxyProcess
) -> None:
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        host, port = listener.getsockname()
        listen = client.create_proxy("held", f"{host}:{port}").listen
        before = _rss_mib(proxy_server.process.pid)
        sent = hashlib.sha256()
        done = threading.Event()

        def send() -> None:
            with connect(listen, timeout=60) as sock:
                for index in range(BLOCKS):
                    block = _block(index)
                    sent.update(block)
                    sock.sendall(block)
                sock.shutdown(socket.SHUT_WR)
                done.wait(60)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        upstream, _ = listener.accept()
        with upstream:
            # not reading: the sender fills every buffer on the way, then waits
            with pytest.raises(AssertionError):
                wait_for(lambda: not sender.is_alive(), 1.5, "sender blocked")
            grown = _rss_mib(proxy_server.process.pid) - before
            assert grown < 32, f"the proxy soaked up {grown:.0f} MiB of a stalled stream"
            received = hashlib.sha256()
            total = 0
            while data := upstream.recv(1 << 16):
                received.update(data)
                total += len(data)
            done.set()
        sender.join(10)
    assert total == BLOCK * BLOCKS
    assert received.hexdigest() == sent.hexdigest()
