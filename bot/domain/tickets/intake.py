"""A resident's request becoming a ticket: where it is, whether it joins an
open ticket (并单), who gets it, and media attached to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, exists, select

from bot.domain import assignment
from bot.domain.assignment import Chain, Choice
from bot.domain.identity import Sender, match_address
from bot.domain.roster.values import format_address
from bot.domain.roster_cache import cached
from bot.domain.security import tickets_in_last_hour
from bot.domain.tickets.policy import DeskPolicy
from bot.domain.tickets.states import ACTIVE, OPEN, Location, Outcome, Request, merge_words, similarity
from bot.models import (
    Building,
    Compound,
    Household,
    InboundMessage,
    Person,
    Ticket,
    TicketAttachment,
    TicketFollower,
)

# Prebuilt once: SQLAlchemy reuses their compiled form; each request only binds its values.
_COMPOUND_NAMED = select(Compound.id, Compound.community_id).where(
    Compound.name.contains(bindparam("name"))).limit(2)
_COMPOUND_NAME = select(Compound.name).where(Compound.id == bindparam("compound_id"))
_HOUSEHOLD_PLACE = (
    select(Household.unit, Household.room, Building.id, Building.label, Compound.id, Compound.name,
           Compound.community_id)
    .join(Building, Household.building_id == Building.id)
    .join(Compound, Building.compound_id == Compound.id).where(Household.id == bindparam("household_id")))
_BUILDING_NUMBERED = select(Building.id, Compound.id, Compound.community_id, Compound.name).join(
    Compound, Building.compound_id == Compound.id).where(Building.number == bindparam("number"))
_BUILDING_IN_NAMED = _BUILDING_NUMBERED.where(Compound.name.contains(bindparam("name"))).limit(2)
_BUILDINGS_OF = select(Building.number, Building.id, Compound.id, Compound.community_id, Compound.name).join(
    Compound, Building.compound_id == Compound.id).where(Compound.id == bindparam("compound_id"))
_BUILDING_ANYWHERE = _BUILDING_NUMBERED.limit(2)
_MERGE_CANDIDATES = select(Ticket.id, Ticket.text, Ticket.matched, Ticket.merge_tokens).where(
    Ticket.category == bindparam("category"), Ticket.state.in_(ACTIVE), Ticket.created_at >= bindparam("since"),
    Ticket.openid != bindparam("openid"))
_MERGE_IN_BUILDING = _MERGE_CANDIDATES.where(Ticket.building_id == bindparam("place")) \
    .order_by(Ticket.id.desc()).limit(20)
_MERGE_IN_COMPOUND = _MERGE_CANDIDATES.where(Ticket.compound_id == bindparam("place")) \
    .order_by(Ticket.id.desc()).limit(20)
# The ticket a request joins, its handler's name and whether the sender already follows it: one round trip.
_MERGE_JOIN = select(
    Ticket, Person.name,
    exists().where(TicketFollower.ticket_id == Ticket.id, TicketFollower.openid == bindparam("openid")),
).outerjoin(Person, Person.id == Ticket.assignee_id).where(Ticket.id == bindparam("ticket_id"))
_RECENT_MEDIA = select(InboundMessage.id, InboundMessage.msg_type, InboundMessage.payload).where(
    InboundMessage.openid == bindparam("openid"), InboundMessage.received_at >= bindparam("since"),
    InboundMessage.msg_type.in_(("image", "location")),
    InboundMessage.id.not_in(select(TicketAttachment.message_id).where(TicketAttachment.message_id.is_not(None))))
_LATEST_ACTIVE_OF = select(Ticket).where(
    Ticket.openid == bindparam("openid"), Ticket.state.in_(ACTIVE), Ticket.created_at >= bindparam("since")
).order_by(Ticket.id.desc()).limit(1)


class Intake(DeskPolicy):
    """Opening tickets from requests."""

    async def locate(self, sender: Sender, request: Request) -> Location:
        """Where a request is: the place named in the text when there is one (a
        different building goes to that building's chain), else the bound
        household, else what can be told from the text."""
        home = await self._household_location(sender.resident.household_id) \
            if sender.resident.household_id is not None else None
        if request.building is not None:
            named = await self._named_location(request, home)
            if named is not None:
                return named
        if home is not None:
            return home
        if request.place_name:
            compounds = (await self.session.execute(_COMPOUND_NAMED, {"name": request.place_name})).all()
            if len(compounds) == 1:
                return Location(None, None, compounds[0][0], compounds[0][1], request.location)
        return Location(label=request.location)

    async def _compound_name(self, compound_id: int) -> str | None:
        async def load() -> str | None:
            return await self.session.scalar(_COMPOUND_NAME, {"compound_id": compound_id})

        return await cached(self.session, ("compound name", compound_id), load)

    async def _buildings_of(self, compound_id: int) -> dict[int | None, list[tuple[int, int, int | None, str]]]:
        """A compound's buildings by number (id, compound id, community id, compound name), from the
        process's memory while the roster is unchanged; keyed by the roster, never by what a text says."""
        async def load() -> dict[int | None, list[tuple[int, int, int | None, str]]]:
            by_number: dict[int | None, list[tuple[int, int, int | None, str]]] = {}
            for number, building_id, compound, community_id, name in (await self.session.execute(
                    _BUILDINGS_OF, {"compound_id": compound_id})).all():
                by_number.setdefault(number, []).append((building_id, compound, community_id, name))
            return by_number

        return await cached(self.session, ("buildings", compound_id), load)

    async def _household_location(self, household_id: int) -> Location | None:
        return await cached(self.session, ("home", household_id), lambda: self._load_household_location(household_id))

    async def _load_household_location(self, household_id: int) -> Location | None:
        row = (await self.session.execute(_HOUSEHOLD_PLACE, {"household_id": household_id})).first()
        if row is None:
            return None
        unit, room, building_id, label, compound_id, compound_name, community_id = row
        return Location(household_id, building_id, compound_id, community_id,
                        format_address(compound_name, label, unit, room))

    async def _named_location(self, request: Request, home: Location | None) -> Location | None:
        """The building (or household) the text names, looked for in the named
        compound, else the sender's own compound, else anywhere when unique."""
        home_compound = home.compound_id if home is not None and not request.place_name else None
        if request.room:
            compound_name = request.place_name
            if compound_name is None and home_compound is not None:
                compound_name = await self._compound_name(home_compound)
            match = await match_address(self.session, building=request.building, unit=request.unit,
                                        room=request.room, compound=compound_name)
            if match.household is not None:
                return await self._household_location(match.household.id)
        rows: Sequence[tuple[int, int, int | None, str]]
        if request.place_name:
            rows = (await self.session.execute(
                _BUILDING_IN_NAMED, {"number": request.building, "name": request.place_name})).all()
        elif home_compound is not None:
            rows = (await self._buildings_of(home_compound)).get(request.building, [])
        else:
            rows = (await self.session.execute(_BUILDING_ANYWHERE, {"number": request.building})).all()
        if len(rows) != 1:
            return None
        building_id, compound_id, community_id, compound_name = rows[0]
        label = request.location if request.place_name and request.place_name in request.location \
            else f"{compound_name}{request.location}"
        if home is not None and home.building_id == building_id:
            return Location(home.household_id, building_id, compound_id, community_id, label)
        return Location(None, building_id, compound_id, community_id, label)

    async def open_request(self, sender: Sender, request: Request, *, source_message_id: int | None = None,
                           location: Location | None = None) -> Outcome:
        """A resident's request becomes a ticket (or joins a matching open one).
        `location` overrides where the request is (a member reporting for a household they visited)."""
        if not request.tokens:  # segmented once: for the merge check and kept with the ticket
            request = replace(request, tokens=self.tokens(request.text))
        location = location or await self.locate(sender, request)
        merged = await self._merge_target(sender, request, location)
        if merged is not None:
            return await self._join(merged, sender, request)
        if not request.urgent:  # urgent requests are never capped: no need to count
            recent = await tickets_in_last_hour(self.session, sender.openid, self.now)
            if recent >= self.config.security.tickets_per_hour:
                return Outcome(False, "security.too_many_tickets", {"count": recent})
        chain = await assignment.load_chain_cached(
            self.session, household_id=location.household_id, building_id=location.building_id,
            compound_id=location.compound_id, community_id=location.community_id)
        choice = assignment.choose(chain, assignment.first_level(request.category,
                                                                 self.config.tickets.category_first_level))
        ticket = Ticket(
            openid=sender.openid, text=request.text, category=request.category, kind=request.kind,
            urgent=request.urgent, confidence=request.confidence, matched=" ".join(request.matched),
            location=location.label, household_id=location.household_id, building_id=location.building_id,
            compound_id=location.compound_id, community_id=location.community_id, created_at=self.now,
            source_message_id=source_message_id, merge_tokens=merge_words(request.tokens),
        )
        self._place(ticket, choice)
        ticket.accept_due_at, ticket.resolve_due_at = self._due(request.category, request.urgent, self.now)
        self.session.add(ticket)
        await self.session.flush()
        self.record(ticket, "created", actor_openid=sender.openid, to_state=OPEN, note=request.text[:500],
                    data={"category": request.category, "kind": request.kind, "urgent": request.urgent,
                          "confidence": round(request.confidence, 3), "matched": list(request.matched)})
        await self._attach_recent_media(ticket, sender.openid)
        await self._announce(ticket, choice, OPEN, action="assigned", staff=chain.staff)
        if request.urgent:
            await self._fan_out_urgent(ticket, chain, choice)
        handler = await self.handler_label(ticket, choice.person)
        key = "ticket.created_urgent" if request.urgent else "ticket.created"
        fields = {**self.ticket_fields(ticket), "handler": handler,
                  "bind_hint": self.texts("ticket.bind_hint") if sender.resident.household_id is None else ""}
        return Outcome(True, key, fields, ticket)

    async def _fan_out_urgent(self, ticket: Ticket, chain: Chain, choice: Choice) -> None:
        told = [p for p in assignment.urgent_recipients(chain) if choice.person is None or p.id != choice.person.id]
        if choice.person is None:  # staff were told by the triage notice already
            told = [p for p in told if p.staff_community_id is None]
        for person in told:
            self.notify_person(person, "urgent", "notify.urgent", ticket, **self.ticket_fields(ticket))
        everyone = [p.id for p in told] + ([choice.person.id] if choice.person is not None else [])
        self.record(ticket, "urgent_fan_out", data={"notified": everyone})

    async def _merge_target(self, sender: Sender, request: Request, location: Location) -> int | None:
        """The id of the open ticket nearby that this request repeats, if any."""
        cfg = self.config.tickets
        if cfg.merge_window_h <= 0 or request.urgent or request.category == "other":
            return None
        if location.building_id is None and location.compound_id is None:
            return None
        query = _MERGE_IN_BUILDING if location.building_id is not None else _MERGE_IN_COMPOUND
        params = {"category": request.category, "since": self.now - timedelta(hours=cfg.merge_window_h),
                  "openid": sender.openid,
                  "place": location.building_id if location.building_id is not None else location.compound_id}
        mine: Sequence[str] | None = None
        best: tuple[float, int] | None = None
        for ticket_id, text, matched, words in (await self.session.execute(query, params)).all():
            mine = mine if mine is not None else (request.tokens or self.tokens(request.text))
            theirs = words.split() if words is not None else self.tokens(text)  # older rows: segment once more
            score = max(similarity(mine, theirs), similarity(request.matched, matched.split()))
            if score >= cfg.merge_similarity and (best is None or score > best[0]):
                best = (score, ticket_id)
        return best[1] if best else None

    async def _join(self, ticket_id: int, sender: Sender, request: Request) -> Outcome:
        ticket, handler_name, following = (await self.session.execute(
            _MERGE_JOIN, {"ticket_id": ticket_id, "openid": sender.openid})).one()
        if not following:
            self.session.add(TicketFollower(ticket_id=ticket.id, openid=sender.openid, text=request.text,
                                            joined_at=self.now))
        self.record(ticket, "merged", actor_openid=sender.openid, note=request.text[:500])
        ticket.updated_at = self.now
        return Outcome(True, "ticket.merged", {**self.ticket_fields(ticket),
                                               "handler": self.handler_title(ticket, handler_name)}, ticket)

    async def _attach_recent_media(self, ticket: Ticket, openid: str) -> None:
        since = self.now - timedelta(minutes=self.config.tickets.media_attach_window_min)
        for message_id, kind, payload in (await self.session.execute(
                _RECENT_MEDIA, {"openid": openid, "since": since})).all():
            self._attach(ticket, openid, message_id, kind, payload)

    def _attach(self, ticket: Ticket, openid: str, message_id: int, kind: str, payload: dict[str, Any]) -> None:
        """Attach inbound message `message_id` (an image or location from `openid`) to `ticket`."""
        keep = ("PicUrl", "MediaId", "Location_X", "Location_Y", "Scale", "Label")
        self.session.add(TicketAttachment(ticket_id=ticket.id, kind=kind, message_id=message_id,
                                          data={k: v for k, v in payload.items() if k in keep},
                                          created_at=self.now))
        self.record(ticket, "attached", actor_openid=openid, data={"kind": kind, "message_id": message_id})

    async def attach_media(self, sender: Sender, message_id: int) -> Outcome:
        """An image or location: onto the sender's recent open ticket, else kept for the next request."""
        since = self.now - timedelta(minutes=self.config.tickets.media_attach_window_min)
        ticket = await self.session.scalar(_LATEST_ACTIVE_OF, {"openid": sender.openid, "since": since})
        message = await self.session.get(InboundMessage, message_id)
        if ticket is None or message is None:
            return Outcome(False, "media.kept")
        self._attach(ticket, message.openid, message.id, message.msg_type, message.payload)
        if ticket.assignee_id is not None:
            person = await self.session.get(Person, ticket.assignee_id)
            if person is not None:
                self.notify_person(person, "notice", "notify.attachment", ticket, **self.ticket_fields(ticket),
                                    media=self.texts(f"media.{message.msg_type}"))
        return Outcome(True, "media.attached", self.ticket_fields(ticket), ticket)
