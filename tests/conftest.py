"""Shared fixtures: a database on each backend (SQLite file, PostgreSQL).

PostgreSQL comes from $LIANXIN_TEST_PG (default: the machine's local server).
Each test run creates its own PostgreSQL database and drops it at the end,
so parallel runs do not collide. Under CI=true an unreachable PostgreSQL
fails the run instead of skipping its tests.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.db import Database
from bot.models import Base

PG_URL = os.environ.get("LIANXIN_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def _admin(sql: str) -> None:
    engine = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


async def _create_schema(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database with the schema, for this test run."""
    name = f"lianxin_test_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        # a throwaway database need not wait for the disk at each commit (the suite's main cost)
        asyncio.run(_admin(f'ALTER DATABASE "{name}" SET synchronous_commit TO off'))
    except Exception as exc:  # unreachable server, refused login, ...
        message = f"PostgreSQL at {PG_URL} is not reachable: {type(exc).__name__}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: the PostgreSQL tests must run)")
        pytest.skip(message)
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_create_schema(url))
    yield url
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_empty_url() -> Iterator[str]:
    """URL of an empty PostgreSQL database (for migration tests)."""
    name = f"lianxin_empty_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {PG_URL} is not reachable: {exc}")
        pytest.skip(f"PostgreSQL at {PG_URL} is not reachable: {exc}")
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate_all(database: Database) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with database.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file with the schema and no rows, built once per run and copied
    for each test (building the schema costs over half a second per file)."""
    path = tmp_path_factory.mktemp("sqlite_template") / "schema.db"
    asyncio.run(_create_schema(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """The database URL of one backend; the schema exists and is empty."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url = request.getfixturevalue("pg_url")

    async def clean() -> None:
        database = Database(url, 2)
        await _truncate_all(database)
        await database.dispose()

    asyncio.run(clean())
    return url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A Database on one backend (every test using it runs on SQLite and PostgreSQL)."""
    database = Database(db_url, pool_size=10)
    yield database
    await database.dispose()


# --------------------------------------------------------------- the webhook

TOKEN = "lianxintest"
APP_ID = "wx1234567890abcdef"
AES_KEY = "YmVuY2hrZXkwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc"


def make_config(db_url: str, **sections: dict) -> Config:  # noqa: F821
    from bot.config import parse

    raw: dict = {"database": {"url": db_url}, "wechat": {"token": TOKEN, "app_id": APP_ID,
                                                         "encoding_aes_key": AES_KEY}}
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return parse(raw)


class Clock:
    """A controllable clock for the services (UTC)."""

    def __init__(self) -> None:
        from bot.models import utcnow

        self.offset_s = 0.0
        self._utcnow = utcnow

    def __call__(self):  # type: ignore[no-untyped-def]
        from datetime import timedelta

        return self._utcnow() + timedelta(seconds=self.offset_s)

    def advance(self, **kw: float) -> None:
        from datetime import timedelta

        self.offset_s += timedelta(**kw).total_seconds()


class WeChat:
    """Sends messages to the webhook the way WeChat does and reads the replies."""

    def __init__(self, client, mode: str = "plain", path: str = "/wechat") -> None:  # type: ignore[no-untyped-def]
        from bot.wechat.simulator import WeChatSimulator

        self.client = client
        self.path = path
        self.sim = WeChatSimulator(TOKEN, APP_ID, AES_KEY if mode != "plain" else "", mode)

    async def post(self, xml: str | bytes, openid: str = "", **sign_kw):  # type: ignore[no-untyped-def]
        req = self.sim.sign(xml, openid, **sign_kw)
        return await self.client.post(self.path, params=req.query, data=req.body,
                                      headers={"Content-Type": "text/xml"}), req

    async def send(self, openid: str, text: str) -> str:
        """Send a text message; the reply's Content ("" for a silent reply)."""
        response, req = await self.post(self.sim.text(openid, text), openid)
        assert response.status == 200, await response.text()
        return self.sim.read_reply(await response.text(), req).get("Content", "")

    async def deliver(self, xml: str, openid: str = "") -> str:
        response, req = await self.post(xml, openid)
        assert response.status == 200, await response.text()
        return self.sim.read_reply(await response.text(), req).get("Content", "")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def services(db: Database, clock: Clock):  # type: ignore[no-untyped-def]
    from bot.services import build

    return build(make_config(db.url), db, now=clock)


@pytest.fixture
async def client(services, aiohttp_client):  # type: ignore[no-untyped-def]
    from bot.web.webhook import create_app

    return await aiohttp_client(create_app(services))


@pytest.fixture(params=["plain", "compat", "aes"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def wechat(client) -> WeChat:  # type: ignore[no-untyped-def]
    return WeChat(client, "aes")


@pytest.fixture
async def roster_ready(db: Database):  # type: ignore[no-untyped-def]
    """The small roster of tests/roster.py, loaded."""
    from tests.roster import make_roster

    return await make_roster(db)
