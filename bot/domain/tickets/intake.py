"""A resident's request becoming a ticket: where it is, whether it joins an
open ticket (并单), who gets it, and media attached to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

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
            compounds = (await self.session.execute(
                select(Compound.id, Compound.community_id).where(Compound.name.contains(request.place_name))
                .limit(2))).all()
            if len(compounds) == 1:
                return Location(None, None, compounds[0][0], compounds[0][1], request.location)
        return Location(label=request.location)

    async def _household_location(self, household_id: int) -> Location | None:
        return await cached(self.session, ("home", household_id), lambda: self._load_household_location(household_id))

    async def _load_household_location(self, household_id: int) -> Location | None:
        row = (await self.session.execute(
            select(Household.unit, Household.room, Building.id, Building.label, Compound.id, Compound.name,
                   Compound.community_id)
            .join(Building, Household.building_id == Building.id)
            .join(Compound, Building.compound_id == Compound.id).where(Household.id == household_id))).first()
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
                compound_name = await self.session.scalar(select(Compound.name).where(Compound.id == home_compound))
            match = await match_address(self.session, building=request.building, unit=request.unit,
                                        room=request.room, compound=compound_name)
            if match.household is not None:
                return await self._household_location(match.household.id)
        query = select(Building.id, Compound.id, Compound.community_id, Compound.name).join(
            Compound, Building.compound_id == Compound.id).where(Building.number == request.building)
        if request.place_name:
            query = query.where(Compound.name.contains(request.place_name))
        elif home_compound is not None:
            query = query.where(Compound.id == home_compound)
        rows = (await self.session.execute(query.limit(2))).all()
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
        recent = await tickets_in_last_hour(self.session, sender.openid, self.now)
        if recent >= self.config.security.tickets_per_hour and not request.urgent:
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

    async def _merge_target(self, sender: Sender, request: Request, location: Location) -> Ticket | None:
        cfg = self.config.tickets
        if cfg.merge_window_h <= 0 or request.urgent or request.category == "other":
            return None
        if location.building_id is None and location.compound_id is None:
            return None
        query = select(Ticket.id, Ticket.text, Ticket.matched, Ticket.merge_tokens).where(
            Ticket.category == request.category, Ticket.state.in_(ACTIVE),
            Ticket.created_at >= self.now - timedelta(hours=cfg.merge_window_h), Ticket.openid != sender.openid)
        query = query.where(Ticket.building_id == location.building_id) if location.building_id is not None \
            else query.where(Ticket.compound_id == location.compound_id)
        mine: Sequence[str] | None = None
        best: tuple[float, int] | None = None
        for ticket_id, text, matched, words in (await self.session.execute(
                query.order_by(Ticket.id.desc()).limit(20))).all():
            mine = mine if mine is not None else (request.tokens or self.tokens(request.text))
            theirs = words.split() if words is not None else self.tokens(text)  # older rows: segment once more
            score = max(similarity(mine, theirs), similarity(request.matched, matched.split()))
            if score >= cfg.merge_similarity and (best is None or score > best[0]):
                best = (score, ticket_id)
        return await self.session.get(Ticket, best[1]) if best else None

    async def _join(self, ticket: Ticket, sender: Sender, request: Request) -> Outcome:
        exists = await self.session.get(TicketFollower, (ticket.id, sender.openid))
        if exists is None:
            self.session.add(TicketFollower(ticket_id=ticket.id, openid=sender.openid, text=request.text,
                                            joined_at=self.now))
        self.record(ticket, "merged", actor_openid=sender.openid, note=request.text[:500])
        ticket.updated_at = self.now
        return Outcome(True, "ticket.merged", {**self.ticket_fields(ticket),
                                               "handler": await self.handler_label(ticket)}, ticket)

    async def _attach_recent_media(self, ticket: Ticket, openid: str) -> None:
        since = self.now - timedelta(minutes=self.config.tickets.media_attach_window_min)
        attached = select(TicketAttachment.message_id).where(TicketAttachment.message_id.is_not(None))
        media = (await self.session.scalars(
            select(InboundMessage).where(InboundMessage.openid == openid, InboundMessage.received_at >= since,
                                         InboundMessage.msg_type.in_(("image", "location")),
                                         InboundMessage.id.not_in(attached)))).all()
        for message in media:
            self._attach(ticket, message)

    def _attach(self, ticket: Ticket, message: InboundMessage) -> None:
        keep = ("PicUrl", "MediaId", "Location_X", "Location_Y", "Scale", "Label")
        self.session.add(TicketAttachment(ticket_id=ticket.id, kind=message.msg_type, message_id=message.id,
                                          data={k: v for k, v in message.payload.items() if k in keep},
                                          created_at=self.now))
        self.record(ticket, "attached", actor_openid=message.openid, data={"kind": message.msg_type,
                                                                            "message_id": message.id})

    async def attach_media(self, sender: Sender, message_id: int) -> Outcome:
        """An image or location: onto the sender's recent open ticket, else kept for the next request."""
        since = self.now - timedelta(minutes=self.config.tickets.media_attach_window_min)
        ticket = await self.session.scalar(
            select(Ticket).where(Ticket.openid == sender.openid, Ticket.state.in_(ACTIVE), Ticket.created_at >= since)
            .order_by(Ticket.id.desc()).limit(1))
        message = await self.session.get(InboundMessage, message_id)
        if ticket is None or message is None:
            return Outcome(False, "media.kept")
        self._attach(ticket, message)
        if ticket.assignee_id is not None:
            person = await self.session.get(Person, ticket.assignee_id)
            if person is not None:
                self.notify_person(person, "notice", "notify.attachment", ticket, **self.ticket_fields(ticket),
                                    media=self.texts(f"media.{message.msg_type}"))
        return Outcome(True, "media.attached", self.ticket_fields(ticket), ticket)
