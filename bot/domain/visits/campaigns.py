"""Opinion campaigns (民意征集): staff open one for their community (or a
compound, or some buildings); residents in scope are told through the outbox
how to answer; a resident's `意见 [N] 内容` is stored against their household
(never a ticket; a second one adds to it); closing sends the participants a
summary staff approved."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.outbox import enqueue
from bot.domain.identity import Sender
from bot.domain.tickets.states import Outcome
from bot.domain.visits.scope import campaign_clause, households
from bot.domain.visits.words import local_day, read_choice
from bot.models import Building, Campaign, Compound, Household, Opinion, Person, Resident
from bot.texts import Texts

OPEN, CLOSED = "open", "closed"
KIND = "campaign"  # the outbox kind of campaign notices (a template per kind in [wechat.templates])


def is_open(campaign: Campaign, now: datetime) -> bool:
    """Open, and its deadline (if any) not passed (the clock closes it on its next tick)."""
    return campaign.state == OPEN and (campaign.deadline is None or campaign.deadline > now)


def campaign_fields(texts: Texts, campaign: Campaign) -> dict[str, object]:
    # the deadline is the first moment after the last day
    last_day = local_day(campaign.deadline - timedelta(seconds=1)) if campaign.deadline else ""
    deadline = texts("campaign.deadline", day=last_day) if campaign.deadline else ""
    choices = texts("campaign.choices", choices="/".join(campaign.choices)) if campaign.choices else ""
    return {"no": campaign.id, "title": campaign.title, "deadline": deadline, "choices": choices,
            "state": texts(f"campaign.state_{campaign.state}")}


@dataclass(frozen=True)
class Opened:
    campaign: Campaign
    residents: int  # bound residents told
    members: int  # linked members told
    households: int  # households in scope


async def open_campaign(session: AsyncSession, texts: Texts, staff: Person, title: str, now: datetime, *,
                        deadline: datetime | None = None, question: str = "", choices: Sequence[str] = (),
                        compound_id: int | None = None, building_ids: Sequence[int] = ()) -> Opened:
    """Open a campaign of `staff`'s community and tell the residents and linked
    members in scope. Raises ValueError when the scope is outside the community."""
    if staff.staff_community_id is None:
        raise ValueError("only community staff open campaigns")
    community_id = staff.staff_community_id
    if compound_id is not None and await session.scalar(
            select(Compound.id).where(Compound.id == compound_id, Compound.community_id == community_id)) is None:
        raise ValueError(f"compound {compound_id} is not in community {community_id}")
    if building_ids:
        inside = (await session.scalars(
            select(Building.id).join(Compound, Building.compound_id == Compound.id)
            .where(Building.id.in_(building_ids), Compound.community_id == community_id))).all()
        if len(set(inside)) != len(set(building_ids)):
            raise ValueError("some buildings are not in the community")
    campaign = Campaign(community_id=community_id, title=title[:200], question=question, choices=list(choices),
                        compound_id=compound_id, building_ids=sorted(set(building_ids)), deadline=deadline,
                        state=OPEN, created_by=staff.id, created_at=now)
    session.add(campaign)
    await session.flush()
    fields = campaign_fields(texts, campaign)
    residents = (await session.scalars(
        households(Resident.openid).join(Resident, Resident.household_id == Household.id)
        .where(campaign_clause(campaign), Resident.subscribed.is_(True)).order_by(Resident.openid))).all()
    for openid in residents:
        enqueue(session, kind=KIND, text=texts("campaign.notice", **fields), now=now, openid=openid,
                data={"campaign": campaign.id})
    scope = (await session.scalars(households(Household.member_id).where(campaign_clause(campaign)))).all()
    linked: dict[int, int] = {}
    for member_id in scope:
        if member_id is not None:
            linked[member_id] = linked.get(member_id, 0) + 1
    for member_id, count in sorted(linked.items()):
        enqueue(session, kind=KIND, text=texts("campaign.member_notice", count=count, **fields), now=now,
                person_id=member_id, data={"campaign": campaign.id})
    return Opened(campaign, len(residents), len(linked), len(scope))


async def covering(session: AsyncSession, household_id: int, now: datetime) -> list[Campaign]:
    """The open campaigns whose scope holds the household, newest first."""
    row = (await session.execute(
        households(Building.id, Compound.id, Compound.community_id).where(Household.id == household_id))).first()
    if row is None:
        return []
    building_id, compound_id, community_id = row
    found = (await session.scalars(
        select(Campaign).where(Campaign.community_id == community_id, Campaign.state == OPEN,
                               or_(Campaign.deadline.is_(None), Campaign.deadline > now),
                               or_(Campaign.compound_id.is_(None), Campaign.compound_id == compound_id))
        .order_by(Campaign.id.desc()))).all()
    return [c for c in found if not c.building_ids or building_id in c.building_ids]


async def give_opinion(session: AsyncSession, texts: Texts, sender: Sender, number: int | None, text: str,
                       now: datetime) -> Outcome:
    """A resident's `意见 [N] 内容`, stored against their household."""
    household_id = sender.resident.household_id
    if household_id is None:
        return Outcome(False, "opinion.need_bind")
    open_here = await covering(session, household_id, now)
    if number is not None:
        chosen = next((c for c in open_here if c.id == number), None)
        if chosen is None:
            campaign = await session.get(Campaign, number)
            if campaign is not None and campaign in await _scoped(session, household_id, campaign):
                return Outcome(False, "opinion.closed", campaign_fields(texts, campaign))
            return Outcome(False, "opinion.no_such", {"no": number})
    elif len(open_here) == 1:
        chosen = open_here[0]
    elif not open_here:
        return Outcome(False, "opinion.none_open")
    else:
        listing = "；".join(texts("opinion.which_item", **campaign_fields(texts, c)) for c in open_here)
        return Outcome(False, "opinion.which", {"campaigns": listing, "no": open_here[0].id})
    words = text.strip()
    if not words:
        return Outcome(False, "opinion.need_text", campaign_fields(texts, chosen))
    before = await session.scalar(select(Opinion.id).where(Opinion.campaign_id == chosen.id,
                                                           Opinion.household_id == household_id).limit(1))
    choice = read_choice(words, chosen.choices)
    session.add(Opinion(campaign_id=chosen.id, household_id=household_id, text=words[:2000], choice=choice,
                        openid=sender.openid, created_at=now))
    fields = {**campaign_fields(texts, chosen),
              "choice": texts("opinion.choice", choice=choice) if choice else ""}
    return Outcome(True, "opinion.added" if before is not None else "opinion.thanks", fields)


async def _scoped(session: AsyncSession, household_id: int, campaign: Campaign) -> list[Campaign]:
    """[campaign] if its scope holds the household, else []."""
    inside = await session.scalar(households(Household.id).where(Household.id == household_id,
                                                                 campaign_clause(campaign)))
    return [campaign] if inside is not None else []


async def staff_campaign(session: AsyncSession, staff: Person, number: int | None) -> Campaign | None:
    """Campaign `number` of the staff member's community, or their newest when no number is given."""
    query = select(Campaign).where(Campaign.community_id == staff.staff_community_id)
    if number is not None:
        query = query.where(Campaign.id == number)
    return await session.scalar(query.order_by(Campaign.id.desc()).limit(1))


def close(campaign: Campaign, now: datetime) -> bool:
    """Stop taking opinions; False if it was closed already."""
    if campaign.state == CLOSED:
        return False
    campaign.state, campaign.closed_at = CLOSED, now
    return True


async def participants(session: AsyncSession, campaign: Campaign) -> list[str]:
    """The openids that took part: residents who answered, and the residents
    bound to households whose opinion a member collected."""
    answered = (await session.scalars(
        select(Opinion.openid).where(Opinion.campaign_id == campaign.id, Opinion.openid.is_not(None)))).all()
    reached = select(Opinion.household_id).where(Opinion.campaign_id == campaign.id)
    bound = (await session.scalars(
        select(Resident.openid).where(Resident.household_id.in_(reached), Resident.subscribed.is_(True)))).all()
    return sorted({o for o in (*answered, *bound) if o})


async def send_summary(session: AsyncSession, texts: Texts, campaign: Campaign, summary: str,
                       now: datetime) -> int:
    """Close the campaign and send the approved `summary` to everyone who took
    part, once. Returns how many were told; raises ValueError if it was sent."""
    if campaign.summary_sent_at is not None:
        raise ValueError("the summary of this campaign was sent already")
    close(campaign, now)
    campaign.summary, campaign.summary_sent_at = summary.strip(), now
    told = await participants(session, campaign)
    text = texts("campaign.summary_notice", summary=campaign.summary, **campaign_fields(texts, campaign))
    for openid in told:
        enqueue(session, kind=KIND, text=text, now=now, openid=openid, data={"campaign": campaign.id})
    return len(told)


async def close_due(session: AsyncSession, now: datetime, *, lock: bool = False) -> list[Campaign]:
    """Close the open campaigns whose deadline passed (the clock); returns them."""
    query = select(Campaign).where(and_(Campaign.state == OPEN, Campaign.deadline.is_not(None),
                                        Campaign.deadline <= now)).order_by(Campaign.id).limit(100)
    if lock:
        query = query.with_for_update(skip_locked=True)
    due = list((await session.scalars(query)).all())
    for campaign in due:
        close(campaign, now)
    return due
