"""The community roster: the org tree, households, people, residents, invites.

Township → community → compound → building → household. People (party
members, building heads, branch secretaries, staff) are identified by phone;
a WeChat user becomes a person only through a single-use invite.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.models.base import Base


class Township(Base):
    __tablename__ = "townships"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class Community(Base):
    __tablename__ = "communities"
    __table_args__ = (UniqueConstraint("township_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    township_id: Mapped[int] = mapped_column(ForeignKey("townships.id"))
    name: Mapped[str] = mapped_column(String(100))

    township: Mapped[Township] = relationship(lazy="joined")


class Compound(Base):
    """A compound (小区); its party branch secretary heads it."""

    __tablename__ = "compounds"
    __table_args__ = (UniqueConstraint("community_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secretary_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))


class Building(Base):
    """A building (楼栋); `number` is the building number read from its label."""

    __tablename__ = "buildings"
    __table_args__ = (UniqueConstraint("compound_id", "label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    compound_id: Mapped[int] = mapped_column(ForeignKey("compounds.id"), index=True)
    label: Mapped[str] = mapped_column(String(50))
    number: Mapped[int | None]
    head_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))


class Household(Base):
    """A household (户), linked to one party member (联户党员)."""

    __tablename__ = "households"
    __table_args__ = (UniqueConstraint("building_id", "unit", "room"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"), index=True)
    unit: Mapped[int] = mapped_column(default=0)  # 0 when the building has no units
    room: Mapped[str] = mapped_column(String(20))
    head_name: Mapped[str] = mapped_column(String(50), default="")
    member_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)


class Person(Base):
    """Someone in the roster. Roles follow from the roster: linked to
    households (party member), heading a building or compound, or staff of a
    community (`staff_community_id`)."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    staff_community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"), index=True)
    staff_title: Mapped[str] = mapped_column(String(50), default="")
    on_leave: Mapped[bool] = mapped_column(default=False)
    leave_until: Mapped[datetime | None]  # a leave that ends by itself at this moment
    wecom_userid: Mapped[str | None] = mapped_column(String(64))
    last_message_at: Mapped[datetime | None]


class Resident(Base):
    """A WeChat user who wrote to the account, and the household they bound."""

    __tablename__ = "residents"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    bound_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime]
    last_message_at: Mapped[datetime]
    subscribed: Mapped[bool] = mapped_column(default=True)


class Invite(Base):
    """A single-use code that makes a WeChat user the person with that phone."""

    __tablename__ = "invites"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[str | None] = mapped_column(String(64))
