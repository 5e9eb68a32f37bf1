"""Who gets a ticket (design.md §4): the first available of the resident's
linked party member, the building head, the compound branch secretary, and
community staff (the triage queue); category rules may start higher up.
Urgent tickets notify the member, the building head and staff at once.

Available means: not on leave, and reachable (bound to WeChat by an invite,
or on WeCom). Pure rules over a loaded Chain; no HTTP, no session writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import LEVELS
from bot.models import Building, Compound, Household, Person

MEMBER, BUILDING_HEAD, BRANCH_SECRETARY, STAFF = LEVELS


def available(person: Person | None) -> bool:
    return person is not None and not person.on_leave and bool(person.openid or person.wecom_userid)


@dataclass
class Chain:
    """The people who may handle a ticket at a place, level by level."""

    member: Person | None = None
    building_head: Person | None = None
    branch_secretary: Person | None = None
    staff: list[Person] = field(default_factory=list)

    def person_at(self, level: str) -> Person | None:
        return {MEMBER: self.member, BUILDING_HEAD: self.building_head,
                BRANCH_SECRETARY: self.branch_secretary}.get(level)

    def staff_on_duty(self) -> list[Person]:
        return [p for p in self.staff if available(p)]


@dataclass(frozen=True)
class Choice:
    level: str
    person: Person | None  # None at the staff level: the triage queue


def choose(chain: Chain, start_level: str = MEMBER) -> Choice:
    """The first available person from `start_level` up; else the triage queue."""
    for level in LEVELS[LEVELS.index(start_level):]:
        if level == STAFF:
            break
        person = chain.person_at(level)
        if available(person):
            return Choice(level, person)
    return Choice(STAFF, None)


def next_level(chain: Chain, current_level: str) -> Choice:
    """One level up from `current_level` (吹哨, 退单): the next available."""
    index = LEVELS.index(current_level)
    if index + 1 >= len(LEVELS):
        return Choice(STAFF, None)
    return choose(chain, LEVELS[index + 1])


def first_level(category: str, category_rules: dict[str, str]) -> str:
    return category_rules.get(category, MEMBER)


def urgent_recipients(chain: Chain) -> list[Person]:
    """Everyone told of an urgent ticket at once: member, building head, staff."""
    people: list[Person] = []
    for person in (chain.member, chain.building_head, *chain.staff_on_duty()):
        if available(person) and person not in people:
            people.append(person)  # type: ignore[arg-type]
    return people


async def load_chain(session: AsyncSession, *, household_id: int | None, building_id: int | None,
                     compound_id: int | None, community_id: int | None) -> Chain:
    chain = Chain()
    if household_id is not None:
        household = await session.get(Household, household_id)
        if household is not None and household.member_id is not None:
            chain.member = await session.get(Person, household.member_id)
    if building_id is not None:
        building = await session.get(Building, building_id)
        if building is not None and building.head_id is not None:
            chain.building_head = await session.get(Person, building.head_id)
    if compound_id is not None:
        compound = await session.get(Compound, compound_id)
        if compound is not None and compound.secretary_id is not None:
            chain.branch_secretary = await session.get(Person, compound.secretary_id)
    query = select(Person).order_by(Person.id)
    query = query.where(Person.staff_community_id == community_id) if community_id is not None else \
        query.where(Person.staff_community_id.is_not(None))
    chain.staff = list((await session.scalars(query)).all())
    return chain
