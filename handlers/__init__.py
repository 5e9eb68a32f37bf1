"""Handler modules, one router per feature; build_dispatcher wires them up
in the order they are tried (events and media first, then the commands of
volunteers and staff, then residents' intents, then requests)."""

from __future__ import annotations

from bot.chat.dispatcher import Dispatcher


def build_dispatcher() -> Dispatcher:
    from handlers import console, events, fallback, followup, media, middlewares, resident, staff, volunteer

    return Dispatcher(
        routers=[events.router, media.router, staff.router, staff.refusals, console.router, console.refusals,
                 volunteer.router, volunteer.refusals,
                 followup.router, resident.router, fallback.router],
        middlewares=[middlewares.identify, middlewares.read_text],
    )
