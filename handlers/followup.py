"""Answers to the follow-up question (回访) that only make sense in context:
a bare "4" or "没解决" from a resident whose ticket was just resolved."""

from __future__ import annotations

from bot.chat.context import Context
from bot.chat.dispatcher import Filter, FilterResult, Router
from bot.chat.filters import msg_type
from bot.domain.followup import read_answer
from handlers.common import desk, reply

router = Router("followup")

async def _awaiting(ctx: Context) -> FilterResult:
    """Passes a follow-up answer, handing over the ticket it answers and what it says."""
    if ctx.sender is None or ctx.analysis is None or ctx.analysis.intent == "rate":
        return False
    answer = read_answer(ctx.text)
    if answer is None:
        return False
    ticket = await desk(ctx).awaiting_rating(ctx.sender)
    if ticket is None:
        return False
    rating, solved = answer
    return {"number": ticket.id, "rating": rating, "solved": solved}


@router.handler(msg_type("text", "voice"), Filter(_awaiting, "awaiting_followup"))
async def followup_answer(ctx: Context, number: int, rating: int | None, solved: bool | None) -> str:
    assert ctx.sender is not None
    return reply(ctx, await desk(ctx).rate(ctx.sender, number, rating, ctx.text, solved=solved))
