"""The inbox: every inbound message stored once, with the reply it got.

`receive` runs in one write transaction: remember the nonce (a nonce seen
with another message is a replay), store the message under its dedup key
(MsgId, or sender + CreateTime + event), run the handler, store the reply.
A retry — sequential or concurrent, in this process or another — finds the
stored row (waiting for the first delivery's transaction to commit) and gets
the very same reply without being handled again.

With a running group-commit writer (bot/db/writer.py) that first
transaction is shared: the writer runs the work of many requests one after
another in one transaction and answers each only after it committed. A retry
in the same batch runs after the first delivery in the same transaction and
finds its stored row; one in a later batch finds it committed. A batch in
which a request failed is rolled back: that request runs `receive` alone, as
without the writer, and the others run again in a batch (bot/db/writer.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat.context import Message
from bot.db import Database, affected, insert_ignore
from bot.db.writer import Writer
from bot.models import InboundMessage, SeenNonce
from bot.wechat.protocol import Forbidden

log = logging.getLogger("lianxin.inbox")

Process = Callable[[AsyncSession, int], Awaitable[str]]

# Built once: the hot path executes them with a dict of values, and SQLAlchemy
# reuses their compiled form (Core statements on the tables, no ORM step).
_INBOUND = cast(Table, InboundMessage.__table__)
_NONCES = cast(Table, SeenNonce.__table__)
_NONCE_OWNER = select(_NONCES.c.dedup_key).where(_NONCES.c.nonce == bindparam("nonce"))
_STORED_REPLY = select(_INBOUND.c.reply).where(_INBOUND.c.dedup_key == bindparam("dedup_key"))
_SET_REPLY = (update(_INBOUND).where(_INBOUND.c.id == bindparam("message_id"))
              .values(reply=bindparam("reply"), replied_at=bindparam("replied_at")))


def _stored_content(message: Message) -> str:
    if message.msg_type in ("text", "voice"):
        return message.content
    if message.msg_type == "event":
        return message.event_key
    return ""


async def receive(db: Database, message: Message, nonce: str, now: datetime, process: Process,
                  fallback: Callable[[], str], writer: Writer | None = None) -> tuple[str, bool]:
    """Store and handle `message` once; return (reply XML, first_delivery).

    With `writer`, the first transaction is the writer's batch (this
    function alone is what the batch falls back to)."""
    if writer is not None:
        return await writer.submit(
            lambda session: _handle(session, message, nonce, now, process),
            lambda: receive(db, message, nonce, now, process, fallback),
            order=message.openid,  # the sender's rows locked in one order by every process
        )
    try:
        async with db.transaction() as session:
            return await _handle(session, message, nonce, now, process)
    except Forbidden:
        raise
    except Exception:
        log.exception("handler failed; storing the message for staff")
    # The handler failed and its transaction rolled back: keep the message
    # (marked failed, so staff see it) and give the sender a holding reply.
    async with db.transaction() as session:
        await _remember_nonce(session, nonce, message.dedup_key, now)
        message_id = await _store(session, message, now, failed=True)
        if message_id is None:
            return await _stored_reply(session, message.dedup_key), False
        reply = fallback()
        await _set_reply(session, message_id, reply, now)
        return reply, True


async def _handle(session: AsyncSession, message: Message, nonce: str, now: datetime, process: Process
                  ) -> tuple[str, bool]:
    """The unit of work: nonce, message stored once, handled, reply stored."""
    await _remember_nonce(session, nonce, message.dedup_key, now)
    message_id = await _store(session, message, now)
    if message_id is None:
        return await _stored_reply(session, message.dedup_key), False
    reply = await process(session, message_id)
    await _set_reply(session, message_id, reply, now)
    return reply, True


async def _remember_nonce(session: AsyncSession, nonce: str, dedup_key: str, now: datetime) -> None:
    result = await insert_ignore(session, SeenNonce, {"nonce": nonce, "dedup_key": dedup_key, "seen_at": now},
                                 ["nonce"])
    if result.rowcount == 0:
        seen = await session.scalar(_NONCE_OWNER, {"nonce": nonce})
        if seen != dedup_key:
            raise Forbidden("nonce already used for another message")


async def _store(session: AsyncSession, message: Message, now: datetime, failed: bool = False) -> int | None:
    payload: dict[str, object] = dict(message.fields)
    if failed:
        payload["_handler_failed"] = True
    result = await insert_ignore(
        session,
        InboundMessage,
        {
            "dedup_key": message.dedup_key,
            "openid": message.openid,
            "msg_type": message.msg_type,
            "event": message.event or None,
            "content": _stored_content(message),
            "payload": payload,
            "created_at": datetime.fromtimestamp(message.create_time, now.tzinfo),
            "received_at": now,
            "reply": None,
            "replied_at": None,
        },
        ["dedup_key"],
        returning="id",
    )
    return result.scalar_one_or_none()


async def _set_reply(session: AsyncSession, message_id: int, reply: str, now: datetime) -> None:
    """The reply given to the first delivery, kept for every retry."""
    await session.execute(_SET_REPLY, {"message_id": message_id, "reply": reply, "replied_at": now})


async def _stored_reply(session: AsyncSession, dedup_key: str) -> str:
    reply = await session.scalar(_STORED_REPLY, {"dedup_key": dedup_key})
    return reply or ""


async def forget_old_nonces(db: Database, now: datetime, window_s: int) -> int:
    """Drop nonces older than twice the replay window (their timestamps are refused anyway)."""
    async with db.transaction() as session:
        cutoff = now - timedelta(seconds=2 * window_s)
        result = await session.execute(delete(SeenNonce).where(SeenNonce.seen_at < cutoff))
        return affected(result)
