"""The dispatcher: routers of handlers, composable filters, middlewares.

A feature module owns one Router and declares each handler with the filters
that say what it handles (message type, event, intent, command, role); a
router may carry filters of its own that every one of its handlers needs
(a role, say). The Dispatcher runs the middlewares around the first handler,
in registration order, whose filters all pass. A filter may return a dict
instead of True: its items are handed to the handler as keyword arguments
(``command(...)`` hands over ``cmd``). A handler returns the reply text, or
None for a silent "success".
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bot.chat.context import Context, Message

HandlerFn = Callable[..., Awaitable[str | None]]  # (ctx, **data from the filters)
Middleware = Callable[[Context, Callable[[Context], Awaitable[str | None]]], Awaitable[str | None]]
# Work done on a message before its transaction opens (the webhook runs it outside the database
# write lock); what it returns lands in Context.data for the middlewares and handlers.
ReadAhead = Callable[[Any, Message], Awaitable[dict[str, Any]]]
FilterResult = bool | dict[str, Any]


class Filter:
    """A predicate on the context; combine with &, | and ~. The check may
    return a dict (a pass that hands data to the handler) instead of True."""

    def __init__(self, check: Callable[[Context], FilterResult | Awaitable[FilterResult]], name: str = "") -> None:
        self._check = check
        self.name = name or getattr(check, "__name__", "filter")

    async def evaluate(self, ctx: Context) -> dict[str, Any] | None:
        """None when the filter fails, else the data it hands over ({} for a plain pass)."""
        result = self._check(ctx)
        if not isinstance(result, (bool, dict)) and inspect.isawaitable(result):
            result = await result
        if isinstance(result, dict):
            return result
        return {} if result else None

    async def __call__(self, ctx: Context) -> bool:
        return await self.evaluate(ctx) is not None

    def __and__(self, other: Filter) -> Filter:
        async def both(ctx: Context) -> FilterResult:
            first = await self.evaluate(ctx)
            if first is None:
                return False
            second = await other.evaluate(ctx)
            return False if second is None else {**first, **second}

        return Filter(both, f"({self.name} & {other.name})")

    def __or__(self, other: Filter) -> Filter:
        async def either(ctx: Context) -> FilterResult:
            first = await self.evaluate(ctx)
            if first is not None:
                return first
            second = await other.evaluate(ctx)
            return False if second is None else second

        return Filter(either, f"({self.name} | {other.name})")

    def __invert__(self) -> Filter:
        async def negated(ctx: Context) -> bool:
            return not await self(ctx)

        return Filter(negated, f"~{self.name}")

    def __repr__(self) -> str:
        return f"Filter({self.name})"


async def passes(filters: Iterable[Filter], ctx: Context) -> dict[str, Any] | None:
    """The data all ``filters`` hand over, or None when one of them fails."""
    data: dict[str, Any] = {}
    for f in filters:
        found = await f.evaluate(ctx)
        if found is None:
            return None
        data.update(found)
    return data


@dataclass
class Handler:
    fn: HandlerFn
    filters: tuple[Filter, ...]

    def __post_init__(self) -> None:
        self._wanted = frozenset(inspect.signature(self.fn).parameters)  # read once, not per message

    async def matches(self, ctx: Context) -> dict[str, Any] | None:
        return await passes(self.filters, ctx)

    async def call(self, ctx: Context, data: dict[str, Any]) -> str | None:
        wanted = self._wanted
        return await self.fn(ctx, **{k: v for k, v in data.items() if k in wanted})


class Router:
    """The handlers of one feature module, and the filters all of them need."""

    def __init__(self, name: str, *filters: Filter) -> None:
        self.name = name
        self.filters = filters
        self.handlers: list[Handler] = []

    def handler(self, *filters: Filter) -> Callable[[HandlerFn], HandlerFn]:
        def register(fn: HandlerFn) -> HandlerFn:
            self.handlers.append(Handler(fn, filters))
            return fn

        return register


class Dispatcher:
    def __init__(self, routers: Iterable[Router] = (), middlewares: Iterable[Middleware] = (),
                 read_ahead: Iterable[ReadAhead] = ()) -> None:
        self.routers: list[Router] = list(routers)
        self.middlewares: list[Middleware] = list(middlewares)
        self.readers: list[ReadAhead] = list(read_ahead)

    async def read_ahead(self, services: Any, message: Message) -> dict[str, Any]:
        """What the readers work out from `message` alone (its classification),
        before any transaction: the data to hand to `dispatch` in Context.data."""
        data: dict[str, Any] = {}
        for reader in self.readers:
            data.update(await reader(services, message))
        return data

    def include(self, router: Router) -> None:
        self.routers.append(router)

    def use(self, middleware: Middleware) -> None:
        self.middlewares.append(middleware)

    async def find(self, ctx: Context) -> tuple[Handler, dict[str, Any]] | None:
        """The first handler whose router's and own filters pass, with their data."""
        for router in self.routers:
            shared = await passes(router.filters, ctx)
            if shared is None:
                continue
            for handler in router.handlers:
                own = await handler.matches(ctx)
                if own is not None:
                    return handler, {**shared, **own}
        return None

    async def dispatch(self, ctx: Context) -> str | None:
        async def innermost(c: Context) -> str | None:
            found = await self.find(c)
            if found is None:
                return None
            handler, data = found
            return await handler.call(c, data)

        call: Callable[[Context], Awaitable[str | None]] = innermost
        for middleware in reversed(self.middlewares):
            call = _bind(middleware, call)
        return await call(ctx)


def _bind(middleware: Middleware, nxt: Callable[[Context], Awaitable[str | None]]
          ) -> Callable[[Context], Awaitable[str | None]]:
    async def run(ctx: Context) -> str | None:
        return await middleware(ctx, nxt)

    return run
