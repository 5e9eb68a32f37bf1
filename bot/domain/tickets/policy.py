"""The permission policy: who may act on which ticket."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from bot.domain.assignment import BRANCH_SECRETARY, BUILDING_HEAD, MEMBER, STAFF
from bot.domain.console_access import is_wide_staff
from bot.domain.tickets.core import DeskCore
from bot.models import (
    Building,
    Compound,
    Household,
    Person,
    Ticket,
    TicketEvent,
    TicketFollower,
)


class DeskPolicy(DeskCore):
    """Who may act on a ticket: the assignee, staff of its community, people
    notified of an urgent ticket, and the community a person belongs to."""

    def _may_act(self, person: Person, ticket: Ticket) -> bool:
        return ticket.assignee_id == person.id or self._staff_of(person, ticket)

    def _staff_of(self, person: Person, ticket: Ticket) -> bool:
        if is_wide_staff(person, self.config):
            return True
        if person.staff_community_id is None:
            return False
        if ticket.community_id is None:
            return self.sees_unplaced(person)
        return ticket.community_id == person.staff_community_id

    def sees_unplaced(self, person: Person) -> bool:
        """Tickets with no community are the dispatchers' ([tickets] unplaced_staff_phones)
        when there are any, else every staff member's."""
        dispatchers = self.config.tickets.unplaced_staff_phones
        return person.staff_community_id is not None and (not dispatchers or person.phone in dispatchers)

    # ---- owners and followers (并单) ------------------------------------
    @staticmethod
    def owns(openid: str, ticket: Ticket) -> bool:
        """Only the resident who opened a ticket rates, reopens or cancels it."""
        return ticket.openid == openid

    async def follower(self, openid: str, ticket: Ticket) -> TicketFollower | None:
        """The merged follower record of `openid` on `ticket`, if they are one."""
        if ticket.openid == openid:
            return None
        return await self.session.get(TicketFollower, (ticket.id, openid))

    def follower_fields(self, ticket: Ticket, follower: TicketFollower) -> dict[str, Any]:
        """What a follower may read of a ticket: its number, category and state, and
        their own words; never the owner's words, household or room."""
        own = follower.text if len(follower.text) <= 40 else follower.text[:40] + "…"
        return {**self.ticket_fields(ticket), "text": own, "place": ""}

    async def _urgent_notified(self, person: Person, ticket: Ticket) -> bool:
        if not ticket.urgent:
            return False
        events = (await self.session.scalars(select(TicketEvent.data).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.action == "urgent_fan_out"))).all()
        return any(person.id in (data or {}).get("notified", []) for data in events)


    async def _may_accept(self, person: Person, ticket: Ticket) -> bool:
        """The accept rule: the assignee, staff of its community, or (urgent
        tickets only) someone the urgent fan-out told."""
        return ticket.assignee_id == person.id or self._staff_of(person, ticket) or \
            await self._urgent_notified(person, ticket)

    async def _level_of(self, person: Person, ticket: Ticket) -> str:
        """The level `person` holds `ticket` at: staff, else their place on its chain
        (a building head taking an urgent ticket holds it as building head)."""
        if self._staff_of(person, ticket):
            return STAFF
        chain = await self.chain_for(ticket)
        for level in (MEMBER, BUILDING_HEAD, BRANCH_SECRETARY):
            holder = chain.person_at(level)
            if holder is not None and holder.id == person.id:
                return level
        return ticket.level


    async def _in_community(self, person: Person, community_id: int) -> bool:
        if person.staff_community_id == community_id:
            return True
        linked = select(func.count()).select_from(Household).join(Building).join(Compound).where(
            Compound.community_id == community_id,
            or_(Household.member_id == person.id, Building.head_id == person.id,
                Compound.secretary_id == person.id))
        return bool(await self.session.scalar(linked))
