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
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.models import PendingQuestion

CONFIRM, CHOICE, CLARIFY, FOLLOWUP = "confirm", "choice", "clarify", "followup"
KINDS = (CONFIRM, CHOICE, CLARIFY, FOLLOWUP)


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
    row = await session.get(PendingQuestion, openid)
    expires = now + lifetime(config, kind)
    if row is None:
        session.add(PendingQuestion(openid=openid, kind=kind, data=data, asked_at=now, expires_at=expires))
    else:
        row.kind, row.data, row.asked_at, row.expires_at = kind, data, now, expires
    await session.flush()


async def current(session: AsyncSession, openid: str, now: datetime) -> Pending | None:
    """The question `openid` has yet to answer, or None (an expired one is forgotten)."""
    row = await session.get(PendingQuestion, openid)
    if row is None:
        return None
    if row.expires_at <= now:
        await forget(session, openid)
        return None
    return Pending(row.kind, dict(row.data or {}), row.asked_at)


async def forget(session: AsyncSession, openid: str) -> None:
    """The question is answered, declined or moot."""
    row = await session.get(PendingQuestion, openid)
    if row is not None:
        await session.delete(row)
        await session.flush()
