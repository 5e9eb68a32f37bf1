"""Residents: binding an address (or an invite code), asking for their
tickets, urging, rating, cancelling, greetings and help — and any other text,
which is a request that opens a ticket."""

from __future__ import annotations

from bot.chat.context import Context
from bot.chat.dispatcher import Router
from bot.chat.filters import intent
from bot.chat.replies import is_vague
from bot.domain import identity
from bot.domain.identity import STAFF, VOLUNTEER
from bot.domain.stats import CHINA
from bot.domain.tickets import Request, surname
from handlers.common import desk, reply, say
from handlers.conversation import ask_clarify, ask_which, rate_unnumbered
from handlers.middlewares import read_ahead_of
from nlp import Analysis, Place
from nlp.asks import split_asks

router = Router("resident")


def help_text(ctx: Context) -> str:
    parts = [say(ctx, "help.resident")]
    roles = ctx.sender.roles if ctx.sender else frozenset()
    if VOLUNTEER in roles:
        parts.append(say(ctx, "help.volunteer"))
    if STAFF in roles:
        parts.append(say(ctx, "help.staff"))
    return "\n\n".join(parts)


@router.handler(intent("greeting"))
async def greeting(ctx: Context) -> str:
    return say(ctx, "chat.greeting")


@router.handler(intent("thanks"))
async def thanks(ctx: Context) -> str:
    return say(ctx, "chat.thanks")


@router.handler(intent("usage_help"))
async def usage_help(ctx: Context) -> str:
    return help_text(ctx)


@router.handler(intent("bind_address"))
async def bind(ctx: Context) -> str:
    assert ctx.analysis is not None and ctx.sender is not None
    if ctx.analysis.invite_code:
        outcome = await identity.redeem_guarded(ctx.session, ctx.config, ctx.services.texts, ctx.sender.openid,
                                                ctx.analysis.invite_code, ctx.now)
        if not outcome.ok or outcome.person is None:
            return say(ctx, outcome.reason)
        return say(ctx, "bind.invite_done", name=outcome.person.name)
    place = ctx.analysis.place
    bound = await identity.bind_address(ctx.session, ctx.sender, building=place.building, unit=place.unit,
                                        room=place.room, compound=place.name, now=ctx.now)
    if bound.household is None:
        return say(ctx, bound.refusal, address=place.text or ctx.text)
    if bound.member is None:
        return say(ctx, "bind.done_no_member", address=bound.address)
    handler = say(ctx, "role.comrade", surname=surname(bound.member.name))
    return say(ctx, "bind.done", address=bound.address, handler=handler)


async def list_my_tickets(ctx: Context) -> str:
    assert ctx.sender is not None
    d = desk(ctx)
    tickets = await d.my_tickets(ctx.sender)
    if not tickets:
        return say(ctx, "my_tickets.empty")
    lines = [say(ctx, "my_tickets.header")]
    for ticket in tickets:
        fields, as_follower = await d.resident_view(ctx.sender, ticket)
        lines.append(say(ctx, "security.follower_item" if as_follower else "my_tickets.item", **fields))
    lines.append(say(ctx, "my_tickets.footer"))
    return "\n".join(lines)


@router.handler(intent("status_query"))
async def status(ctx: Context) -> str:
    assert ctx.analysis is not None and ctx.sender is not None
    if ctx.analysis.ticket is None:
        return await list_my_tickets(ctx)
    d = desk(ctx)
    found = await d.viewable(ctx.sender, ctx.analysis.ticket)
    if not found.ok or found.ticket is None:
        return reply(ctx, found)
    ticket = found.ticket
    fields, as_follower = await d.resident_view(ctx.sender, ticket)
    if as_follower:
        return say(ctx, "security.follower_detail", **fields)
    last = await d.last_event(ticket)
    last_text = ""
    if last is not None:
        when = last.at.astimezone(CHINA).strftime("%m-%d %H:%M")
        last_text = f"{when} {last.note}" if last.note and last.action == "progress" else \
            f"{when} {say(ctx, f'state.{ticket.state}')}"
    return say(ctx, "ticket.detail", **d.ticket_fields(ticket), handler=await d.handler_label(ticket),
               last=last_text)


@router.handler(intent("urge"))
async def urge(ctx: Context) -> str:
    assert ctx.analysis is not None and ctx.sender is not None
    return reply(ctx, await desk(ctx).urge(ctx.sender, ctx.analysis.ticket))


@router.handler(intent("cancel"))
async def cancel(ctx: Context) -> str:
    """撤销 N cancels; 撤销 alone names the ticket (or asks which) and waits for 是."""
    assert ctx.analysis is not None and ctx.sender is not None
    d = desk(ctx)
    if ctx.analysis.ticket is not None:
        return reply(ctx, await d.cancel(ctx.sender, ctx.analysis.ticket))
    tickets = await d.active_tickets(ctx.sender)
    if not tickets:
        return say(ctx, "ask.cancel_nothing")
    return await ask_which(ctx, "cancel", {}, tickets, "ask.cancel_confirm", "ask.cancel_choose")


@router.handler(intent("rate"))
async def rate(ctx: Context) -> str:
    """A rating with a number applies to that ticket; without one it is never a guess."""
    assert ctx.analysis is not None and ctx.sender is not None
    if ctx.analysis.ticket is None:
        return await rate_unnumbered(ctx, ctx.analysis.rating, None)
    return reply(ctx, await desk(ctx).rate(ctx.sender, ctx.analysis.ticket, ctx.analysis.rating, ctx.text))


@router.handler(intent("request"))
async def open_ticket(ctx: Context) -> str:
    assert ctx.analysis is not None and ctx.sender is not None
    if is_vague(ctx.text) and not ctx.analysis.urgent:
        return await ask_clarify(ctx, "request", {"text": ctx.text}, "ask.vague")
    return await open_request_text(ctx, ctx.text, analysis=ctx.analysis)


def _request(text: str, a: Analysis, *, urgent: bool | None = None, place: Place | None = None,
             tokens: dict[str, list[str]] | None = None) -> Request:
    p = place if place is not None and not a.place.text else a.place
    return Request(text=text, category=a.category, kind=a.kind, urgent=a.urgent if urgent is None else urgent,
                   confidence=a.confidence, matched=a.matched, location=p.text, building=p.building, unit=p.unit,
                   room=p.room, place_name=p.name, tokens=(tokens or {}).get(text, ()))


async def open_request_text(ctx: Context, text: str, *, analysis: Analysis | None = None,
                            clarified: bool = False) -> str:
    """Open the ticket(s) a request asks for: two distinct asks open two
    tickets (the reply names both); one urgent ask makes a single ticket urgent."""
    assert ctx.sender is not None
    analyser = ctx.services.analyser
    whole = analysis or await analyser.analyse_async(text)
    d = desk(ctx)
    source = ctx.data.get("message_id")
    parts = split_asks(text)
    ahead = read_ahead_of(ctx)
    known = ahead.asks if ahead is not None else {}
    tokens = ahead.tokens if ahead is not None else {}
    asks = [(part, known.get(part) or await analyser.analyse_async(part)) for part in parts] \
        if len(parts) > 1 else []
    urgent = whole.urgent or any(a.urgent for _, a in asks)
    categories = {a.category for _, a in asks if a.intent == "request"}
    distinct = len(asks) > 1 and len(categories) == len(asks) and "other" not in categories
    if not distinct:
        return reply(ctx, await d.open_request(ctx.sender, _request(text, whole, urgent=urgent, tokens=tokens),
                                               source_message_id=source))
    outcomes = [await d.open_request(ctx.sender, _request(part, a, place=whole.place, tokens=tokens),
                                     source_message_id=source)
                for part, a in asks]
    opened = [o for o in outcomes if o.ok]
    refused = list(dict.fromkeys(reply(ctx, o) for o in outcomes if not o.ok))  # e.g. the hourly cap
    if len(opened) <= 1:
        return "\n".join([reply(ctx, o) for o in opened] + refused)
    items = [say(ctx, "ticket.created_item", **o.fields) for o in opened]
    bind_hint = say(ctx, "ticket.bind_hint") if ctx.sender.resident.household_id is None else ""
    return "\n".join([say(ctx, "ticket.created_many", count=len(opened), items="\n".join(items),
                           bind_hint=bind_hint), *refused])


__all__ = ["help_text", "list_my_tickets", "open_request_text", "router"]
