"""PgDatabase: the real stack's catalog store, a PostgreSQL server reached through a link.

    catalog service -> PgDatabase(conninfo of the link's proxy) -> pool of psycopg connections
                    -> one/all/many/write, as common.Database offers them over SQLite

Statements are written once with ``?`` marks (SQLite's) and standard SQL both servers know
(INSERT ... ON CONFLICT ... DO UPDATE); PgDatabase turns the marks into psycopg's ``%s``.
A server that cannot be reached within a couple of seconds raises DatabaseUnavailable, which
the service answers with a 503: never a hang, never a 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

__all__ = ["DatabaseUnavailable", "PgDatabase"]

CONNECT_TIMEOUT_S = 2
WAIT_FOR_CONNECTION_S = 2.0
STATEMENT_TIMEOUT_MS = 3000
OPERATION_TIMEOUT_S = 4.0


class DatabaseUnavailable(Exception):
    """The server did not answer (down, partitioned, paused, or too slow)."""


def _forget(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a late failure of an abandoned query is no news


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class PgDatabase:
    def __init__(self, address: str, schema: str | None = None, max_size: int = 8) -> None:
        host, _, port = address.rpartition(":")
        conninfo = psycopg.conninfo.make_conninfo(
            host=host,
            port=port,
            user="postgres",
            dbname="postgres",
            connect_timeout=CONNECT_TIMEOUT_S,
            options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            application_name="shortvideo-catalog",
        )
        self._schema = schema
        self._schema_ready = schema is None
        self._pool = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_size,
            timeout=WAIT_FOR_CONNECTION_S,
            kwargs={"autocommit": True, "row_factory": dict_row},
            reconnect_timeout=3600,  # a server down for a while is waited for, not given up on
            open=False,
        )
        self._opened = False
        self._schema_lock = asyncio.Lock()

    async def _ready(self) -> None:
        if not self._opened:
            await self._pool.open(wait=False)
            self._opened = True
        if not self._schema_ready:
            # once: two CREATE TABLE IF NOT EXISTS at the same time collide in PostgreSQL's
            # catalog (a unique violation, seen when the heartbeat and a first write raced)
            async with self._schema_lock:
                if not self._schema_ready:
                    assert self._schema is not None
                    async with self._connection() as conn:
                        await conn.execute(self._schema)
                    self._schema_ready = True

    def _connection(self) -> Any:
        return self._pool.connection()

    async def _run(self, statements: Sequence[tuple[str, Sequence[Any]]], fetch: bool) -> Any:
        """The statements, within OPERATION_TIMEOUT_S whatever the server does: a paused or
        blackholed server enforces no statement_timeout of its own."""
        work = asyncio.create_task(self._on_server(statements, fetch))
        done, _ = await asyncio.wait({work}, timeout=OPERATION_TIMEOUT_S)
        if work in done:
            return work.result()
        # Not awaited: cancelling a query asks the server, which may not answer either
        # (paused); the connection goes back to the pool, broken, whenever that ends.
        work.cancel()
        work.add_done_callback(_forget)
        raise DatabaseUnavailable(f"no answer within {OPERATION_TIMEOUT_S:g} s")

    async def _on_server(self, statements: Sequence[tuple[str, Sequence[Any]]], fetch: bool) -> Any:
        try:
            await self._ready()
            async with self._connection() as conn:
                if len(statements) == 1:
                    sql, params = statements[0]
                    cursor = await conn.execute(_pg(sql), params)
                    return await cursor.fetchall() if fetch else cursor.rowcount
                async with conn.transaction():
                    for sql, params in statements:
                        await conn.execute(_pg(sql), params)
                return None
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise DatabaseUnavailable(str(exc).strip().splitlines()[0]) from exc

    async def write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement in its own transaction; returns the row count."""
        count: int = await self._run([(sql, params)], fetch=False)
        return count

    async def many(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        """Several statements in one transaction (all or nothing)."""
        await self._run(list(statements), fetch=False)

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await self._run([(sql, params)], fetch=True)
        return rows

    async def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None

    async def close(self) -> None:
        if self._opened:
            await self._pool.close(timeout=1.0)
