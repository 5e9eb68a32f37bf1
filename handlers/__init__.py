"""Handler modules, one router per feature; build_dispatcher wires them up
in the order they are tried (events and media first, then answers to a
pending question, short replies and near-miss commands, then the commands of
volunteers and staff, then residents' intents, then requests)."""

from __future__ import annotations

from bot.chat.dispatcher import Dispatcher


def build_dispatcher() -> Dispatcher:
    from handlers import console, conversation, events, fallback, media, middlewares, resident, staff, visits, volunteer

    return Dispatcher(
        routers=[events.router, media.router, conversation.pending, conversation.short_replies,
                 conversation.near_miss, staff.router, staff.refusals, console.router, console.refusals,
                 volunteer.router, volunteer.refusals, visits.router, resident.router, fallback.router],
        middlewares=[middlewares.rate_limit, middlewares.identify, middlewares.read_text],
        read_ahead=[middlewares.read_ahead],
    )
