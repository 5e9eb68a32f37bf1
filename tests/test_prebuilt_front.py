"""The front of the request path on prebuilt statements (issue 10): who
last wrote is written by a statement, not a flush, and is still no roster
change; the pending question lives in its table only (asked, replaced,
read, expired, forgotten). Each test runs on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.chat import state
from bot.db import Database
from bot.domain.identity import load_sender
from bot.models import CacheEpoch, PendingQuestion, Person, Resident
from tests.conftest import Clock, WeChat
from tests.roster import make_roster


async def _roster_version(db: Database) -> int:
    async with db.reading() as s:
        return int(await s.scalar(select(CacheEpoch.version).where(CacheEpoch.name == "roster")) or 0)


async def test_a_roster_person_writing_moves_last_message_at_but_not_the_roster(
        client, db: Database, clock: Clock) -> None:
    roster = await make_roster(db)
    wechat = WeChat(client, "plain")
    await wechat.send("o_member_wang", "你好")
    before = await _roster_version(db)
    clock.advance(minutes=5)
    await wechat.send("o_member_wang", "谢谢")
    async with db.reading() as s:
        person = await s.get(Person, roster.member.id)
        resident = await s.get(Resident, "o_member_wang")
    assert person is not None and resident is not None
    assert person.last_message_at is not None
    assert abs((clock() - person.last_message_at).total_seconds()) < 60
    assert abs((clock() - resident.last_message_at).total_seconds()) < 60
    assert await _roster_version(db) == before


async def test_the_loaded_sender_carries_the_time_it_wrote(db: Database, clock: Clock) -> None:
    roster = await make_roster(db)
    async with db.transaction() as s:
        await load_sender(s, "o_member_wang", clock())
    clock.advance(minutes=5)
    now = clock()
    async with db.transaction() as s:
        sender = await load_sender(s, "o_member_wang", now)
        assert sender.person is not None and sender.person.id == roster.member.id
        assert sender.resident.last_message_at == now and sender.person.last_message_at == now
        assert not s.dirty  # written by statements: nothing left for the flush
    async with db.reading() as s:
        resident = await s.get(Resident, "o_member_wang")
        person = await s.get(Person, roster.member.id)
    assert resident is not None and person is not None
    assert resident.last_message_at == now and person.last_message_at == now


async def test_a_pending_question_is_asked_replaced_read_and_forgotten(db: Database, services, clock: Clock) -> None:
    config = services.config
    async with db.transaction() as s:
        assert await state.current(s, "o_ask", clock()) is None
        await state.ask(s, config, "o_ask", state.CONFIRM, {"action": "command", "text": "接单 7"}, clock())
        await state.ask(s, config, "o_ask", state.CHOICE, {"action": "rate", "tickets": [3, 4]}, clock())
        asked = await state.current(s, "o_ask", clock())
        assert asked is not None and asked.kind == state.CHOICE and asked.data["tickets"] == [3, 4]
    async with db.reading() as s:
        assert await s.scalar(select(func.count()).select_from(PendingQuestion)) == 1
    async with db.transaction() as s:
        await state.forget(s, "o_ask")
        assert await state.current(s, "o_ask", clock()) is None
        await state.forget(s, "o_ask")  # forgetting twice is harmless
        await state.ask(s, config, "o_ask", state.CLARIFY, {"action": "request", "text": "坏了"}, clock())
    clock.advance(minutes=config.chat.pending_minutes + 1)
    async with db.transaction() as s:
        assert await state.current(s, "o_ask", clock()) is None  # expired: forgotten
    async with db.reading() as s:
        assert await s.scalar(select(func.count()).select_from(PendingQuestion)) == 0
