"""Who is writing: the resident record of every openid, the roster person it
was bound to by an invite, and the roles that follow. Also binding: an
address for residents, an invite code for people of the roster."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, FromClause, Select, String, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from bot.config import Config
from bot.db import affected, insert_ignore
from bot.delivery.outbox import enqueue
from bot.domain.roster.addresses import describe_household
from bot.domain.roster_cache import NOT_A_ROSTER_CHANGE
from bot.domain.security import (
    GRANTED,
    MOVED,
    REVOKED,
    invite_failed,
    invite_guard,
    new_invite_code,
    normalise_code,
    record_role,
)
from bot.models import Building, Compound, Household, Invite, Person, Resident
from bot.texts import Texts
from bot.texts import texts as default_texts

INVITE_TTL = timedelta(hours=72)

RESIDENT, VOLUNTEER, STAFF = "resident", "volunteer", "staff"


@dataclass
class Sender:
    openid: str
    resident: Resident
    person: Person | None

    @property
    def roles(self) -> frozenset[str]:
        roles = {RESIDENT}
        if self.person is not None:
            roles.add(VOLUNTEER)
            if self.person.staff_community_id is not None:
                roles.add(STAFF)
        return frozenset(roles)

    @property
    def is_staff(self) -> bool:
        return STAFF in self.roles


# Built once: every message loads its sender. The records are ORM objects
# (handlers change them); who last wrote is written by a Core UPDATE and set
# on the loaded object as its committed value, so no flush has to find it.
_RESIDENTS = cast(Table, Resident.__table__)
_PEOPLE = cast(Table, Person.__table__)
_RESIDENT_WROTE = (update(_RESIDENTS).where(_RESIDENTS.c.openid == bindparam("who"))
                   .values(last_message_at=bindparam("at")))
_PERSON_WROTE = (update(_PEOPLE).where(_PEOPLE.c.id == bindparam("person_id"))
                 .values(last_message_at=bindparam("at")).execution_options(**NOT_A_ROSTER_CHANGE))


# The sender as one row whether or not they have a record yet: a one-row base (the openid) that the
# resident, the person and whatever a caller adds are outer-joined to (see `sender_read`).
_WHO = select(bindparam("openid", type_=String(64)).label("openid")).subquery("who")
SENDER_OPENID = _WHO.c.openid


def sender_read(*columns: ColumnElement[Any], joins: Sequence[tuple[FromClause, ColumnElement[bool]]] = ()
                ) -> Select[Any]:
    """One row: the sender's resident and person (None when missing), then `columns`
    from the tables outer-joined by `joins` (each joined ON its condition, which
    refers to SENDER_OPENID). Executed with {"openid": ...}; build it once."""
    statement = (select(Resident, Person, *columns).select_from(_WHO)
                 .outerjoin(Resident, Resident.openid == _WHO.c.openid)
                 .outerjoin(Person, Person.openid == _WHO.c.openid))
    for table, on in joins:
        statement = statement.outerjoin(table, on)
    return statement


_SENDER = sender_read()


async def load_sender(session: AsyncSession, openid: str, now: datetime,
                      known: tuple[Resident | None, Person | None] | None = None) -> Sender:
    """The sender of a message; creates the resident record on first contact
    and remembers when they last wrote (the customer-service window).
    `known` is their resident and person as a `sender_read` of this
    transaction found them (then they are not read again)."""
    found, person = known if known is not None else (await session.execute(_SENDER, {"openid": openid})).one()
    if found is None:
        await insert_ignore(session, Resident, {"openid": openid, "household_id": None, "bound_at": None,
                                                "first_seen_at": now, "last_message_at": now, "subscribed": True},
                            ["openid"])
        resident = await session.get(Resident, openid)
    else:
        resident = found
    assert resident is not None
    if _moved(resident.last_message_at, now):
        await session.execute(_RESIDENT_WROTE, {"who": openid, "at": now})
        set_committed_value(resident, "last_message_at", now)
    if person is not None and _moved(person.last_message_at, now):
        await session.execute(_PERSON_WROTE, {"person_id": person.id, "at": now})
        set_committed_value(person, "last_message_at", now)
    return Sender(openid, resident, person)


LAST_MESSAGE_STEP = timedelta(minutes=1)


def _moved(last: datetime | None, now: datetime) -> bool:
    """last_message_at is written when it moved by more than a minute (the
    48-hour customer-service window needs no finer time), not on every message."""
    return last is None or abs(now - last) > LAST_MESSAGE_STEP


def plain_phone(phone: str) -> str:
    """A phone number as the roster keeps it: full-width digits folded, spaces and dashes dropped."""
    folded = unicodedata.normalize("NFKC", phone)
    return "".join(ch for ch in folded if ch not in " -\t()（）+") if folded else ""


async def person_by_phone(session: AsyncSession, phone: str) -> Person | None:
    """The roster person with this phone number, however it was typed (１３８…, 138-0000-0007)."""
    return await session.scalar(select(Person).where(Person.phone == plain_phone(phone)))


async def create_invite(session: AsyncSession, person: Person, now: datetime) -> Invite:
    """A fresh single-use code for `person`, valid 72 h (8 characters, no look-alikes)."""
    while True:
        code = new_invite_code()
        if await session.get(Invite, code) is None:
            break
    invite = Invite(code=code, person_id=person.id, created_at=now, expires_at=now + INVITE_TTL)
    session.add(invite)
    await session.flush()
    return invite


@dataclass
class InviteOutcome:
    ok: bool
    reason: str = ""  # text key when refused
    person: Person | None = None


async def redeem_invite(session: AsyncSession, openid: str, code: str, now: datetime,
                        texts: Texts = default_texts) -> InviteOutcome:
    """Make `openid` the person the invite was made for. Single use, 72 h.
    Every change of role is audited; a role that moves from another WeChat
    tells that WeChat; a person this WeChat held before is let go."""
    code = normalise_code(code)
    invite = await session.get(Invite, code, with_for_update=True)
    if invite is None:
        return InviteOutcome(False, "bind.invite_unknown")
    if invite.used_at is not None:
        return InviteOutcome(False, "bind.invite_used")
    if invite.expires_at < now:
        return InviteOutcome(False, "bind.invite_expired")
    claimed = await session.execute(
        update(Invite).where(Invite.code == code, Invite.used_at.is_(None)).values(used_at=now, used_by=openid)
    )
    if affected(claimed) != 1:
        return InviteOutcome(False, "bind.invite_used")
    person = await session.get(Person, invite.person_id)
    assert person is not None
    held = (await session.scalars(select(Person).where(Person.openid == openid, Person.id != person.id))).all()
    for other in held:
        other.openid = None
        record_role(session, REVOKED, other, now, openid=None, previous_openid=openid, via="invite",
                    note=f"this WeChat redeemed the invite of person {person.id}")
    await session.flush()
    previous = person.openid
    person.openid = openid
    person.last_message_at = now
    if previous is None:
        record_role(session, GRANTED, person, now, openid=openid, via="invite")
    elif previous != openid:
        record_role(session, MOVED, person, now, openid=openid, previous_openid=previous, via="invite")
        enqueue(session, kind="notice", text=texts("security.role_moved", name=person.name), now=now,
                openid=previous)
    return InviteOutcome(True, person=person)


async def redeem_guarded(session: AsyncSession, config: Config, texts: Texts, openid: str, code: str,
                         now: datetime) -> InviteOutcome:
    """A WeChat user's 绑定 邀请码: refused while they (or everyone) are locked out
    after too many wrong codes; a wrong code is counted, and the one that locks
    them out says so (and staff are told)."""
    guard = await invite_guard(session, config, openid, now)
    if guard.locked:
        return InviteOutcome(False, "security.invite_locked")
    outcome = await redeem_invite(session, openid, code, now, texts)
    if outcome.ok:
        return outcome
    if await invite_failed(session, config, texts, openid, normalise_code(code), guard, now):
        return InviteOutcome(False, "security.invite_locked")
    return outcome


@dataclass
class AddressMatch:
    household: Household | None
    candidates: int


async def match_address(session: AsyncSession, *, building: int | None, unit: int | None, room: str | None,
                        compound: str | None) -> AddressMatch:
    """The one household an address names, or how many it could be."""
    if building is None or not room:
        return AddressMatch(None, 0)
    query = (
        select(Household)
        .join(Building, Household.building_id == Building.id)
        .join(Compound, Building.compound_id == Compound.id)
        .where(Building.number == building, Household.room == room)
    )
    if unit is not None:
        query = query.where(Household.unit == unit)
    if compound:
        query = query.where(Compound.name.contains(compound))
    found = list((await session.scalars(query.limit(5))).all())
    return AddressMatch(found[0] if len(found) == 1 else None, len(found))


@dataclass
class AddressBinding:
    """A resident's 绑定 <address>: the household bound (with its address and
    linked member), or the text key saying why nothing was bound."""

    household: Household | None = None
    address: str = ""
    member: Person | None = None
    refusal: str = ""


async def bind_address(session: AsyncSession, sender: Sender, *, building: int | None, unit: int | None,
                       room: str | None, compound: str | None, now: datetime) -> AddressBinding:
    """Bind the sender to the one household the address names; nothing is bound otherwise."""
    if building is None or not room:
        return AddressBinding(refusal="bind.need_address")
    match = await match_address(session, building=building, unit=unit, room=room, compound=compound)
    if match.household is None:
        return AddressBinding(refusal="bind.ambiguous" if match.candidates > 1 else "bind.not_found")
    household = match.household
    sender.resident.household_id, sender.resident.bound_at = household.id, now
    member = await session.get(Person, household.member_id) if household.member_id else None
    return AddressBinding(household, await describe_household(session, household), member)
