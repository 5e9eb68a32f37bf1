"""Recording a visit: `走访 3栋2单元502 户主同意封闭管理，希望多留停车位`.

The household is read with the text analyser's place parser and must be in
the visitor's scope. The visit is kept; its words become the household's
opinion on the open campaign that covers it (collected by the visitor); a
关爱对象 household's care clock restarts; words that call for help open a
ticket for the household with the visitor as the reporter."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.identity import Sender
from bot.domain.tickets import Location, Request, TicketDesk
from bot.domain.visits import care
from bot.domain.visits.campaigns import covering, is_open
from bot.domain.visits.scope import find_for_visit, households
from bot.domain.visits.words import calls_for_help, read_choice
from bot.models import Building, Campaign, CareMark, Compound, Household, Opinion, Ticket, Visit
from nlp import Place, TextAnalyser

_HEAD = re.compile(r"^\s*(\S+?)(?:[\s,，。:：;；]+|$)")


def split_place(analyser: TextAnalyser, text: str) -> tuple[Place, str]:
    """The household a visit names and what the visitor found: the address is
    the first word ("3栋2单元502 户主同意…"), else what the place parser read."""
    head = _HEAD.match(text)
    if head is not None:
        place = analyser.parse_place(head.group(1))
        if place.building is not None and place.room and place.text.strip() == head.group(1):
            return place, text[head.end():].strip()
    place = analyser.parse_place(text)
    written = place.text.strip()
    if written and written in text:
        start = text.index(written)
        end = start + len(written)
        if written.endswith("户") and text[end:end + 1] == "主":  # "502户主说…": 户 begins 户主
            end -= 1
        return place, (text[:start] + text[end:]).strip(" ，,。:：")
    return place, text.strip()


@dataclass
class VisitRecord:
    """What recording a visit did, or the text key saying why nothing was recorded."""

    ok: bool
    refusal: str = ""
    fields: dict[str, object] | None = None
    visit: Visit | None = None
    address: str = ""
    head_name: str = ""
    campaign: Campaign | None = None
    choice: str | None = None
    care_mark: CareMark | None = None
    ticket: Ticket | None = None
    handler: str = ""


async def record_visit(desk: TicketDesk, analyser: TextAnalyser, sender: Sender, text: str, *,
                       campaign_no: int | None = None, source_message_id: int | None = None) -> VisitRecord:
    """A roster person's `走访 <household> <what they found>`."""
    session: AsyncSession = desk.session
    now = desk.now
    assert sender.person is not None
    person = sender.person
    place, words = split_place(analyser, text)
    found = await find_for_visit(session, person, place)
    if found.household is None:
        return VisitRecord(False, found.refusal, {"address": place.text or text[:20]})
    household = found.household
    campaign: Campaign | None = None
    if campaign_no is not None:
        campaign = next((c for c in await covering(session, household.id, now) if c.id == campaign_no), None)
        if campaign is None:
            chosen = await session.get(Campaign, campaign_no)
            key = "visit.campaign_closed" if chosen is not None and not is_open(chosen, now) else "visit.no_campaign"
            return VisitRecord(False, key, {"no": campaign_no})
    elif words:
        open_here = await covering(session, household.id, now)
        campaign = open_here[0] if open_here else None
    visit = Visit(household_id=household.id, person_id=person.id, text=words[:2000], at=now,
                  campaign_id=campaign.id if campaign is not None and words else None, data={})
    session.add(visit)
    record = VisitRecord(True, visit=visit, address=found.address, head_name=household.head_name)
    if campaign is not None and words:
        record.campaign, record.choice = campaign, read_choice(words, campaign.choices)
        session.add(Opinion(campaign_id=campaign.id, household_id=household.id, text=words[:2000],
                            choice=record.choice, collector_id=person.id, created_at=now))
    mark = await session.get(CareMark, household.id)
    if mark is not None:
        care.visited(desk.config.visits, mark, now)
        record.care_mark = mark
    help_word = calls_for_help(words) if words else None
    if help_word is not None:
        record.ticket = await _open_ticket(desk, analyser, sender, household, found.address, words, help_word,
                                           mark is not None, source_message_id)
        visit.ticket_id = record.ticket.id
        visit.data = {"help": help_word}
        record.handler = await desk.handler_label(record.ticket)
    await session.flush()
    return record


async def _open_ticket(desk: TicketDesk, analyser: TextAnalyser, sender: Sender, household: Household,
                       address: str, words: str, help_word: str, cared: bool,
                       source_message_id: int | None) -> Ticket:
    row = (await desk.session.execute(
        households(Building.id, Compound.id, Compound.community_id).where(Household.id == household.id))).one()
    building_id, compound_id, community_id = row
    analysis = await analyser.analyse_async(words)
    category = analysis.category if analysis.is_request and analysis.category else "other"
    if category == "other" and cared:
        category = "elderly_care"  # help for a 关爱对象 household
    request = Request(text=words, category=category, kind=analysis.kind or "help", urgent=analysis.urgent,
                      confidence=analysis.confidence, matched=(*analysis.matched, help_word), location=address)
    location = Location(household.id, building_id, compound_id, community_id, address)
    outcome = await desk.open_request(sender, request, source_message_id=source_message_id, location=location)
    assert outcome.ticket is not None
    return outcome.ticket


async def visits_of(session: AsyncSession, household_id: int, limit: int = 20) -> list[Visit]:
    """A household's visits, newest first (for the console)."""
    return list((await session.scalars(select(Visit).where(Visit.household_id == household_id)
                                       .order_by(Visit.id.desc()).limit(limit))).all())
