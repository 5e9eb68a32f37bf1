"""The hot path of a resident's request (issue 10): classification outside
the write transaction, rows that rarely change kept in memory and
invalidated when they change, merge tokens stored with the ticket, fewer
writes — with every message still stored with its ticket before the reply,
and a retry answered with the very same reply. Each test runs on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import func, select, update

from bot.db import Database
from bot.models import Building, CacheEpoch, Compound, InboundMessage, Person, Resident, Ticket
from tests.conftest import WeChat
from tests.roster import make_roster


def watch_transactions(db: Database) -> list[bool]:
    """Patch `db.transaction` to note when one is open; returns the live flag holder."""
    inside = [False]
    original = db.transaction

    @asynccontextmanager
    async def transaction() -> AsyncIterator[Any]:
        async with original() as session:
            inside[0] = True
            try:
                yield session
            finally:
                inside[0] = False

    db.transaction = transaction  # type: ignore[method-assign]
    return inside


async def test_a_request_is_classified_before_its_transaction_opens(client, db: Database, services) -> None:
    await make_roster(db)
    inside = watch_transactions(db)
    seen: list[bool] = []
    analyser = services.analyser
    analyse = analyser.analyse

    def spying(text: str) -> Any:
        seen.append(inside[0])
        return analyse(text)

    analyser.analyse = spying
    wechat = WeChat(client, "plain")
    reply = await wechat.send("o_hot_li", "3栋楼道灯坏了好几天了，晚上看不见路")
    assert "工单" in reply
    reply = await wechat.send("o_hot_li", "小区门口垃圾没人清，另外3栋电梯也坏了")
    assert reply
    assert seen and not any(seen), "the analyser ran inside the write transaction"
    async with db.reading() as s:
        assert await s.scalar(select(func.count()).select_from(Ticket)) >= 2


async def test_concurrent_retries_of_a_request_get_one_ticket_and_the_same_reply(client, db: Database) -> None:
    await make_roster(db)
    wechat = WeChat(client, "aes")
    xml = wechat.sim.text("o_hot_zhang", "3栋2单元楼道灯坏了")
    results = await asyncio.gather(*(wechat.post(xml, "o_hot_zhang") for _ in range(5)))
    replies = [wechat.sim.read_reply(await r.text(), req)["Content"] for r, req in results]
    assert all(r.status == 200 for r, _ in results)
    assert len(set(replies)) == 1 and "工单" in replies[0]
    async with db.reading() as s:
        assert await s.scalar(select(func.count()).select_from(Ticket)) == 1
        assert await s.scalar(select(func.count()).select_from(InboundMessage)) == 1


async def test_last_message_at_is_written_when_it_moved_more_than_a_minute(client, db: Database, clock) -> None:
    wechat = WeChat(client, "plain")
    await wechat.send("o_hot_wu", "你好")
    async with db.reading() as s:
        first = (await s.get(Resident, "o_hot_wu")).last_message_at  # type: ignore[union-attr]
    clock.advance(seconds=30)
    await wechat.send("o_hot_wu", "谢谢")
    async with db.reading() as s:
        assert (await s.get(Resident, "o_hot_wu")).last_message_at == first  # type: ignore[union-attr]
    clock.advance(seconds=45)
    await wechat.send("o_hot_wu", "你好")
    async with db.reading() as s:
        later = (await s.get(Resident, "o_hot_wu")).last_message_at  # type: ignore[union-attr]
    assert later is not None and first is not None and (later - first).total_seconds() >= 75


async def test_the_merge_check_reads_the_words_kept_with_open_tickets(client, db: Database, services) -> None:
    await make_roster(db)
    wechat = WeChat(client, "plain")
    await wechat.send("o_hot_a", "绑定 3栋2单元501")
    await wechat.send("o_hot_b", "绑定 3栋2单元502")
    await wechat.send("o_hot_c", "绑定 3栋2单元601")
    texts = ["3栋楼道灯坏了好几天了", "3栋电梯又停了，老人上不去楼", "3栋门口垃圾堆了三天没人清"]
    for text in texts:
        assert "工单" in await wechat.send("o_hot_a", text)
    async with db.reading() as s:
        kept = list((await s.scalars(select(Ticket.merge_tokens).order_by(Ticket.id))).all())
    assert all(kept) and "楼道灯" in kept[0].split() and "电梯" in kept[1].split()

    segmented: list[str] = []
    tokens = services.analyser.tokens

    def spying(text: str) -> list[str]:
        segmented.append(text)
        return tokens(text)

    services.analyser.tokens = spying
    reply = await wechat.send("o_hot_b", "3栋的楼道灯坏了，晚上黑漆漆的")
    assert "合并" in reply
    assert segmented == ["3栋的楼道灯坏了，晚上黑漆漆的"], "open tickets were segmented again"

    # a ticket from before the column (no words kept) is still compared, by its text
    async with db.transaction() as s:
        elevator = await s.scalar(select(Ticket).where(Ticket.text == texts[1]))
        assert elevator is not None
        elevator.merge_tokens = None
    assert "合并" in await wechat.send("o_hot_c", "3栋电梯停了，老人上不去楼")


async def roster_version(db: Database) -> int:
    async with db.reading() as s:
        return int(await s.scalar(select(CacheEpoch.version).where(CacheEpoch.name == "roster")) or 0)


async def test_the_chain_in_memory_follows_roster_changes_made_by_another_process(client, db: Database) -> None:
    roster = await make_roster(db)
    wechat = WeChat(client, "plain")
    await wechat.send("o_hot_zhou", "绑定 3栋2单元501")

    async def assignee(text: str) -> int | None:
        reply = await wechat.send("o_hot_zhou", text)
        async with db.reading() as s:
            t = await s.scalar(select(Ticket).order_by(Ticket.id.desc()).limit(1))
        assert t is not None and f"#{t.id}" in reply
        return t.assignee_id

    assert await assignee("3栋楼道灯坏了好几天了") == roster.member.id
    other = Database(db.url, 2)  # another process: its own engine, its own memory
    try:
        async with other.transaction() as s:  # the member goes on leave (ORM change)
            member = await s.get(Person, roster.member.id)
            assert member is not None
            member.on_leave = True
        assert await assignee("楼上天天漏水到我家") == roster.head.id
        async with other.transaction() as s:  # and is back (a statement, as the clock does it)
            await s.execute(update(Person).where(Person.id == roster.member.id).values(on_leave=False))
        assert await assignee("小区门口垃圾好几天没人清了") == roster.member.id
        before = await roster_version(db)
        async with other.transaction() as s:  # who last wrote is no roster change
            member = await s.get(Person, roster.member.id)
            assert member is not None
            member.last_message_at = member.last_message_at
            await s.execute(update(Resident).where(Resident.openid == "o_hot_zhou").values(subscribed=True))
        assert await roster_version(db) == before
    finally:
        await other.dispose()


async def test_a_named_building_in_memory_follows_roster_changes_made_by_another_process(client, db: Database
                                                                                         ) -> None:
    """A request naming another building of the sender's compound goes to that building; the
    compound's buildings are kept in memory and read again when the roster changed."""
    await make_roster(db)
    wechat = WeChat(client, "plain")
    await wechat.send("o_hot_qian", "绑定 3栋2单元501")

    async def building_of(text: str) -> tuple[int | None, str]:
        reply = await wechat.send("o_hot_qian", text)
        async with db.reading() as s:
            t = await s.scalar(select(Ticket).order_by(Ticket.id.desc()).limit(1))
        assert t is not None and f"#{t.id}" in reply
        return t.building_id, t.location

    async with db.reading() as s:
        b3, b5 = (await s.scalars(select(Building.id).join(Compound).where(Compound.name == "幸福小区")
                                  .order_by(Building.number))).all()
    assert await building_of("5栋楼道灯坏了好几天了") == (b5, "幸福小区5栋")
    assert (await building_of("7栋门口垃圾好几天没人清了"))[0] == b3  # no 7栋: the sender's own building
    other = Database(db.url, 2)  # another process adds 7栋
    try:
        async with other.transaction() as s:
            compound_id = await s.scalar(select(Compound.id).where(Compound.name == "幸福小区"))
            assert compound_id is not None
            s.add(Building(compound_id=compound_id, label="7栋", number=7))
        async with db.reading() as s:
            b7 = await s.scalar(select(Building.id).where(Building.label == "7栋"))
        assert await building_of("7栋电梯又停了，老人上不去楼") == (b7, "幸福小区7栋")
        async with other.transaction() as s:  # and a second 5栋 label: the number is no longer one building
            s.add(Building(compound_id=compound_id, label="5号楼", number=5))
        assert (await building_of("5栋的路灯坏了"))[0] == b3
    finally:
        await other.dispose()
