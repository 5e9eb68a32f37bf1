"""Middlewares: who the sender is, and what their text says.

What the text says is worked out before the message's transaction opens
(`read_ahead`, run by the webhook): classification is the biggest CPU cost
of a request, and under SQLite's write lock it would hold up every other
request. `read_text` takes the result, or classifies when nothing was read
ahead (a context built without the webhook).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.chat.context import Context, Message
from bot.domain.identity import VOLUNTEER, load_sender
from bot.domain.security import messages_over_limit
from nlp import Analysis, Command
from nlp.asks import split_asks

Next = Callable[[Context], Awaitable[str | None]]

READ_AHEAD = "read_ahead"


@dataclass(frozen=True)
class ReadAhead:
    """A text message's command, analysis, and the analyses of its asks when it has several."""

    text: str
    command: Command | None
    analysis: Analysis
    asks: dict[str, Analysis] = field(default_factory=dict)
    tokens: dict[str, list[str]] = field(default_factory=dict)  # of the text and of each ask


async def read_ahead(services: Any, message: Message) -> dict[str, Any]:
    text = message.content.strip()
    if not text or message.msg_type not in ("text", "voice"):
        return {}
    analyser = services.analyser
    parts = split_asks(message.content)
    asks = {part: await analyser.analyse_async(part) for part in parts} if len(parts) > 1 else {}
    tokens = {part: analyser.tokens(part) for part in (message.content, *asks)}
    return {READ_AHEAD: ReadAhead(text, analyser.parse_command(text), await analyser.analyse_async(text), asks,
                                  tokens)}


def read_ahead_of(ctx: Context) -> ReadAhead | None:
    ahead = ctx.data.get(READ_AHEAD)
    return ahead if isinstance(ahead, ReadAhead) and ahead.text == ctx.message.content.strip() else None


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
        ahead = read_ahead_of(ctx)
        ctx.command = ahead.command if ahead is not None else analyser.parse_command(text)
        if ctx.command is None or ctx.sender is None or VOLUNTEER not in ctx.sender.roles:
            ctx.analysis = ahead.analysis if ahead is not None else await analyser.analyse_async(text)
    return await nxt(ctx)
