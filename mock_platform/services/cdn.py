"""cdn: the blob origin and the playback edge (HTTP range requests, cache, stale-if-error).

    upload   --PUT /blobs/{id} (upload-cdn)--> cdn-origin: SQLite blobs, fsync'd before 201
    gateway  --GET /play/{id}  (gateway-cdn)--> cdn-edge
    cdn-edge --GET /blobs/{id} (cdn-origin)--> cdn-origin     on a miss or a stale entry
    cdn-edge --GET /videos/{id} (cdn-catalog)--> catalog-replica   only published videos play
On --stack real the edge is nginx (mock_platform/nginx.py), which asks the origin instead:
    nginx    --GET /play/{id}  (cdn-origin)-->  cdn-origin --GET /videos/{id}
                                                (cdn-origin-catalog)--> catalog-replica

The edge caches whole blobs for FRESH_S seconds. When the origin fails, a cached copy keeps
playing (stale-if-error, marked ``X-Cache: STALE``). The fragile edge has no stale-if-error.
An answer from the origin whose body is not the blob the catalog describes (its size) or the
origin stored (its sha256, the ETag) is a failed origin: never cached, never played (a
spoiled 200 once stayed in the cache and failed every range request of it with a 416, which
the status page, counting server errors, did not see).
"""

from __future__ import annotations

import collections
import hashlib
import re
import time
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
CREATE TABLE IF NOT EXISTS blobs (
    id TEXT PRIMARY KEY, data BLOB NOT NULL, sha256 TEXT NOT NULL, stored_at REAL NOT NULL);
"""
FRESH_S = 5.0
CACHE_ENTRIES = 500
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def serve_range(data: bytes, range_header: str | None, headers: dict[str, str]) -> Response:
    """200 for the whole blob, 206 for one satisfiable byte range, 416 otherwise."""
    size = len(data)
    headers = {**headers, "Accept-Ranges": "bytes"}
    if not range_header:
        return Response(data, 200, headers=headers, media_type="video/mp4")
    match = _RANGE.match(range_header.strip())
    if match is None or match.groups() == ("", ""):
        return Response(b"", 416, headers={**headers, "Content-Range": f"bytes */{size}"})
    first, last = match.groups()
    if first == "":
        start, end = max(size - int(last), 0), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        return Response(b"", 416, headers={**headers, "Content-Range": f"bytes */{size}"})
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return Response(data[start : end + 1], 206, headers=headers, media_type="video/mp4")


def create_origin(settings: Settings) -> Any:
    kit = ServiceKit(settings)
    db = Database(settings.database("cdn-origin"), SCHEMA)
    kit.on_close(db.close)

    async def put(request: Request) -> Response:
        blob_id = valid_id(request.path_params["blob_id"])
        data = await request.body()
        if not data:
            raise BadInput("empty blob")
        digest = hashlib.sha256(data).hexdigest()
        claimed = request.headers.get("x-sha256")
        if claimed and claimed != digest:
            raise BadInput("body does not match X-Sha256 (corrupted in transit)")
        await db.write(
            "INSERT OR REPLACE INTO blobs (id, data, sha256, stored_at) VALUES (?, ?, ?, ?)",
            (blob_id, data, digest, time.time()),
        )
        return JSONResponse({"id": blob_id, "size": len(data), "sha256": digest}, status_code=201)

    async def get(request: Request) -> Response:
        blob_id = valid_id(request.path_params["blob_id"])
        row = await db.one("SELECT data, sha256 FROM blobs WHERE id = ?", (blob_id,))
        if row is None:
            return json_error(404, f"no blob {blob_id}")
        return serve_range(row["data"], request.headers.get("range"), {"ETag": row["sha256"]})

    routes = [
        Route("/blobs/{blob_id}", put, methods=["PUT"]),
        Route("/blobs/{blob_id}", get, methods=["GET"]),
    ]
    if settings.stack == "real":  # behind the nginx edge, the origin says what may play
        catalog = link_client(settings, "cdn-origin-catalog", 1.0)
        kit.on_close(catalog.aclose)

        async def play(request: Request) -> Response:
            video_id = valid_id(request.path_params["video_id"])
            try:
                meta = await catalog.get(f"/videos/{video_id}")
                if meta.status_code == 404 or (
                    meta.is_success and meta.json()["status"] != "published"
                ):
                    return json_error(404, f"video {video_id} is not published")
                meta.raise_for_status()
            except httpx.HTTPError:
                return json_error(503, "the catalog is unreachable", 2)
            row = await db.one("SELECT data, sha256 FROM blobs WHERE id = ?", (video_id,))
            if row is None:
                return json_error(404, f"video {video_id} has no blob")
            return serve_range(row["data"], request.headers.get("range"), {"ETag": row["sha256"]})

        routes.append(Route("/play/{video_id}", play, methods=["GET"]))
    return kit.app(routes)


class Edge:
    def __init__(self, settings: Settings, kit: ServiceKit) -> None:
        self.settings = settings
        self.origin = link_client(
            settings, "cdn-origin", 10.0 if settings.has("cdn-long-origin-timeout") else 1.0
        )
        self.catalog = link_client(settings, "cdn-catalog", 1.0)
        kit.on_close(self.origin.aclose)
        kit.on_close(self.catalog.aclose)
        self.cache: collections.OrderedDict[str, tuple[bytes, float]] = collections.OrderedDict()
        self.stale_served = 0

    async def play(self, request: Request) -> Response:
        video_id = valid_id(request.path_params["video_id"])
        range_header = request.headers.get("range")
        cached = self.cache.get(video_id)
        if cached is not None and time.monotonic() - cached[1] < FRESH_S:
            return serve_range(cached[0], range_header, {"X-Cache": "HIT"})
        try:
            data = await self._fetch(video_id)
        except _NotPlayable as exc:
            return json_error(404, str(exc))
        except (httpx.HTTPError, _Spoiled):
            if cached is not None and not self.settings.has("cdn-no-stale-if-error"):
                self.stale_served += 1
                age = f"{time.monotonic() - cached[1]:.0f}"
                return serve_range(cached[0], range_header, {"X-Cache": "STALE", "Age": age})
            return json_error(502, "the video origin is unreachable", 2)
        self.cache[video_id] = (data, time.monotonic())
        self.cache.move_to_end(video_id)
        while len(self.cache) > CACHE_ENTRIES:
            self.cache.popitem(last=False)
        return serve_range(data, range_header, {"X-Cache": "MISS"})

    async def _fetch(self, video_id: str) -> bytes:
        meta = await self.catalog.get(f"/videos/{video_id}")
        if meta.status_code == 404 or (meta.is_success and meta.json()["status"] != "published"):
            raise _NotPlayable(f"video {video_id} is not published")
        meta.raise_for_status()
        blob = await self.origin.get(f"/blobs/{video_id}")
        if blob.status_code == 404:
            raise _NotPlayable(f"video {video_id} has no blob")
        blob.raise_for_status()
        data, etag = blob.content, blob.headers.get("etag")
        if len(data) != meta.json().get("size", len(data)) or (
            etag is not None and hashlib.sha256(data).hexdigest() != etag
        ):
            raise _Spoiled(f"the origin's answer for {video_id} is not its blob")
        return data

    async def signals(self, request: Request) -> Response:
        return JSONResponse({"cached": len(self.cache), "stale_served": self.stale_served})


class _NotPlayable(Exception):
    pass


class _Spoiled(Exception):
    """The origin answered 200 with a body that is not the blob."""


def create_edge(settings: Settings) -> Any:
    kit = ServiceKit(settings)
    edge = Edge(settings, kit)
    routes = [
        Route("/play/{video_id}", edge.play, methods=["GET"]),
        Route("/signals", edge.signals, methods=["GET"]),
    ]
    return kit.app(routes)
