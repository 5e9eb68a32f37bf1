"""The database layer: engines for SQLite and PostgreSQL, sessions, migrations.

SQLite runs in WAL mode with a busy timeout; PostgreSQL gets a connection
pool. The same SQLAlchemy code runs on both.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from bot.db.sqlite_inline import connector

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_REVISION_LINE = re.compile(r"^(down_revision|revision)\b[^=]*=\s*(.+)$", re.MULTILINE)


def _script_heads() -> frozenset[str]:
    """The newest migration of each branch, read from the version files
    without importing alembic (a test keeps it equal to alembic's heads).
    Features add their migrations as branches off 0001; start-up skips
    alembic when the database already has every head."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for name, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            found = set(re.findall(r"['\"](\w+)['\"]", value))
            (revisions if name == "revision" else parents).update(found)
    return frozenset(revisions - parents)


SCHEMA_REVISIONS = _script_heads()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    """An async engine for `url` with the right settings for its backend."""
    if is_sqlite(url):
        database = make_url(url).database or ""
        if not database or database == ":memory:":
            raise ValueError("an SQLite database needs a file path (sqlite+aiosqlite:///lianxin.db)")
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, async_creator=connector(database), pool_size=min(pool_size, 4),
                                     max_overflow=0, pool_timeout=30)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False,
                               pool_recycle=1800)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that flush only when told (or at commit): the rows a request
    adds (ticket events, outbox messages) go to the database in one batch."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def redact(url: str) -> str:
    """The URL without its password, for logs and start-up lines."""
    return make_url(url).render_as_string(hide_password=True)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def _alembic_config(url: str) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade_sync(url: str, revision: str = "heads") -> None:
    """Run the alembic migrations up to `revision` (idempotent)."""
    from alembic import command

    command.upgrade(_alembic_config(url), revision)


async def upgrade(url: str, revision: str = "heads") -> None:
    await asyncio.to_thread(upgrade_sync, url, revision)


async def schema_revisions(engine: AsyncEngine) -> frozenset[str]:
    """The revisions the database is at, one per branch (empty when it has no schema yet)."""
    async with engine.connect() as conn:
        try:
            return frozenset((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())
        except Exception:
            return frozenset()


async def ensure_schema(db: Database) -> None:
    """Upgrade the schema if it is not current (alembic is imported only then)."""
    if await schema_revisions(db.engine) != SCHEMA_REVISIONS:
        await upgrade(db.url)


class Database:
    """An engine, its sessions, and write transactions.

    On SQLite, write transactions of this process take turns on an asyncio
    lock instead of spinning in SQLite's busy handler; PostgreSQL needs no
    such lock.
    """

    def __init__(self, url: str, pool_size: int = 10) -> None:
        import bot.domain.roster_cache  # noqa: F401  (its session events bump the roster counter on changes)

        self.url = url
        self.engine = create_engine(url, pool_size)
        self.sessions = session_factory(self.engine)
        self.sqlite = is_sqlite(url)
        self._write_lock = asyncio.Lock() if self.sqlite else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction that commits on success, rolls back on error."""
        if self._write_lock is not None:
            async with self._write_lock, self.sessions() as session, session.begin():
                yield session
        else:
            async with self.sessions() as session, session.begin():
                yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only."""
        async with self.sessions() as session:
            yield session

    async def ping(self) -> None:
        await ping(self.engine)

    async def dispose(self) -> None:
        await self.engine.dispose()


def affected(result: Any) -> int:
    """Rows an UPDATE or DELETE changed (SQLAlchemy types execute() as Result, whose
    CursorResult carries the count)."""
    return int(result.rowcount)


@functools.cache
def _insert_ignore_statement(dialect: str, table: Table, conflict: tuple[str, ...], returning: str | None) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).on_conflict_do_nothing(index_elements=list(conflict))
    return stmt.returning(table.c[returning]) if returning else stmt


async def insert_ignore(session: AsyncSession, model: Any, values: dict[str, Any], conflict: list[str],
                        returning: str | None = None) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the session's backend; the result.

    The statement is built once per table and backend (a Core insert, with
    the values as parameters), so the hot path does not rebuild it."""
    stmt = _insert_ignore_statement(session.get_bind().dialect.name, model.__table__, tuple(conflict), returning)
    return await session.execute(stmt, values)
