"""The staff console (design.md §7): web pages under /console/ served by
`serve` on the same port, with every asset in this package (no CDN).

A thin layer like the handlers: each page reads through bot/domain and each
action calls the ticket desk or another domain rule. This module wires the
sub-application: templates, static files, and the middleware that requires a
session on every page and a CSRF token on every POST."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.console.common import (
    COOKIE,
    PREFIX,
    SERVICES,
    TEXTS,
    UPLOAD_MAX_BYTES,
    VIEWER,
    Viewer,
    forbidden,
    load_texts,
)
from bot.domain.console_access import csrf_ok, open_session, scope_of
from bot.services import Services

HERE = Path(__file__).resolve().parent
PUBLIC = ("/console/login", "/console/static/")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def require_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(PUBLIC):
        return await handler(request)
    services = request.app[SERVICES]
    cfg = services.config.console
    async with services.db.transaction() as session:
        active = await open_session(session, request.cookies.get(COOKIE, ""), services.now(), cfg.idle_timeout_min)
    if active is None:
        if request.method == "GET":
            raise web.HTTPSeeOther(f"{PREFIX}/login")
        raise web.HTTPUnauthorized(text="login required")
    if request.method == "POST":
        request = request.clone(client_max_size=UPLOAD_MAX_BYTES)
        form = await request.post()
        given = form.get("csrf_token", "")
        if not isinstance(given, str) or not csrf_ok(given, active.csrf_token):
            return forbidden(request)
    request[VIEWER] = Viewer(active.person, scope_of(active.person, services.config), active.csrf_token,
                             active.id_hash)
    return await handler(request)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if not request.path.startswith("/console/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def create_console_app(services: Services) -> web.Application:
    from bot.console import views

    app = web.Application(middlewares=[security_headers, require_session])
    app[SERVICES] = services
    app[TEXTS] = load_texts()
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True)
    env.globals.update(t=app[TEXTS], prefix=PREFIX)
    env.filters["bj"] = views.beijing_text
    views.add_routes(app)
    app.router.add_static("/static/", HERE / "static", name="static")
    return app


def mount(app: web.Application, services: Services) -> None:
    """Serve the console under /console/ of the webhook's application."""
    app.add_subapp(PREFIX, create_console_app(services))
