"""Commands of community staff: 关闭, 改派, 分类, 待分派, 统计."""

from __future__ import annotations

from bot.chat.context import Context
from bot.chat.dispatcher import Router
from bot.chat.filters import command, role
from bot.domain.identity import STAFF
from bot.domain.stats import today_figures
from handlers.common import desk, listing, person, reply, say

router = Router("staff")

STAFF_COMMANDS = ("close", "reassign", "recategorise", "triage_queue", "stats")


@router.handler(command("close"), role(STAFF))
async def close(ctx: Context) -> str:
    assert ctx.command is not None
    return reply(ctx, await desk(ctx).close(person(ctx), ctx.command.ticket, ctx.command.arg))


@router.handler(command("reassign"), role(STAFF))
async def reassign(ctx: Context) -> str:
    assert ctx.command is not None
    return reply(ctx, await desk(ctx).reassign(person(ctx), ctx.command.ticket, ctx.command.arg))


@router.handler(command("recategorise"), role(STAFF))
async def recategorise(ctx: Context) -> str:
    assert ctx.command is not None
    known = ctx.services.analyser.categories()
    return reply(ctx, await desk(ctx).recategorise(person(ctx), ctx.command.ticket, ctx.command.arg, known))


@router.handler(command("triage_queue"), role(STAFF))
async def triage_queue(ctx: Context) -> str:
    d = desk(ctx)
    return listing(ctx, d, await d.triage_queue(person(ctx)), "triage")


@router.handler(command("stats"), role(STAFF))
async def stats(ctx: Context) -> str:
    staff = person(ctx)
    figures = await today_figures(ctx.session, staff.staff_community_id, ctx.now)
    return say(ctx, "stats.today", **figures)


@router.handler(command(*STAFF_COMMANDS))
async def not_staff(ctx: Context) -> str:
    return say(ctx, "refused.not_staff")
