"""Several outbox workers on one PostgreSQL outbox: the work is shared, nothing goes out twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, text

from bot.db import Database
from bot.delivery.outbox import enqueue
from bot.delivery.worker import OutboxWorker
from bot.models import Base, OutboxMessage
from tests.fake_wechat import FakeClock, FakeWeChat, config_for, running


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[str]:
    """The test run's PostgreSQL database, emptied."""
    database = Database(pg_url, 2)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with database.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    await database.dispose()
    yield pg_url


async def fill(url: str, clock: FakeClock, n: int) -> set[str]:
    database = Database(url, 2)
    try:
        async with database.transaction() as s:
            for i in range(n):
                enqueue(s, kind="notice", text=f"pg-{i}", now=clock(), openid=f"op-{i % 37}")
    finally:
        await database.dispose()
    return {f"pg-{i}" for i in range(n)}


async def pending(database: Database) -> int:
    async with database.reading() as s:
        return int(await s.scalar(select(func.count()).where(OutboxMessage.status == "pending")) or 0)


async def work(worker: OutboxWorker, clock: FakeClock, handled: Counter[str]) -> None:
    """Rounds until nothing is pending; the clock moves only when a round finds nothing due."""
    async with worker:
        for _ in range(5000):
            n = await worker.run_once()
            handled[worker.name] += n
            if n == 0:
                if not await pending(worker.db):
                    return
                clock.advance(0.5)
                await asyncio.sleep(0.005)
    raise AssertionError("outbox not drained")


@pytest.mark.parametrize("flaky", [False, True])
async def test_two_workers_share_one_outbox_and_send_each_message_once(pg: str, flaky: bool) -> None:
    clock = FakeClock()
    async with running(clock=clock) as fake:
        texts = await fill(pg, clock, 400)
        if flaky:  # errors on the way: retries must not turn into duplicates either
            fake.script("custom", status=503, times=40)
            fake.script("custom", drop=True, times=20)
        config = config_for(fake, batch_size=25, backoff_base_s=0.5, backoff_max_s=2.0, max_attempts=20)
        dbs = [Database(pg, 10), Database(pg, 10)]
        workers = [OutboxWorker(config, d, now=clock, name=f"worker-{i}", concurrency=5) for i, d in enumerate(dbs)]
        handled: Counter[str] = Counter()
        try:
            await asyncio.gather(*(work(w, clock, handled) for w in workers))
            async with dbs[0].reading() as s:
                statuses = Counter((await s.scalars(select(OutboxMessage.status))).all())
        finally:
            for d in dbs:
                await d.dispose()
        delivered = Counter(c.text for c in fake.delivered())
        assert statuses == {"sent": 400}
        assert delivered == Counter(texts)  # each message exactly once
        assert all(handled[w.name] > 0 for w in workers), handled  # both did part of the work
        assert len(fake.of("token")) == 1  # and they shared one access_token
        if not flaky:
            assert sum(handled.values()) == 400  # no message was claimed twice


async def test_skip_locked_claims_are_disjoint(pg: str) -> None:
    """Two claims at the same moment (same clock) take different rows."""
    clock = FakeClock()
    fake = FakeWeChat(clock=clock)  # not started: claims only
    await fill(pg, clock, 60)
    config = config_for(fake, batch_size=30)
    dbs = [Database(pg, 4), Database(pg, 4)]
    try:
        workers = [OutboxWorker(config, d, now=clock, name=f"c{i}") for i, d in enumerate(dbs)]
        first, second = await asyncio.gather(*(w.claim() for w in workers))
        assert len(first) == len(second) == 30
        assert not {m.id for m in first} & {m.id for m in second}
        assert await workers[0].claim() == []  # all claimed, none expired
    finally:
        for d in dbs:
            await d.dispose()

