"""The proxy program: load a populate-format config, serve the API, stop cleanly on a signal.

toxiproxy.json --load_config--> ProxyCollection.populate
ProxyServer.start() -> API socket bound (port 0 resolved) -> uvicorn serves create_api(...)
SIGINT / SIGTERM -> ProxyServer.stop(): API closed, every listener and connection closed
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import random
import resource
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from harness.proxy.api import create_api
from harness.proxy.collection import ProxyCollection, ProxySpec
from harness.proxy.errors import ApiError, ConfigFileError
from harness.proxy.metrics import ProxyMetrics
from harness.proxy.server import split_host_port
from harness.proxy.stream import calibrate_timer_lead

__all__ = ["ApiBindError", "ProxyServer", "load_config", "raise_fd_limit", "run_proxy"]

log = logging.getLogger("harness.proxy")


class ApiBindError(Exception):
    """The API address cannot be bound (in use, or not an address of this machine)."""


def load_config(path: Path) -> list[ProxySpec]:
    """Read Toxiproxy's populate format: a JSON array of {name, listen, upstream, enabled}."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigFileError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(raw, list):
        raise ConfigFileError(f"{path}: must be a JSON array of proxies, got {type(raw).__name__}")
    specs: list[ProxySpec] = []
    problems: list[str] = []
    for index, item in enumerate(raw):
        where = f"{path}: [{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be an object with name, listen, upstream")
            continue
        for key in ("name", "upstream"):
            if not isinstance(item.get(key), str) or not item[key]:
                problems.append(f"{where}.{key}: required, a non-empty string")
        if not isinstance(item.get("listen", ""), str):
            problems.append(f"{where}.listen: must be a string like 127.0.0.1:8000")
        enabled = item.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            problems.append(f"{where}.enabled: must be true or false, got {enabled!r}")
        if not problems:
            specs.append(
                ProxySpec(
                    item["name"], item.get("listen", ""), item["upstream"], enabled is not False
                )
            )
    if problems:
        raise ConfigFileError("\n".join(problems))
    return specs


def raise_fd_limit(wanted: int = 65536) -> int:
    """Allow many connections: lift the soft fd limit (root may lift the hard one too)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, wanted if hard == resource.RLIM_INFINITY else max(hard, wanted))
    for limits in ((target, max(hard, target)), (hard, hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, limits)
            return limits[0]
        except (ValueError, OSError):
            continue
    return soft


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: ProxyServer decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ProxyServer:
    """The whole proxy server in this event loop; ``api_url`` is known after ``start()``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8474,
        seed: int | None = None,
        version: str = "git",
    ) -> None:
        self.host = host
        self.port = port
        self.metrics = ProxyMetrics()
        self.collection = ProxyCollection(random.Random(seed), self.metrics.on_link_done)
        self.metrics.collection = self.collection
        self._version = version
        self._server: _QuietServer | None = None
        self._serve_task: asyncio.Task[None] | None = None

    @property
    def api_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self, config: list[ProxySpec] | None = None) -> None:
        self.metrics.loop = asyncio.get_running_loop()
        await calibrate_timer_lead()
        sock = self._bind_api()
        try:
            if config:
                try:
                    await self.collection.populate(config)
                except ApiError as exc:
                    raise ConfigFileError(f"config: {exc.message}") from None
            app = create_api(self.collection, self.metrics, self._version)
            cfg = uvicorn.Config(
                app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=60
            )
            self._server = _QuietServer(cfg)
            self._serve_task = asyncio.create_task(self._server.serve(sockets=[sock]))
            while not self._server.started:
                if self._serve_task.done():
                    self._serve_task.result()
                    raise ApiBindError("the API server stopped while starting")
                await asyncio.sleep(0.01)
        except BaseException:
            sock.close()
            await self.collection.close()
            raise

    def _bind_api(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            why = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise ApiBindError(f"cannot listen on {self.host}:{self.port}: {why}") from None
        sock.listen(1024)
        self.port = sock.getsockname()[1]
        return sock

    async def stop(self) -> None:
        if self._server is not None and self._serve_task is not None:
            self._server.should_exit = True
            self._server.force_exit = True
            with contextlib.suppress(Exception):
                await self._serve_task
        await self.collection.close()


def run_proxy(
    host: str,
    port: int,
    config: Path | None,
    *,
    seed: int | None = None,
    version: str = "git",
    announce: bool = True,
    loop: str = "uvloop",
) -> None:
    """Serve in the foreground until SIGINT or SIGTERM; raises ConfigFileError/ApiBindError.

    ``loop="asyncio"`` runs on asyncio's own loop (slower to accept and forward, as
    ``harness bench proxy --loop asyncio`` shows; toxic timers are as precise: timers.py).
    """
    specs = load_config(config) if config is not None else None
    if specs:
        for spec in specs:
            try:
                split_host_port(spec.listen or ":0")
            except ApiError as exc:
                raise ConfigFileError(f"{config}: proxy {spec.name}: {exc.message}") from None
    raise_fd_limit()
    main = _serve_until_signal(ProxyServer(host, port, seed, version), specs, announce)
    if loop == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)


async def _serve_until_signal(
    server: ProxyServer, specs: list[ProxySpec] | None, announce: bool
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start(specs)
    try:
        if announce:
            names = ", ".join(sorted(server.collection.proxies)) or "none yet"
            print(f"toxiproxy API listening on {server.api_url} (proxies: {names})", flush=True)
        await stop.wait()
    finally:
        await server.stop()
        if announce:
            print("proxy stopped: every listener and connection closed", flush=True)
