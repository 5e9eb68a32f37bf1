"""Commands of community staff: 关闭, 改派, 分类, 待分派, 统计."""

from __future__ import annotations

import re
import unicodedata

from bot.chat.context import Context
from bot.chat.dispatcher import Router
from bot.chat.filters import command, role
from bot.domain.identity import STAFF
from bot.domain.stats import period_code, period_figures, period_names
from handlers.common import desk, listing, person, reply, say
from nlp import Command

router = Router("staff", role(STAFF))
refusals = Router("staff refusals")  # the same commands from someone without the role

STAFF_COMMANDS = ("close", "reassign", "recategorise", "triage_queue", "stats")


@router.handler(command("close"))
async def close(ctx: Context, cmd: Command) -> str:
    return reply(ctx, await desk(ctx).close(person(ctx), cmd.ticket, cmd.arg))


@router.handler(command("reassign"))
async def reassign(ctx: Context, cmd: Command) -> str:
    return reply(ctx, await desk(ctx).reassign(person(ctx), cmd.ticket, cmd.arg))


@router.handler(command("recategorise"))
async def recategorise(ctx: Context, cmd: Command) -> str:
    known = ctx.services.analyser.categories()
    given = cmd.arg or _after_number(ctx.text)  # a category the router does not know is named back
    return reply(ctx, await desk(ctx).recategorise(person(ctx), cmd.ticket, given, known))


def _after_number(text: str) -> str:
    plain = unicodedata.normalize("NFKC", text)
    found = re.search(r"[0-9]+\s*(?:号)?", plain)
    return plain[found.end():].strip(" :：,，、。.") if found else ""


@router.handler(command("triage_queue"))
async def triage_queue(ctx: Context) -> str:
    d = desk(ctx)
    return listing(ctx, d, await d.triage_queue(person(ctx)), "triage")


@router.handler(command("stats"))
async def stats(ctx: Context, cmd: Command) -> str:
    """统计 [今天|本周|本月|上月 ...]: the period is named after the word (default today)."""
    code = period_code(cmd.arg) if cmd.arg.strip() else "today"
    if code is None:
        return say(ctx, "stats.unknown_period", given=cmd.arg.strip(), choices=" / ".join(period_names()))
    figures = await period_figures(ctx.session, person(ctx).staff_community_id, ctx.now, code,
                                   ctx.config.tickets.tz)
    return say(ctx, "stats.summary", **figures)


@refusals.handler(command(*STAFF_COMMANDS))
async def not_staff(ctx: Context) -> str:
    return say(ctx, "refused.not_staff")
