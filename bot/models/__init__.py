"""SQLAlchemy 2.0 typed models: one module per area, all on one metadata."""

from bot.models.base import Base, utcnow
from bot.models.cache import CacheEpoch
from bot.models.console import ConsoleLink, ConsoleSession
from bot.models.conversation import PendingQuestion
from bot.models.delivery import ApiToken, OutboxMessage
from bot.models.inbox import InboundMessage, SeenNonce
from bot.models.org import Building, Community, Compound, Household, Invite, Person, Resident, Township
from bot.models.security import DeliveryAttempt, InviteFailure, RoleAudit
from bot.models.tickets import CategoryCorrection, Ticket, TicketAttachment, TicketEvent, TicketFollower
from bot.models.visits import Campaign, CareMark, Opinion, Visit

__all__ = [
    "ApiToken",
    "Base",
    "Building",
    "CacheEpoch",
    "Campaign",
    "CareMark",
    "CategoryCorrection",
    "Community",
    "Compound",
    "ConsoleLink",
    "ConsoleSession",
    "DeliveryAttempt",
    "Household",
    "InboundMessage",
    "Invite",
    "InviteFailure",
    "Opinion",
    "OutboxMessage",
    "PendingQuestion",
    "Person",
    "Resident",
    "RoleAudit",
    "SeenNonce",
    "Ticket",
    "TicketAttachment",
    "TicketEvent",
    "TicketFollower",
    "Township",
    "Visit",
    "utcnow",
]
