"""登录: a single-use link to the staff console for anyone of the roster."""

from __future__ import annotations

from bot.chat.context import Context
from bot.chat.dispatcher import Router
from bot.chat.filters import command, role
from bot.domain.console_access import base_url, create_link, link_url
from bot.domain.identity import VOLUNTEER
from handlers.common import person, say

router = Router("console", role(VOLUNTEER))
refusals = Router("console refusals")


@router.handler(command("console_login"))
async def login_link(ctx: Context) -> str:
    cfg = ctx.config.console
    token = await create_link(ctx.session, person(ctx), ctx.now, cfg.link_ttl_min)
    return say(ctx, "console.link", minutes=cfg.link_ttl_min, url=link_url(base_url(ctx.config), token))


@refusals.handler(command("console_login"))
async def not_person(ctx: Context) -> str:
    return say(ctx, "console.not_person")

