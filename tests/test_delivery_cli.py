"""`python -m bot worker` as a real process against the fake WeChat API."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db import Database
from bot.delivery.outbox import enqueue
from bot.models import Base, OutboxMessage, utcnow
from tests.fake_wechat import FakeWeChat, running

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChat]:
    async with running() as server:
        yield server


async def prepare(tmp_path: Path, fake: FakeWeChat, n: int) -> tuple[Path, Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    async with db.transaction() as s:
        for i in range(n):
            enqueue(s, kind="notice", text=f"cli-{i}", now=utcnow(), openid=f"op-{i}")
    config = tmp_path / "config.toml"
    config.write_text(f"""
[database]
url = "{url}"
[wechat]
token = "lianxintest"
app_id = "{fake.app_id}"
app_secret = "{fake.app_secret}"
api_base_url = "{fake.base_url}"
api_timeout_s = 2.0
[delivery]
poll_interval_s = 0.05
""", encoding="utf-8")
    return config, db


def env() -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if k not in ("WECHAT_TOKEN", "WECHAT_APPID", "WECHAT_AES_KEY", "LIANXIN_DATABASE_URL", "PORT")}
    keep["PYTHONPATH"] = str(ROOT)
    return keep


async def statuses(db: Database) -> list[str]:
    async with db.reading() as s:
        return list((await s.scalars(select(OutboxMessage.status))).all())


async def test_worker_once_delivers_what_is_due(tmp_path: Path, fake: FakeWeChat) -> None:
    config, db = await prepare(tmp_path, fake, 7)
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(config), "worker", "--once",
            cwd=tmp_path, env=env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        assert "7 message(s) handled" in out.decode()
        assert await statuses(db) == ["sent"] * 7
        assert sorted(c.text for c in fake.delivered()) == sorted(f"cli-{i}" for i in range(7))
    finally:
        await db.dispose()


async def test_worker_runs_until_sigterm(tmp_path: Path, fake: FakeWeChat) -> None:
    config, db = await prepare(tmp_path, fake, 3)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config), "worker",
        cwd=tmp_path, env=env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        for _ in range(600):
            await asyncio.sleep(0.05)
            if len(fake.delivered()) == 3:
                break
        assert proc.returncode is None  # still running, waiting for more
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, err.decode()
        assert await statuses(db) == ["sent"] * 3
    finally:
        if proc.returncode is None:
            proc.kill()
        await db.dispose()
