"""Writing notifications to the outbox, inside the caller's transaction, so a
change and the messages it causes commit (or vanish) together."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

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
