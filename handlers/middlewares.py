"""Middlewares: who the sender is, and what their text says."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.chat.context import Context
from bot.domain.identity import VOLUNTEER, load_sender
from bot.domain.security import messages_over_limit

Next = Callable[[Context], Awaitable[str | None]]


async def rate_limit(ctx: Context, nxt: Next) -> str | None:
    """Too many messages from one sender in a minute get a polite reply (the message
    stays stored). Events are not limited; WeChat's retries never get this far."""
    if ctx.message.msg_type != "event" and await messages_over_limit(ctx.session, ctx.config, ctx.message.openid,
                                                                      ctx.now):
        return ctx.services.texts("security.too_many_messages")
    return await nxt(ctx)


async def identify(ctx: Context, nxt: Next) -> str | None:
    """Load (or create) the sender's resident record and roster person."""
    ctx.sender = await load_sender(ctx.session, ctx.message.openid, ctx.now)
    return await nxt(ctx)


async def read_text(ctx: Context, nxt: Next) -> str | None:
    """Parse a volunteer's or staff member's command; run the text analyser on any text."""
    text = ctx.message.content.strip()
    if text and ctx.message.msg_type in ("text", "voice"):
        analyser = ctx.services.analyser
        ctx.command = analyser.parse_command(text)
        if ctx.command is None or ctx.sender is None or VOLUNTEER not in ctx.sender.roles:
            ctx.analysis = await analyser.analyse_async(text)
    return await nxt(ctx)
