"""The dispatcher: routers of handlers, composable filters, middlewares.

A feature module owns one Router and declares each handler with the filters
that say what it handles (message type, event, intent, command, role). The
Dispatcher runs the middlewares around the first handler, in registration
order, whose filters all pass. A handler returns the reply text, or None for
a silent "success".
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from bot.chat.context import Context

HandlerFn = Callable[[Context], Awaitable[str | None]]
Middleware = Callable[[Context, Callable[[Context], Awaitable[str | None]]], Awaitable[str | None]]


class Filter:
    """A predicate on the context; combine with &, | and ~."""

    def __init__(self, check: Callable[[Context], bool | Awaitable[bool]], name: str = "") -> None:
        self._check = check
        self.name = name or getattr(check, "__name__", "filter")

    async def __call__(self, ctx: Context) -> bool:
        result = self._check(ctx)
        if inspect.isawaitable(result):
            result = await result
        return bool(result)

    def __and__(self, other: Filter) -> Filter:
        async def both(ctx: Context) -> bool:
            return await self(ctx) and await other(ctx)

        return Filter(both, f"({self.name} & {other.name})")

    def __or__(self, other: Filter) -> Filter:
        async def either(ctx: Context) -> bool:
            return await self(ctx) or await other(ctx)

        return Filter(either, f"({self.name} | {other.name})")

    def __invert__(self) -> Filter:
        async def negated(ctx: Context) -> bool:
            return not await self(ctx)

        return Filter(negated, f"~{self.name}")

    def __repr__(self) -> str:
        return f"Filter({self.name})"


@dataclass
class Handler:
    fn: HandlerFn
    filters: tuple[Filter, ...]

    async def matches(self, ctx: Context) -> bool:
        for f in self.filters:
            if not await f(ctx):
                return False
        return True


class Router:
    """The handlers of one feature module."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.handlers: list[Handler] = []

    def handler(self, *filters: Filter) -> Callable[[HandlerFn], HandlerFn]:
        def register(fn: HandlerFn) -> HandlerFn:
            self.handlers.append(Handler(fn, filters))
            return fn

        return register


class Dispatcher:
    def __init__(self, routers: Iterable[Router] = (), middlewares: Iterable[Middleware] = ()) -> None:
        self.routers: list[Router] = list(routers)
        self.middlewares: list[Middleware] = list(middlewares)

    def include(self, router: Router) -> None:
        self.routers.append(router)

    def use(self, middleware: Middleware) -> None:
        self.middlewares.append(middleware)

    async def find(self, ctx: Context) -> Handler | None:
        for router in self.routers:
            for handler in router.handlers:
                if await handler.matches(ctx):
                    return handler
        return None

    async def dispatch(self, ctx: Context) -> str | None:
        async def innermost(c: Context) -> str | None:
            handler = await self.find(c)
            return await handler.fn(c) if handler else None

        call: Callable[[Context], Awaitable[str | None]] = innermost
        for middleware in reversed(self.middlewares):
            call = _bind(middleware, call)
        return await call(ctx)


def _bind(middleware: Middleware, nxt: Callable[[Context], Awaitable[str | None]]):  # type: ignore[no-untyped-def]
    async def run(ctx: Context) -> str | None:
        return await middleware(ctx, nxt)

    return run
