"""Reference upstreams for benchmarks, each run in its own process on 127.0.0.1:0.

``python -m harness.bench.servers echo|sink`` prints ``PORT`` then serves until killed.
  echo  writes back whatever it reads
  sink  reads an 8-byte big-endian length, then that many bytes, then answers b"ok"
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import sys


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(256 * 1024):
            writer.write(data)
            await writer.drain()
    writer.close()


async def _sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while header := await reader.readexactly(8):
            remaining = int.from_bytes(header, "big")
            while remaining:
                data = await reader.read(min(remaining, 1 << 20))
                if not data:
                    return
                remaining -= len(data)
            writer.write(b"ok")
            await writer.drain()
    writer.close()


async def _main(kind: str) -> None:
    handler = _echo if kind == "echo" else _sink
    server = await asyncio.start_server(handler, "127.0.0.1", 0, backlog=4096, limit=1 << 20)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(sys.argv[1]))
