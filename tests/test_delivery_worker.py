"""The outbox worker against the fake WeChat API, on SQLite and PostgreSQL.

Time is a FakeClock given to the worker and the fake alike: back-off, claim
expiry and outages pass in simulated seconds, not real ones.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.db import Database
from bot.delivery.outbox import enqueue
from bot.delivery.worker import GroupCommit, OutboxWorker, run_worker_task
from bot.models import ApiToken, Community, OutboxMessage, Person, Resident, Ticket, Township
from tests.fake_wechat import FakeClock, FakeWeChat, config_for, running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def fake(clock: FakeClock) -> AsyncIterator[FakeWeChat]:
    async with running(clock=clock) as server:
        yield server


@dataclass
class World:
    community_id: int
    ticket_id: int
    staff: list[int]  # on duty
    staff_on_leave: int
    volunteer: int  # has an openid
    wecom_volunteer: int  # has an openid and a WeCom userid
    no_openid: int  # in the roster, never bound WeChat
    resident: str  # openid


async def seed(db: Database, clock: FakeClock) -> World:
    now = clock()
    async with db.transaction() as s:
        town = Township(name="莲峰镇")
        s.add(town)
        await s.flush()
        community = Community(township_id=town.id, name="桂花社区")
        s.add(community)
        await s.flush()

        def person(phone: str, name: str, **kw: Any) -> Person:
            p = Person(phone=phone, name=name, **kw)
            s.add(p)
            return p

        staff = [person("13800000001", "李主任", openid="op-staff1", staff_community_id=community.id),
                 person("13800000002", "周干事", openid="op-staff2", staff_community_id=community.id)]
        away = person("13800000003", "吴干事", openid="op-staff3", staff_community_id=community.id, on_leave=True)
        volunteer = person("13900000001", "王建国", openid="op-vol1")
        wecom_volunteer = person("13900000002", "赵红", openid="op-vol2", wecom_userid="zhaohong")
        no_openid = person("13900000003", "钱多", openid=None)
        s.add(Resident(openid="op-res1", first_seen_at=now, last_message_at=now))
        ticket = Ticket(openid="op-res1", text="3栋楼道灯坏了", category="facility", kind="request", state="assigned",
                        community_id=community.id, created_at=now, updated_at=now)
        s.add(ticket)
        await s.flush()
        return World(community.id, ticket.id, [p.id for p in staff], away.id, volunteer.id, wecom_volunteer.id,
                     no_openid.id, "op-res1")


async def queue(db: Database, clock: FakeClock, n: int, *, tag: str = "m", kind: str = "notice",
                ticket_id: int | None = None, person_id: int | None = None,
                openids: list[str] | None = None) -> dict[str, int]:
    """n messages; answers text -> outbox id (each text is unique, so fake deliveries map back to rows)."""
    async with db.transaction() as s:
        rows = {}
        for i in range(n):
            text = f"{tag}-{i} 通知"
            openid = None if person_id is not None else (openids[i % len(openids)] if openids else f"op-{tag}-{i}")
            rows[text] = enqueue(s, kind=kind, text=text, now=clock(), person_id=person_id, openid=openid,
                                 ticket_id=ticket_id)
        await s.flush()
        return {text: row.id for text, row in rows.items()}


async def outbox(db: Database) -> dict[int, OutboxMessage]:
    async with db.reading() as s:
        return {m.id: m for m in (await s.scalars(select(OutboxMessage))).all()}


async def drain(worker: OutboxWorker, clock: FakeClock, *, step: float = 1.0, rounds: int = 2000) -> int:
    """Run rounds until nothing is pending, moving the clock `step` seconds when a round finds nothing."""
    handled = 0
    for _ in range(rounds):
        n = await worker.run_once()
        handled += n
        if n == 0:
            async with worker.db.reading() as s:
                pending = await s.scalar(select(func.count()).where(OutboxMessage.status == "pending"))
            if not pending:
                return handled
            clock.advance(step)
    raise AssertionError("outbox not drained")


def deliveries(fake: FakeWeChat) -> Counter[str]:
    """How many times each text was delivered."""
    return Counter(c.text for c in fake.delivered())


def once(texts: dict[str, int]) -> Counter[str]:
    return Counter(list(texts))


# ---- channels ---------------------------------------------------------------

async def test_messages_go_out_as_customer_service_texts(db: Database, fake: FakeWeChat, clock: FakeClock) -> None:
    world = await seed(db, clock)
    ids = await queue(db, clock, 5, person_id=world.volunteer, ticket_id=world.ticket_id)
    ids |= await queue(db, clock, 5, tag="r", openids=[world.resident])
    async with OutboxWorker(config_for(fake), db, now=clock, name="w1") as worker:
        assert await drain(worker, clock) == 10
    rows = await outbox(db)
    assert {m.status for m in rows.values()} == {"sent"}
    assert {m.channel for m in rows.values()} == {"custom"}
    assert all(m.sent_at == clock() and m.attempts == 1 and m.claimed_by is None for m in rows.values())
    assert deliveries(fake) == once(ids)
    assert {c.to for c in fake.delivered()} == {"op-vol1", "op-res1"}
    # one recipient's messages keep their order
    assert [c.text for c in fake.delivered() if c.to == "op-vol1"] == [f"m-{i} 通知" for i in range(5)]


async def test_closed_window_falls_back_to_the_kinds_template(db: Database, fake: FakeWeChat,
                                                              clock: FakeClock) -> None:
    world = await seed(db, clock)
    fake.window_closed.add("op-vol1")
    fake.templates = {"TPL_NEW", "TPL_NOTICE"}
    new = await queue(db, clock, 2, tag="new", kind="new_ticket", person_id=world.volunteer,
                      ticket_id=world.ticket_id)
    other = await queue(db, clock, 1, tag="progress", kind="progress", person_id=world.volunteer,
                        ticket_id=world.ticket_id)
    in_window = await queue(db, clock, 1, tag="res", kind="progress", openids=[world.resident])
    config = config_for(fake, templates={"new_ticket": "TPL_NEW", "notice": "TPL_NOTICE"})
    async with OutboxWorker(config, db, now=clock) as worker:
        await drain(worker, clock)
    rows = await outbox(db)
    assert {rows[i].channel for i in new.values()} == {"template"}
    assert {rows[i].channel for i in other.values()} == {"template"}
    assert rows[in_window["res-0 通知"]].channel == "custom"
    used = {c.text: c.body["template_id"] for c in fake.of("template")}  # type: ignore[index]
    assert used == {"new-0 通知": "TPL_NEW", "new-1 通知": "TPL_NEW", "progress-0 通知": "TPL_NOTICE"}
    assert [c.outcome for c in fake.of("custom") if c.to == "op-vol1"] == ["errcode:45015"] * 3
    assert deliveries(fake) == once(new | other | in_window)


async def test_someone_silent_for_48h_gets_the_template_directly(db: Database, fake: FakeWeChat,
                                                                 clock: FakeClock) -> None:
    world = await seed(db, clock)
    async with db.transaction() as s:
        volunteer = await s.get(Person, world.volunteer)
        assert volunteer is not None
        volunteer.last_message_at = clock() - timedelta(hours=49)
    await queue(db, clock, 1, kind="reminder", person_id=world.volunteer, ticket_id=world.ticket_id)
    async with OutboxWorker(config_for(fake, templates={"notice": "TPL"}), db, now=clock) as worker:
        await drain(worker, clock)
    assert not fake.of("custom")
    assert [c.outcome for c in fake.of("template")] == ["ok"]


async def test_closed_window_without_a_template_fails_and_tells_staff(db: Database, fake: FakeWeChat,
                                                                      clock: FakeClock) -> None:
    world = await seed(db, clock)
    fake.window_closed.add("op-vol1")
    ids = await queue(db, clock, 1, kind="new_ticket", person_id=world.volunteer, ticket_id=world.ticket_id)
    async with OutboxWorker(config_for(fake), db, now=clock) as worker:
        await worker.run_once()
    rows = await outbox(db)
    failed = rows[ids["m-0 通知"]]
    assert failed.status == "failed" and failed.attempts == 1
    assert failed.last_error is not None and failed.last_error.startswith("no_template")
    notices = [m for m in rows.values() if m.kind == "failed"]
    assert sorted(m.person_id for m in notices) == sorted(world.staff)  # not the one on leave
    assert all(m.ticket_id == world.ticket_id and m.data == {"failed_outbox_id": failed.id} for m in notices)
    assert all(f"#{world.ticket_id}" in m.text and "王建国" in m.text for m in notices)


async def test_wecom_people_get_wecom_messages(db: Database, fake: FakeWeChat, clock: FakeClock) -> None:
    world = await seed(db, clock)
    await queue(db, clock, 2, tag="wc", person_id=world.wecom_volunteer, ticket_id=world.ticket_id)
    await queue(db, clock, 1, tag="wx", person_id=world.volunteer, ticket_id=world.ticket_id)
    async with OutboxWorker(config_for(fake, wecom=True), db, now=clock) as worker:
        await drain(worker, clock)
    rows = await outbox(db)
    assert sorted(m.channel for m in rows.values()) == ["custom", "wecom", "wecom"]  # type: ignore[type-var]
    assert [c.to for c in fake.of("wecom_send")] == ["zhaohong", "zhaohong"]
    assert [c.to for c in fake.of("custom")] == ["op-vol1"]


async def test_wecom_disabled_uses_wechat_for_everyone(db: Database, fake: FakeWeChat, clock: FakeClock) -> None:
    world = await seed(db, clock)
    await queue(db, clock, 1, person_id=world.wecom_volunteer, ticket_id=world.ticket_id)
    async with OutboxWorker(config_for(fake), db, now=clock) as worker:
        await drain(worker, clock)
    assert not fake.of("wecom_send") and not fake.of("wecom_token")
    assert [c.to for c in fake.delivered()] == ["op-vol2"]


async def test_an_unknown_wecom_userid_falls_back_to_wechat(db: Database, fake: FakeWeChat,
                                                            clock: FakeClock) -> None:
    world = await seed(db, clock)
    fake.invalid_userids.add("zhaohong")
    await queue(db, clock, 1, person_id=world.wecom_volunteer, ticket_id=world.ticket_id)
    async with OutboxWorker(config_for(fake, wecom=True), db, now=clock) as worker:
        await drain(worker, clock)
    assert [m.channel for m in (await outbox(db)).values()] == ["custom"]


async def test_the_recipient_is_resolved_at_send_time(db: Database, fake: FakeWeChat, clock: FakeClock) -> None:
    world = await seed(db, clock)
    await queue(db, clock, 1, person_id=world.volunteer, ticket_id=world.ticket_id)
    async with db.transaction() as s:
        volunteer = await s.get(Person, world.volunteer)
        assert volunteer is not None
        volunteer.openid = "op-vol1-new"  # re-bound after the message was queued
    async with OutboxWorker(config_for(fake), db, now=clock) as worker:
        await drain(worker, clock)
    assert [c.to for c in fake.delivered()] == ["op-vol1-new"]


# ---- failures ----------------------------------------------------------------

async def test_failed_after_max_attempts_and_staff_told_once(db: Database, fake: FakeWeChat,
                                                             clock: FakeClock) -> None:
    world = await seed(db, clock)
    fake.script("custom", status=502)  # WeChat down for good
    ids = await queue(db, clock, 1, person_id=world.volunteer, ticket_id=world.ticket_id)
    config = config_for(fake, max_attempts=3, backoff_base_s=2.0, backoff_max_s=10.0)
    async with OutboxWorker(config, db, now=clock) as worker:
        await drain(worker, clock, step=1.0)
    rows = await outbox(db)
    original = rows[ids["m-0 通知"]]
    assert original.status == "failed" and original.attempts == 3
    assert original.last_error == "retries: HTTP 502"
    notices = [m for m in rows.values() if m.kind == "failed"]
    assert sorted(m.person_id for m in notices) == sorted(world.staff)
    # the notices could not go out either: they failed without more notices about them
    assert all(m.status == "failed" for m in notices)
    assert len(rows) == 1 + len(world.staff)
    # three attempts to the volunteer; staff's notices have a budget of their own
    # ([security] failed_notice_max_attempts); back-off between them
    notice_budget = config.security.failed_notice_max_attempts
    assert Counter(c.to for c in fake.of("custom")) == {"op-vol1": 3, "op-staff1": notice_budget,
                                                        "op-staff2": notice_budget}
    times = [c.at for c in fake.of("custom") if c.to == "op-vol1"]
    assert timedelta(seconds=2) <= times[1] - times[0] <= timedelta(seconds=4)
    assert timedelta(seconds=4) <= times[2] - times[1] <= timedelta(seconds=6)


async def test_an_invalid_openid_fails_at_once(db: Database, fake: FakeWeChat, clock: FakeClock) -> None:
    world = await seed(db, clock)
    fake.invalid_openids.add("op-vol1")
    await queue(db, clock, 1, person_id=world.volunteer, ticket_id=world.ticket_id)
    async with OutboxWorker(config_for(fake), db, now=clock) as worker:
        await drain(worker, clock)
    rows = await outbox(db)
    failed = [m for m in rows.values() if m.kind == "notice"]
    assert [(m.status, m.attempts) for m in failed] == [("failed", 1)]
    assert failed[0].last_error is not None and failed[0].last_error.startswith("invalid_recipient: 40003")
    assert sorted(m.person_id for m in rows.values() if m.kind == "failed") == sorted(world.staff)
    assert all(m.status == "sent" for m in rows.values() if m.kind == "failed")


async def test_a_person_without_openid_fails_without_an_api_call(db: Database, fake: FakeWeChat,
                                                                 clock: FakeClock) -> None:
    world = await seed(db, clock)
    await queue(db, clock, 1, person_id=world.no_openid, ticket_id=world.ticket_id)
    async with OutboxWorker(config_for(fake), db, now=clock) as worker:
        await worker.run_once()
    rows = await outbox(db)
    assert [m.last_error for m in rows.values() if m.kind == "notice"] == ["no_openid: recipient has no openid"]
    assert not fake.calls
    notice = next(m for m in rows.values() if m.kind == "failed")
    assert "钱多" in notice.text and "还没有绑定微信" in notice.text


async def test_a_message_without_a_ticket_is_marked_failed_and_staff_are_told(db: Database, fake: FakeWeChat,
                                                                             clock: FakeClock) -> None:
    world = await seed(db, clock)
    fake.invalid_openids.add("op-x-0")
    await queue(db, clock, 1, tag="x")
    async with OutboxWorker(config_for(fake), db, now=clock) as worker:
        await worker.run_once()
    rows = await outbox(db)
    assert [m.status for m in rows.values() if m.kind != "failed"] == ["failed"]
    # no community to tell from the message: without dispatchers, every staff member on duty hears of it
    assert sorted(m.person_id for m in rows.values() if m.kind == "failed") == sorted(world.staff)


async def test_quota_errors_back_off_to_the_maximum(db: Database, fake: FakeWeChat, clock: FakeClock) -> None:
    world = await seed(db, clock)
    fake.script("custom", errcode=45009, times=1)
    await queue(db, clock, 1, person_id=world.volunteer, ticket_id=world.ticket_id)
    config = config_for(fake, backoff_max_s=30.0)
    async with OutboxWorker(config, db, now=clock) as worker:
        await worker.run_once()
        row = next(iter((await outbox(db)).values()))
        assert row.status == "pending" and row.next_attempt_at == clock() + timedelta(seconds=30)
        await drain(worker, clock, step=5)
    assert [c.outcome for c in fake.of("custom")] == ["errcode:45009", "ok"]


async def test_an_outage_loses_nothing_and_sends_nothing_twice(db: Database, fake: FakeWeChat,
                                                               clock: FakeClock) -> None:
    """Five simulated minutes of 503s, then dropped connections, then timeouts."""
    world = await seed(db, clock)
    start = clock()
    fake.script("custom", status=503, until=start + timedelta(seconds=150))
    fake.script("custom", drop=True, until=start + timedelta(seconds=270))
    fake.script("custom", delay=0.2, until=start + timedelta(seconds=300))  # longer than the timeout
    ids = await queue(db, clock, 30, openids=[f"op-r{i}" for i in range(10)])
    ids |= await queue(db, clock, 5, tag="v", person_id=world.volunteer, ticket_id=world.ticket_id)
    config = config_for(fake, api_timeout_s=0.05, max_attempts=40, backoff_base_s=1.0, backoff_max_s=20.0)
    async with OutboxWorker(config, db, now=clock) as worker:
        await drain(worker, clock, step=2.0)
    rows = await outbox(db)
    assert {m.status for m in rows.values()} == {"sent"}
    assert len(rows) == len(ids)
    assert deliveries(fake) == once(ids)  # every message exactly once
    assert all(c.at >= start + timedelta(seconds=300) for c in fake.delivered())
    outcomes = Counter(c.outcome for c in fake.of("custom"))
    assert outcomes["http:503"] and outcomes["dropped"] and outcomes["ok"] == len(ids)
    assert outcomes["aborted"] + outcomes["pending"]  # the timeouts
    assert all(m.attempts > 1 for m in rows.values())


async def test_a_killed_worker_leaves_nothing_sent_twice(db: Database, fake: FakeWeChat, clock: FakeClock) -> None:
    """Cancel the worker while sends hang at the fake; a worker started later delivers the rest, once each."""
    await seed(db, clock)
    ids = await queue(db, clock, 40, openids=[f"op-r{i}" for i in range(40)])
    fake.script("custom", times=12)  # the first twelve answer at once ...
    fake.script("custom", delay=0.4)  # ... then WeChat hangs
    config = config_for(fake, api_timeout_s=5.0, batch_size=20, claim_timeout_s=60.0)
    first = OutboxWorker(config, db, now=clock, name="first", concurrency=8)
    task = asyncio.create_task(first.run(asyncio.Event()))
    for _ in range(500):
        await asyncio.sleep(0.01)
        if sum(1 for c in fake.of("custom") if c.outcome == "pending") >= 3:
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.5)  # the fake finishes the requests the dead worker abandoned
    aborted = [c for c in fake.of("custom") if c.outcome == "aborted"]
    assert aborted, "the kill did not hit requests in flight"
    rows = await outbox(db)
    assert 12 <= sum(m.status == "sent" for m in rows.values()) < 40
    stuck = [m for m in rows.values() if m.status == "pending" and m.claimed_by == "first"]
    assert stuck  # claims of the dead worker, left to expire

    unclaimed = sum(m.status == "pending" and m.claimed_by is None for m in rows.values())
    fake.clear_scripts()
    async with OutboxWorker(config, db, now=clock, name="second") as second:
        assert await second.run_once() == min(unclaimed, 20)  # live claims of the dead worker are skipped
        clock.advance(61)  # ... until they expire
        await drain(second, clock)
    rows = await outbox(db)
    assert {m.status for m in rows.values()} == {"sent"}
    assert deliveries(fake) == once(ids)  # each exactly once
    assert {c.text for c in aborted} <= {c.text for c in fake.delivered()}


async def test_run_stops_when_told(db: Database, fake: FakeWeChat, clock: FakeClock) -> None:
    await seed(db, clock)
    ids = await queue(db, clock, 45)
    stop = asyncio.Event()
    worker = OutboxWorker(config_for(fake, batch_size=10), db, now=clock)
    task = asyncio.create_task(worker.run(stop))
    for _ in range(300):
        await asyncio.sleep(0.01)
        if len(fake.delivered()) == len(ids):
            break
    stop.set()
    await asyncio.wait_for(task, 2)
    assert deliveries(fake) == once(ids)


async def test_the_server_background_task_delivers_until_stopped(db: Database, fake: FakeWeChat,
                                                                 clock: FakeClock) -> None:
    world = await seed(db, clock)
    ids = await queue(db, clock, 3, person_id=world.volunteer, ticket_id=world.ticket_id)
    stop = asyncio.Event()
    services = SimpleNamespace(config=config_for(fake), db=db, now=clock)
    task = asyncio.create_task(run_worker_task(services, stop))  # type: ignore[arg-type]
    for _ in range(300):
        await asyncio.sleep(0.01)
        if len(fake.delivered()) == len(ids):
            break
    stop.set()
    await asyncio.wait_for(task, 2)
    assert deliveries(fake) == once(ids)


async def test_group_commit_joins_items_that_arrive_during_a_commit() -> None:
    flushed: list[list[int]] = []

    async def flush(items: list[int]) -> None:
        await asyncio.sleep(0.01)
        flushed.append(items)

    group = GroupCommit(flush)
    await asyncio.gather(*(group.add(i) for i in range(10)))
    assert flushed == [[0], list(range(1, 10))]
    await group.add(10)
    assert flushed[-1] == [10]


async def test_group_commit_failure_reaches_every_item_of_the_batch() -> None:
    async def flush(items: list[int]) -> None:
        await asyncio.sleep(0.01)
        if 3 in items:
            raise RuntimeError("database gone")

    group = GroupCommit(flush)
    results = await asyncio.gather(*(group.add(i) for i in range(5)), return_exceptions=True)
    assert results[0] is None
    assert all(isinstance(r, RuntimeError) for r in results[1:])


async def test_the_worker_can_share_its_token_through_redis(db: Database, fake: FakeWeChat,
                                                            clock: FakeClock) -> None:
    import os

    import redis.asyncio as aioredis

    url = os.environ.get("LIANXIN_TEST_REDIS", "redis://127.0.0.1:6379/15")
    client = aioredis.from_url(url)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {url} is not reachable: {exc}")
        pytest.skip(f"Redis at {url} is not reachable: {exc}")
    # an app id of this test run's own, so its token key meets no other run's (parallel runs share Redis)
    fake.app_id = f"wxtest{uuid.uuid4().hex[:12]}"
    key = f"lianxin:token:wechat:{fake.app_id}"
    world = await seed(db, clock)
    ids = await queue(db, clock, 6, person_id=world.volunteer, ticket_id=world.ticket_id)
    config = config_for(fake, redis_url=url)
    try:
        assert not await client.exists(key)
        async with OutboxWorker(config, db, now=clock, name="r1") as w1, \
                OutboxWorker(config, db, now=clock, name="r2") as w2:
            await asyncio.gather(drain(w1, clock), drain(w2, clock))
        assert await client.exists(key)
    finally:
        await client.delete(key, f"{key}:lease")
        await client.aclose()
    assert deliveries(fake) == once(ids)
    assert len(fake.of("token")) == 1
    async with db.reading() as s:
        assert await s.scalar(select(func.count()).select_from(ApiToken)) == 0  # nothing in the database
