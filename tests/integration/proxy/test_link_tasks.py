"""What a proxied connection costs the event loop (in process, real sockets on 127.0.0.1): one
task while it is dialled, none while it idles or forwards on the fast path, a reader task
only once a toxic pipes it, and nothing left once both peers are gone. A burst of new
connections is paid for in tasks, so this is what keeps the proxy's accept rate up."""

from __future__ import annotations

import asyncio
import random

import pytest

from harness.proxy.collection import ProxyCollection, ProxySpec, ToxicSpec

pytestmark = pytest.mark.integration

CONNECTIONS = 40


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    writer.close()


def _others() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def _settle(condition: object, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the proxy did not settle")
        await asyncio.sleep(0.01)


async def _scenario() -> None:
    echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = echo.sockets[0].getsockname()[1]
    collection = ProxyCollection(random.Random(1))
    proxy = await collection.create(ProxySpec("echo", "127.0.0.1:0", f"127.0.0.1:{port}"))
    host, listen = proxy.listen.rsplit(":", 1)
    await _settle(lambda: True)
    before = _others()  # the echo server's own tasks
    streams = [await asyncio.open_connection(host, int(listen)) for _ in range(CONNECTIONS)]
    for index, (reader, writer) in enumerate(streams):
        writer.write(f"{index:04d}".encode())
        assert await reader.readexactly(4) == f"{index:04d}".encode()
    await _settle(lambda: len(proxy.connections) == CONNECTIONS)
    echo_tasks = CONNECTIONS  # the echo server's handler per connection
    ours = len(_others() - before) - echo_tasks
    assert ours == 0, f"{ours} proxy tasks for {CONNECTIONS} idle fast-path connections"

    # a toxic pipes every live link of its direction: each gets a reader task (and stages)
    await collection.toxics["echo"].add(ToxicSpec(type="latency", attributes={"latency": 1}))
    reader, writer = streams[0]
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    assert len(_others() - before) - echo_tasks >= CONNECTIONS

    # both peers gone: no link, no task, no connection left behind
    for _, writer in streams:
        writer.close()
    await _settle(lambda: not proxy.connections)
    await _settle(lambda: len(_others() - before) == 0)
    await collection.close()
    echo.close()
    await echo.wait_closed()


def test_idle_connections_cost_no_task_and_leave_none_behind() -> None:
    asyncio.run(_scenario())
