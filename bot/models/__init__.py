"""SQLAlchemy 2.0 typed models: one module per area, all on one metadata."""

from bot.models.base import Base, utcnow
from bot.models.console import ConsoleLink, ConsoleSession
from bot.models.conversation import PendingQuestion
from bot.models.delivery import ApiToken, OutboxMessage
from bot.models.inbox import InboundMessage, SeenNonce
from bot.models.org import Building, Community, Compound, Household, Invite, Person, Resident, Township
from bot.models.tickets import CategoryCorrection, Ticket, TicketAttachment, TicketEvent, TicketFollower
from bot.models.visits import Campaign, CareMark, Opinion, Visit

__all__ = [
    "ApiToken",
    "Base",
    "Building",
    "Campaign",
    "CareMark",
    "CategoryCorrection",
    "Community",
    "Compound",
    "ConsoleLink",
    "ConsoleSession",
    "Household",
    "InboundMessage",
    "Invite",
    "Opinion",
    "OutboxMessage",
    "PendingQuestion",
    "Person",
    "Resident",
    "SeenNonce",
    "Ticket",
    "TicketAttachment",
    "TicketEvent",
    "TicketFollower",
    "Township",
    "Visit",
    "utcnow",
]
