"""Version counters of data kept in each process's memory: a change bumps the
counter in its own transaction, and every process compares it (one cheap
read) before trusting what it holds."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from bot.models.base import Base


class CacheEpoch(Base):
    __tablename__ = "cache_epochs"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(default=0)
