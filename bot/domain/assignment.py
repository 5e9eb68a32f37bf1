"""Who gets a ticket (design.md §4): the first available of the resident's
linked party member, the building head, the compound branch secretary, and
community staff (the triage queue); category rules may start higher up.
Urgent tickets notify the member, the building head and staff at once.

Available means: not on leave, and reachable (bound to WeChat by an invite,
or on WeCom). Pure rules over a loaded Chain; no HTTP, no session writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import bindparam, or_, select
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


# Prebuilt once: SQLAlchemy reuses their compiled form; each call only binds its values.
_HEADS = select(
    select(Household.member_id).where(Household.id == bindparam("household_id")).scalar_subquery(),
    select(Building.head_id).where(Building.id == bindparam("building_id")).scalar_subquery(),
    select(Compound.secretary_id).where(Compound.id == bindparam("compound_id")).scalar_subquery(),
)
_LINKED = Person.id.in_(bindparam("linked", expanding=True))
_PEOPLE_OF_COMMUNITY = select(Person).where(
    or_(_LINKED, Person.staff_community_id == bindparam("community_id"))).order_by(Person.id)
_PEOPLE_OF_ALL_STAFF = select(Person).where(or_(_LINKED, Person.staff_community_id.is_not(None))).order_by(Person.id)


async def load_chain(session: AsyncSession, *, household_id: int | None, building_id: int | None,
                     compound_id: int | None, community_id: int | None) -> Chain:
    """The chain at a place, in two queries: who heads what, then those people
    and the community's staff."""
    member_id, head_id, secretary_id = (await session.execute(_HEADS, {
        "household_id": household_id, "building_id": building_id, "compound_id": compound_id})).one()
    linked = [i for i in (member_id, head_id, secretary_id) if i is not None]
    if community_id is not None:
        people = (await session.scalars(_PEOPLE_OF_COMMUNITY, {"linked": linked, "community_id": community_id})).all()
    else:
        people = (await session.scalars(_PEOPLE_OF_ALL_STAFF, {"linked": linked})).all()
    by_id = {p.id: p for p in people}
    return Chain(
        member=by_id.get(member_id) if member_id is not None else None,
        building_head=by_id.get(head_id) if head_id is not None else None,
        branch_secretary=by_id.get(secretary_id) if secretary_id is not None else None,
        staff=[p for p in people if p.staff_community_id is not None
               and (community_id is None or p.staff_community_id == community_id)],
    )


async def load_chain_cached(session: AsyncSession, *, household_id: int | None, building_id: int | None,
                            compound_id: int | None, community_id: int | None) -> Chain:
    """load_chain from the process's memory while the roster is unchanged (bot.domain.roster_cache);
    its people are detached copies, for reading only."""
    from bot.domain.roster_cache import cached, snapshot

    async def load() -> Chain:
        chain = await load_chain(session, household_id=household_id, building_id=building_id,
                                 compound_id=compound_id, community_id=community_id)
        copies: dict[int, Person] = {}

        def keep(p: Person | None) -> Person | None:
            return snapshot(p, copies) if p is not None else None

        return Chain(keep(chain.member), keep(chain.building_head), keep(chain.branch_secretary),
                     [snapshot(p, copies) for p in chain.staff])

    return await cached(session, ("chain", household_id, building_id, compound_id, community_id), load)
