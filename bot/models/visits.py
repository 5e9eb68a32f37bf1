"""Door to door (联户走访): opinion campaigns and the opinions households give,
the visits party members record, and the households marked 关爱对象 with the
clock of their next visit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.models.base import Base


class Campaign(Base):
    """An opinion campaign (民意征集) of one community. The scope is the whole
    community, one compound (`compound_id`), or a list of buildings
    (`building_ids`, all in the community). state: open → closed."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text, default="")
    choices: Mapped[list[str]] = mapped_column(JSON, default=list)
    compound_id: Mapped[int | None] = mapped_column(ForeignKey("compounds.id"))
    building_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    deadline: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    summary: Mapped[str] = mapped_column(Text, default="")
    summary_sent_at: Mapped[datetime | None]


class Opinion(Base):
    """One opinion given for a household: by a resident of it (`openid`) or
    collected by a party member on a visit (`collector_id`). A household's
    opinion on a campaign is all its rows; `choice` is what this one says
    (a given choice, or 同意/不同意 read from the words), None if neither."""

    __tablename__ = "opinions"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    choice: Mapped[str | None] = mapped_column(String(50))
    openid: Mapped[str | None] = mapped_column(String(64))
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime]


Index("ix_opinions_campaign_household", Opinion.campaign_id, Opinion.household_id)


class Visit(Base):
    """A visit a person of the roster recorded (走访 <household> <what they found>)."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    text: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CareMark(Base):
    """A household marked 关爱对象 (空巢/独居/残疾/困难, several joined by 、) and
    the clock of its care round: the next visit is due at `due_at` (the last
    visit, or the day it was marked, plus the mark's interval); the
    linked member is reminded once, then an overdue visit climbs the chain
    (`level`) one step every grace period."""

    __tablename__ = "care_marks"

    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), primary_key=True)
    mark: Mapped[str] = mapped_column(String(50))
    since: Mapped[datetime]
    last_visit_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None] = mapped_column(index=True)  # None until the clock sets it from config
    reminded_at: Mapped[datetime | None]
    level: Mapped[str] = mapped_column(String(20), default="member")
    escalated_at: Mapped[datetime | None]
    escalations: Mapped[int] = mapped_column(default=0)
