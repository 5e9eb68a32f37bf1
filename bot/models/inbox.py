"""Inbound WeChat messages (stored once, with their reply) and the nonce memory."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.models.base import Base


class InboundMessage(Base):
    """Every message WeChat delivered, once. `dedup_key` is the MsgId, or
    sender + CreateTime + event for events; `reply` is the passive reply XML
    (plaintext) given to the first delivery and to every retry."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    msg_type: Mapped[str] = mapped_column(String(32))
    event: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    received_at: Mapped[datetime]
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None]


Index("ix_inbound_openid_received", InboundMessage.openid, InboundMessage.received_at)


class SeenNonce(Base):
    """Nonces seen inside the replay window, with the message they carried."""

    __tablename__ = "seen_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(200))
    seen_at: Mapped[datetime] = mapped_column(index=True)
