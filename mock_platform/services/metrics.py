"""metrics: view/like events, aggregated asynchronously into counters with an "as of" time.

    gateway --POST /events [{event_id, video_id, kind}] (gateway-metrics)--> events (dedup)
    every second: events -> counters (video_id: views, likes), as_of = aggregation time
    feed --GET /counters?ids=... (feed-a-metrics, feed-b-metrics)--> counters + as_of

Events carry ids, so the gateway's retries never count twice.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mock_platform.common import Database
from mock_platform.kit import ServiceKit
from mock_platform.settings import Settings
from mock_platform.validation import MAX_JSON_BYTES, BadInput, valid_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY, video_id TEXT NOT NULL, kind TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS counters (
    video_id TEXT PRIMARY KEY, views INTEGER NOT NULL, likes INTEGER NOT NULL);
"""
KINDS = ("view", "like")


def create_app(settings: Settings) -> Any:
    kit = ServiceKit(settings)
    db = Database(settings.database("metrics"), SCHEMA)
    kit.on_close(db.close)
    state = {"as_of": time.time()}

    async def ingest(request: Request) -> Response:
        import json

        raw = await request.body()
        if len(raw) > MAX_JSON_BYTES:
            raise BadInput("too many events in one batch", 413)
        try:
            events = json.loads(raw or b"[]")
        except ValueError:
            raise BadInput("body must be a JSON array of events") from None
        if not isinstance(events, list):
            raise BadInput("body must be a JSON array of events")
        rows = []
        for event in events:
            if not isinstance(event, dict) or event.get("kind") not in KINDS:
                raise BadInput("each event needs event_id, video_id and kind view|like")
            rows.append(
                (
                    "INSERT OR IGNORE INTO events (event_id, video_id, kind, at) VALUES (?,?,?,?)",
                    (
                        valid_id(str(event.get("event_id", "")), "event_id"),
                        valid_id(str(event.get("video_id", "")), "video_id"),
                        event["kind"],
                        time.time(),
                    ),
                )
            )
        await db.many(rows)
        return JSONResponse({"accepted": len(rows)}, status_code=202)

    async def aggregate() -> None:
        await db.many(
            [
                ("DELETE FROM counters", ()),
                (
                    "INSERT INTO counters (video_id, views, likes) SELECT video_id,"
                    " SUM(kind = 'view'), SUM(kind = 'like') FROM events GROUP BY video_id",
                    (),
                ),
            ]
        )
        state["as_of"] = time.time()

    async def counters(request: Request) -> Response:
        ids = [valid_id(i) for i in request.query_params.get("ids", "").split(",") if i][:500]
        marks = ",".join("?" for _ in ids) or "''"
        rows = await db.all(f"SELECT * FROM counters WHERE video_id IN ({marks})", ids)
        found = {r["video_id"]: {"views": r["views"], "likes": r["likes"]} for r in rows}
        return JSONResponse(
            {
                "counters": {i: found.get(i, {"views": 0, "likes": 0}) for i in ids},
                "as_of": state["as_of"],
                "age_s": round(time.time() - state["as_of"], 3),
            }
        )

    async def signals(request: Request) -> Response:
        total = await db.one("SELECT COUNT(*) AS n FROM events")
        return JSONResponse(
            {
                "as_of_age_s": round(time.time() - state["as_of"], 3),
                "events": total["n"] if total else 0,
            }
        )

    kit.every(1.0, aggregate)
    routes = [
        Route("/events", ingest, methods=["POST"]),
        Route("/counters", counters, methods=["GET"]),
        Route("/signals", signals, methods=["GET"]),
    ]
    return kit.app(routes)
