"""Helpers every handler module shares: the ticket desk for a context, and
rendering a reply from an Outcome."""

from __future__ import annotations

from bot.chat.context import Context
from bot.domain.tickets import Outcome, TicketDesk
from bot.models import Person, Ticket


def desk(ctx: Context) -> TicketDesk:
    analyser = ctx.services.analyser
    return TicketDesk(ctx.session, ctx.config, ctx.services.texts, ctx.now, analyser.category_name, analyser.tokens)


def reply(ctx: Context, outcome: Outcome, **extra: object) -> str:
    return ctx.services.texts(outcome.key, **{**outcome.fields, **extra})


def usual_word(ctx: Context, command: str) -> str:
    """The usual word of a command (接单 for accept), for examples in replies."""
    words = ctx.services.analyser.commands().get(command) or [command]
    return words[0]


def say(ctx: Context, key: str, **fields: object) -> str:
    return ctx.services.texts(key, **fields)


def person(ctx: Context) -> Person:
    """The roster person writing (handlers behind a role filter only)."""
    assert ctx.sender is not None and ctx.sender.person is not None
    return ctx.sender.person


def listing(ctx: Context, d: TicketDesk, tickets: list[Ticket], section: str) -> str:
    """A list of tickets from the texts of `section`: header, one item each, footer (or empty)."""
    if not tickets:
        return say(ctx, f"{section}.empty")
    lines = [say(ctx, f"{section}.header")]
    lines += [say(ctx, f"{section}.item", **d.ticket_fields(t)) for t in tickets]
    lines.append(say(ctx, f"{section}.footer"))
    return "\n".join(lines)
