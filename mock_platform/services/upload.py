"""upload: accept a video, make it durable, then acknowledge (202 + status URL).

    gateway --POST /videos (X-Creator, Idempotency-Key, body)--> upload
      1. blob   --PUT  /blobs/{id}       (upload-cdn)        --> cdn-origin   (fsync'd)
      2. meta   --PUT  /videos/{id}      (upload-catalog)    --> catalog-primary
      3. review --POST /jobs             (upload-moderation) --> moderation queue
      4. remember key -> video_id (SQLite), answer 202

The video id is derived from (creator, idempotency key), so every step is idempotent and a
retry after any failure or crash gives the same id. Nothing is acknowledged before steps 1-3
have committed. Normal profile: each step has a short timeout and a failure is a fast 503 with
Retry-After. Fragile: long timeouts (an upload "hangs"), and a moderation failure publishes the
video unreviewed (fail open).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mock_platform.common import Database, json_error, link_client
from mock_platform.kit import ServiceKit
from mock_platform.settings import Settings
from mock_platform.validation import BadInput, valid_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS accepted (
    creator TEXT NOT NULL, key TEXT NOT NULL, video_id TEXT NOT NULL, accepted_at REAL NOT NULL,
    PRIMARY KEY (creator, key));
"""
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
NAMESPACE = uuid.UUID("6f1c8f55-3f7e-4d1e-9d55-1e0f3a0c2b7a")


def video_id_for(creator: str, key: str) -> str:
    return uuid.uuid5(NAMESPACE, f"{creator}:{key}").hex


class Upload:
    def __init__(self, settings: Settings, kit: ServiceKit) -> None:
        self.settings = settings
        timeout = 30.0 if settings.has("upload-long-timeouts") else 2.0
        self.cdn = link_client(settings, "upload-cdn", timeout)
        self.catalog = link_client(settings, "upload-catalog", timeout)
        self.moderation = link_client(settings, "upload-moderation", timeout)
        self.db = Database(settings.database("upload"), SCHEMA)
        for closer in (self.cdn.aclose, self.catalog.aclose, self.moderation.aclose, self.db.close):
            kit.on_close(closer)
        self.behind: set[asyncio.Task[None]] = set()  # upload-acks-before-catalog's writes

    async def create(self, request: Request) -> Response:
        creator = valid_id(request.headers.get("x-creator", ""), "creator")
        key = valid_id(request.headers.get("idempotency-key", ""), "Idempotency-Key")
        video_id = video_id_for(creator, key)
        done = await self.db.one(
            "SELECT video_id FROM accepted WHERE creator = ? AND key = ?", (creator, key)
        )
        if done is not None:
            return self._accepted(video_id, replayed=True)
        body = await request.body()
        if not body:
            raise BadInput("the video body is empty")
        if len(body) > MAX_UPLOAD_BYTES:
            raise BadInput(f"videos are limited to {MAX_UPLOAD_BYTES} bytes", 413)
        meta = {
            "creator": creator,
            "title": request.query_params.get("title", "")[:200],
            "hashtags": [t for t in request.query_params.get("hashtags", "").split(",") if t][:20],
            "violating": request.query_params.get("violating", "false").lower() == "true",
            "size": len(body),
        }
        try:
            await self._store(video_id, body, meta)
        except _StepFailed as exc:
            return json_error(503, f"upload not accepted: {exc}; retry with the same key", 2)
        await self.db.write(
            "INSERT OR IGNORE INTO accepted (creator, key, video_id, accepted_at) VALUES (?,?,?,?)",
            (creator, key, video_id, time.time()),
        )
        return self._accepted(video_id, replayed=False)

    def _accepted(self, video_id: str, replayed: bool) -> Response:
        return JSONResponse(
            {
                "video_id": video_id,
                "status_url": f"/v1/videos/{video_id}",
                "status": "pending_review",
                "replayed": replayed,
            },
            status_code=202,
        )

    async def _store(self, video_id: str, body: bytes, meta: dict[str, Any]) -> None:
        digest = hashlib.sha256(body).hexdigest()
        await _step(
            "the CDN origin",
            self.cdn.put(f"/blobs/{video_id}", content=body, headers={"X-Sha256": digest}),
        )
        if self.settings.has("upload-acks-before-catalog"):
            # the bug: the blob is safe, so the rest is written behind the answer, once
            task = asyncio.create_task(self._write_behind(video_id, meta))
            self.behind.add(task)
            task.add_done_callback(self.behind.discard)
            return
        await self._catalog_and_review(video_id, meta)

    async def _write_behind(self, video_id: str, meta: dict[str, Any]) -> None:
        with contextlib.suppress(_StepFailed):
            await self._catalog_and_review(video_id, meta)

    async def _catalog_and_review(self, video_id: str, meta: dict[str, Any]) -> None:
        await _step("the catalog", self.catalog.put(f"/videos/{video_id}", json=meta))
        review = {"video_id": video_id, "violating": meta["violating"]}
        try:
            await _step("moderation", self.moderation.post("/jobs", json=review))
        except _StepFailed:
            if not self.settings.has("upload-publishes-unreviewed"):
                raise
            # Fail open: publish without review.
            decision = {"decision": "approved"}
            await _step(
                "the catalog", self.catalog.post(f"/videos/{video_id}/decision", json=decision)
            )

    async def status(self, request: Request) -> Response:
        return await self._from_primary(f"/videos/{valid_id(request.path_params['video_id'])}")

    async def by_creator(self, request: Request) -> Response:
        creator = valid_id(request.path_params["creator"])
        return await self._from_primary(f"/creators/{creator}/videos")

    async def _from_primary(self, path: str) -> Response:
        """Read-your-writes: answers come from the catalog primary, not the replica."""
        try:
            response = await self.catalog.get(path)
        except httpx.HTTPError:
            return json_error(503, "the catalog is unreachable; try again", 2)
        return Response(response.content, response.status_code, media_type="application/json")


class _StepFailed(Exception):
    pass


async def _step(what: str, call: Any) -> httpx.Response:
    try:
        response: httpx.Response = await call
    except httpx.TimeoutException:
        raise _StepFailed(f"{what} timed out") from None
    except httpx.HTTPError as exc:
        raise _StepFailed(f"{what} is unreachable ({type(exc).__name__})") from None
    if response.status_code >= 400:
        raise _StepFailed(f"{what} answered {response.status_code}")
    return response


def create_app(settings: Settings) -> Any:
    kit = ServiceKit(settings)
    upload = Upload(settings, kit)
    routes = [
        Route("/videos", upload.create, methods=["POST"]),
        Route("/videos/{video_id}", upload.status, methods=["GET"]),
        Route("/creators/{creator}/videos", upload.by_creator, methods=["GET"]),
    ]
    return kit.app(routes)
