"""Conversation state: the one question the bot is waiting for a user to
answer, in the database so that every process sees it, and forgotten when it
expires (a few minutes; a follow-up question waits longer).

Kinds: CONFIRM (您是想发“接单 7”吗？ / 撤销工单#5吗？ — data says what 是 runs),
CHOICE (which of several tickets — data lists them), CLARIFY (a question
whose answer completes something: a vague request, a reason) and FOLLOWUP
(the resident was just asked to rate a resolved ticket)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.db import affected
from bot.models import PendingQuestion

CONFIRM, CHOICE, CLARIFY, FOLLOWUP = "confirm", "choice", "clarify", "followup"
KINDS = (CONFIRM, CHOICE, CLARIFY, FOLLOWUP)

# Built once: every text message looks its sender's question up. Core
# statements on the table (no ORM object is ever loaded for a question), so
# what one statement wrote the next one reads.
_QUESTIONS = cast(Table, PendingQuestion.__table__)
_OF = _QUESTIONS.c.openid == bindparam("who")
_READ = select(_QUESTIONS.c.kind, _QUESTIONS.c.data, _QUESTIONS.c.asked_at, _QUESTIONS.c.expires_at).where(_OF)
_REPLACE = update(_QUESTIONS).where(_OF).values(
    kind=bindparam("kind"), data=bindparam("data"), asked_at=bindparam("asked_at"),
    expires_at=bindparam("expires_at"))
_ADD = insert(_QUESTIONS)
_FORGET = delete(_QUESTIONS).where(_OF)


@dataclass(frozen=True)
class Pending:
    kind: str
    data: dict[str, Any]
    asked_at: datetime


def lifetime(config: Config, kind: str) -> timedelta:
    if kind == FOLLOWUP:
        return timedelta(hours=config.chat.followup_hours)
    return timedelta(minutes=config.chat.pending_minutes)


async def ask(session: AsyncSession, config: Config, openid: str, kind: str, data: dict[str, Any],
              now: datetime) -> None:
    """Remember that `openid` was just asked a question of `kind` (replacing any earlier one)."""
    if kind not in KINDS:
        raise ValueError(f"unknown pending question kind {kind!r}")
    values = {"kind": kind, "data": data, "asked_at": now, "expires_at": now + lifetime(config, kind)}
    if affected(await session.execute(_REPLACE, {"who": openid, **values})) == 0:
        await session.execute(_ADD, {"openid": openid, **values})


async def current(session: AsyncSession, openid: str, now: datetime) -> Pending | None:
    """The question `openid` has yet to answer, or None (an expired one is forgotten)."""
    row = (await session.execute(_READ, {"who": openid})).first()
    if row is None:
        return None
    kind, data, asked_at, expires_at = row
    if expires_at <= now:
        await forget(session, openid)
        return None
    return Pending(kind, dict(data or {}), asked_at)


async def forget(session: AsyncSession, openid: str) -> None:
    """The question is answered, declined or moot."""
    await session.execute(_FORGET, {"who": openid})
