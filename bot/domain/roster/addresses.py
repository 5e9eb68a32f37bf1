"""Finding households by address and describing them: what identity and the
ticket desk need on every request, without the importer."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.roster.values import format_address, normalize_name, normalize_room, normalize_text
from bot.models import Building, Compound, Household

# --- addresses ----------------------------------------------------------------------------------------


async def find_households(session: AsyncSession, *, building: int | None, unit: int | None, room: str | None,
                          compound: str | None = None, community_id: int | None = None) -> list[Household]:
    """The households a parsed address may mean.

    `building` is the building number, `unit` None matches any unit (0 is "no
    unit"), `room` is normalised like the import does ("501室" → "501"),
    `compound` matches compounds whose name contains it, `community_id`
    narrows to one community. A None criterion does not narrow the search.
    """
    query = (
        select(Household)
        .join(Building, Household.building_id == Building.id)
        .join(Compound, Building.compound_id == Compound.id)
    )
    if building is not None:
        query = query.where(Building.number == building)
    if unit is not None:
        query = query.where(Household.unit == unit)
    if room is not None:
        query = query.where(Household.room == (normalize_room(room) or normalize_text(room)))
    if compound:
        query = query.where(Compound.name.contains(normalize_name(compound), autoescape=True))
    if community_id is not None:
        query = query.where(Compound.community_id == community_id)
    return list((await session.scalars(query.order_by(Household.id))).all())


async def describe_household(session: AsyncSession, household: Household) -> str:
    """The household's address as people write it, with its compound: 幸福小区3栋2单元501."""
    row = (await session.execute(
        select(Compound.name, Building.label)
        .join(Building, Building.compound_id == Compound.id)
        .where(Building.id == household.building_id))).one()
    return format_address(row.name, row.label, household.unit, household.room)
