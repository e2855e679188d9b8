"""Defects of a bad build, declared in the topology (pure ASGI, in front of the app).

    request -> Defects: + added_latency_ms; error_rate -> 500; broken_path -> 500 -> app

Health, metrics and signals are left alone: a bad release still looks alive to a naive check.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["Defects"]

_SPARED = ("/healthz", "/metrics", "/signals")


class Defects:
    def __init__(
        self, app: ASGIApp, defects: dict[str, Any], build: str, rng: random.Random | None = None
    ) -> None:
        self.app = app
        self.build = build.encode()
        self.latency_s = float(defects.get("added_latency_ms", 0)) / 1000.0
        self.error_rate = float(defects.get("error_rate", 0.0))
        self.broken_path = str(defects.get("broken_path") or "")
        self.rng = rng or random.Random()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(_SPARED):
            await self.app(scope, receive, send)
            return
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        broken = bool(self.broken_path) and path.startswith(self.broken_path)
        if broken or self.rng.random() < self.error_rate:
            body = json.dumps({"error": "defect of this build", "retryable": False}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json"), (b"x-build", self.build)],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
