"""The one question the bot is waiting for each user to answer (a
confirmation, a choice between tickets, a clarifying question, the follow-up
just asked), kept in the database so every process sees it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from bot.models.base import Base


class PendingQuestion(Base):
    __tablename__ = "pending_questions"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # confirm, choice, clarify, followup
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    asked_at: Mapped[datetime]
    expires_at: Mapped[datetime]
