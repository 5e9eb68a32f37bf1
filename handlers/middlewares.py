"""Middlewares: who the sender is, and what their text says.

A message's unit of work starts with one read (`arrival`, by whichever of
`rate_limit` and `identify` runs first): the sender's resident and person
joined with their pending question, the count of their messages in the last
minute and the roster counter as columns. Each value goes to the module whose
rule uses it (security.messages_over_limit, identity.load_sender,
state.offer, roster_cache.version_read), which would otherwise read it
itself; paths without this middleware (the CLI, tests) still do.

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

from bot.chat import state
from bot.chat.context import Context, Message
from bot.domain import roster_cache
from bot.domain.identity import SENDER_OPENID, VOLUNTEER, load_sender, sender_read
from bot.domain.security import MESSAGES_IN_WINDOW, message_window, messages_over_limit
from bot.models import Person, Resident
from nlp import Analysis, Command
from nlp.asks import split_asks

Next = Callable[[Context], Awaitable[str | None]]

READ_AHEAD = "read_ahead"
ARRIVAL = "arrival"

# Built once: the first statement of every message's unit of work.
_ARRIVAL = sender_read(*state.QUESTION_COLUMNS, MESSAGES_IN_WINDOW, roster_cache.VERSION_COLUMN,
                       joins=(state.question_of(SENDER_OPENID),))


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


@dataclass(frozen=True)
class Arrival:
    """What the first read of a message's unit of work found (kept in Context.data for that message)."""

    message: Message
    resident: Resident | None
    person: Person | None
    messages: int  # the sender's messages in the last minute, this one included


async def arrival(ctx: Context) -> tuple[Arrival, bool]:
    """This message's Arrival, read now unless it was already (then False). The
    pending question and the roster counter are handed to their modules."""
    found = ctx.data.get(ARRIVAL)
    if isinstance(found, Arrival) and found.message is ctx.message:
        return found, False
    openid, session = ctx.message.openid, ctx.session
    row = (await session.execute(_ARRIVAL, {**message_window(openid, ctx.now), **roster_cache.VERSION_PARAMS})
           ).one()
    resident, person, kind, data, asked_at, expires_at, messages, version = row
    state.offer(session, openid, (kind, data, asked_at, expires_at))
    roster_cache.version_read(session, version)
    found = ctx.data[ARRIVAL] = Arrival(ctx.message, resident, person, int(messages or 0))
    return found, True


async def _after_arrival(ctx: Context, nxt: Next, fresh: bool) -> str | None:
    """Run the rest; the pending question offered by a read made here is not left to a later unit of work."""
    if not fresh:
        return await nxt(ctx)
    try:
        return await nxt(ctx)
    finally:
        state.withdraw(ctx.session, ctx.message.openid)


async def rate_limit(ctx: Context, nxt: Next) -> str | None:
    """Too many messages from one sender in a minute get a polite reply (the message
    stays stored). Events are not limited; WeChat's retries never get this far."""
    found, fresh = await arrival(ctx)
    if ctx.message.msg_type != "event" and await messages_over_limit(ctx.session, ctx.config, ctx.message.openid,
                                                                      ctx.now, found.messages):
        state.withdraw(ctx.session, ctx.message.openid)
        return ctx.services.texts("security.too_many_messages")
    return await _after_arrival(ctx, nxt, fresh)


async def identify(ctx: Context, nxt: Next) -> str | None:
    """Load (or create) the sender's resident record and roster person."""
    found, fresh = await arrival(ctx)
    ctx.sender = await load_sender(ctx.session, ctx.message.openid, ctx.now, (found.resident, found.person))
    return await _after_arrival(ctx, nxt, fresh)


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
