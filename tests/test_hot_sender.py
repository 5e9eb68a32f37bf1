"""The first read of a message's unit of work (issue 10): the sender's
resident and person, their pending question, their message count and the
roster counter in one statement, each handed to the module whose rule uses
it. What the separate reads did must still hold: a first-contact sender is
created (and keeps a roster person bound to their WeChat), an expired
question is deleted when read, a question asked within the request is the
one read next, the roster counter keeps its first value in a transaction.
Each test runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat import state
from bot.chat.context import Context, Message
from bot.db import Database
from bot.domain import roster_cache
from bot.domain.security import messages_over_limit
from bot.models import InboundMessage, PendingQuestion, Resident
from handlers import middlewares
from tests.conftest import Clock, WeChat
from tests.roster import make_roster


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL the engine runs meanwhile."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(" ".join(sql.split()))

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _context(session: AsyncSession, services: Any, clock: Clock, openid: str, text: str = "你好") -> Context:
    message = Message(openid=openid, account="gh_test", msg_type="text", create_time=0, msg_id=1, content=text)
    return Context(message=message, session=session, config=services.config, services=services, now=clock())


async def _through_middlewares(ctx: Context, inner: Any) -> str | None:
    """rate_limit and identify around `inner` (what a handler would do)."""
    async def after_identify(c: Context) -> str | None:
        return await inner(c)

    async def after_rate_limit(c: Context) -> str | None:
        return await middlewares.identify(c, after_identify)

    return await middlewares.rate_limit(ctx, after_rate_limit)


def _separate_reads(seen: list[str]) -> list[str]:
    """The reads that the first statement replaces, when run on their own."""
    def separate(sql: str) -> bool:
        if "FROM (SELECT" in sql:
            return False
        return ("FROM pending_questions WHERE" in sql or "FROM cache_epochs WHERE" in sql
                or "FROM residents LEFT OUTER JOIN people" in sql
                or (sql.startswith("SELECT count(*)") and "FROM inbound_messages" in sql))

    return [sql for sql in seen if sql.startswith("SELECT") and separate(sql)]


async def test_a_bound_residents_request_reads_sender_question_count_and_roster_in_one_statement(
        client: Any, db: Database) -> None:
    await make_roster(db)
    wechat = WeChat(client, "plain")
    await wechat.send("o_quiet", "绑定 幸福小区3栋2单元502")
    with statements(db) as seen:
        reply = await wechat.send("o_quiet", "楼道灯坏了好几天了")
    assert "工单#" in reply
    arrival = [sql for sql in seen if "FROM (SELECT" in sql and "pending_questions" in sql]
    assert len(arrival) == 1
    assert _separate_reads(seen) == []


async def test_a_first_contact_sender_is_created_and_keeps_the_roster_person(
        db: Database, services: Any, clock: Clock) -> None:
    roster = await make_roster(db)
    async with db.transaction() as s:
        ctx = _context(s, services, clock, "o_member_wang")

        async def handler(c: Context) -> str:
            assert c.sender is not None and c.sender.person is not None
            assert c.sender.person.id == roster.member.id and c.sender.resident.openid == "o_member_wang"
            return "ok"

        assert await _through_middlewares(ctx, handler) == "ok"
    async with db.reading() as s:
        resident = await s.get(Resident, "o_member_wang")
        assert resident is not None and resident.first_seen_at == ctx.now
    async with db.transaction() as s:  # a stranger: a record, no person
        ctx = _context(s, services, clock, "o_new")

        async def stranger(c: Context) -> str:
            assert c.sender is not None and c.sender.person is None and c.sender.resident.openid == "o_new"
            return "ok"

        assert await _through_middlewares(ctx, stranger) == "ok"


async def test_the_pending_question_read_with_the_sender_is_used_once_and_only_while_unchanged(
        db: Database, services: Any, clock: Clock) -> None:
    config = services.config
    async with db.transaction() as s:
        await state.ask(s, config, "o_asked", state.CONFIRM, {"action": "command", "text": "接单 7"}, clock())
    async with db.transaction() as s:
        ctx = _context(s, services, clock, "o_asked", "是")

        async def handler(c: Context) -> str:
            with statements(db) as seen:
                question = await state.current(c.session, "o_asked", c.now)
            assert question is not None and question.kind == state.CONFIRM and question.data["text"] == "接单 7"
            assert seen == []  # it came with the sender
            return "ok"

        assert await _through_middlewares(ctx, handler) == "ok"
    async with db.transaction() as s:  # written, then read in the same unit of work: the new one
        ctx = _context(s, services, clock, "o_asked", "是")

        async def asks(c: Context) -> str:
            await state.ask(c.session, config, "o_asked", state.CHOICE, {"action": "rate", "tickets": [3]}, c.now)
            asked = await state.current(c.session, "o_asked", c.now)
            assert asked is not None and asked.kind == state.CHOICE
            return "ok"

        assert await _through_middlewares(ctx, asks) == "ok"
    async with db.transaction() as s:  # asked, then the unit of work reads again before anything else
        ctx = _context(s, services, clock, "o_asked", "是")

        async def forgets(c: Context) -> str:
            await state.forget(c.session, "o_asked")
            assert await state.current(c.session, "o_asked", c.now) is None
            return "ok"

        assert await _through_middlewares(ctx, forgets) == "ok"
        assert await state.current(s, "o_asked", clock()) is None  # nothing offered is left behind


async def test_an_expired_question_read_with_the_sender_is_deleted(db: Database, services: Any,
                                                                    clock: Clock) -> None:
    config = services.config
    async with db.transaction() as s:
        await state.ask(s, config, "o_late", state.CLARIFY, {"action": "request", "text": "坏了"}, clock())
    clock.advance(minutes=config.chat.pending_minutes + 1)
    async with db.transaction() as s:
        ctx = _context(s, services, clock, "o_late", "3栋")

        async def handler(c: Context) -> str:
            assert await state.current(c.session, "o_late", c.now) is None
            return "ok"

        assert await _through_middlewares(ctx, handler) == "ok"
    async with db.reading() as s:
        assert await s.scalar(select(func.count()).select_from(PendingQuestion)) == 0


async def test_an_unread_offer_is_not_left_to_the_next_unit_of_work_in_the_transaction(
        db: Database, services: Any, clock: Clock) -> None:
    config = services.config
    async with db.transaction() as s:
        await state.ask(s, config, "o_twice", state.CONFIRM, {"action": "command", "text": "接单 7"}, clock())
    async with db.transaction() as s:  # two units of work in one transaction, as the group-commit writer runs them
        async def ignores(_c: Context) -> str:
            return "ok"

        assert await _through_middlewares(_context(s, services, clock, "o_twice"), ignores) == "ok"
        await s.execute(PendingQuestion.__table__.delete())  # type: ignore[attr-defined]  # changed meanwhile
        assert await state.current(s, "o_twice", clock()) is None


async def test_the_message_count_read_with_the_sender_limits_as_the_count_alone(
        db: Database, services: Any, clock: Clock) -> None:
    config = services.config
    limit = config.security.messages_per_minute
    async with db.transaction() as s:
        for n in range(limit + 1):
            s.add(InboundMessage(dedup_key=f"m:{n}", openid="o_busy", msg_type="text", event="", content="你好",
                                 payload={}, created_at=clock(), received_at=clock() - timedelta(seconds=n)))
    async with db.transaction() as s:
        assert await messages_over_limit(s, config, "o_busy", clock())
        assert await messages_over_limit(s, config, "o_busy", clock(), limit + 1)
        assert not await messages_over_limit(s, config, "o_busy", clock(), limit)
        ctx = _context(s, services, clock, "o_busy")

        async def never(_c: Context) -> str:
            raise AssertionError("a sender over the limit is not handled")

        reply = await _through_middlewares(ctx, never)
        assert reply == services.texts("security.too_many_messages")
        assert await s.get(Resident, "o_busy") is None  # as before: no record for a limited message


async def test_the_roster_counter_keeps_its_first_value_in_a_transaction(db: Database) -> None:
    await make_roster(db)
    async with db.transaction() as s:
        first = await roster_cache.roster_version(s)
        roster_cache.version_read(s, first + 5)  # a later unit of work's read: the first value stays
        assert await roster_cache.roster_version(s) == first
    async with db.transaction() as s:
        roster_cache.version_read(s, None)  # a missing counter (NULL) is 0, as read alone
        with statements(db) as seen:
            assert await roster_cache.roster_version(s) == 0
        assert seen == []
