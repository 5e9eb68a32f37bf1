"""The group-commit writer (issue 10): webhook requests share one transaction
and each reply leaves only after its commit. A retry gets the very same
reply also while the first delivery is pending in the same batch or in an
earlier one; a failing request (handler error, replayed nonce) does not lose
the others of its batch; with `batch_max = 1` each request has its own
transaction again. Each test runs on SQLite and PostgreSQL, the one across
processes on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat.context import Message
from bot.config import ConfigError, parse
from bot.db import Database
from bot.db.writer import Writer
from bot.models import InboundMessage, Ticket
from bot.services import build
from bot.web import inbox
from bot.web.webhook import SERVICES, WRITER, create_app
from tests.conftest import WeChat, make_config
from tests.roster import make_roster


async def app_client(aiohttp_client: Any, db: Database, **database: Any) -> Any:
    """A test client whose writer waits `batch_wait_ms` to gather a batch (merging
    off: each request opens its own ticket)."""
    services = build(make_config(db.url, database={"batch_wait_ms": 100, **database},
                                 tickets={"merge_window_h": 0}), db)
    return await aiohttp_client(create_app(services))


def writer_of(client: Any) -> Writer:
    return client.app[WRITER]


async def count(db: Database, model: Any) -> int:
    async with db.reading() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


def gate_dispatch(client: Any, text: str) -> tuple[asyncio.Event, asyncio.Event]:
    """Hold the handling of messages saying `text` until the returned `release` is set."""
    services = client.app[SERVICES]
    entered, release = asyncio.Event(), asyncio.Event()
    dispatch = services.dispatcher.dispatch

    async def gated(ctx: Any) -> Any:
        if ctx.message.content == text:
            entered.set()
            await release.wait()
        return await dispatch(ctx)

    services.dispatcher.dispatch = gated
    return entered, release


async def test_retries_in_the_same_batch_get_the_first_reply_and_one_ticket(db: Database, aiohttp_client) -> None:
    await make_roster(db)
    client = await app_client(aiohttp_client, db)
    wechat = WeChat(client, "aes")
    xml = wechat.sim.text("o_gc_zhang", "3栋2单元楼道灯坏了")
    others = [wechat.sim.text(f"o_gc_{i}", f"{i}号楼门口垃圾没人清") for i in range(3)]
    results = await asyncio.gather(*(wechat.post(x, "o") for x in [xml, *others, xml, xml]))
    assert all(r.status == 200 for r, _ in results)
    replies = [wechat.sim.read_reply(await r.text(), req)["Content"] for r, req in results]
    assert replies[0] == replies[4] == replies[5] and "工单" in replies[0]
    stats = writer_of(client).stats
    assert stats.largest >= 2 and stats.failed_batches == 0, stats
    assert await count(db, Ticket) == 4
    assert await count(db, InboundMessage) == 4


async def test_a_retry_waits_for_the_first_delivery_pending_in_an_earlier_batch(db: Database, aiohttp_client
                                                                                ) -> None:
    await make_roster(db)
    client = await app_client(aiohttp_client, db)
    writer = writer_of(client)
    wechat = WeChat(client, "plain")
    text = "3栋电梯又停了，老人上不去楼"
    entered, release = gate_dispatch(client, text)
    xml = wechat.sim.text("o_gc_li", text)
    first = asyncio.create_task(wechat.post(xml, "o_gc_li"))
    neighbour = asyncio.create_task(wechat.post(wechat.sim.text("o_gc_wu", "5栋楼道灯坏了"), "o_gc_wu"))
    await entered.wait()  # the first delivery is inside its batch's transaction, not committed
    retry = asyncio.create_task(wechat.post(xml, "o_gc_li"))
    for _ in range(500):  # until the retry is queued for the next batch
        if writer._queue:
            break
        await asyncio.sleep(0.01)
    assert writer._queue
    assert not retry.done()
    release.set()
    (r1, q1), (r2, q2), (r3, _) = await asyncio.gather(first, retry, neighbour)
    assert r1.status == r2.status == r3.status == 200
    one, two = wechat.sim.read_reply(await r1.text(), q1), wechat.sim.read_reply(await r2.text(), q2)
    assert one["Content"] == two["Content"] and "工单" in one["Content"]
    assert writer.stats.batches >= 2 and writer.stats.largest >= 2 and writer.stats.failed_batches == 0
    assert await count(db, Ticket) == 2


async def test_a_failing_request_does_not_lose_the_others_of_its_batch(db: Database, aiohttp_client) -> None:
    await make_roster(db)
    client = await app_client(aiohttp_client, db)
    services = client.app[SERVICES]
    dispatch = services.dispatcher.dispatch

    async def failing(ctx: Any) -> Any:
        if "爆炸" in ctx.message.content:
            raise RuntimeError("a handler bug")
        return await dispatch(ctx)

    services.dispatcher.dispatch = failing
    wechat = WeChat(client, "plain")
    texts = ["3栋楼道灯坏了", "楼下爆炸声好吓人", "5栋电梯停了", "小区门口垃圾没人清"]
    results = await asyncio.wait_for(asyncio.gather(  # a lost request would wait for ever: fail, not hang
        *(wechat.post(wechat.sim.text(f"o_gc_f{i}", t), f"o_gc_f{i}") for i, t in enumerate(texts))), 60)
    replies = [wechat.sim.read_reply(await r.text(), req)["Content"] for r, req in results]
    assert all(r.status == 200 for r, _ in results)
    assert replies[1] == services.texts("error.holding")
    assert all("工单" in r for i, r in enumerate(replies) if i != 1), replies
    writer = writer_of(client)
    assert writer.stats.failed_batches >= 1 and writer.stats.largest >= 2
    assert await count(db, Ticket) == 3
    async with db.reading() as s:
        rows = {m.content: m for m in (await s.scalars(select(InboundMessage))).all()}
    assert set(rows) == set(texts)
    assert rows["楼下爆炸声好吓人"].payload.get("_handler_failed") is True
    assert all(not m.payload.get("_handler_failed") for t, m in rows.items() if t != "楼下爆炸声好吓人")


async def test_a_replayed_nonce_is_refused_and_its_batch_neighbours_are_stored(db: Database, aiohttp_client
                                                                               ) -> None:
    client = await app_client(aiohttp_client, db)
    wechat = WeChat(client, "plain")
    xmls = [wechat.sim.text(f"o_gc_n{i}", t) for i, t in enumerate(["3栋楼道灯坏了", "5栋电梯停了", "你好"])]
    results = await asyncio.gather(wechat.post(xmls[0], "o_gc_n0", nonce="samenonce1"),
                                   wechat.post(xmls[1], "o_gc_n1", nonce="samenonce1"),
                                   wechat.post(xmls[2], "o_gc_n2"))
    statuses = sorted(r.status for r, _ in results)
    assert statuses == [200, 200, 403]
    assert writer_of(client).stats.largest >= 2
    assert await count(db, InboundMessage) == 2


async def test_each_reply_leaves_after_its_commit(db: Database) -> None:
    """receive returns only when the transaction its work ran in has committed:
    the row and its reply are visible to another connection at that moment."""
    committed: set[str] = set()
    handled: dict[int, list[str]] = {}
    original = db.transaction

    @asynccontextmanager
    async def transaction() -> AsyncIterator[AsyncSession]:
        async with original() as session:
            yield session
        committed.update(handled.pop(id(session), []))  # reached only after the commit

    db.transaction = transaction  # type: ignore[method-assign]
    writer = Writer(db, batch_max=8, batch_wait_s=0.05)
    writer.start()
    other = Database(db.url, 2)  # another connection pool, as another process would see it
    now = datetime.now(UTC)
    try:
        async def one(i: int) -> None:
            message = Message.from_fields({"ToUserName": "gh_x", "FromUserName": f"o_gc_c{i}", "MsgType": "text",
                                           "CreateTime": str(int(now.timestamp())), "Content": f"第{i}条",
                                           "MsgId": str(9_000_000 + i)})

            async def process(session: AsyncSession, message_id: int) -> str:
                handled.setdefault(id(session), []).append(message.dedup_key)
                return f"reply {i}"

            reply, first = await inbox.receive(db, message, f"nonce{i}", now, process, lambda: "holding",
                                               writer=writer)
            assert (reply, first) == (f"reply {i}", True)
            assert message.dedup_key in committed, "the reply came back before its commit"
            async with other.reading() as s:
                stored = await s.scalar(select(InboundMessage.reply).where(
                    InboundMessage.dedup_key == message.dedup_key))
            assert stored == f"reply {i}"

        await asyncio.gather(*(one(i) for i in range(12)))
        assert writer.stats.largest >= 2 and writer.stats.failed_batches == 0
    finally:
        await writer.stop()
        await other.dispose()


async def test_with_batch_max_1_each_request_has_its_own_transaction(db: Database, aiohttp_client) -> None:
    client = await app_client(aiohttp_client, db, batch_max=1)
    writer = writer_of(client)
    assert not writer.running
    wechat = WeChat(client, "plain")
    replies = await asyncio.gather(*(wechat.send(f"o_gc_s{i}", "3栋楼道灯坏了") for i in range(3)))
    assert all("工单" in r for r in replies)
    assert writer.stats.batches == 0
    assert await count(db, Ticket) == 3


async def test_the_writer_runs_what_is_queued_when_the_app_stops(db: Database) -> None:
    writer = Writer(db, batch_max=4, batch_wait_s=0.05)
    writer.start()

    async def work(session: AsyncSession) -> int:
        return 1

    async def alone() -> int:
        return 2

    pending = [asyncio.create_task(writer.submit(work, alone)) for _ in range(6)]
    await asyncio.sleep(0)
    await writer.stop()
    assert [await p for p in pending] == [1] * 6
    assert await writer.submit(work, alone) == 2  # stopped: the work runs alone


def test_a_bad_batch_setting_names_its_key() -> None:
    base = {"wechat": {"token": "lianxintest"}}
    for key, value in (("batch_max", 0), ("batch_max", "8"), ("batch_wait_ms", -1), ("batch_wait_ms", 500)):
        with pytest.raises(ConfigError) as caught:
            parse({**base, "database": {key: value}})
        assert f"database.{key}" in str(caught.value)
    config = parse({**base, "database": {"batch_max": 1, "batch_wait_ms": 2}})
    assert config.database.batch_max == 1 and config.database.batch_wait_ms == 2.0


async def test_retries_across_processes_on_postgresql_get_one_ticket(db: Database, aiohttp_client) -> None:
    if db.sqlite:
        pytest.skip("SQLite serves from one process")
    await make_roster(db)
    other_process_db = Database(db.url, pool_size=5)
    try:
        first = WeChat(await app_client(aiohttp_client, db), "aes")
        second = WeChat(await app_client(aiohttp_client, other_process_db), "aes")
        for round_no in range(3):
            xml = first.sim.text("o_gc_pg", f"3栋{round_no + 1}楼楼道灯坏了")
            noise = [first.sim.text(f"o_gc_pg{i}", f"{i + 1}号楼{round_no + 1}单元电梯停了") for i in range(4)]
            sends = [(first if i % 2 else second).post(x, "o") for i, x in enumerate([xml, *noise, xml, xml, xml])]
            results = await asyncio.gather(*sends)
            assert all(r.status == 200 for r, _ in results)
            replies = {first.sim.read_reply(await r.text(), q)["Content"] for i, (r, q) in enumerate(results)
                       if i in (0, 5, 6, 7)}
            assert len(replies) == 1 and "工单" in replies.pop()
        assert await count(db, Ticket) == 3 * 5
        assert await count(db, InboundMessage) == 3 * 5
    finally:
        await other_process_db.dispose()


async def _nonces(db: Database) -> list[str]:
    from bot.models import SeenNonce

    async with db.reading() as s:
        return sorted((await s.scalars(select(SeenNonce.nonce))).all())


def _nonce_work(name: str, fail: bool = False) -> Any:
    from bot.models import SeenNonce

    async def work(session: AsyncSession) -> str:
        session.add(SeenNonce(nonce=name, dedup_key=name, seen_at=datetime.now(UTC)))
        if fail:
            raise RuntimeError("a handler bug")
        return f"batched {name}"
    return work


@pytest.mark.parametrize("failing", [0, 3, 7])
async def test_the_items_around_a_failing_one_are_committed_once(db: Database, failing: int) -> None:
    from bot.models import SeenNonce

    writer = Writer(db, batch_max=8, batch_wait_s=0.05)
    writer.start()

    def alone(name: str, fail: bool) -> Any:
        async def run() -> str:
            async with db.transaction() as session:
                session.add(SeenNonce(nonce=f"{name}-alone" if fail else name, dedup_key=name,
                                      seen_at=datetime.now(UTC)))
            return f"alone {name}"
        return run

    names = [f"n{i}" for i in range(8)]
    try:
        results = await asyncio.wait_for(asyncio.gather(  # a lost item would leave its future waiting: fail, not hang
            *(writer.submit(_nonce_work(n, i == failing), alone(n, i == failing)) for i, n in enumerate(names))), 60)
    finally:
        await writer.stop()
    assert results[failing] == f"alone n{failing}"
    assert all(r == f"batched {n}" for i, (r, n) in enumerate(zip(results, names, strict=True)) if i != failing)
    expected = sorted(f"{n}-alone" if i == failing else n for i, n in enumerate(names))
    assert await _nonces(db) == expected
    assert writer.stats.failed_batches == 1


async def test_a_failed_commit_runs_each_item_alone(db: Database) -> None:
    original = db.transaction
    calls = [0]

    @asynccontextmanager
    async def transaction() -> AsyncIterator[AsyncSession]:
        calls[0] += 1
        first = calls[0] == 1
        async with original() as session:
            yield session
            if first:
                raise OSError("the disk is full")  # inside the block: rolled back, as a failed commit

    db.transaction = transaction  # type: ignore[method-assign]
    writer = Writer(db, batch_max=4, batch_wait_s=0.05)
    writer.start()

    async def stored_alone(name: str) -> str:
        async with original() as session:
            await _nonce_work(name)(session)
        return f"alone {name}"

    try:
        results = await asyncio.gather(*(writer.submit(_nonce_work(n), lambda n=n: stored_alone(n))
                                         for n in ("a", "b", "c", "d")))
    finally:
        await writer.stop()
    assert results == ["alone a", "alone b", "alone c", "alone d"]
    assert await _nonces(db) == ["a", "b", "c", "d"]
    assert writer.stats.failed_batches == 1


async def test_a_batch_runs_its_items_in_sender_order_keeping_each_senders_own_order(db: Database) -> None:
    """Every process takes the senders' rows in the same order (no deadlock between
    two processes' batches); one sender's messages stay in the order they came."""
    writer = Writer(db, batch_max=8, batch_wait_s=0.05)
    writer.start()
    ran: list[str] = []

    def work(name: str) -> Any:
        async def run(session: AsyncSession) -> str:
            ran.append(name)
            return name
        return run

    async def never() -> str:
        raise AssertionError("ran alone")

    submitted = [("o_c", "c1"), ("o_a", "a1"), ("o_b", "b1"), ("o_a", "a2"), ("o_c", "c2"), ("o_a", "a3")]
    try:
        await asyncio.wait_for(asyncio.gather(*(writer.submit(work(n), never, order=o) for o, n in submitted)), 60)
    finally:
        await writer.stop()
    assert ran == ["a1", "a2", "a3", "b1", "c1", "c2"]
