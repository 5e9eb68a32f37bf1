"""What staff do: close, reassign, re-categorise (a correction the router
learns from), and the triage queue."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select

from bot.db import insert_ignore
from bot.domain import assignment
from bot.domain.assignment import STAFF, Choice
from bot.domain.console_access import is_wide_staff
from bot.domain.stats import close_reason, close_reason_name
from bot.domain.tickets.policy import DeskPolicy
from bot.domain.tickets.states import ACTIVE, CLOSED, OPEN, RESOLVED, Outcome
from bot.models import (
    Building,
    CategoryCorrection,
    Compound,
    Person,
    Ticket,
    TicketFollower,
)


class StaffDesk(DeskPolicy):
    """Staff actions."""

    async def staff_ticket(self, person: Person, number: int | None) -> Outcome:
        if person.staff_community_id is None and not is_wide_staff(person, self.config):
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
        reason = close_reason(note)  # 误操作 / 重复 closes are not 办结 in the figures
        self.record(ticket, "closed", actor_person=person, from_state=before, to_state=CLOSED, note=note,
                    data={"reason": reason})
        await self.notify_residents(ticket, "closed", "notify.resident_closed",
                                     note=note or self.texts("close.default_note"))
        if reason != "done":
            return Outcome(True, "close.done_void", {**self.ticket_fields(ticket),
                                                      "reason": close_reason_name(reason)}, ticket)
        return Outcome(True, "close.done", self.ticket_fields(ticket), ticket)

    async def reassign(self, person: Person, number: int | None, name: str) -> Outcome:
        found = await self.staff_ticket(person, number)
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        if ticket.state not in ACTIVE:
            return Outcome(False, "refused.state", self.ticket_fields(ticket), ticket)
        candidates = await self.people_named(name.strip(), person.staff_community_id or ticket.community_id)
        if not candidates:
            return Outcome(False, "reassign.no_one", {**self.ticket_fields(ticket), "name": name}, ticket)
        if len(candidates) > 1:
            return Outcome(False, "reassign.ambiguous", {**self.ticket_fields(ticket), "name": name,
                                                         "count": len(candidates)}, ticket)
        return await self._reassign_to(person, ticket, candidates[0])

    async def assign_to(self, person: Person, number: int | None, target_id: int) -> Outcome:
        """Reassign to a person picked by id (the console's picker): someone of the ticket's community."""
        found = await self.staff_ticket(person, number)
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        if ticket.state not in ACTIVE:
            return Outcome(False, "refused.state", self.ticket_fields(ticket), ticket)
        target = await self.session.get(Person, target_id)
        community = ticket.community_id or person.staff_community_id
        if target is None or (community is not None and not await self._in_community(target, community)):
            return Outcome(False, "reassign.no_one", {**self.ticket_fields(ticket), "name": str(target_id)}, ticket)
        return await self._reassign_to(person, ticket, target)

    async def _reassign_to(self, person: Person, ticket: Ticket, target: Person) -> Outcome:
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
        if person.staff_community_id is not None and not is_wide_staff(person, self.config):
            query = query.where(or_(Ticket.community_id == person.staff_community_id,
                                    Ticket.community_id.is_(None)) if self.sees_unplaced(person)
                                else Ticket.community_id == person.staff_community_id)
        return list((await self.session.scalars(  # urgent first, then the most overdue
            query.order_by(Ticket.urgent.desc(), Ticket.accept_due_at, Ticket.id).limit(10))).all())

    async def note(self, person: Person, number: int | None, text: str) -> Outcome:
        """An internal note on the timeline: staff read it, the resident is not told."""
        found = await self.staff_ticket(person, number)
        if not found.ok or found.ticket is None:
            return found
        if not text.strip():
            return Outcome(False, "note.empty", found.fields, found.ticket)
        self.record(found.ticket, "note", actor_person=person, note=text.strip())
        found.ticket.updated_at = self.now
        return Outcome(True, "note.done", found.fields, found.ticket)

    async def reply_resident(self, person: Person, number: int | None, text: str) -> Outcome:
        """Staff write to the resident (and merged followers) through the outbox."""
        found = await self.staff_ticket(person, number)
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        if not text.strip():
            return Outcome(False, "staff_reply.empty", found.fields, ticket)
        self.record(ticket, "staff_reply", actor_person=person, note=text.strip())
        ticket.updated_at = self.now
        await self.notify_residents(ticket, "progress", "notify.resident_staff_reply", note=text.strip())
        return Outcome(True, "staff_reply.done", found.fields, ticket)

    async def merge(self, person: Person, number: int | None, into: int | None) -> Outcome:
        """Merge ticket `number` into `into` (并单): its resident and followers follow `into`,
        and it is closed with a pointer to `into`."""
        found = await self.staff_ticket(person, number)
        if not found.ok or found.ticket is None:
            return found
        ticket = found.ticket
        if into is None or into == ticket.id:
            return Outcome(False, "merge.same", found.fields, ticket)
        target_found = await self.staff_ticket(person, into)
        if not target_found.ok or target_found.ticket is None:
            return target_found
        target = target_found.ticket
        if target.state not in (*ACTIVE, RESOLVED):
            return Outcome(False, "merge.target_done", {**found.fields, "into": into}, ticket)
        before = ticket.state
        if not await self.transition(ticket, CLOSED, (*ACTIVE, RESOLVED), closed_at=self.now):
            return Outcome(False, "refused.state", self.ticket_fields(ticket), ticket)
        followers = [(ticket.openid, ticket.text), *(await self.session.execute(
            select(TicketFollower.openid, TicketFollower.text).where(TicketFollower.ticket_id == ticket.id))).all()]
        for openid, text in followers:
            if openid == target.openid:
                continue
            await insert_ignore(self.session, TicketFollower, {"ticket_id": target.id, "openid": openid,
                                                               "text": text, "joined_at": self.now},
                                ["ticket_id", "openid"])
        self.record(ticket, "merged", actor_person=person, from_state=before, to_state=CLOSED,
                    note=f"→ #{target.id}", data={"into": target.id})
        self.record(target, "merged_in", actor_person=person, note=f"← #{ticket.id}", data={"from": ticket.id})
        target.updated_at = self.now
        await self.notify_residents(ticket, "closed", "notify.resident_merged", into=target.id)
        return Outcome(True, "merge.done", {**self.ticket_fields(ticket), "into": target.id}, ticket)

    async def chain_people(self, ticket: Ticket) -> list[tuple[str, Person]]:
        """Who may take a ticket, level by level: its member, building head,
        branch secretary, then the community's staff (the console's picker)."""
        chain = await self.chain_for(ticket)
        people: list[tuple[str, Person]] = [
            (level, p) for level, p in (("member", chain.member), ("building_head", chain.building_head),
                                        ("branch_secretary", chain.branch_secretary)) if p is not None]
        people += [(STAFF, p) for p in chain.staff]
        unique: dict[int, tuple[str, Person]] = {}
        for level, p in people:
            unique.setdefault(p.id, (level, p))
        return list(unique.values())
