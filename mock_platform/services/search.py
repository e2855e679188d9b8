"""search: a full-text index (SQLite FTS5) of published videos, fed from the replica's log.

    search --GET /changes?after=seq (search-catalog)--> catalog-replica   every 0.3 s
    published -> indexed; rejected / taken down -> removed from the index
    gateway --GET /search?q=text|#hashtag (gateway-search)--> search

The gateway protects everyone else from search (timeouts, a breaker, a cache): see gateway.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mock_platform.common import Database, link_client
from mock_platform.kit import ServiceKit
from mock_platform.settings import Settings
from mock_platform.validation import BadInput, int_param

SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS docs USING fts5(video_id UNINDEXED, title, hashtags);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
# changes indexed a page at a time, a page each tick: a backlog (the replica catching up after
# lag) takes several pages
INDEX_PAGE = 20
_WORD = re.compile(r"[\w]+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """User text -> a safe FTS5 query (quoted terms, AND); #tag searches the hashtags column."""
    terms = []
    for raw in text.split()[:8]:
        column = "hashtags" if raw.startswith("#") else None
        words = _WORD.findall(raw)
        for word in words:
            quoted = '"' + word.replace('"', "") + '"'
            terms.append(f"{column}:{quoted}" if column else quoted)
    return " AND ".join(terms) or None


def create_app(settings: Settings) -> Any:
    kit = ServiceKit(settings)
    db = Database(settings.database(settings.service), SCHEMA)  # a canary has its own index
    replica = link_client(settings, "search-catalog", 2.0)
    kit.on_close(db.close)
    kit.on_close(replica.aclose)
    cursor = {"seq": -1}

    async def index() -> None:
        if cursor["seq"] < 0:
            row = await db.one("SELECT value FROM state WHERE key = 'seq'")
            cursor["seq"] = row["value"] if row else 0
        try:
            response = await replica.get(
                "/changes", params={"after": cursor["seq"], "limit": INDEX_PAGE}
            )
            response.raise_for_status()
        except httpx.HTTPError:
            return
        page = response.json()
        changes = page["changes"]
        if not changes:
            return
        statements: list[tuple[str, tuple[Any, ...]]] = []
        for change in changes:
            row = change["row"]
            statements.append(("DELETE FROM docs WHERE video_id = ?", (row["id"],)))
            if row["status"] == "published":
                tags = " ".join(json.loads(row["hashtags"]))
                statements.append(
                    (
                        "INSERT INTO docs (video_id, title, hashtags) VALUES (?, ?, ?)",
                        (row["id"], row["title"], tags),
                    )
                )
        last = changes[-1]["seq"]
        if settings.has("search-cursor-at-head"):
            last = max(last, int(page["head_seq"]))  # the bug: the page's end
        statements.append(("INSERT OR REPLACE INTO state (key, value) VALUES ('seq', ?)", (last,)))
        await db.many(statements)
        cursor["seq"] = last

    async def search(request: Request) -> Response:
        text = request.query_params.get("q", "")
        if len(text) > 200:
            raise BadInput("q is limited to 200 characters")
        limit = int_param(request, "limit", 20, 1, 100)
        query = fts_query(text)
        if query is None:
            return JSONResponse({"q": text, "items": [], "degraded": False})
        rows = await db.all(
            "SELECT video_id, title, hashtags FROM docs WHERE docs MATCH ? ORDER BY rank LIMIT ?",
            (query, limit),
        )
        items = [
            {"video_id": r["video_id"], "title": r["title"], "hashtags": r["hashtags"].split()}
            for r in rows
        ]
        return JSONResponse({"q": text, "items": items, "degraded": False})

    async def signals(request: Request) -> Response:
        return JSONResponse({"indexed_seq": cursor["seq"]})

    kit.every(0.3, index)
    routes = [
        Route("/search", search, methods=["GET"]),
        Route("/signals", signals, methods=["GET"]),
    ]
    return kit.app(routes)
