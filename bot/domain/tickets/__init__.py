"""Tickets and their life cycle (design.md §3-4): the one place that says who
may do what to a ticket, and what each change records and tells whom.

States: open → assigned → accepted → resolved → closed; cancelled by the
resident; reopened goes back to assigned. Every change is one TicketEvent
(who, when, from, to, note) and the notifications it causes are written to
the outbox in the same transaction. A refused action changes nothing and
says why (a text key for the reply).

Transitions are conditional UPDATEs on the current state, so two people
acting on one ticket at the same moment cannot both win.

One module per job: ``states`` (states and values), ``core`` (events,
transitions, notifications), ``policy`` (who may act), ``intake`` (requests
to tickets), ``residents``, ``volunteers``, ``staff`` and ``escalation``.
TicketDesk puts them together for the handlers, the clock and the console.
"""

from bot.domain.tickets.intake import Intake
from bot.domain.tickets.residents import ResidentDesk
from bot.domain.tickets.staff import StaffDesk
from bot.domain.tickets.states import (
    ACCEPTED,
    ACTIVE,
    ASSIGNED,
    CANCELLED,
    CLOSED,
    LEVEL_TITLE_KEY,
    OPEN,
    RESOLVED,
    Location,
    Outcome,
    Request,
    similarity,
    surname,
)
from bot.domain.tickets.volunteers import VolunteerDesk


class TicketDesk(Intake, ResidentDesk, VolunteerDesk, StaffDesk):
    """The ticket rules, bound to one transaction and one moment."""


__all__ = [
    "ACCEPTED",
    "ACTIVE",
    "ASSIGNED",
    "CANCELLED",
    "CLOSED",
    "LEVEL_TITLE_KEY",
    "OPEN",
    "RESOLVED",
    "Location",
    "Outcome",
    "Request",
    "TicketDesk",
    "similarity",
    "surname",
]
