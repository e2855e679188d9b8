"""catalog: video metadata. The primary owns writes and a change log; the replica serves reads
and says how far behind the primary it is.

    upload -> PUT /videos/{id} (pending_review)      moderation-worker -> POST /videos/{id}/decision
    feed / search / cdn-edge -> replica: GET /published, /videos/{id}, /changes, /lag

Default stack (SQLite in each process): the replica follows the primary's change log itself,
    primary: videos + changes(seq)  --GET /changes?after=seq (catalog-replication)-->  replica
Real stack (PostgreSQL, ``--stack real``): both are HTTP faces of two servers,
    primary --catalog-db--> PostgreSQL primary ==WAL (catalog-replication)==> hot standby
    replica --catalog-standby-db--> the standby; lag from a heartbeat row the primary service
    writes every HEARTBEAT_S (its age on the standby), replay lag and bytes from
    pg_stat_replication on the primary (GET /replication)
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mock_platform.common import Database, json_error, link_client
from mock_platform.kit import ServiceKit
from mock_platform.pg import DatabaseUnavailable, PgDatabase
from mock_platform.settings import Settings
from mock_platform.validation import int_param, read_json, valid_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY, creator TEXT NOT NULL, title TEXT NOT NULL, hashtags TEXT NOT NULL,
    violating INTEGER NOT NULL, size INTEGER NOT NULL, status TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, history TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY, video_id TEXT NOT NULL, at REAL NOT NULL, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value REAL NOT NULL);
"""
SCHEMA_PG = """
CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY, creator TEXT NOT NULL, title TEXT NOT NULL, hashtags TEXT NOT NULL,
    violating INTEGER NOT NULL, size BIGINT NOT NULL, status TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
    history TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS videos_status ON videos (status, created_at);
CREATE INDEX IF NOT EXISTS videos_creator ON videos (creator, created_at);
CREATE TABLE IF NOT EXISTS changes (
    seq BIGSERIAL PRIMARY KEY, video_id TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
    row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS heartbeat (id INTEGER PRIMARY KEY, at DOUBLE PRECISION NOT NULL);
"""
HEARTBEAT_S = 0.5

# The allowed moderation path; anything else is refused (no backward transitions).
NEXT = {
    "pending_review": {"approved", "rejected"},
    "approved": {"published"},
    "published": {"taken_down"},
}
VISIBLE = "published"


def _upsert(table: str, row: dict[str, Any], key: str = "id") -> tuple[str, list[Any]]:
    """INSERT ... ON CONFLICT DO UPDATE: standard SQL that SQLite and PostgreSQL both run."""
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    updates = ", ".join(f"{c} = excluded.{c}" for c in row if c != key)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT ({key}) DO UPDATE SET"
    return f"{sql} {updates}", list(row.values())


def _row_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "video_id": row["id"],
        "creator": row["creator"],
        "title": row["title"],
        "hashtags": json.loads(row["hashtags"]),
        "violating": bool(row["violating"]),
        "size": row["size"],
        "status": row["status"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "history": json.loads(row["history"]),
    }


class Catalog:
    def __init__(self, settings: Settings, kit: ServiceKit) -> None:
        self.settings = settings
        self.db: Database | PgDatabase
        if settings.stack == "real":  # the server behind this service's database link
            link = "catalog-db" if settings.service == "catalog-primary" else "catalog-standby-db"
            primary = settings.service == "catalog-primary"
            self.db = PgDatabase(settings.link_address(link), SCHEMA_PG if primary else None)
        else:
            self.db = Database(settings.database(settings.service), SCHEMA)
        kit.on_close(self.db.close)

    async def get(self, request: Request) -> Response:
        video_id = valid_id(request.path_params["video_id"])
        row = await self.db.one("SELECT * FROM videos WHERE id = ?", (video_id,))
        if row is None:
            return json_error(404, f"no video {video_id}")
        return JSONResponse(_row_json(row))

    async def published(self, request: Request) -> Response:
        limit = int_param(request, "limit", 200, 1, 1000)
        rows = await self.db.all(
            "SELECT * FROM videos WHERE status = ? ORDER BY created_at DESC LIMIT ?",
            (VISIBLE, limit),
        )
        return JSONResponse({"videos": [_row_json(r) for r in rows]})

    async def by_creator(self, request: Request) -> Response:
        creator = valid_id(request.path_params["creator"])
        rows = await self.db.all(
            "SELECT * FROM videos WHERE creator = ? ORDER BY created_at DESC LIMIT 500",
            (creator,),
        )
        return JSONResponse({"videos": [_row_json(r) for r in rows]})

    async def changes(self, request: Request) -> Response:
        now = time.time()  # before the reads: nothing written after it is promised
        after = int_param(request, "after", 0, 0, 2**62)
        limit = int_param(request, "limit", 500, 1, 2000)
        rows = await self.db.all(
            "SELECT seq, at, row FROM changes WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        )
        head = await self.db.one("SELECT seq, at FROM changes ORDER BY seq DESC LIMIT 1")
        return JSONResponse(
            {
                "changes": [
                    {"seq": r["seq"], "at": r["at"], "row": json.loads(r["row"])} for r in rows
                ],
                "head_seq": head["seq"] if head else 0,
                "head_at": head["at"] if head else 0.0,
                "now": now,  # what a follower had everything as of, once it applied this
            }
        )

    async def _save(self, row: dict[str, Any]) -> dict[str, Any]:
        """Write the row and its change-log entry in one transaction; return it as JSON."""
        stored = {
            **row,
            "hashtags": json.dumps(row["hashtags"]),
            "history": json.dumps(row["history"]),
        }
        stored["violating"] = int(bool(row["violating"]))
        await self.db.many(
            [
                _upsert("videos", stored),
                (
                    "INSERT INTO changes (video_id, at, row) VALUES (?, ?, ?)",
                    (row["id"], time.time(), json.dumps(stored)),
                ),
            ]
        )
        return _row_json(stored)


class Primary(Catalog):
    async def put(self, request: Request) -> Response:
        """Create a video's metadata (pending_review); a repeat returns what exists."""
        video_id = valid_id(request.path_params["video_id"])
        body = await read_json(request)
        existing = await self.db.one("SELECT * FROM videos WHERE id = ?", (video_id,))
        if existing is not None:
            return JSONResponse(_row_json(existing), status_code=200)
        now = time.time()
        row = {
            "id": video_id,
            "creator": valid_id(str(body.get("creator", ""))),
            "title": str(body.get("title", ""))[:200],
            "hashtags": [str(tag)[:50] for tag in body.get("hashtags", [])][:20],
            "violating": bool(body.get("violating", False)),
            "size": int(body.get("size", 0)),
            "status": "pending_review",
            "created_at": now,
            "updated_at": now,
            "history": [["pending_review", now]],
        }
        return JSONResponse(await self._save(row), status_code=201)

    async def decide(self, request: Request) -> Response:
        """Apply a moderation decision exactly once: approved -> published, or rejected."""
        video_id = valid_id(request.path_params["video_id"])
        body = await read_json(request)
        decision = body.get("decision")
        if decision not in ("approved", "rejected", "taken_down"):
            return json_error(400, "decision must be approved, rejected or taken_down")
        row = await self.db.one("SELECT * FROM videos WHERE id = ?", (video_id,))
        if row is None:
            return json_error(404, f"no video {video_id}")
        video = _row_json(row)
        path = ["approved", "published"] if decision == "approved" else [decision]
        if video["status"] == path[-1]:
            return JSONResponse(video)  # already applied: at-least-once delivery, once effect
        status = video["status"]
        for step in path:
            if step not in NEXT.get(status, set()):
                return json_error(409, f"cannot go from {status} to {step}")
            status = step
        now = time.time()
        history = [*video["history"], *([step, now] for step in path)]
        saved = await self._save(
            {
                "id": video_id,
                "creator": video["creator"],
                "title": video["title"],
                "hashtags": video["hashtags"],
                "violating": video["violating"],
                "size": video["size"],
                "status": status,
                "created_at": video["created_at"],
                "updated_at": now,
                "history": history,
            }
        )
        return JSONResponse(saved)


class Replica(Catalog):
    """Follows the primary's change log; reports lag in seconds and positions."""

    def __init__(self, settings: Settings, kit: ServiceKit) -> None:
        super().__init__(settings, kit)
        self.primary = link_client(settings, "catalog-replication", timeout_s=2.0)
        kit.on_close(self.primary.aclose)
        self.applied_seq = 0
        self.head_seq = 0
        self.caught_up_at = time.time()  # the last time we knew we had everything
        self.oldest_unapplied_at: float | None = None
        self.contact_lost = False
        kit.every(0.2, self.follow)

    async def follow(self) -> None:
        if self.applied_seq == 0:
            stored = await self.db.one("SELECT value FROM state WHERE key = 'applied_seq'")
            self.applied_seq = int(stored["value"]) if stored else 0
        while True:
            try:
                response = await self.primary.get(
                    "/changes", params={"after": self.applied_seq, "limit": 500}
                )
                response.raise_for_status()
            except httpx.HTTPError:
                self.contact_lost = True
                return  # lag keeps growing from caught_up_at
            page = response.json()
            self.head_seq = page["head_seq"]
            if self.contact_lost and self.settings.has("replica-resumes-at-head"):
                # the bug: a reconnecting subscriber starts from the primary's position now
                self.contact_lost = False
                await self._skip_to(self.head_seq)
                continue
            self.contact_lost = False
            changes = page["changes"]
            # as of the primary's answer, not of its arrival: a slow link is lag too
            as_of = float(page.get("now", time.time()))
            if not changes:
                self.caught_up_at = as_of
                self.oldest_unapplied_at = None
                return
            self.oldest_unapplied_at = changes[0]["at"]
            await self._apply(changes)
            if self.applied_seq >= self.head_seq:
                self.caught_up_at = as_of
                self.oldest_unapplied_at = None
                return

    async def _apply(self, changes: list[dict[str, Any]]) -> None:
        statements: list[tuple[str, list[Any]]] = []
        for change in changes:
            row = change["row"]
            columns = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            statements.append(
                (f"INSERT OR REPLACE INTO videos ({columns}) VALUES ({marks})", list(row.values()))
            )
            statements.append(
                (
                    "INSERT OR REPLACE INTO changes (seq, video_id, at, row) VALUES (?, ?, ?, ?)",
                    [change["seq"], row["id"], change["at"], json.dumps(row)],
                )
            )
        last = changes[-1]["seq"]
        statements.append(
            ("INSERT OR REPLACE INTO state (key, value) VALUES ('applied_seq', ?)", [last])
        )
        await self.db.many(statements)
        self.applied_seq = last

    async def _skip_to(self, seq: int) -> None:
        await self.db.write(
            "INSERT OR REPLACE INTO state (key, value) VALUES ('applied_seq', ?)", (seq,)
        )
        self.applied_seq = seq

    def lag(self) -> dict[str, Any]:
        now = time.time()
        behind = self.head_seq - self.applied_seq
        if self.oldest_unapplied_at is not None:
            seconds = now - self.oldest_unapplied_at
        else:
            # Nothing known to be missing; if the primary is unreachable, we may be missing
            # anything written since we last heard from it.
            seconds = now - self.caught_up_at if now - self.caught_up_at > 1.0 else 0.0
        return {
            "lag_seconds": round(max(seconds, 0.0), 3),
            "applied_seq": self.applied_seq,
            "primary_head_seq": self.head_seq,
            "behind_changes": max(behind, 0),
            "last_contact_age_s": round(now - self.caught_up_at, 3),
        }

    async def lag_endpoint(self, request: Request) -> Response:
        return JSONResponse(self.lag())


class PgPrimary(Primary):
    """The primary on PostgreSQL: writes a heartbeat row, reports its standbys' replay."""

    def __init__(self, settings: Settings, kit: ServiceKit) -> None:
        super().__init__(settings, kit)
        kit.every(HEARTBEAT_S, self.beat)
        kit.ready_when(self.schema_in_place)

    async def schema_in_place(self) -> str | None:
        """Healthy once the schema is made (the first statement makes it)."""
        await self.db.one("SELECT at FROM heartbeat WHERE id = 1")
        return None

    async def beat(self) -> None:
        await self.db.write(
            "INSERT INTO heartbeat (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE"
            " SET at = excluded.at",
            (time.time(),),
        )

    async def replication(self, request: Request) -> Response:
        """pg_stat_replication: replay lag (null while no standby streams) and bytes behind."""
        row = await self.db.one(
            "SELECT count(*) AS standbys,"
            " max(extract(epoch FROM replay_lag)) AS replay_lag_s,"
            " max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)) AS lag_bytes"
            " FROM pg_stat_replication"
        )
        assert row is not None
        return JSONResponse(
            {
                "standbys": int(row["standbys"]),
                "replay_lag_s": float(row["replay_lag_s"] or 0.0),
                "lag_bytes": int(row["lag_bytes"] or 0),
            }
        )


class PgReplica(Catalog):
    """The hot standby's HTTP face: reads, and lag as the heartbeat row's age on it."""

    def __init__(self, settings: Settings, kit: ServiceKit) -> None:
        super().__init__(settings, kit)
        kit.ready_when(self.schema_replicated)

    async def schema_replicated(self) -> str | None:
        """Healthy once the primary's schema and first heartbeat have reached the standby:
        before that every read would fail (no such table), and a run must not start then."""
        row = await self.db.one("SELECT at FROM heartbeat WHERE id = 1")
        return None if row else "the primary's first heartbeat has not replicated yet"

    async def lag_endpoint(self, request: Request) -> Response:
        row = await self.db.one(
            "SELECT at, (SELECT max(seq) FROM changes) AS head FROM heartbeat WHERE id = 1"
        )
        now = time.time()
        age = now - float(row["at"]) if row else 0.0
        return JSONResponse(
            {
                "lag_seconds": round(max(age, 0.0), 3),
                "heartbeat_age_s": round(age, 3),
                "applied_seq": int(row["head"] or 0) if row else 0,
            }
        )


async def _unavailable(request: Request, exc: Exception) -> Response:
    return json_error(503, f"the catalog database is unavailable: {exc}", 1)


def create_app(settings: Settings) -> Any:
    kit = ServiceKit(settings)
    common = [
        ("/videos/{video_id}", "get", ["GET"]),
        ("/published", "published", ["GET"]),
        ("/creators/{creator}/videos", "by_creator", ["GET"]),
        ("/changes", "changes", ["GET"]),
    ]
    real = settings.stack == "real"
    service: Catalog
    if settings.service == "catalog-primary":
        service = PgPrimary(settings, kit) if real else Primary(settings, kit)
        extra = [
            ("/videos/{video_id}", "put", ["PUT"]),
            ("/videos/{video_id}/decision", "decide", ["POST"]),
        ]
        if real:
            extra.append(("/replication", "replication", ["GET"]))
    else:
        service = PgReplica(settings, kit) if real else Replica(settings, kit)
        extra = [("/lag", "lag_endpoint", ["GET"]), ("/signals", "lag_endpoint", ["GET"])]
    routes = [Route(path, getattr(service, name), methods=m) for path, name, m in common + extra]
    return kit.app(routes, {DatabaseUnavailable: _unavailable})
