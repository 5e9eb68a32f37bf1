"""What a campaign heard, for `征集结果 N`, the console and the export:
coverage (households with an opinion over households in scope, per building
and per linked member), the households not yet reached, choices counted and
the top topics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.domain.roster.values import format_address
from bot.domain.visits.scope import campaign_clause, households
from bot.domain.visits.words import AGAINST_LABEL, FOR_LABEL, topics
from bot.models import Building, Campaign, Compound, Household, Opinion, Person


@dataclass(frozen=True)
class Share:
    """Households reached out of households in scope, for one building or member."""

    key: int | None  # building id, or member id (None: households without a linked member)
    label: str  # building as 幸福小区3栋, or the member's name ("" when none)
    reached: int
    total: int

    @property
    def rate(self) -> float:
        return self.reached / self.total if self.total else 0.0


@dataclass(frozen=True)
class ScopeHousehold:
    """A household in a campaign's scope, and whether it has given an opinion."""

    id: int
    address: str
    head_name: str
    building_id: int
    building: str
    member_id: int | None
    member: str
    reached: bool


@dataclass
class Results:
    campaign: Campaign
    total: int = 0  # households in scope
    reached: int = 0  # households with an opinion
    opinions: int = 0  # opinions given (a household may give several)
    by_building: list[Share] = field(default_factory=list)
    by_member: list[Share] = field(default_factory=list)
    choices: list[tuple[str, int]] = field(default_factory=list)
    undecided: int = 0  # reached households whose words choose nothing
    topics: list[tuple[str, int]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.reached / self.total if self.total else 0.0


async def scope_households(session: AsyncSession, campaign: Campaign) -> list[ScopeHousehold]:
    """Every household in the campaign's scope, in address order, with whether it was reached."""
    reached = set((await session.scalars(
        select(Opinion.household_id).where(Opinion.campaign_id == campaign.id).distinct())).all())
    rows = (await session.execute(
        households(Household, Building.id, Building.label, Compound.name, Person.id, Person.name)
        .outerjoin(Person, Household.member_id == Person.id)
        .where(campaign_clause(campaign))
        .order_by(Compound.name, Building.number, Building.label, Household.unit, Household.room))).all()
    return [ScopeHousehold(h.id, format_address(compound, label, h.unit, h.room), h.head_name, building_id,
                           f"{compound}{label}", member_id, member or "", h.id in reached)
            for h, building_id, label, compound, member_id, member in rows]


def _shares(items: list[ScopeHousehold], by_member: bool) -> list[Share]:
    groups: dict[int | None, list[ScopeHousehold]] = {}
    for item in items:
        groups.setdefault(item.member_id if by_member else item.building_id, []).append(item)
    shares = [Share(key, (g[0].member if by_member else g[0].building), sum(1 for h in g if h.reached), len(g))
              for key, g in groups.items()]
    if by_member:
        shares.sort(key=lambda s: (s.key is None, s.rate, s.label))  # the least covered first
    return shares


async def coverage(session: AsyncSession, campaign: Campaign) -> tuple[list[Share], list[Share]]:
    """Coverage per building and per linked member."""
    items = await scope_households(session, campaign)
    return _shares(items, False), _shares(items, True)


async def unreached(session: AsyncSession, campaign: Campaign, member_id: int | None = None
                    ) -> list[ScopeHousehold]:
    """The households in scope nobody has heard yet (of one linked member, if given)."""
    return [h for h in await scope_households(session, campaign)
            if not h.reached and (member_id is None or h.member_id == member_id)]


@dataclass(frozen=True)
class OpinionRow:
    """One opinion as the export lists it."""

    id: int
    at: datetime
    address: str
    head_name: str
    member: str
    collector: str  # the member who collected it, "" when the resident gave it
    by_resident: bool
    choice: str
    text: str


async def opinion_rows(session: AsyncSession, campaign: Campaign) -> list[OpinionRow]:
    """Every opinion of the campaign in the order given."""
    collector = aliased(Person)
    rows = (await session.execute(
        households(Opinion, Household, Building.label, Compound.name, Person.name, collector.name)
        .join(Opinion, Opinion.household_id == Household.id)
        .outerjoin(Person, Household.member_id == Person.id)
        .outerjoin(collector, Opinion.collector_id == collector.id)
        .where(Opinion.campaign_id == campaign.id).order_by(Opinion.id))).all()
    return [OpinionRow(o.id, o.created_at, format_address(compound, label, h.unit, h.room), h.head_name,
                       member or "", by or "", o.collector_id is None, o.choice or "", o.text)
            for o, h, label, compound, member, by in rows]


async def results(session: AsyncSession, campaign: Campaign, tokens: Callable[[str], list[str]],
                  top_topics: int = 8) -> Results:
    """Everything `征集结果` and the console show."""
    items = await scope_households(session, campaign)
    out = Results(campaign, total=len(items), reached=sum(1 for h in items if h.reached),
                  by_building=_shares(items, False), by_member=_shares(items, True))
    opinions = (await session.execute(
        select(Opinion.household_id, Opinion.choice, Opinion.text).where(Opinion.campaign_id == campaign.id)
        .order_by(Opinion.id))).all()
    out.opinions = len(opinions)
    latest: dict[int, str] = {}  # a household's choice is the last one it stated
    words: dict[int, list[str]] = {}
    for household_id, choice, text in opinions:
        if choice:
            latest[household_id] = choice
        words.setdefault(household_id, []).append(text)
    labels = list(campaign.choices) or [FOR_LABEL, AGAINST_LABEL]
    counted = {label: 0 for label in labels}
    for choice in latest.values():
        counted[choice] = counted.get(choice, 0) + 1
    out.choices = list(counted.items())
    out.undecided = len(words) - len(latest)
    joined = ["，".join(parts) for parts in words.values()]
    out.topics = await asyncio.to_thread(topics, joined, tokens, top_topics) if len(joined) > 20 \
        else topics(joined, tokens, top_topics)
    return out


@dataclass(frozen=True)
class MemberRound:
    """One open campaign as a linked member sees it: their households reached and not yet."""

    campaign: Campaign
    reached: int
    total: int
    unreached: list[ScopeHousehold]


async def member_rounds(session: AsyncSession, member: Person, now: datetime) -> list[MemberRound]:
    """The open campaigns covering households linked to `member`, with what is left to do."""
    from bot.domain.visits.campaigns import OPEN, is_open

    communities = select(Compound.community_id).join(Building, Building.compound_id == Compound.id) \
        .join(Household, Household.building_id == Building.id).where(Household.member_id == member.id)
    found = (await session.scalars(select(Campaign).where(Campaign.state == OPEN,
                                                          Campaign.community_id.in_(communities))
                                   .order_by(Campaign.id))).all()
    out: list[MemberRound] = []
    for campaign in found:
        if not is_open(campaign, now):
            continue
        mine = [h for h in await scope_households(session, campaign) if h.member_id == member.id]
        if mine:
            out.append(MemberRound(campaign, sum(1 for h in mine if h.reached), len(mine),
                                   [h for h in mine if not h.reached]))
    return out
