"""Nothing is lost quietly (issue 12): an outage longer than the retry budget
ends with every message delivered once the API answers again; staff's own
failure notices outlast the outage; a failure with no community reaches the
dispatchers; every attempt is on record; `deliveries --failed` and `audit`
list what staff need."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.config import SecurityConfig, TicketsConfig
from bot.db import Database
from bot.delivery.worker import OutboxWorker
from bot.models import Base, DeliveryAttempt, OutboxMessage, Person, RoleAudit, Ticket, utcnow
from tests.fake_wechat import FakeClock, FakeWeChat, config_for, running
from tests.test_delivery_worker import drain, outbox, queue, seed


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def fake(clock: FakeClock) -> AsyncIterator[FakeWeChat]:
    async with running(clock=clock) as server:
        yield server


def secured(fake: FakeWeChat, **security: float) -> object:
    config = config_for(fake, max_attempts=3, backoff_base_s=2.0, backoff_max_s=10.0)
    return dataclasses.replace(config, security=dataclasses.replace(SecurityConfig(), **security))


async def attempts(db: Database) -> list[tuple[int, str]]:
    async with db.reading() as s:
        return [(a.outbox_id, a.outcome) for a in
                (await s.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id))).all()]


async def test_an_outage_longer_than_the_retry_budget_loses_nothing(db: Database, fake: FakeWeChat,
                                                                    clock: FakeClock) -> None:
    world = await seed(db, clock)
    fake.script("custom", status=502)  # WeChat down
    ids = await queue(db, clock, 3, person_id=world.volunteer, ticket_id=world.ticket_id)
    config = secured(fake, failed_notice_max_attempts=50, probe_interval_s=30.0, probe_interval_max_s=120.0)
    async with OutboxWorker(config, db, now=clock) as worker:  # type: ignore[arg-type]
        for _ in range(40):  # the volunteer's messages run out of retries; staff's notices do not
            await worker.run_once()
            clock.advance(5)
        rows = await outbox(db)
        assert all(rows[i].status == "failed" and rows[i].fail_reason == "retries" for i in ids.values())
        notices = [m for m in rows.values() if m.kind == "failed"]
        assert notices and all(m.status == "pending" for m in notices)

        # still down: the probe fails and backs off (30 s, then 60 s)
        assert await worker.probe_if_due() == "down"
        assert await worker.probe_if_due() == "wait"
        clock.advance(31)
        assert await worker.probe_if_due() == "down"
        clock.advance(31)
        assert await worker.probe_if_due() == "wait"

        fake.clear_scripts()  # WeChat is back
        clock.advance(30)
        assert await worker.probe_if_due() == "requeued"
        await drain(worker, clock, step=5.0)
    rows = await outbox(db)
    assert all(m.status == "sent" for m in rows.values()), [(m.id, m.kind, m.status) for m in rows.values()]
    delivered = Counter(c.text for c in fake.delivered())
    assert all(delivered[text] == 1 for text in ids)  # each once
    recorded = await attempts(db)
    assert all(outcome != "sending" for _, outcome in recorded)
    first = ids["m-0 通知"]
    assert [o for i, o in recorded if i == first] == ["retry", "retry", "failed", "probe_failed", "probe_failed",
                                                      "sent"]


async def test_a_failure_with_no_community_goes_to_the_dispatchers(db: Database, fake: FakeWeChat,
                                                                   clock: FakeClock) -> None:
    world = await seed(db, clock)
    async with db.transaction() as s:
        unplaced = Ticket(openid="op-res1", text="路边垃圾", category="sanitation", kind="request", state="open",
                          community_id=None, created_at=clock(), updated_at=clock())
        s.add(unplaced)
        await s.flush()
        unplaced_id = unplaced.id
    fake.invalid_openids.add("op-res1")
    await queue(db, clock, 1, openids=["op-res1"], ticket_id=unplaced_id)
    base = config_for(fake)
    config = dataclasses.replace(base, tickets=TicketsConfig(unplaced_staff_phones=("13800000002",)))
    async with OutboxWorker(config, db, now=clock) as worker:
        await worker.run_once()
    rows = await outbox(db)
    told = [m for m in rows.values() if m.kind == "failed"]
    assert [m.person_id for m in told] == [world.staff[1]]  # 周干事, the dispatcher; not 李主任
    assert f"#{unplaced_id}" in told[0].text


def test_deliveries_failed_and_audit_list_what_staff_need(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIANXIN_DATABASE_URL", raising=False)
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    (tmp_path / "config.toml").write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")

    async def prepare() -> None:
        db = Database(url)
        async with db.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        now = utcnow()
        async with db.transaction() as s:
            wang = Person(phone="13800000001", name="王建国", openid="o_new")
            s.add(wang)
            await s.flush()
            s.add(RoleAudit(at=now, action="moved", person_id=wang.id, openid="o_new", previous_openid="o_old",
                            via="invite"))
            s.add_all([
                OutboxMessage(kind="notice", text="工单#3已办结", openid="o_gone", status="failed", attempts=8,
                              fail_reason="retries", last_error="retries: HTTP 502", next_attempt_at=now,
                              created_at=now),
                OutboxMessage(kind="notice", text="已经送到", openid="o_ok", status="sent", attempts=1,
                              next_attempt_at=now, created_at=now),
            ])
        await db.dispose()

    asyncio.run(prepare())
    runner = CliRunner()
    failed = runner.invoke(main, ["deliveries", "--failed"], catch_exceptions=False)
    assert failed.exit_code == 0, failed.output
    assert "工单#3已办结" in failed.output and "HTTP 502" in failed.output and "已经送到" not in failed.output
    assert "1 message(s)" in failed.output
    trail = runner.invoke(main, ["audit"], catch_exceptions=False)
    assert trail.exit_code == 0, trail.output
    assert "moved" in trail.output and "王建国" in trail.output and "o_old" in trail.output
