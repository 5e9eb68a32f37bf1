"""Care rounds (关爱走访): households the roster marks 关爱对象 are visited
every so many days (config [visits] intervals per mark). When a visit is
due the linked member is reminded once; when it is `grace_days` overdue it
climbs one level of the chain (building head, branch secretary, staff) and
again every grace period, like an overdue ticket. A visit resets the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import VisitsConfig
from bot.delivery.outbox import enqueue
from bot.domain import assignment
from bot.domain.assignment import MEMBER, STAFF
from bot.domain.roster.values import format_address
from bot.domain.visits.scope import households, person_clause
from bot.domain.visits.words import local_day
from bot.models import Building, CareMark, Compound, Household, Person
from bot.texts import Texts

KIND = "care"  # the outbox kind of care-round notices


async def set_care_mark(session: AsyncSession, household_id: int, mark: str, now: datetime) -> bool:
    """Mark a household 关爱对象 (mark "" unmarks it); True if anything changed.
    A new or changed mark has its due time set by the clock from the config."""
    current = await session.get(CareMark, household_id)
    if not mark:
        if current is None:
            return False
        await session.delete(current)
        return True
    if current is None:
        session.add(CareMark(household_id=household_id, mark=mark, since=now, due_at=None, level=MEMBER,
                             escalations=0))
        await session.flush()
        return True
    if current.mark == mark:
        return False
    current.mark, current.due_at = mark, None
    return True


def next_due(config: VisitsConfig, mark: CareMark) -> datetime:
    return (mark.last_visit_at or mark.since) + timedelta(days=config.interval_days(mark.mark))


def visited(config: VisitsConfig, mark: CareMark, now: datetime) -> None:
    """A visit was recorded: the next one is due one interval from now."""
    mark.last_visit_at, mark.reminded_at, mark.escalated_at, mark.level = now, None, None, MEMBER
    mark.due_at = next_due(config, mark)


@dataclass(frozen=True)
class Due:
    """A 关爱对象 household whose visit is due (or overdue, or due soon)."""

    household_id: int
    address: str
    head_name: str
    mark: str
    due_at: datetime
    overdue: bool  # past due by more than the grace period
    days: int  # whole days past due (negative: days left)

    @property
    def day(self) -> str:
        return local_day(self.due_at)


async def due_visits(session: AsyncSession, config: VisitsConfig, now: datetime, *, person: Person | None = None,
                     community_id: int | None = None, soon_days: int = 2, limit: int = 200) -> list[Due]:
    """关爱对象 households whose visit is due within `soon_days` or overdue,
    most overdue first; only those `person` may visit, or of one community, when given."""
    query = (households(CareMark, Household, Building.label, Compound.name)
             .join(CareMark, CareMark.household_id == Household.id))
    if person is not None:
        query = query.where(person_clause(person))
    if community_id is not None:
        query = query.where(Compound.community_id == community_id)
    horizon = now + timedelta(days=soon_days)
    query = query.where(or_(CareMark.due_at.is_(None), CareMark.due_at <= horizon))
    out: list[Due] = []
    for mark, household, label, compound in (await session.execute(query.order_by(CareMark.due_at))).all():
        due_at = mark.due_at or next_due(config, mark)
        if due_at > horizon:
            continue
        late = now - due_at
        out.append(Due(household.id, format_address(compound, label, household.unit, household.room),
                       household.head_name, mark.mark, due_at, late > timedelta(days=config.grace_days),
                       late.days if late >= timedelta(0) else -((-late).days + 1)))
    out.sort(key=lambda d: d.due_at)
    return out[:limit]


async def tick(session: AsyncSession, config: VisitsConfig, texts: Texts, now: datetime, *,
               lock: bool = False) -> dict[str, int]:
    """One pass of the care clock: set missing due times, remind when due, climb when overdue."""
    done = {"care_reminded": 0, "care_escalated": 0}
    grace = timedelta(days=config.grace_days)
    unset = select(CareMark).where(CareMark.due_at.is_(None)).limit(500)
    for mark in (await session.scalars(unset.with_for_update(skip_locked=True) if lock else unset)).all():
        mark.due_at = next_due(config, mark)
    await session.flush()
    query = select(CareMark).where(CareMark.due_at <= now, or_(
        CareMark.reminded_at.is_(None),
        and_(CareMark.due_at <= now - grace,
             or_(CareMark.escalated_at.is_(None), CareMark.escalated_at <= now - grace)))
    ).order_by(CareMark.due_at).limit(200)
    if lock:
        query = query.with_for_update(skip_locked=True)
    for mark in (await session.scalars(query)).all():
        row = (await session.execute(
            households(Household, Building.id, Building.label, Compound.id, Compound.name, Compound.community_id)
            .where(Household.id == mark.household_id))).first()
        if row is None:
            continue
        household, building_id, label, compound_id, compound, community_id = row
        chain = await assignment.load_chain(session, household_id=household.id, building_id=building_id,
                                            compound_id=compound_id, community_id=community_id)
        assert mark.due_at is not None
        fields = {"address": format_address(compound, label, household.unit, household.room),
                  "head": household.head_name, "mark": mark.mark, "day": local_day(mark.due_at),
                  "days": max((now - mark.due_at).days, 0)}
        if mark.reminded_at is None:
            choice = assignment.choose(chain, MEMBER)
            people = [choice.person] if choice.person is not None else chain.staff_on_duty()
            for person in people:
                enqueue(session, kind="reminder", text=texts("care.reminder", **fields), now=now,
                        person_id=person.id, data={"household": household.id})
            mark.reminded_at = now
            done["care_reminded"] += 1
            continue
        choice = assignment.next_level(chain, mark.level)
        if choice.person is not None:
            enqueue(session, kind="escalation", text=texts("care.escalated", **fields,
                                                              level=texts(f"role.{choice.level}")),
                    now=now, person_id=choice.person.id, data={"household": household.id})
        else:
            for person in chain.staff_on_duty():
                enqueue(session, kind="escalation", text=texts("care.escalated_staff", **fields), now=now,
                        person_id=person.id, data={"household": household.id})
        mark.level = choice.level if choice.person is not None else STAFF
        mark.escalated_at = now
        mark.escalations += 1
        done["care_escalated"] += 1
    return done
