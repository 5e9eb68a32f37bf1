"""Commands of party-member volunteers (and anyone of the roster):
接单, 进展, 办结, 退单, 待办, 请假, 销假."""

from __future__ import annotations

from bot.chat.context import Context
from bot.chat.dispatcher import Router
from bot.chat.filters import command, role
from bot.domain.identity import VOLUNTEER
from handlers.common import desk, listing, person, reply, say

router = Router("volunteer")

VOLUNTEER_COMMANDS = ("accept", "progress", "resolve", "hand_back", "todo", "leave", "back")


@router.handler(command("accept"), role(VOLUNTEER))
async def accept(ctx: Context) -> str:
    assert ctx.command is not None
    return reply(ctx, await desk(ctx).accept(person(ctx), ctx.command.ticket))


@router.handler(command("progress"), role(VOLUNTEER))
async def progress(ctx: Context) -> str:
    assert ctx.command is not None
    return reply(ctx, await desk(ctx).progress(person(ctx), ctx.command.ticket, ctx.command.arg))


@router.handler(command("resolve"), role(VOLUNTEER))
async def resolve(ctx: Context) -> str:
    assert ctx.command is not None
    return reply(ctx, await desk(ctx).resolve(person(ctx), ctx.command.ticket, ctx.command.arg))


@router.handler(command("hand_back"), role(VOLUNTEER))
async def hand_back(ctx: Context) -> str:
    assert ctx.command is not None
    return reply(ctx, await desk(ctx).hand_back(person(ctx), ctx.command.ticket, ctx.command.arg))


@router.handler(command("todo"), role(VOLUNTEER))
async def todo(ctx: Context) -> str:
    d = desk(ctx)
    return listing(ctx, d, await d.todo(person(ctx)), "todo")


@router.handler(command("leave", "back"), role(VOLUNTEER))
async def leave(ctx: Context) -> str:
    assert ctx.command is not None
    return reply(ctx, await desk(ctx).set_leave(person(ctx), ctx.command.name == "leave"))


@router.handler(command(*VOLUNTEER_COMMANDS))
async def not_a_volunteer(ctx: Context) -> str:
    return say(ctx, "refused.not_volunteer")
