"""Which households a campaign covers and which a person of the roster may
visit, as WHERE clauses over Household ⋈ Building ⋈ Compound; finding the
household a visit names within the visitor's scope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.roster.addresses import find_households
from bot.domain.roster.values import format_address
from bot.models import Building, Campaign, Compound, Household, Person
from nlp import Place


def households(*columns: Any) -> Select[Any]:
    """SELECT `columns` FROM households joined to their building and compound."""
    return (select(*columns).select_from(Household)
            .join(Building, Household.building_id == Building.id)
            .join(Compound, Building.compound_id == Compound.id))


def campaign_clause(campaign: Campaign) -> ColumnElement[bool]:
    """The households in a campaign's scope: its buildings, else its compound, else its community."""
    if campaign.building_ids:
        return Building.id.in_(campaign.building_ids)
    if campaign.compound_id is not None:
        return Compound.id == campaign.compound_id
    return Compound.community_id == campaign.community_id


def person_clause(person: Person) -> ColumnElement[bool]:
    """The households a person may visit: those linked to them, in a building
    they head or a compound whose branch they lead, or (staff) in their community."""
    clauses: list[ColumnElement[bool]] = [Household.member_id == person.id, Building.head_id == person.id,
                                          Compound.secretary_id == person.id]
    if person.staff_community_id is not None:
        clauses.append(Compound.community_id == person.staff_community_id)
    return or_(*clauses)


@dataclass(frozen=True)
class Found:
    """The household a visit names, or the text key saying why there is none."""

    household: Household | None = None
    address: str = ""
    refusal: str = ""


async def find_for_visit(session: AsyncSession, person: Person, place: Place) -> Found:
    """The one household in `person`'s scope that `place` names."""
    if place.building is None or not place.room:
        return Found(refusal="visit.need_address")
    candidates = await find_households(session, building=place.building, unit=place.unit, room=place.room,
                                       compound=place.name)
    if not candidates:
        return Found(refusal="visit.not_found")
    mine = (await session.execute(
        households(Household, Compound.name, Building.label)
        .where(Household.id.in_([h.id for h in candidates]), person_clause(person))
        .order_by(Household.id))).all()
    if not mine:
        return Found(refusal="visit.not_yours")
    if len(mine) > 1:
        return Found(refusal="visit.ambiguous")
    household, compound, label = mine[0]
    return Found(household, format_address(compound, label, household.unit, household.room))
