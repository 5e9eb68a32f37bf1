"""Climbing the chain (吹哨) when a deadline is missed."""

from __future__ import annotations

from bot.domain import assignment
from bot.domain.assignment import STAFF
from bot.domain.tickets.policy import DeskPolicy
from bot.models import (
    Ticket,
)


class Escalation(DeskPolicy):
    """The clock's one action on a ticket."""

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
