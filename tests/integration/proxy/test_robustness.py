"""The server under pressure: many connections, toxic churn under load, hostile bodies, leaks."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.faults import ToxiproxyClient
from tests.integration.proxy.conftest import ProxyProcess, wait_for

pytestmark = pytest.mark.integration


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _clients(listen: str, count: int, rounds: int) -> int:
    """Open ``count`` connections at once, echo ``rounds`` messages on each; return successes."""
    host, port = listen.rsplit(":", 1)

    async def one(index: int) -> bool:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for round_ in range(rounds):
                message = f"{index}:{round_};".encode()
                writer.write(message)
                await writer.drain()
                if await reader.readexactly(len(message)) != message:
                    return False
            return True
        finally:
            writer.close()
            await writer.wait_closed()

    results = await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)
    return sum(result is True for result in results)


@pytest.fixture
def async_echo() -> Iterator[str]:
    """An asyncio echo server in a thread (cheap for thousands of connections)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    address: list[str] = []
    stop = asyncio.Event()

    async def main() -> None:
        server = await asyncio.start_server(_echo, "127.0.0.1", 0, backlog=4096)
        address.append(f"127.0.0.1:{server.sockets[0].getsockname()[1]}")
        ready.set()
        async with server:
            await stop.wait()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    assert ready.wait(5)
    yield address[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(5)
    loop.close()


def _settled(proxy_server: ProxyProcess, tasks: float, fds: float) -> bool:
    return (
        proxy_server.metric("toxiproxy_proxy_open_connections") == 0
        and proxy_server.metric("toxiproxy_asyncio_tasks") <= tasks
        and proxy_server.metric("process_open_fds") <= fds
    )


def test_a_thousand_concurrent_connections_and_nothing_leaks(
    proxy_server: ProxyProcess, client: ToxiproxyClient, async_echo: str
) -> None:
    proxy = client.create_proxy("many", async_echo)
    tasks_before = proxy_server.metric("toxiproxy_asyncio_tasks")
    fds_before = proxy_server.metric("process_open_fds")
    assert asyncio.run(_clients(proxy.listen, 1000, 3)) == 1000
    wait_for(lambda: _settled(proxy_server, tasks_before, fds_before), 15, "connections released")


def test_toxic_churn_under_load_keeps_the_api_answering(
    proxy_server: ProxyProcess, client: ToxiproxyClient, async_echo: str
) -> None:
    proxy = client.create_proxy("churn", async_echo)
    tasks_before = proxy_server.metric("toxiproxy_asyncio_tasks")
    fds_before = proxy_server.metric("process_open_fds")
    result: list[int] = []
    load = threading.Thread(
        target=lambda: result.append(asyncio.run(_clients(proxy.listen, 200, 40)))
    )
    load.start()
    slowest = 0.0
    flips = 0
    while load.is_alive() or flips < 20:
        start = time.monotonic()
        client.add_toxic("churn", "latency", name="lag", attributes={"latency": 5, "jitter": 2})
        client.add_toxic("churn", "bandwidth", name="bw", stream="upstream", attributes={"rate": 0})
        client.remove_toxic("churn", "bw")
        client.remove_toxic("churn", "lag")
        slowest = max(slowest, time.monotonic() - start)
        flips += 1
        assert flips < 2000
    load.join()
    assert result == [200]
    assert slowest < 5.0, f"four API calls took {slowest:.2f}s under load"
    wait_for(lambda: _settled(proxy_server, tasks_before, fds_before), 15, "connections released")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
TOXIC_KEYS = ["name", "type", "stream", "toxicity", "attributes"]
ATTRIBUTE_KEYS = [
    "latency",
    "jitter",
    "rate",
    "delay",
    "timeout",
    "bytes",
    "average_size",
    "size_variation",
]


@st.composite
def toxic_bodies(draw: st.DrawFn) -> object:
    body = draw(st.dictionaries(st.sampled_from(TOXIC_KEYS), JSON_VALUES, max_size=5))
    if draw(st.booleans()):
        body["type"] = draw(
            st.sampled_from(
                [
                    "latency",
                    "bandwidth",
                    "slow_close",
                    "timeout",
                    "reset_peer",
                    "slicer",
                    "limit_data",
                    "noop",
                ]
            )
        )
        body["attributes"] = draw(
            st.dictionaries(st.sampled_from(ATTRIBUTE_KEYS), JSON_VALUES, max_size=4)
        )
    return body


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=toxic_bodies() | JSON_VALUES, raw=st.binary(max_size=64))
def test_hostile_bodies_never_give_a_5xx(
    proxy_server: ProxyProcess, client: ToxiproxyClient, body: object, raw: bytes
) -> None:
    if "fuzz" not in client.proxies():
        client.create_proxy("fuzz", "127.0.0.1:1")
    base = f"{proxy_server.url}/proxies/fuzz"
    for url, data in (
        (f"{base}/toxics", json.dumps(body).encode()),
        (f"{base}/toxics", raw),
        (
            f"{base}",
            json.dumps(body if not isinstance(body, dict) else {**body, "listen": 5}).encode(),
        ),
        (f"{proxy_server.url}/populate", json.dumps(body).encode()),
    ):
        response = requests.post(url, data=data, timeout=10)
        assert response.status_code < 500, (url, data, response.text)
    for toxic in client.toxics("fuzz"):
        response = requests.post(f"{base}/toxics/{toxic.name}", data=json.dumps(body), timeout=10)
        assert response.status_code < 500, response.text
        client.remove_toxic("fuzz", toxic.name)
    for name in client.proxies():
        if name != "fuzz":
            client.delete_proxy(name)


def test_the_server_survives_garbage_on_the_api_socket(proxy_server: ProxyProcess) -> None:
    import socket

    for junk in (b"\x00" * 100, b"GET / HTTP/9.9\r\n\r\n", os.urandom(4096)):
        with socket.create_connection((proxy_server.host, proxy_server.port), timeout=5) as sock:
            sock.sendall(junk)
            sock.shutdown(socket.SHUT_WR)
            sock.recv(1024)
    assert requests.get(proxy_server.url + "/version", timeout=5).status_code == 200
