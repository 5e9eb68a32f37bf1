"""Helpers every handler module shares: the ticket desk for a context, and
rendering a reply from an Outcome."""

from __future__ import annotations

from bot.domain.tickets import Outcome, TicketDesk
from bot.events import Context


def desk(ctx: Context) -> TicketDesk:
    router = ctx.services.router
    return TicketDesk(ctx.session, ctx.config, ctx.services.texts, ctx.now, router.category_name, router.tokens)


def reply(ctx: Context, outcome: Outcome) -> str:
    return ctx.services.texts(outcome.key, **outcome.fields)


def say(ctx: Context, key: str, **fields: object) -> str:
    return ctx.services.texts(key, **fields)
