"""Residents: binding an address (or an invite code), asking for their
tickets, urging, rating, cancelling, greetings and help — and any other text,
which is a request that opens a ticket."""

from __future__ import annotations

from bot.chat.context import Context
from bot.chat.dispatcher import Router
from bot.chat.filters import intent
from bot.domain import identity
from bot.domain.identity import STAFF, VOLUNTEER
from bot.domain.stats import CHINA
from bot.domain.tickets import Request, surname
from handlers.common import desk, listing, reply, say

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
        outcome = await identity.redeem_invite(ctx.session, ctx.sender.openid, ctx.analysis.invite_code, ctx.now)
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
    handler = say(ctx, "role.person", title=say(ctx, "role.member"), surname=surname(bound.member.name))
    return say(ctx, "bind.done", address=bound.address, handler=handler)


async def list_my_tickets(ctx: Context) -> str:
    assert ctx.sender is not None
    d = desk(ctx)
    return listing(ctx, d, await d.my_tickets(ctx.sender), "my_tickets")


@router.handler(intent("status_query"))
async def status(ctx: Context) -> str:
    assert ctx.analysis is not None and ctx.sender is not None
    if ctx.analysis.ticket is None:
        return await list_my_tickets(ctx)
    d = desk(ctx)
    found = await d.resident_ticket(ctx.sender, ctx.analysis.ticket, ())
    if not found.ok or found.ticket is None:
        return reply(ctx, found)
    ticket = found.ticket
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
    assert ctx.analysis is not None and ctx.sender is not None
    return reply(ctx, await desk(ctx).cancel(ctx.sender, ctx.analysis.ticket))


@router.handler(intent("rate"))
async def rate(ctx: Context) -> str:
    assert ctx.analysis is not None and ctx.sender is not None
    return reply(ctx, await desk(ctx).rate(ctx.sender, ctx.analysis.ticket, ctx.analysis.rating, ctx.text))


@router.handler(intent("request"))
async def open_ticket(ctx: Context) -> str:
    assert ctx.analysis is not None and ctx.sender is not None
    a = ctx.analysis
    request = Request(text=ctx.text, category=a.category, kind=a.kind, urgent=a.urgent, confidence=a.confidence,
                      matched=a.matched, location=a.place.text, building=a.place.building, unit=a.place.unit,
                      room=a.place.room, place_name=a.place.name)
    return reply(ctx, await desk(ctx).open_request(ctx.sender, request, source_message_id=ctx.data["message_id"]))


__all__ = ["help_text", "list_my_tickets", "router"]
