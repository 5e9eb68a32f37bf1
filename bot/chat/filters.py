"""Small composable filters that handlers declare (see bot.chat.dispatcher)."""

from __future__ import annotations

from bot.chat.context import Context
from bot.chat.dispatcher import Filter, FilterResult


def msg_type(*types: str) -> Filter:
    wanted = frozenset(types)
    return Filter(lambda ctx: ctx.message.msg_type in wanted, f"msg_type{sorted(wanted)}")


def event(*names: str) -> Filter:
    wanted = frozenset(n.lower() for n in names)
    return Filter(lambda ctx: ctx.message.msg_type == "event" and ctx.message.event in wanted,
                  f"event{sorted(wanted)}")


def click(*keys: str) -> Filter:
    wanted = frozenset(keys)
    return Filter(lambda ctx: ctx.message.event == "click" and ctx.message.event_key in wanted,
                  f"click{sorted(wanted)}")


def intent(*names: str) -> Filter:
    wanted = frozenset(names)
    return Filter(lambda ctx: ctx.analysis is not None and ctx.analysis.intent in wanted, f"intent{sorted(wanted)}")


def command(*names: str) -> Filter:
    """Passes a parsed command of one of ``names`` and hands it over as ``cmd``."""
    wanted = frozenset(names)

    def check(ctx: Context) -> FilterResult:
        return {"cmd": ctx.command} if ctx.command is not None and ctx.command.name in wanted else False

    return Filter(check, f"command{sorted(wanted)}")


def role(*roles: str) -> Filter:
    wanted = frozenset(roles)
    return Filter(lambda ctx: ctx.sender is not None and bool(ctx.sender.roles & wanted), f"role{sorted(wanted)}")


def has_text() -> Filter:
    return Filter(lambda ctx: bool(ctx.message.content.strip()), "has_text")


def any_message() -> Filter:
    return Filter(lambda ctx: True, "any")
