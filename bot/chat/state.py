"""Conversation state: the one question the bot is waiting for a user to
answer, in the database so that every process sees it, and forgotten when it
expires (a few minutes; a follow-up question waits longer).

Kinds: CONFIRM (您是想发“接单 7”吗？ / 撤销工单#5吗？ — data says what 是 runs),
CHOICE (which of several tickets — data lists them), CLARIFY (a question
whose answer completes something: a vague request, a reason) and FOLLOWUP
(the resident was just asked to rate a resolved ticket)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, delete, insert, select, update
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
QUESTION_COLUMNS = (_QUESTIONS.c.kind, _QUESTIONS.c.data, _QUESTIONS.c.asked_at, _QUESTIONS.c.expires_at)
_READ = select(*QUESTION_COLUMNS).where(_OF)
_REPLACE = update(_QUESTIONS).where(_OF).values(
    kind=bindparam("kind"), data=bindparam("data"), asked_at=bindparam("asked_at"),
    expires_at=bindparam("expires_at"))
_ADD = insert(_QUESTIONS)
_FORGET = delete(_QUESTIONS).where(_OF)
# QUESTION_COLUMNS may be read joined to the sender's record (handlers/middlewares.py): what that
# found is `offer`ed to the transaction, and the next `current` of that sender takes it instead of
# reading (once). Any change of the sender's question (`ask`, `forget`) withdraws it.
_OFFERED = "lianxin_question_offered"


@dataclass(frozen=True)
class Pending:
    kind: str
    data: dict[str, Any]
    asked_at: datetime


def question_of(openid: ColumnElement[Any]) -> tuple[Table, ColumnElement[bool]]:
    """The question table and the join condition to `openid` (for an outer join)."""
    return _QUESTIONS, _QUESTIONS.c.openid == openid


def offer(session: AsyncSession, openid: str, row: Sequence[Any]) -> None:
    """What a read of QUESTION_COLUMNS found for `openid` in this transaction (all None: no question)."""
    offered = session.info.get(_OFFERED)
    if offered is None:
        offered = session.info[_OFFERED] = {}
    offered[openid] = None if row[0] is None else tuple(row)


def withdraw(session: AsyncSession, openid: str) -> None:
    """Forget what was offered for `openid` (the unit of work that read it is over, or it changed)."""
    offered = session.info.get(_OFFERED)
    if offered:
        offered.pop(openid, None)


def lifetime(config: Config, kind: str) -> timedelta:
    if kind == FOLLOWUP:
        return timedelta(hours=config.chat.followup_hours)
    return timedelta(minutes=config.chat.pending_minutes)


async def ask(session: AsyncSession, config: Config, openid: str, kind: str, data: dict[str, Any],
              now: datetime) -> None:
    """Remember that `openid` was just asked a question of `kind` (replacing any earlier one)."""
    if kind not in KINDS:
        raise ValueError(f"unknown pending question kind {kind!r}")
    withdraw(session, openid)
    values = {"kind": kind, "data": data, "asked_at": now, "expires_at": now + lifetime(config, kind)}
    if affected(await session.execute(_REPLACE, {"who": openid, **values})) == 0:
        await session.execute(_ADD, {"openid": openid, **values})


async def current(session: AsyncSession, openid: str, now: datetime) -> Pending | None:
    """The question `openid` has yet to answer, or None (an expired one is forgotten)."""
    offered = session.info.get(_OFFERED)
    if offered and openid in offered:  # read with the sender, and unchanged since
        row = offered.pop(openid)
    else:
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
    withdraw(session, openid)
    await session.execute(_FORGET, {"who": openid})
