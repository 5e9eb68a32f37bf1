"""What security needs remembered: the audit trail of roles, wrong invite
codes (for the lockout) and every attempt to send an outbox message."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.models.base import Base


class RoleAudit(Base):
    """A role granted (an invite redeemed), moved to another WeChat, or revoked."""

    __tablename__ = "role_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(16))  # granted, moved, revoked
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    openid: Mapped[str | None] = mapped_column(String(64))
    previous_openid: Mapped[str | None] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(32), default="")  # invite code, command, console
    note: Mapped[str] = mapped_column(Text, default="")


class InviteFailure(Base):
    """One wrong (or locked out) invite code sent by a WeChat user."""

    __tablename__ = "invite_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(index=True)
    code: Mapped[str] = mapped_column(String(16), default="")


Index("ix_invite_failures_openid_at", InviteFailure.openid, InviteFailure.at)


class DeliveryAttempt(Base):
    """One try at sending an outbox message, and what came of it."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    at: Mapped[datetime]
    worker: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # sent, retry, failed, probe
    channel: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
