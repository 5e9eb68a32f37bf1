"""An aiosqlite-shaped SQLite driver that runs each call inline on the event
loop's thread, for SQLAlchemy's aiosqlite dialect (through `async_creator`).

aiosqlite hands every cursor, execute, fetch and close to a worker thread and
back; a request makes dozens of such calls, and under load each hop waits for
the GIL. SQLite on a local file in WAL mode answers in microseconds, so
running the calls inline is both faster (about twice the webhook's
throughput here) and still keeps the loop's pauses short. The one long wait
SQLite can have, a write lock held by another process (an import running
beside the server), is capped by the busy timeout.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

BUSY_TIMEOUT_S = 2.0


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Iterable[Any] = ()) -> InlineCursor:
        self._cursor.execute(sql, parameters)  # type: ignore[arg-type]
        return self

    async def executemany(self, sql: str, seq: Iterable[Iterable[Any]]) -> InlineCursor:
        self._cursor.executemany(sql, seq)  # type: ignore[arg-type]
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _RunNow:
    """Stands in for aiosqlite's queue to its thread (SQLAlchemy uses it to set
    the isolation level): runs the function at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except Exception as exc:
            if future is not None:
                future.set_exception(exc)
        else:
            if future is not None:
                future.set_result(result)


class InlineConnection:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn
        self._tx = _RunNow()

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()
        self._connection = None

    def stop(self) -> None:
        self._conn.close()
        self._connection = None

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._conn.create_function(*args, **kw)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level


def connector(database: str, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Callable[[], Awaitable[InlineConnection]]:
    """An `async_creator` for create_async_engine that opens `database` inline."""

    async def connect() -> InlineConnection:
        conn = sqlite3.connect(database, timeout=busy_timeout_s, isolation_level="",  # type: ignore[call-overload]
                               check_same_thread=False)
        return InlineConnection(conn)

    return connect
