"""Commands of party-member volunteers (and anyone of the roster):
接单, 进展, 办结, 退单, 待办, 请假, 销假."""

from __future__ import annotations

from bot.chat.context import Context
from bot.chat.dispatcher import Router
from bot.chat.filters import command, role
from bot.domain.identity import VOLUNTEER
from handlers.common import desk, listing, person, reply, say
from nlp import Command

router = Router("volunteer", role(VOLUNTEER))
refusals = Router("volunteer refusals")  # the same commands from someone without the role

VOLUNTEER_COMMANDS = ("accept", "progress", "resolve", "hand_back", "todo", "leave", "back")


@router.handler(command("accept"))
async def accept(ctx: Context, cmd: Command) -> str:
    return reply(ctx, await desk(ctx).accept(person(ctx), cmd.ticket))


@router.handler(command("progress"))
async def progress(ctx: Context, cmd: Command) -> str:
    return reply(ctx, await desk(ctx).progress(person(ctx), cmd.ticket, cmd.arg))


@router.handler(command("resolve"))
async def resolve(ctx: Context, cmd: Command) -> str:
    return reply(ctx, await desk(ctx).resolve(person(ctx), cmd.ticket, cmd.arg))


@router.handler(command("hand_back"))
async def hand_back(ctx: Context, cmd: Command) -> str:
    return reply(ctx, await desk(ctx).hand_back(person(ctx), cmd.ticket, cmd.arg))


@router.handler(command("todo"))
async def todo(ctx: Context) -> str:
    d = desk(ctx)
    return listing(ctx, d, await d.todo(person(ctx)), "todo")


@router.handler(command("leave", "back"))
async def leave(ctx: Context, cmd: Command) -> str:
    return reply(ctx, await desk(ctx).set_leave(person(ctx), cmd.name == "leave"))


@refusals.handler(command(*VOLUNTEER_COMMANDS))
async def not_a_volunteer(ctx: Context) -> str:
    return say(ctx, "refused.not_volunteer")
