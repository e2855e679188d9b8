"""ServiceKit: the pieces every service app is assembled from (built by a factory, no globals).

kit = ServiceKit(settings)
kit.every(0.5, poll)                 background loops, started and stopped with the app
kit.on_close(db.close)               cleanup at shutdown
kit.ready_when(check)                /healthz is 503 until check() returns None (then stays 200)
app = kit.wrap(Starlette(routes=kit.routes(my_routes), lifespan=kit.lifespan, ...))
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from mock_platform.common import RequestStats, Window, json_error, metrics_endpoint
from mock_platform.settings import Settings
from mock_platform.validation import BadInput

__all__ = ["ServiceKit"]

log = logging.getLogger("mock_platform")


class ServiceKit:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = CollectorRegistry()
        self.windows: dict[str, Window] = collections.defaultdict(Window)
        self._loops: list[tuple[float, Callable[[], Awaitable[None]]]] = []
        self._closers: list[Callable[[], Any]] = []
        self._ready_check: Callable[[], Awaitable[str | None]] | None = None

    def ready_when(self, check: Callable[[], Awaitable[str | None]]) -> None:
        """Health waits for ``check`` (None = ready, else what is awaited) to pass once: a
        service whose data is not there yet is not healthy, so no run starts against it."""
        self._ready_check = check

    async def _not_ready(self) -> str | None:
        if self._ready_check is None:
            return None
        try:
            waiting = await self._ready_check()
        except Exception as exc:
            waiting = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if waiting is None:
            self._ready_check = None  # ready once is ready: later outages are faults, not start-up
        return waiting

    def every(self, interval_s: float, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` every ``interval_s`` while the app runs; a failure is logged, not fatal."""
        self._loops.append((interval_s, work))

    def on_close(self, closer: Callable[[], Any]) -> None:
        self._closers.append(closer)

    def app(
        self,
        routes: Sequence[BaseRoute],
        handlers: dict[Any, Callable[[Request, Exception], Any]] | None = None,
    ) -> ASGIApp:
        """The service's Starlette app: its routes, /healthz, /metrics, JSON errors, stats;
        ``handlers``: the service's own answers to its own exceptions."""
        app = Starlette(
            routes=self.routes(routes),
            lifespan=self.lifespan,
            exception_handlers={
                BadInput: BadInput.handler,
                **(handlers or {}),
                **self.exception_handlers(),
            },
        )
        return self.wrap(app)

    def routes(self, routes: Sequence[BaseRoute]) -> list[BaseRoute]:
        """Service routes plus /healthz and /metrics."""
        return [
            *routes,
            Route("/healthz", self._healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint(self.registry), methods=["GET"]),
        ]

    async def _healthz(self, request: Request) -> Response:
        waiting = await self._not_ready()
        if waiting is not None:
            return JSONResponse(
                {"service": self.settings.service, "ok": False, "waiting": waiting}, 503
            )
        return JSONResponse(
            {
                "service": self.settings.service,
                "build": self.settings.build,
                "profile": self.settings.profile,
                "ok": True,
            }
        )

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(self._loop(i, w)) for i, w in self._loops]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for closer in reversed(self._closers):
                result = closer()
                if inspect.isawaitable(result):
                    await result

    async def _loop(self, interval_s: float, work: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dependency is down: try again next round
                log.debug("%s background work failed: %s", self.settings.service, exc)
            await asyncio.sleep(interval_s)

    def exception_handlers(self) -> dict[Any, Callable[[Request, Exception], Any]]:
        async def crash(request: Request, exc: Exception) -> Response:
            log.exception("unhandled error on %s", request.url.path)
            return json_error(500, "internal error")

        return {Exception: crash}

    def wrap(self, app: ASGIApp) -> ASGIApp:
        return RequestStats(app, self.settings.build, self.registry, self.windows)
