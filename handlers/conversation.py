"""Conversation: answering the question the bot asked (bot/chat/state.py),
short replies that answer nothing (是, 1), and near-miss commands from
volunteers and staff (接但 7 → 您是想发“接单 7”吗？).

Three routers, tried early and in this order:
- ``pending``: a reply to a pending question. 是/对/可以/好/嗯/1/确认 confirm,
  不是/不/算了/取消 decline, a number picks; the answer to a clarifying
  question completes it. Anything else forgets the question and is handled
  as usual.
- ``short_replies``: a bare 是 / 对 / 1 with nothing pending never opens a
  ticket; a bare rating with tickets awaiting one asks which ticket.
- ``near_miss``: a volunteer's or staff member's slip is suggested back and
  nothing else happens until they answer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.chat import state
from bot.chat.context import Context
from bot.chat.dispatcher import Filter, FilterResult, Router
from bot.chat.filters import msg_type
from bot.chat.replies import CONFIRM, DECLINE, read_reply
from bot.domain.followup import read_answer
from bot.domain.identity import VOLUNTEER
from bot.models import Ticket
from handlers.common import desk, reply, say
from nlp.nearmiss import NearMiss

pending = Router("pending", msg_type("text", "voice"))
short_replies = Router("short replies", msg_type("text", "voice"))
near_miss = Router("near miss", msg_type("text", "voice"))


# ------------------------------------------------------------ asking

async def ask_confirm(ctx: Context, action: str, data: dict[str, Any], key: str, **fields: object) -> str:
    """Remember what 是 will run, and ask."""
    assert ctx.sender is not None
    await state.ask(ctx.session, ctx.config, ctx.sender.openid, state.CONFIRM, {"action": action, **data}, ctx.now)
    return say(ctx, key, **fields)


async def ask_choice(ctx: Context, action: str, data: dict[str, Any], tickets: list[Ticket], key: str,
                     **fields: object) -> str:
    """Remember the tickets a number picks from, and list them."""
    assert ctx.sender is not None
    await state.ask(ctx.session, ctx.config, ctx.sender.openid, state.CHOICE,
                    {"action": action, "tickets": [t.id for t in tickets], **data}, ctx.now)
    d = desk(ctx)
    lines = [say(ctx, key, **fields)]
    lines += [say(ctx, "ask.choose_item", index=i, **d.ticket_fields(t)) for i, t in enumerate(tickets, 1)]
    lines.append(say(ctx, "ask.choose_footer"))
    return "\n".join(lines)


async def ask_which(ctx: Context, action: str, data: dict[str, Any], tickets: list[Ticket], confirm_key: str,
                    choose_key: str, **fields: object) -> str:
    """One ticket: name it and ask to confirm; several: ask which."""
    if len(tickets) == 1:
        return await ask_confirm(ctx, action, {**data, "ticket": tickets[0].id}, confirm_key,
                                 **desk(ctx).ticket_fields(tickets[0]), **fields)
    return await ask_choice(ctx, action, data, tickets, choose_key, **fields)


async def ask_clarify(ctx: Context, action: str, data: dict[str, Any], key: str, **fields: object) -> str:
    assert ctx.sender is not None
    await state.ask(ctx.session, ctx.config, ctx.sender.openid, state.CLARIFY, {"action": action, **data}, ctx.now)
    return say(ctx, key, **fields)


def verdict(ctx: Context, rating: int | None, solved: bool | None) -> str:
    if rating is not None:
        return say(ctx, "ask.rate_verdict", rating=rating)
    return say(ctx, "ask.rate_unsolved")


async def rate_unnumbered(ctx: Context, rating: int | None, solved: bool | None) -> str:
    """A rating or 没解决 without a ticket number and no follow-up just asked:
    never applied to a guess; the reply names the ticket or asks which."""
    assert ctx.sender is not None
    tickets = await desk(ctx).awaiting_ratings(ctx.sender)
    if not tickets:
        return say(ctx, "rate.nothing")
    data = {"rating": rating, "solved": solved, "words": ctx.text}
    return await ask_which(ctx, "rate", data, tickets, "ask.rate_confirm", "ask.rate_choose",
                           verdict=verdict(ctx, rating, solved))


# ------------------------------------------------------------ doing

async def perform(ctx: Context, data: dict[str, Any]) -> str | None:
    """Run what an answered question was about."""
    assert ctx.sender is not None
    action = data.get("action")
    d = desk(ctx)
    if action == "command":
        return await redispatch(ctx, str(data["text"]))
    if action == "cancel":
        return reply(ctx, await d.cancel(ctx.sender, int(data["ticket"])))
    if action == "rate":
        return reply(ctx, await d.rate(ctx.sender, int(data["ticket"]), data.get("rating"), str(data.get("words", "")),
                                       solved=data.get("solved")))
    raise ValueError(f"unknown pending action {action!r}")


async def redispatch(ctx: Context, text: str) -> str | None:
    """Handle `text` as if the sender had sent it (the command they confirmed)."""
    message = replace(ctx.message, content=text, msg_type="text")
    again = Context(message=message, session=ctx.session, config=ctx.config, services=ctx.services, now=ctx.now,
                    data=dict(ctx.data))
    return await ctx.services.dispatcher.dispatch(again)


# ------------------------------------------------------------ pending questions

async def _answers_pending(ctx: Context) -> FilterResult:
    """Passes a reply to the sender's pending question, handing it over; any
    other message forgets the question and goes on as usual."""
    if ctx.sender is None:
        return False
    question = await state.current(ctx.session, ctx.sender.openid, ctx.now)
    if question is None:
        return False
    answer = read_reply(ctx.text)
    if question.kind == state.FOLLOWUP:
        rated = _rating_in(ctx)
        if rated is not None:
            return {"question": question, "answer": rated}
    elif question.kind == state.CONFIRM:
        if answer in (CONFIRM, DECLINE, 1):
            return {"question": question, "answer": CONFIRM if answer == 1 else answer}
    elif question.kind == state.CHOICE:
        if answer is not None:
            return {"question": question, "answer": answer}
    elif question.kind == state.CLARIFY:
        if answer is not None:
            return {"question": question, "answer": answer}
        intent = ctx.analysis.intent if ctx.analysis is not None else None
        if ctx.command is None and intent == "request":
            return {"question": question, "answer": ctx.text}
    await state.forget(ctx.session, ctx.sender.openid)
    return False


def _rating_in(ctx: Context) -> tuple[int | None, bool | None] | None:
    """(rating, solved) when the message answers a follow-up without naming a ticket."""
    a = ctx.analysis
    if a is not None and a.intent == "rate" and a.ticket is None:
        return a.rating, None
    answer = read_answer(ctx.text)
    return answer


@pending.handler(Filter(_answers_pending, "answers_pending"))
async def answer_pending(ctx: Context, question: state.Pending, answer: Any) -> str | None:
    assert ctx.sender is not None
    openid = ctx.sender.openid
    data = question.data
    if question.kind == state.FOLLOWUP:
        await state.forget(ctx.session, openid)
        rating, solved = answer
        return reply(ctx, await desk(ctx).rate(ctx.sender, int(data["ticket"]), rating, ctx.text, solved=solved))
    if answer == DECLINE:
        await state.forget(ctx.session, openid)
        return say(ctx, "ask.declined")
    if question.kind == state.CONFIRM:
        await state.forget(ctx.session, openid)
        return await perform(ctx, data)
    if question.kind == state.CHOICE:
        tickets = [int(t) for t in data.get("tickets", [])]
        picked: int | None = None
        if answer == CONFIRM and len(tickets) == 1:
            picked = tickets[0]
        elif isinstance(answer, int):
            picked = tickets[answer - 1] if 1 <= answer <= len(tickets) else answer if answer in tickets else None
        if picked is None:
            return say(ctx, "ask.choose_again", count=len(tickets))
        await state.forget(ctx.session, openid)
        return await perform(ctx, {**data, "ticket": picked})
    # a clarifying question
    if not isinstance(answer, str) or answer in (CONFIRM, DECLINE):
        return say(ctx, "ask.still_vague")
    await state.forget(ctx.session, openid)
    if data.get("action") == "hand_back":
        from handlers.volunteer import hand_back_with_reason

        return await hand_back_with_reason(ctx, int(data["ticket"]), answer)
    from handlers.resident import open_request_text

    return await open_request_text(ctx, f"{data.get('text', '')}，{answer}", clarified=True)


# ------------------------------------------------------------ short replies

async def _bare_rating(ctx: Context) -> FilterResult:
    """A bare rating (4, 4分, 没解决) from a resident with tickets awaiting one."""
    if ctx.sender is None or ctx.command is not None:
        return False
    answer = read_answer(ctx.text)
    if answer is None:
        return False
    if not await desk(ctx).awaiting_ratings(ctx.sender, limit=1):
        return False
    return {"rating": answer[0], "solved": answer[1]}


@short_replies.handler(Filter(_bare_rating, "bare_rating"))
async def bare_rating(ctx: Context, rating: int | None, solved: bool | None) -> str:
    return await rate_unnumbered(ctx, rating, solved)


@short_replies.handler(Filter(lambda ctx: ctx.command is None and read_reply(ctx.text) is not None, "short_reply"))
async def what_do_you_mean(ctx: Context) -> str:
    return say(ctx, "ask.what")


# ------------------------------------------------------------ near misses

_near: dict[int, NearMiss] = {}


def _near_miss_of(ctx: Context) -> NearMiss:
    analyser = ctx.services.analyser
    found = _near.get(id(analyser))
    if found is None:
        found = _near[id(analyser)] = NearMiss(analyser.commands(), analyser.bare_commands())
    return found


def _slip(ctx: Context) -> FilterResult:
    """A volunteer's or staff member's message that looks like a command but is not one."""
    if ctx.sender is None or VOLUNTEER not in ctx.sender.roles or ctx.command is not None:
        return False
    if ctx.analysis is not None and ctx.analysis.intent != "request":
        return False
    suggestion = _near_miss_of(ctx).suggest(ctx.text)
    return {"suggestion": suggestion} if suggestion else False


@near_miss.handler(Filter(_slip, "near_miss"))
async def did_you_mean(ctx: Context, suggestion: str) -> str:
    return await ask_confirm(ctx, "command", {"text": suggestion}, "ask.command", command=suggestion)
