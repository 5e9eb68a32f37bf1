"""What staff do: close, reassign, re-categorise (a correction the router
learns from), and the triage queue."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select

from bot.domain import assignment
from bot.domain.assignment import STAFF, Choice
from bot.domain.tickets.policy import DeskPolicy
from bot.domain.tickets.states import ACTIVE, CLOSED, OPEN, RESOLVED, Outcome
from bot.models import (
    Building,
    CategoryCorrection,
    Compound,
    Person,
    Ticket,
)


class StaffDesk(DeskPolicy):
    """Staff actions."""

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
        if target.id == ticket.assignee_id:
            return Outcome(False, "reassign.already", {**self.ticket_fields(ticket), "name": target.name}, ticket)
        if not assignment.available(target):
            return Outcome(False, "reassign.unavailable", {**self.ticket_fields(ticket), "name": target.name},
                           ticket)
        previous = await self.session.get(Person, ticket.assignee_id) if ticket.assignee_id else None
        level = await self._role_for(target, ticket)
        await self._assign(ticket, Choice(level, target), action="reassigned", actor=person,
                           note=f"→ {target.name}")
        if previous is not None and previous.id != target.id:
            self.notify_person(previous, "notice", "notify.reassigned_away", ticket, **self.ticket_fields(ticket))
        return Outcome(True, "reassign.done", {**self.ticket_fields(ticket), "name": target.name}, ticket)

    async def _role_for(self, person: Person, ticket: Ticket) -> str:
        """The level `person` handles `ticket` at: their place on its chain, else
        the highest role they hold in the roster (staff, secretary, head, member)."""
        if person.staff_community_id is not None:
            return STAFF
        chain = await self.chain_for(ticket)
        for level in ("member", "building_head", "branch_secretary"):
            held = chain.person_at(level)
            if held is not None and held.id == person.id:
                return level
        if await self.session.scalar(select(Compound.id).where(Compound.secretary_id == person.id).limit(1)):
            return "branch_secretary"
        if await self.session.scalar(select(Building.id).where(Building.head_id == person.id).limit(1)):
            return "building_head"
        return "member"

    async def people_named(self, name: str, community_id: int | None) -> list[Person]:
        """People of a community with this name (members, heads, secretaries, staff)."""
        people = (await self.session.scalars(select(Person).where(Person.name == name))).all()
        if community_id is None:
            return list(people)
        return [p for p in people if await self._in_community(p, community_id)]


    async def recategorise(self, person: Person, number: int | None, category: str,
                           known: Sequence[str]) -> Outcome:
        found = await self.staff_ticket(person, number)
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        names = "、".join(self.category_name(code) for code in known)
        if not category:
            return Outcome(False, "recategorise.need", {**self.ticket_fields(ticket), "known": names}, ticket)
        if category not in known:
            return Outcome(False, "recategorise.unknown", {**self.ticket_fields(ticket), "given": category,
                                                           "known": names}, ticket)
        if category == ticket.category:
            return Outcome(False, "recategorise.same", self.ticket_fields(ticket), ticket)
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
