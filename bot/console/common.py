"""What the console's modules share: app keys, the viewer, texts, small responses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bot.domain.console_access import Scope
from bot.models import Person
from bot.services import Services
from bot.texts import Texts

PREFIX = "/console"
COOKIE = "lianxin_console"
UPLOAD_MAX_BYTES = 8 * 1024 * 1024

SERVICES = web.AppKey("console_services", Services)
TEXTS = web.AppKey("console_texts", Texts)


@dataclass(frozen=True)
class Viewer:
    """The logged-in person, what they see, and their session's CSRF token."""

    person: Person
    scope: Scope
    csrf_token: str
    session_hash: str


VIEWER = web.RequestKey("console_viewer", Viewer)


def load_texts() -> Texts:
    return Texts(Path(__file__).resolve().parent / "texts.toml", Path("console_texts.toml"))


def viewer(request: web.Request) -> Viewer:
    return request[VIEWER]


def render(request: web.Request, name: str, context: dict[str, Any], status: int = 200) -> web.Response:
    """A page, with the viewer and their CSRF token for every form on it."""
    view = request.get(VIEWER)
    base = {"viewer": view, "csrf": view.csrf_token if view else "", "path": request.path}
    return aiohttp_jinja2.render_template(name, request, {**base, **context}, status=status)


def not_found(request: web.Request) -> web.Response:
    return render(request, "message.html", {"message": request.app[TEXTS]("app.not_found")}, status=404)


def forbidden(request: web.Request) -> web.Response:
    return render(request, "message.html", {"message": request.app[TEXTS]("app.forbidden")}, status=403)
