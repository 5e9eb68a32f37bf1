"""Commands of party-member volunteers (and anyone of the roster):
接单, 进展, 办结, 退单, 待办, 请假, 销假."""

from __future__ import annotations

from bot.chat import state
from bot.chat.context import Context
from bot.chat.dispatcher import Router
from bot.chat.filters import command, role
from bot.domain.identity import VOLUNTEER
from bot.domain.tickets.volunteers import leave_until
from handlers.common import desk, listing, person, reply, say, usual_word
from handlers.conversation import ask_clarify
from nlp import Command

router = Router("volunteer", role(VOLUNTEER))
refusals = Router("volunteer refusals")  # the same commands from someone without the role

VOLUNTEER_COMMANDS = ("accept", "progress", "resolve", "hand_back", "todo", "leave", "back")


@router.handler(command("accept"))
async def accept(ctx: Context, cmd: Command) -> str:
    return reply(ctx, await desk(ctx).accept(person(ctx), cmd.ticket), command=usual_word(ctx, cmd.name))


@router.handler(command("progress"))
async def progress(ctx: Context, cmd: Command) -> str:
    return reply(ctx, await desk(ctx).progress(person(ctx), cmd.ticket, cmd.arg), command=usual_word(ctx, cmd.name))


@router.handler(command("resolve"))
async def resolve(ctx: Context, cmd: Command) -> str:
    """办结; the resident is asked to rate, and a bare 满意 / 4分 answers for this ticket."""
    outcome = await desk(ctx).resolve(person(ctx), cmd.ticket, cmd.arg)
    if outcome.ok and outcome.ticket is not None:
        await state.ask(ctx.session, ctx.config, outcome.ticket.openid, state.FOLLOWUP,
                        {"ticket": outcome.ticket.id}, ctx.now)
    return reply(ctx, outcome, command=usual_word(ctx, cmd.name))


@router.handler(command("hand_back"))
async def hand_back(ctx: Context, cmd: Command) -> str:
    """退单 needs a reason: without one the reply asks for it and the next message gives it."""
    outcome = await desk(ctx).hand_back(person(ctx), cmd.ticket, cmd.arg)
    if outcome.key == "handback.need_reason" and outcome.ticket is not None:
        return await ask_clarify(ctx, "hand_back", {"ticket": outcome.ticket.id}, "handback.need_reason",
                                 **outcome.fields)
    return reply(ctx, outcome, command=usual_word(ctx, cmd.name))


async def hand_back_with_reason(ctx: Context, number: int, reason: str) -> str:
    return reply(ctx, await desk(ctx).hand_back(person(ctx), number, reason), command=usual_word(ctx, "hand_back"))


@router.handler(command("todo"))
async def todo(ctx: Context) -> str:
    d = desk(ctx)
    return listing(ctx, d, await d.todo(person(ctx)), "todo")


@router.handler(command("leave", "back"))
async def leave(ctx: Context, cmd: Command) -> str:
    until = leave_until(cmd.arg, ctx.now) if cmd.name == "leave" else None
    return reply(ctx, await desk(ctx).set_leave(person(ctx), cmd.name == "leave", until))


@refusals.handler(command(*VOLUNTEER_COMMANDS))
async def not_a_volunteer(ctx: Context) -> str:
    return say(ctx, "refused.not_volunteer")
