"""Events: subscribe (welcome), unsubscribe, and the menu's CLICK keys."""

from __future__ import annotations

from bot.chat.context import Context
from bot.chat.dispatcher import Router
from bot.chat.filters import click, event
from handlers.common import say
from handlers.resident import list_my_tickets

router = Router("events")


@router.handler(event("subscribe"))
async def welcome(ctx: Context) -> str:
    assert ctx.sender is not None
    ctx.sender.resident.subscribed = True
    return say(ctx, "welcome.subscribe")


@router.handler(event("unsubscribe"))
async def goodbye(ctx: Context) -> None:
    assert ctx.sender is not None
    ctx.sender.resident.subscribed = False
    return None


@router.handler(click("REPORT"))
async def how_to_report(ctx: Context) -> str:
    return say(ctx, "help.report")


@router.handler(click("MY_TICKETS"))
async def my_tickets(ctx: Context) -> str:
    return await list_my_tickets(ctx)


@router.handler(click("HELP"))
async def help_menu(ctx: Context) -> str:
    from handlers.resident import help_text

    return help_text(ctx)

