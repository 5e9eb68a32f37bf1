"""Handler modules, one router per feature; build_dispatcher wires them up."""

from __future__ import annotations

from bot.dispatcher import Dispatcher


def build_dispatcher() -> Dispatcher:
    from handlers import temporary

    return Dispatcher(routers=[temporary.router])
