"""moderation: a durable review queue (API) drained by a separate worker process.

    upload --POST /jobs--> moderation API --SQLite queue (shared file)--> moderation-worker
    moderation-worker --POST /videos/{id}/decision (moderation-catalog link)--> catalog-primary

The API and the worker are separate processes so that a frozen worker (SIGSTOP) does not stop
uploads from being accepted. Normal profile: fail closed, nothing is published until the worker
approves it, and the backlog drains after recovery. Fragile profile: fail open, the API
"approves on timeout" any job that waited longer than FAIL_OPEN_AFTER_S.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mock_platform.common import Database, link_client
from mock_platform.kit import ServiceKit
from mock_platform.settings import Settings
from mock_platform.validation import BadInput, read_json, valid_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    video_id TEXT PRIMARY KEY, violating INTEGER NOT NULL, enqueued_at REAL NOT NULL,
    state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, decided_at REAL, decision TEXT);
CREATE INDEX IF NOT EXISTS jobs_pending ON jobs (state, enqueued_at);
"""
FAIL_OPEN_AFTER_S = 3.0
BATCH = 20


def _queue(settings: Settings, kit: ServiceKit) -> Database:
    db = Database(settings.database("moderation-queue"), SCHEMA)
    kit.on_close(db.close)
    return db


async def queue_signals(db: Database) -> dict[str, Any]:
    row = await db.one(
        "SELECT COUNT(*) AS depth, MIN(enqueued_at) AS oldest FROM jobs WHERE state = 'pending'"
    )
    last = await db.one("SELECT MAX(decided_at) AS last FROM jobs WHERE state = 'done'")
    now = time.time()
    assert row is not None
    return {
        "queue_depth": row["depth"],
        "oldest_pending_age_s": round(now - row["oldest"], 3) if row["oldest"] else 0.0,
        "last_decision_age_s": round(now - last["last"], 3) if last and last["last"] else None,
    }


def create_api(settings: Settings) -> Any:
    kit = ServiceKit(settings)
    db = _queue(settings, kit)

    async def enqueue(request: Request) -> Response:
        body = await read_json(request)
        video_id = valid_id(str(body.get("video_id", "")), "video_id")
        inserted = await db.write(
            "INSERT OR IGNORE INTO jobs (video_id, violating, enqueued_at, state) "
            "VALUES (?, ?, ?, 'pending')",
            (video_id, int(bool(body.get("violating", False))), time.time()),
        )
        return JSONResponse({"video_id": video_id, "queued": bool(inserted)}, status_code=202)

    async def signals(request: Request) -> Response:
        return JSONResponse(await queue_signals(db))

    async def job(request: Request) -> Response:
        video_id = valid_id(request.path_params["video_id"])
        row = await db.one("SELECT * FROM jobs WHERE video_id = ?", (video_id,))
        if row is None:
            raise BadInput(f"no job for {video_id}", 404)
        return JSONResponse(row)

    if settings.has("moderation-approves-stale-jobs"):
        # Fail open: a job nobody decided in time is approved (the worker will publish it).
        async def approve_on_timeout() -> None:
            await db.write(
                "UPDATE jobs SET violating = 0 WHERE state = 'pending' AND enqueued_at < ?",
                (time.time() - FAIL_OPEN_AFTER_S,),
            )
            await _publish_stale(settings, db)

        kit.every(0.5, approve_on_timeout)

    routes = [
        Route("/jobs", enqueue, methods=["POST"]),
        Route("/jobs/{video_id}", job, methods=["GET"]),
        Route("/signals", signals, methods=["GET"]),
    ]
    return kit.app(routes)


async def _publish_stale(settings: Settings, db: Database) -> None:
    """Fragile only: the API publishes jobs that waited too long, without review."""
    stale = await db.all(
        "SELECT video_id FROM jobs WHERE state = 'pending' AND enqueued_at < ? LIMIT ?",
        (time.time() - FAIL_OPEN_AFTER_S, BATCH),
    )
    if not stale:
        return
    async with link_client(settings, "moderation-publish", timeout_s=2.0) as catalog:
        for job in stale:
            response = await catalog.post(
                f"/videos/{job['video_id']}/decision", json={"decision": "approved"}
            )
            if response.status_code < 500:
                await db.write(
                    "UPDATE jobs SET state = 'done', decided_at = ?, decision = 'timeout-approved'"
                    " WHERE video_id = ?",
                    (time.time(), job["video_id"]),
                )


def create_worker(settings: Settings) -> Any:
    kit = ServiceKit(settings)
    db = _queue(settings, kit)
    catalog = link_client(settings, "moderation-catalog", timeout_s=2.0)
    kit.on_close(catalog.aclose)
    decided = {"count": 0}

    async def drain() -> None:
        jobs = await db.all(
            "SELECT * FROM jobs WHERE state = 'pending' ORDER BY enqueued_at LIMIT ?", (BATCH,)
        )
        for job in jobs:
            decision = "rejected" if job["violating"] else "approved"
            try:
                response = await catalog.post(
                    f"/videos/{job['video_id']}/decision", json={"decision": decision}
                )
            except httpx.HTTPError:
                await db.write(
                    "UPDATE jobs SET attempts = attempts + 1 WHERE video_id = ?", (job["video_id"],)
                )
                return  # fail closed: the job stays pending and is retried
            if response.status_code >= 500 or response.status_code == 404:
                return  # the catalog has not got it yet (or is failing): retry later
            await db.write(
                "UPDATE jobs SET state = 'done', decided_at = ?, decision = ? WHERE video_id = ?",
                (time.time(), decision, job["video_id"]),
            )
            decided["count"] += 1

    async def signals(request: Request) -> Response:
        return JSONResponse({**await queue_signals(db), "decided": decided["count"]})

    kit.every(0.1, drain)
    routes = [Route("/signals", signals, methods=["GET"])]
    return kit.app(routes)
