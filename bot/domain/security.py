"""Limits against guessing and flooding, and who is told when they bite.

- Invite codes: 8 characters from an alphabet without look-alikes; wrong
  codes are counted per sender and overall within a window, and past either
  limit binding by invite is locked (staff are told once, at the crossing).
- Rate limits per sender: messages per minute (counted from the inbox, where
  a WeChat retry of the same MsgId is one row, so retries never count) and new
  tickets per hour.
- The audit trail of roles granted, moved to another WeChat, or revoked.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.delivery.outbox import enqueue
from bot.models import InboundMessage, InviteFailure, Person, RoleAudit, Ticket
from bot.texts import Texts

# No 0/O, 1/I/L: a code read aloud or copied by hand cannot be mistaken.
INVITE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
INVITE_LENGTH = 8

GRANTED, MOVED, REVOKED = "granted", "moved", "revoked"


def new_invite_code(length: int = INVITE_LENGTH) -> str:
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(length))


def normalise_code(code: str) -> str:
    return code.strip().upper()


# ------------------------------------------------------------ who is told

async def dispatchers_or_staff(session: AsyncSession, config: Config, community_id: int | None = None,
                               exclude: Sequence[int] = ()) -> list[Person]:
    """Who hears of something that needs a person: the community's staff on duty;
    without a community, the dispatchers ([tickets] unplaced_staff_phones), else
    every staff member on duty. Nobody on duty: everyone who would be."""
    query = select(Person).where(Person.staff_community_id.is_not(None)).order_by(Person.id)
    if community_id is not None:
        query = query.where(Person.staff_community_id == community_id)
    elif config.tickets.unplaced_staff_phones:
        query = query.where(Person.phone.in_(config.tickets.unplaced_staff_phones))
    people = [p for p in (await session.scalars(query)).all() if p.id not in exclude]
    return [p for p in people if not p.on_leave] or people


# ------------------------------------------------------------ invites

@dataclass
class InviteGuard:
    """Whether a sender may try an invite code now, and the counts behind it."""

    locked: bool
    mine: int
    overall: int


async def invite_guard(session: AsyncSession, config: Config, openid: str, now: datetime) -> InviteGuard:
    s = config.security
    since = now - timedelta(minutes=s.invite_failure_window_min)
    mine = int(await session.scalar(select(func.count()).select_from(InviteFailure).where(
        InviteFailure.openid == openid, InviteFailure.at >= since)) or 0)
    overall = int(await session.scalar(select(func.count()).select_from(InviteFailure).where(
        InviteFailure.at >= since)) or 0)
    return InviteGuard(mine >= s.invite_failures_per_openid or overall >= s.invite_failures_overall, mine, overall)


async def invite_failed(session: AsyncSession, config: Config, texts: Texts, openid: str, code: str,
                        guard: InviteGuard, now: datetime) -> bool:
    """Count a wrong code; True when this one locks the sender (or everyone) out,
    in which case staff are told."""
    session.add(InviteFailure(openid=openid, at=now, code=code[:16]))
    s = config.security
    mine, overall = guard.mine + 1, guard.overall + 1
    crossed_mine = mine == s.invite_failures_per_openid
    crossed_all = overall == s.invite_failures_overall
    if not (crossed_mine or crossed_all):
        return False
    if crossed_all:
        text = texts("security.invite_locked_all_staff", count=overall,
                     minutes=int(s.invite_failure_window_min))
    else:
        text = texts("security.invite_locked_staff", openid=openid, count=mine,
                     minutes=int(s.invite_failure_window_min))
    for person in await dispatchers_or_staff(session, config):
        enqueue(session, kind="notice", text=text, now=now, person_id=person.id)
    return True


# ------------------------------------------------------------ audit

def record_role(session: AsyncSession, action: str, person: Person, now: datetime, *, openid: str | None,
                previous_openid: str | None = None, via: str = "", note: str = "") -> None:
    session.add(RoleAudit(at=now, action=action, person_id=person.id, openid=openid,
                          previous_openid=previous_openid, via=via, note=note))


# ------------------------------------------------------------ rate limits

# Built once (every message runs one or both): Core counts on the tables, executed with their values.
_INBOUND = cast(Table, InboundMessage.__table__)
_MESSAGES_SINCE = select(func.count()).select_from(_INBOUND).where(
    _INBOUND.c.openid == bindparam("openid"), _INBOUND.c.received_at > bindparam("messages_since"))
_TICKETS = cast(Table, Ticket.__table__)
_TICKETS_SINCE = select(func.count()).select_from(_TICKETS).where(
    _TICKETS.c.openid == bindparam("openid"), _TICKETS.c.created_at > bindparam("since"))
MESSAGE_WINDOW = timedelta(minutes=1)
# The same count as a column of another read (the sender's, in handlers/middlewares.py), executed
# with `message_window`'s values: a message's unit of work then counts without a statement of its own.
MESSAGES_IN_WINDOW = _MESSAGES_SINCE.scalar_subquery()


def message_window(openid: str, now: datetime) -> dict[str, Any]:
    """The values of the message count (alone or as MESSAGES_IN_WINDOW)."""
    return {"openid": openid, "messages_since": now - MESSAGE_WINDOW}


async def messages_over_limit(session: AsyncSession, config: Config, openid: str, now: datetime,
                              counted: int | None = None) -> bool:
    """More messages from `openid` in the last minute than allowed (this one included).
    Counted from the inbox: a retry of one message is one row. `counted` is the
    count when it was already read (MESSAGES_IN_WINDOW in this transaction)."""
    if counted is None:
        counted = int(await session.scalar(_MESSAGES_SINCE, message_window(openid, now)) or 0)
    return counted > config.security.messages_per_minute


async def tickets_in_last_hour(session: AsyncSession, openid: str, now: datetime) -> int:
    return int(await session.scalar(_TICKETS_SINCE, {"openid": openid, "since": now - timedelta(hours=1)}) or 0)
