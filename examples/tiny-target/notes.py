"""A two-service notes system, written only to show the harness a platform that is not its
mock: ``api`` (the entry) keeps notes in ``store``, and calls it only through the link it is
given (a Toxiproxy proxy), so faults can be put between them.

    python notes.py store --port P --data DIR
    python notes.py api --port P --store HOST:PORT [--mode normal|weak]

normal: a write is acknowledged (201) only once the store has it; a slow or missing store is
a fast 503 (a 0.5 s timeout); /status.json (Statuspage shape) says "degraded" when store
calls failed in the last 10 s. weak (the bug to catch): no timeout, writes acknowledged before
they are stored (fire and forget), and a status page that is always green.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import time
import uuid
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def store_app(data: Path) -> Starlette:
    data.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(data / "notes.sqlite3", isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")  # a commit survives a kill -9 of this process
    db.execute("CREATE TABLE IF NOT EXISTS notes (id TEXT PRIMARY KEY, text TEXT NOT NULL)")

    async def put(request: Request) -> JSONResponse:
        body = await request.json()
        db.execute("INSERT OR REPLACE INTO notes VALUES (?, ?)", (body["id"], body["text"]))
        return JSONResponse({"stored": body["id"]}, status_code=201)

    async def get(request: Request) -> JSONResponse:
        row = db.execute("SELECT text FROM notes WHERE id = ?", (request.path_params["id"],))
        found = row.fetchone()
        if found is None:
            return JSONResponse({"error": "no such note"}, status_code=404)
        return JSONResponse({"id": request.path_params["id"], "text": found[0], "state": "saved"})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/notes", put, methods=["POST"]),
            Route("/notes/{id}", get),
            Route("/healthz", health),
        ]
    )


def api_app(store: str, weak: bool) -> Starlette:
    client = httpx.AsyncClient(base_url=f"http://{store}", timeout=None if weak else 0.5)
    failures: list[float] = []
    pending: set[asyncio.Task[object]] = set()

    async def call(method: str, path: str, **kw: object) -> httpx.Response | None:
        try:
            return await client.request(method, path, **kw)  # type: ignore[arg-type]
        except httpx.HTTPError:
            failures.append(time.monotonic())
            return None

    async def write(request: Request) -> JSONResponse:
        note = {"id": uuid.uuid4().hex, "text": (await request.json())["text"]}
        if weak:  # acknowledged before it is stored: lost if the store fails
            task = asyncio.create_task(call("POST", "/notes", json=note))
            pending.add(task)
            task.add_done_callback(pending.discard)
            return JSONResponse({"id": note["id"]}, status_code=201)
        stored = await call("POST", "/notes", json=note)
        if stored is None or stored.status_code != 201:
            return JSONResponse({"error": "store unavailable"}, status_code=503)
        return JSONResponse({"id": note["id"]}, status_code=201)

    async def read(request: Request) -> JSONResponse:
        answer = await call("GET", f"/notes/{request.path_params['id']}")
        if answer is None:
            return JSONResponse({"error": "store unavailable"}, status_code=503)
        return JSONResponse(answer.json(), status_code=answer.status_code)

    async def status(request: Request) -> JSONResponse:
        recent = [t for t in failures if t > time.monotonic() - 10]
        state = "degraded_performance" if recent and not weak else "operational"
        return JSONResponse({"components": [{"id": "notes", "name": "Notes", "status": state}]})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "profile": "weak" if weak else "normal"})

    return Starlette(
        routes=[
            Route("/notes", write, methods=["POST"]),
            Route("/notes/{id}", read),
            Route("/status.json", status),
            Route("/healthz", health),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("service", choices=["api", "store"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", default="127.0.0.1:0", help="HOST:PORT (the link's proxy)")
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--mode", choices=["normal", "weak"], default="normal")
    args = parser.parse_args()
    app = (
        store_app(args.data)
        if args.service == "store"
        else api_app(args.store, args.mode == "weak")
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
