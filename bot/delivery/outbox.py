"""Writing notifications to the outbox, inside the caller's transaction, so a
change and the messages it causes commit (or vanish) together."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import affected
from bot.models import OutboxMessage


def enqueue(session: AsyncSession, *, kind: str, text: str, now: datetime, person_id: int | None = None,
            openid: str | None = None, ticket_id: int | None = None, data: dict[str, Any] | None = None
            ) -> OutboxMessage:
    """Queue one message to a person of the roster or to a resident's openid."""
    if person_id is None and openid is None:
        raise ValueError("an outbox message needs a person_id or an openid")
    message = OutboxMessage(kind=kind, text=text, person_id=person_id, openid=openid, ticket_id=ticket_id,
                            data=data or {}, status="pending", attempts=0, next_attempt_at=now, created_at=now)
    session.add(message)
    return message


def troubled() -> ColumnElement[bool]:
    """Messages staff should see: failed for good, or pending after a failed attempt."""
    return or_(OutboxMessage.status == "failed", and_(OutboxMessage.status == "pending", OutboxMessage.attempts > 0))


async def retry(session: AsyncSession, message_id: int, now: datetime) -> bool:
    """Send a failed or retrying message again now, with a fresh count of attempts."""
    result = await session.execute(
        update(OutboxMessage).where(OutboxMessage.id == message_id, troubled())
        .values(status="pending", attempts=0, next_attempt_at=now, claimed_until=None, claimed_by=None))
    return affected(result) == 1
