"""Tickets and their life cycle (design.md §3-4): the one place that says who
may do what to a ticket, and what each change records and tells whom.

States: open → assigned → accepted → resolved → closed; cancelled by the
resident; reopened goes back to assigned. Every change is one TicketEvent
(who, when, from, to, note) and the notifications it causes are written to
the outbox in the same transaction. A refused action changes nothing and
says why (a text key for the reply).

Transitions are conditional UPDATEs on the current state, so two people
acting on one ticket at the same moment cannot both win.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.delivery.outbox import enqueue
from bot.domain import assignment
from bot.domain.assignment import STAFF, Chain, Choice
from bot.domain.identity import Sender, match_address
from bot.domain.roster import format_address
from bot.models import (
    Building,
    CategoryCorrection,
    Compound,
    Household,
    InboundMessage,
    Person,
    Ticket,
    TicketAttachment,
    TicketEvent,
    TicketFollower,
)
from bot.texts import Texts

OPEN, ASSIGNED, ACCEPTED, RESOLVED, CLOSED, CANCELLED = (
    "open", "assigned", "accepted", "resolved", "closed", "cancelled")
ACTIVE = (OPEN, ASSIGNED, ACCEPTED)
LEVEL_TITLE_KEY = {"member": "role.member", "building_head": "role.building_head",
                   "branch_secretary": "role.branch_secretary", "staff": "role.staff"}


@dataclass
class Outcome:
    """The result of an action: ok or refused, the reply text key and its fields."""

    ok: bool
    key: str
    fields: dict[str, Any] = field(default_factory=dict)
    ticket: Ticket | None = None


@dataclass(frozen=True)
class Location:
    household_id: int | None = None
    building_id: int | None = None
    compound_id: int | None = None
    community_id: int | None = None
    label: str = ""  # the household's full address when known, else the place as written


@dataclass(frozen=True)
class Request:
    """What the router read from a resident's request."""

    text: str
    category: str
    kind: str
    urgent: bool
    confidence: float
    matched: Sequence[str] = ()
    location: str = ""
    building: int | None = None
    unit: int | None = None
    room: str | None = None
    place_name: str | None = None
    tokens: Sequence[str] = ()


def surname(name: str) -> str:
    compound_surnames = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "令狐", "慕容", "尉迟", "公孙")
    return name[:2] if name[:2] in compound_surnames else name[:1]


def similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """Jaccard overlap of two word lists (the jieba tokens, or the keywords the
    router matched); punctuation and one-character tokens are ignored."""
    sa = {t for t in a if len(t) > 1}
    sb = {t for t in b if len(t) > 1}
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)


class TicketDesk:
    """The ticket rules, bound to one transaction and one moment."""

    def __init__(self, session: AsyncSession, config: Config, texts: Texts, now: datetime,
                 category_name: Callable[[str], str], tokens: Callable[[str], list[str]] | None = None) -> None:
        self.session = session
        self.config = config
        self.texts = texts
        self.now = now
        self.category_name = category_name
        self.tokens = tokens or (lambda text: list(text))

    # ---------------------------------------------------------------- helpers

    def record(self, ticket: Ticket, action: str, *, actor_openid: str | None = None,
               actor_person: Person | None = None, from_state: str | None = None, to_state: str | None = None,
               note: str = "", data: dict[str, Any] | None = None) -> None:
        self.session.add(TicketEvent(
            ticket_id=ticket.id, at=self.now, action=action, actor_openid=actor_openid,
            actor_person_id=actor_person.id if actor_person else None, from_state=from_state, to_state=to_state,
            note=note, data=data or {}))

    async def transition(self, ticket: Ticket, to_state: str, from_states: Sequence[str],
                          **values: Any) -> bool:
        """Move `ticket` to `to_state` if it is still in one of `from_states`."""
        result = await self.session.execute(
            update(Ticket).where(Ticket.id == ticket.id, Ticket.state.in_(from_states))
            .values(state=to_state, updated_at=self.now, **values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            await self.session.refresh(ticket)
            return False
        await self.session.refresh(ticket)
        return True

    def notify_person(self, person: Person, kind: str, key: str, ticket: Ticket | None, **fields: Any) -> None:
        enqueue(self.session, kind=kind, text=self.texts(key, **fields), now=self.now, person_id=person.id,
                ticket_id=ticket.id if ticket else None)

    async def notify_residents(self, ticket: Ticket, kind: str, key: str, **fields: Any) -> None:
        text = self.texts(key, **self.ticket_fields(ticket), **fields)
        followers = (await self.session.scalars(
            select(TicketFollower.openid).where(TicketFollower.ticket_id == ticket.id))).all()
        for openid in dict.fromkeys([ticket.openid, *followers]):
            enqueue(self.session, kind=kind, text=text, now=self.now, openid=openid, ticket_id=ticket.id)

    async def notify_staff(self, ticket: Ticket, kind: str, key: str, staff: Sequence[Person] | None = None,
                           **fields: Any) -> list[Person]:
        if staff is None:
            chain = await assignment.load_chain(self.session, household_id=None, building_id=None,
                                                compound_id=None, community_id=ticket.community_id)
            staff = chain.staff
        on_duty = [p for p in staff if assignment.available(p)]
        dispatchers = self.config.tickets.unplaced_staff_phones
        if ticket.community_id is None and dispatchers:
            on_duty = [p for p in on_duty if p.phone in dispatchers]
        for person in on_duty:
            self.notify_person(person, kind, key, ticket, **self.ticket_fields(ticket), **fields)
        return on_duty

    def ticket_fields(self, ticket: Ticket) -> dict[str, Any]:
        excerpt = ticket.text if len(ticket.text) <= 40 else ticket.text[:40] + "…"
        return {"no": ticket.id, "category": self.category_name(ticket.category), "text": excerpt,
                "place": ticket.location or self.texts("ticket.no_place"),
                "urgent_mark": self.texts("ticket.urgent_mark") if ticket.urgent else "",
                "state": self.texts(f"state.{ticket.state}")}

    async def handler_label(self, ticket: Ticket) -> str:
        """Who handles the ticket, as the resident reads it: role and surname."""
        if ticket.assignee_id is None:
            return self.texts("role.staff")
        person = await self.session.get(Person, ticket.assignee_id)
        if person is None:
            return self.texts("role.staff")
        title = self.texts(LEVEL_TITLE_KEY.get(ticket.level, "role.member"))
        if ticket.level == STAFF:
            return title
        return self.texts("role.person", title=title, surname=surname(person.name))

    async def chain_for(self, ticket: Ticket) -> Chain:
        return await assignment.load_chain(self.session, household_id=ticket.household_id,
                                           building_id=ticket.building_id, compound_id=ticket.compound_id,
                                           community_id=ticket.community_id)

    def _due(self, category: str, urgent: bool, start: datetime) -> tuple[datetime, datetime]:
        from bot.domain.deadlines import calendar_from_config, due_times

        return due_times(self.config.tickets.deadlines, calendar_from_config(self.config.tickets),
                         category=category, urgent=urgent, start=start)

    def _place(self, ticket: Ticket, choice: Choice) -> None:
        """Put `ticket` on `choice`: a person, or the triage queue (person None)."""
        ticket.updated_at = self.now
        if choice.person is not None:
            ticket.state, ticket.assignee_id, ticket.level = ASSIGNED, choice.person.id, choice.level
            ticket.assigned_at, ticket.reminded_at = self.now, None
            ticket.accept_due_at, _ = self._due(ticket.category, ticket.urgent, self.now)
        else:
            ticket.state, ticket.assignee_id, ticket.level = OPEN, None, STAFF

    async def _announce(self, ticket: Ticket, choice: Choice, from_state: str | None, *, action: str,
                        actor: Person | None = None, note: str = "", notify_key: str = "notify.new_ticket",
                        staff: Sequence[Person] | None = None) -> None:
        """Record the placement on the timeline and tell whoever now has the ticket."""
        if choice.person is not None:
            self.record(ticket, action, actor_person=actor, from_state=from_state, to_state=ASSIGNED, note=note,
                        data={"assignee": choice.person.id, "level": choice.level})
            self.notify_person(choice.person, "new_ticket", notify_key, ticket, **self.ticket_fields(ticket),
                               note=note)
        else:
            self.record(ticket, "triaged" if action == "assigned" else action, actor_person=actor,
                        from_state=from_state, to_state=OPEN, note=note, data={"level": STAFF})
            await self.notify_staff(ticket, "triage", "notify.triage", staff, note=note)

    async def _assign(self, ticket: Ticket, choice: Choice, *, action: str, actor: Person | None = None,
                      note: str = "", notify_key: str = "notify.new_ticket") -> None:
        """Move `ticket` to `choice` and tell them."""
        from_state = ticket.state
        self._place(ticket, choice)
        await self._announce(ticket, choice, from_state, action=action, actor=actor, note=note,
                             notify_key=notify_key)

    # ------------------------------------------------------------- residents

    async def locate(self, sender: Sender, request: Request) -> Location:
        """Where a request is: the bound household, else the place named in the text."""
        household_id = sender.resident.household_id
        if household_id is None and request.building is not None and request.room:
            match = await match_address(self.session, building=request.building, unit=request.unit,
                                        room=request.room, compound=request.place_name)
            household_id = match.household.id if match.household else None
        if household_id is not None:
            row = (await self.session.execute(
                select(Household.unit, Household.room, Building.id, Building.label, Compound.id, Compound.name,
                       Compound.community_id)
                .join(Building, Household.building_id == Building.id)
                .join(Compound, Building.compound_id == Compound.id).where(Household.id == household_id))).first()
            if row is not None:
                unit, room, building_id, label, compound_id, compound_name, community_id = row
                return Location(household_id, building_id, compound_id, community_id,
                                format_address(compound_name, label, unit, room))
        if request.building is not None:
            query = select(Building.id, Compound.id, Compound.community_id).join(
                Compound, Building.compound_id == Compound.id).where(Building.number == request.building)
            if request.place_name:
                query = query.where(Compound.name.contains(request.place_name))
            rows = (await self.session.execute(query.limit(2))).all()
            if len(rows) == 1:
                building_id, compound_id, community_id = rows[0]
                return Location(None, building_id, compound_id, community_id, request.location)
        if request.place_name:
            compounds = (await self.session.execute(
                select(Compound.id, Compound.community_id).where(Compound.name.contains(request.place_name))
                .limit(2))).all()
            if len(compounds) == 1:
                return Location(None, None, compounds[0][0], compounds[0][1], request.location)
        return Location(label=request.location)

    async def open_request(self, sender: Sender, request: Request, *, source_message_id: int | None = None
                           ) -> Outcome:
        """A resident's request becomes a ticket (or joins a matching open one)."""
        location = await self.locate(sender, request)
        merged = await self._merge_target(sender, request, location)
        if merged is not None:
            return await self._join(merged, sender, request)
        chain = await assignment.load_chain(self.session, household_id=location.household_id,
                                            building_id=location.building_id, compound_id=location.compound_id,
                                            community_id=location.community_id)
        choice = assignment.choose(chain, assignment.first_level(request.category,
                                                                 self.config.tickets.category_first_level))
        ticket = Ticket(
            openid=sender.openid, text=request.text, category=request.category, kind=request.kind,
            urgent=request.urgent, confidence=request.confidence, matched=" ".join(request.matched),
            location=location.label, household_id=location.household_id, building_id=location.building_id,
            compound_id=location.compound_id, community_id=location.community_id, created_at=self.now,
            source_message_id=source_message_id,
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
        handler = await self.handler_label(ticket)
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
        query = select(Ticket).where(
            Ticket.category == request.category, Ticket.state.in_(ACTIVE),
            Ticket.created_at >= self.now - timedelta(hours=cfg.merge_window_h), Ticket.openid != sender.openid)
        query = query.where(Ticket.building_id == location.building_id) if location.building_id is not None \
            else query.where(Ticket.compound_id == location.compound_id)
        mine: Sequence[str] | None = None
        best: tuple[float, Ticket] | None = None
        for candidate in (await self.session.scalars(query.order_by(Ticket.id.desc()).limit(20))).all():
            mine = mine if mine is not None else (request.tokens or self.tokens(request.text))
            score = max(similarity(mine, self.tokens(candidate.text)),
                        similarity(request.matched, candidate.matched.split()))
            if score >= cfg.merge_similarity and (best is None or score > best[0]):
                best = (score, candidate)
        return best[1] if best else None

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

    async def resident_ticket(self, sender: Sender, number: int | None, states: Sequence[str]) -> Outcome:
        """The resident's ticket `number`, or their latest in `states` when no number is given."""
        if number is not None:
            ticket = await self.session.get(Ticket, number)
            if ticket is None:
                return Outcome(False, "ticket.not_found", {"no": number})
            if ticket.openid != sender.openid:
                follower = await self.session.get(TicketFollower, (ticket.id, sender.openid))
                if follower is None:
                    return Outcome(False, "ticket.not_yours", {"no": number})
            return Outcome(True, "", self.ticket_fields(ticket), ticket)
        ticket = await self.session.scalar(
            select(Ticket).where(Ticket.openid == sender.openid, Ticket.state.in_(states))
            .order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(1))
        if ticket is None:
            return Outcome(False, "ticket.none_waiting")
        return Outcome(True, "", self.ticket_fields(ticket), ticket)

    async def last_event(self, ticket: Ticket) -> TicketEvent | None:
        return await self.session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                                         .order_by(TicketEvent.id.desc()).limit(1))

    async def my_tickets(self, sender: Sender, limit: int = 5) -> list[Ticket]:
        followed = select(TicketFollower.ticket_id).where(TicketFollower.openid == sender.openid)
        return list((await self.session.scalars(
            select(Ticket).where(or_(Ticket.openid == sender.openid, Ticket.id.in_(followed)))
            .order_by(Ticket.id.desc()).limit(limit))).all())

    async def urge(self, sender: Sender, number: int | None) -> Outcome:
        found = await self.resident_ticket(sender, number, ACTIVE)
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        if ticket.state not in ACTIVE:
            return Outcome(False, "urge.not_open", self.ticket_fields(ticket), ticket)
        ticket.urge_count += 1
        ticket.updated_at = self.now
        self.record(ticket, "urged", actor_openid=sender.openid, data={"count": ticket.urge_count})
        if ticket.urge_count >= self.config.tickets.urge_escalate_after and ticket.level != STAFF:
            await self.escalate(ticket, reason=self.texts("escalate.reason_urged", count=ticket.urge_count))
            return Outcome(True, "urge.escalated", {**self.ticket_fields(ticket),
                                                    "handler": await self.handler_label(ticket)}, ticket)
        if ticket.assignee_id is not None:
            person = await self.session.get(Person, ticket.assignee_id)
            if person is not None:
                self.notify_person(person, "reminder", "notify.urged", ticket, **self.ticket_fields(ticket),
                                    count=ticket.urge_count)
        else:
            await self.notify_staff(ticket, "reminder", "notify.urged", count=ticket.urge_count)
        return Outcome(True, "urge.done", {**self.ticket_fields(ticket),
                                           "handler": await self.handler_label(ticket)}, ticket)

    async def cancel(self, sender: Sender, number: int | None) -> Outcome:
        found = await self.resident_ticket(sender, number, ACTIVE)
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        if ticket.openid != sender.openid:
            return Outcome(False, "ticket.not_yours", {"no": ticket.id})
        before = ticket.state
        if not await self.transition(ticket, CANCELLED, ACTIVE, closed_at=self.now):
            return Outcome(False, "cancel.too_late", self.ticket_fields(ticket), ticket)
        self.record(ticket, "cancelled", actor_openid=sender.openid, from_state=before, to_state=CANCELLED)
        if ticket.assignee_id is not None:
            person = await self.session.get(Person, ticket.assignee_id)
            if person is not None:
                self.notify_person(person, "notice", "notify.cancelled", ticket, **self.ticket_fields(ticket))
        return Outcome(True, "cancel.done", self.ticket_fields(ticket), ticket)

    async def awaiting_rating(self, sender: Sender) -> Ticket | None:
        """The sender's latest ticket waiting for their verdict: resolved, or closed and not yet rated."""
        return await self.session.scalar(
            select(Ticket).where(Ticket.openid == sender.openid, or_(
                Ticket.state == RESOLVED, (Ticket.state == CLOSED) & Ticket.rating.is_(None) & (
                    Ticket.resolved_at.is_not(None))))
            .order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(1))

    async def rate(self, sender: Sender, number: int | None, rating: int | None, words: str = "",
                   solved: bool | None = None) -> Outcome:
        """回访: the resident's rating (1-5) and whether it was solved; 不满意 (1-2) or
        未解决 reopens a resolved ticket to the same assignee."""
        if number is None:
            ticket = await self.awaiting_rating(sender)
            if ticket is None:
                return Outcome(False, "rate.nothing")
        else:
            found = await self.resident_ticket(sender, number, (RESOLVED,))
            if not found.ok or found.ticket is None:
                return found
            ticket = found.ticket
        if ticket.state not in (RESOLVED, CLOSED):
            return Outcome(False, "rate.not_resolved", self.ticket_fields(ticket), ticket)
        if ticket.state == RESOLVED and (solved is False or (rating is not None and rating <= 2)):
            return await self.reopen(ticket, sender, rating, words)
        if rating is None:
            return Outcome(False, "rate.ask", self.ticket_fields(ticket), ticket)
        ticket.rating, ticket.solved, ticket.updated_at = rating, solved is not False, self.now
        self.record(ticket, "rated", actor_openid=sender.openid, note=words, data={"rating": rating})
        if ticket.assignee_id is not None:
            person = await self.session.get(Person, ticket.assignee_id)
            if person is not None:
                self.notify_person(person, "notice", "notify.rated", ticket, **self.ticket_fields(ticket),
                                   rating=rating)
        return Outcome(True, "rate.thanks", {**self.ticket_fields(ticket), "rating": rating}, ticket)

    async def reopen(self, ticket: Ticket, sender: Sender, rating: int | None, words: str) -> Outcome:
        """不满意 / 未解决: back to the same assignee with the resident's words."""
        if not await self.transition(ticket, ASSIGNED if ticket.assignee_id else OPEN, (RESOLVED,),
                                      rating=rating, solved=False, resolved_at=None, reopens=Ticket.reopens + 1,
                                      accepted_at=None, reminded_at=None):
            return Outcome(False, "rate.not_resolved", self.ticket_fields(ticket), ticket)
        ticket.accept_due_at, ticket.resolve_due_at = self._due(ticket.category, ticket.urgent, self.now)
        self.record(ticket, "reopened", actor_openid=sender.openid, from_state=RESOLVED, to_state=ticket.state,
                    note=words, data={"rating": rating})
        if ticket.assignee_id is not None:
            person = await self.session.get(Person, ticket.assignee_id)
            if person is not None:
                self.notify_person(person, "reopened", "notify.reopened", ticket, **self.ticket_fields(ticket),
                                    words=words or self.texts("rate.unsatisfied_default"))
        else:
            await self.notify_staff(ticket, "reopened", "notify.reopened",
                                     words=words or self.texts("rate.unsatisfied_default"))
        return Outcome(True, "rate.reopened", {**self.ticket_fields(ticket),
                                               "handler": await self.handler_label(ticket)}, ticket)

    # ------------------------------------------------------------ volunteers

    async def person_ticket(self, person: Person, number: int | None, states: Sequence[str]) -> Outcome:
        """The volunteer's ticket `number`, or their only one in `states`."""
        if number is not None:
            ticket = await self.session.get(Ticket, number)
            if ticket is None:
                return Outcome(False, "ticket.not_found", {"no": number})
            return Outcome(True, "", self.ticket_fields(ticket), ticket)
        waiting = (await self.session.scalars(
            select(Ticket).where(Ticket.assignee_id == person.id, Ticket.state.in_(states))
            .order_by(Ticket.id).limit(6))).all()
        if not waiting:
            return Outcome(False, "ticket.none_waiting")
        if len(waiting) > 1:
            return Outcome(False, "ticket.which", {"numbers": "、".join(f"#{t.id}" for t in waiting)})
        return Outcome(True, "", self.ticket_fields(waiting[0]), waiting[0])

    def _may_act(self, person: Person, ticket: Ticket) -> bool:
        return ticket.assignee_id == person.id or self._staff_of(person, ticket)

    @staticmethod
    def _staff_of(person: Person, ticket: Ticket) -> bool:
        return person.staff_community_id is not None and (
            ticket.community_id is None or ticket.community_id == person.staff_community_id)

    async def _urgent_notified(self, person: Person, ticket: Ticket) -> bool:
        if not ticket.urgent:
            return False
        events = (await self.session.scalars(select(TicketEvent.data).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.action == "urgent_fan_out"))).all()
        return any(person.id in (data or {}).get("notified", []) for data in events)

    async def accept(self, person: Person, number: int | None) -> Outcome:
        found = await self.person_ticket(person, number, (ASSIGNED,))
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        fields = self.ticket_fields(ticket)
        if ticket.state == ACCEPTED and ticket.assignee_id == person.id:
            return Outcome(False, "accept.already_yours", fields, ticket)
        allowed = ticket.assignee_id == person.id or self._staff_of(person, ticket) or \
            await self._urgent_notified(person, ticket)
        if not allowed:
            return Outcome(False, "refused.not_assigned", fields, ticket)
        if ticket.state not in (OPEN, ASSIGNED):
            if ticket.state == ACCEPTED and ticket.assignee_id is not None:
                winner = await self.session.get(Person, ticket.assignee_id)
                return Outcome(False, "accept.taken", {**fields, "name": winner.name if winner else ""}, ticket)
            return Outcome(False, "refused.state", fields, ticket)
        before = ticket.state
        level = ticket.level if ticket.assignee_id == person.id else self._level_of(person, ticket)
        if not await self.transition(ticket, ACCEPTED, (OPEN, ASSIGNED), assignee_id=person.id,
                                      accepted_at=self.now, level=level):
            winner = await self.session.get(Person, ticket.assignee_id) if ticket.assignee_id else None
            return Outcome(False, "accept.taken", {**self.ticket_fields(ticket),
                                                   "name": winner.name if winner else ""}, ticket)
        _, ticket.resolve_due_at = self._due(ticket.category, ticket.urgent, self.now)
        self.record(ticket, "accepted", actor_person=person, from_state=before, to_state=ACCEPTED)
        await self.notify_residents(ticket, "progress", "notify.resident_accepted",
                                     handler=await self.handler_label(ticket))
        return Outcome(True, "accept.done", self.ticket_fields(ticket), ticket)

    def _level_of(self, person: Person, ticket: Ticket) -> str:
        return STAFF if self._staff_of(person, ticket) else ticket.level

    async def _in_hand(self, person: Person, number: int | None) -> Outcome:
        """The ticket `person` is working on (number, or their only one), if they may act on it."""
        found = await self.person_ticket(person, number, (ASSIGNED, ACCEPTED))
        if found.ok and found.ticket is not None and not self._may_act(person, found.ticket):
            return Outcome(False, "refused.not_assigned", self.ticket_fields(found.ticket), found.ticket)
        return found

    async def progress(self, person: Person, number: int | None, note: str) -> Outcome:
        found = await self._in_hand(person, number)
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        if ticket.state not in (ASSIGNED, ACCEPTED):
            return Outcome(False, "refused.state", self.ticket_fields(ticket), ticket)
        if not note.strip():
            return Outcome(False, "progress.need_note", self.ticket_fields(ticket), ticket)
        if ticket.state == ASSIGNED:
            accepted = await self.accept(person, ticket.id)
            if not accepted.ok:
                return accepted
        self.record(ticket, "progress", actor_person=person, note=note)
        ticket.updated_at = self.now
        await self.notify_residents(ticket, "progress", "notify.resident_progress", note=note)
        return Outcome(True, "progress.done", {**self.ticket_fields(ticket), "note": note}, ticket)

    async def resolve(self, person: Person, number: int | None, note: str) -> Outcome:
        found = await self._in_hand(person, number)
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        before = ticket.state
        if not await self.transition(ticket, RESOLVED, (ASSIGNED, ACCEPTED), resolved_at=self.now,
                                      accepted_at=ticket.accepted_at or self.now):
            return Outcome(False, "refused.state", self.ticket_fields(ticket), ticket)
        self.record(ticket, "resolved", actor_person=person, from_state=before, to_state=RESOLVED, note=note)
        await self.notify_residents(ticket, "resolved", "notify.resident_resolved",
                                     note=note or self.texts("resolve.default_note"))
        return Outcome(True, "resolve.done", self.ticket_fields(ticket), ticket)

    async def hand_back(self, person: Person, number: int | None, reason: str) -> Outcome:
        found = await self.person_ticket(person, number, (ASSIGNED, ACCEPTED))
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        if ticket.assignee_id != person.id:
            return Outcome(False, "refused.not_assigned", self.ticket_fields(ticket), ticket)
        if ticket.state not in (ASSIGNED, ACCEPTED):
            return Outcome(False, "refused.state", self.ticket_fields(ticket), ticket)
        chain = await self.chain_for(ticket)
        choice = assignment.next_level(chain, ticket.level)
        if choice.person is not None and choice.person.id == person.id:
            choice = assignment.next_level(chain, choice.level)
        ticket.handbacks += 1
        await self._assign(ticket, choice, action="handed_back", actor=person, note=reason,
                           notify_key="notify.handed_back")
        return Outcome(True, "handback.done", {**self.ticket_fields(ticket),
                                               "handler": await self.handler_label(ticket)}, ticket)

    async def todo(self, person: Person) -> list[Ticket]:
        return list((await self.session.scalars(
            select(Ticket).where(Ticket.assignee_id == person.id, Ticket.state.in_((ASSIGNED, ACCEPTED)))
            .order_by(Ticket.urgent.desc(), Ticket.accept_due_at, Ticket.id).limit(10))).all())

    async def set_leave(self, person: Person, on_leave: bool) -> Outcome:
        person.on_leave = on_leave
        pending = len(await self.todo(person))
        return Outcome(True, "leave.on" if on_leave else "leave.off", {"pending": pending})

    # ----------------------------------------------------------------- staff

    async def staff_ticket(self, person: Person, number: int | None) -> Outcome:
        if person.staff_community_id is None:
            return Outcome(False, "refused.not_staff")
        if number is None:
            return Outcome(False, "ticket.need_number")
        ticket = await self.session.get(Ticket, number)
        if ticket is None:
            return Outcome(False, "ticket.not_found", {"no": number})
        if not self._staff_of(person, ticket):
            return Outcome(False, "refused.other_community", self.ticket_fields(ticket), ticket)
        return Outcome(True, "", self.ticket_fields(ticket), ticket)

    async def close(self, person: Person, number: int | None, note: str) -> Outcome:
        found = await self.staff_ticket(person, number)
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        before = ticket.state
        if not await self.transition(ticket, CLOSED, (*ACTIVE, RESOLVED), closed_at=self.now):
            return Outcome(False, "refused.state", self.ticket_fields(ticket), ticket)
        self.record(ticket, "closed", actor_person=person, from_state=before, to_state=CLOSED, note=note)
        await self.notify_residents(ticket, "closed", "notify.resident_closed",
                                     note=note or self.texts("close.default_note"))
        return Outcome(True, "close.done", self.ticket_fields(ticket), ticket)

    async def reassign(self, person: Person, number: int | None, name: str) -> Outcome:
        found = await self.staff_ticket(person, number)
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        if ticket.state not in ACTIVE:
            return Outcome(False, "refused.state", self.ticket_fields(ticket), ticket)
        candidates = await self.people_named(name.strip(), person.staff_community_id)
        if not candidates:
            return Outcome(False, "reassign.no_one", {**self.ticket_fields(ticket), "name": name}, ticket)
        if len(candidates) > 1:
            return Outcome(False, "reassign.ambiguous", {**self.ticket_fields(ticket), "name": name,
                                                         "count": len(candidates)}, ticket)
        target = candidates[0]
        if not assignment.available(target):
            return Outcome(False, "reassign.unavailable", {**self.ticket_fields(ticket), "name": target.name},
                           ticket)
        previous = await self.session.get(Person, ticket.assignee_id) if ticket.assignee_id else None
        level = STAFF if target.staff_community_id is not None else ticket.level if ticket.level != STAFF \
            else "member"
        await self._assign(ticket, Choice(level, target), action="reassigned", actor=person,
                           note=f"→ {target.name}")
        if previous is not None and previous.id != target.id:
            self.notify_person(previous, "notice", "notify.reassigned_away", ticket, **self.ticket_fields(ticket))
        return Outcome(True, "reassign.done", {**self.ticket_fields(ticket), "name": target.name}, ticket)

    async def people_named(self, name: str, community_id: int | None) -> list[Person]:
        """People of a community with this name (members, heads, secretaries, staff)."""
        people = (await self.session.scalars(select(Person).where(Person.name == name))).all()
        if community_id is None:
            return list(people)
        return [p for p in people if await self._in_community(p, community_id)]

    async def _in_community(self, person: Person, community_id: int) -> bool:
        if person.staff_community_id == community_id:
            return True
        linked = select(func.count()).select_from(Household).join(Building).join(Compound).where(
            Compound.community_id == community_id,
            or_(Household.member_id == person.id, Building.head_id == person.id,
                Compound.secretary_id == person.id))
        return bool(await self.session.scalar(linked))

    async def recategorise(self, person: Person, number: int | None, category: str,
                           known: Sequence[str]) -> Outcome:
        found = await self.staff_ticket(person, number)
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        if category not in known:
            return Outcome(False, "recategorise.unknown", {**self.ticket_fields(ticket), "given": category,
                                                           "known": "、".join(known)}, ticket)
        old = ticket.category
        ticket.category, ticket.updated_at = category, self.now
        self.session.add(CategoryCorrection(ticket_id=ticket.id, text=ticket.text, old_category=old,
                                            new_category=category, person_id=person.id, at=self.now))
        self.record(ticket, "recategorised", actor_person=person, note=f"{old} → {category}",
                    data={"from": old, "to": category})
        return Outcome(True, "recategorise.done", {**self.ticket_fields(ticket),
                                                   "old": self.category_name(old)}, ticket)

    async def triage_queue(self, person: Person) -> list[Ticket]:
        query = select(Ticket).where(Ticket.state == OPEN)
        if person.staff_community_id is not None:
            query = query.where(or_(Ticket.community_id == person.staff_community_id,
                                    Ticket.community_id.is_(None)))
        return list((await self.session.scalars(  # urgent first, then the most overdue
            query.order_by(Ticket.urgent.desc(), Ticket.accept_due_at, Ticket.id).limit(10))).all())

    # ------------------------------------------------------- the clock (吹哨)

    async def escalate(self, ticket: Ticket, reason: str) -> None:
        """Climb one level up the chain (吹哨) and tell the new handler."""
        chain = await self.chain_for(ticket)
        choice = assignment.next_level(chain, ticket.level)
        if ticket.assignee_id is not None and choice.person is not None and choice.person.id == ticket.assignee_id:
            choice = assignment.next_level(chain, choice.level)
        ticket.escalations += 1
        if choice.person is None and ticket.level == STAFF:
            self.record(ticket, "escalated", note=reason, data={"level": STAFF})
            await self.notify_staff(ticket, "escalation", "notify.escalated_staff", reason=reason)
            return
        await self._assign(ticket, choice, action="escalated", note=reason, notify_key="notify.escalated")
