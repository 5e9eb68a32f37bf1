"""The WeChat webhook: GET URL check and POST messages (plaintext,
compatible and AES safe mode), plus /healthz and the per-request log line.

The handler is thin: verify, read, parse, hand the message to the inbox
(store once, dispatch, store the reply; through the app's group-commit
writer, started and stopped with the app), answer. 403 for a bad signature,
stale timestamp or replayed nonce; 400 for a body we cannot read; 413 for a
body over the limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat.context import Context, Message
from bot.db.writer import Writer
from bot.services import Services
from bot.web import inbox
from bot.wechat.protocol import (
    BadRequest,
    Forbidden,
    SafeMode,
    parse_xml,
    signature_ok,
    text_reply,
    timestamp_fresh,
)

log = logging.getLogger("lianxin.http")

SERVICES = web.AppKey("services", Services)
WRITER = web.AppKey("writer", Writer)
MSG_TYPE = web.RequestKey("msg_type", str)
OPENID = web.RequestKey("openid", str)


def short_openid(openid: str) -> str:
    return openid[:4] + "…" + openid[-4:] if len(openid) > 10 else openid


@web.middleware
async def request_log(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        if log.isEnabledFor(logging.INFO):
            log.info(
                "method=%s path=%s status=%d msg_type=%s openid=%s latency_ms=%.1f",
                request.method, request.path, status, request.get(MSG_TYPE, "-"),
                short_openid(request.get(OPENID, "-")), (time.perf_counter() - started) * 1000,
            )


def _plain(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


def _closing(response: web.Response) -> web.Response:
    """The connection closes after this answer: the unread body is not waited for."""
    response.force_close()
    return response


class Webhook:
    def __init__(self, services: Services, writer: Writer | None = None) -> None:
        self.services = services
        self.writer = writer
        cfg = services.config.wechat
        self.token = cfg.token
        self.window = cfg.replay_window_s
        self.safe = SafeMode(cfg.token, cfg.encoding_aes_key, cfg.app_id) if cfg.encoding_aes_key else None
        self.require_aes = cfg.require_aes and self.safe is not None
        self.max_body = cfg.max_body_bytes
        self.body_timeout = cfg.body_timeout_s

    def _verified(self, request: web.Request) -> tuple[str, str]:
        q = request.query
        timestamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
        if not signature_ok((self.token, timestamp, nonce), q.get("signature", "")):
            raise Forbidden("bad signature")
        if not timestamp_fresh(timestamp, self.window):
            raise Forbidden("timestamp outside the replay window")
        if not nonce or len(nonce) > 64:
            raise Forbidden("bad nonce")
        return timestamp, nonce

    async def get(self, request: web.Request) -> web.Response:
        q = request.query
        if not signature_ok((self.token, q.get("timestamp", ""), q.get("nonce", "")), q.get("signature", "")):
            return _plain(403, "invalid signature")
        return _plain(200, q.get("echostr", ""))

    async def post(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > self.max_body:
            return _closing(_plain(413, "body too large"))  # before reading a byte of it
        try:
            timestamp, nonce = self._verified(request)
        except Forbidden as exc:
            return _plain(403, str(exc))
        aes = request.query.get("encrypt_type", "raw").lower() == "aes"
        if self.require_aes and not aes:
            return _plain(403, "plaintext refused: wechat.require_aes is set")
        try:  # the app's client_max_size answers 413 past the limit for a body without Content-Length
            body = await asyncio.wait_for(request.read(), self.body_timeout)
        except TimeoutError:
            return _closing(_plain(408, "body not received in time"))
        try:
            if aes:
                if self.safe is None:
                    raise BadRequest("safe mode is not configured (wechat.encoding_aes_key)")
                body = self.safe.decrypt(body, request.query.get("msg_signature", ""), timestamp, nonce)
            message = Message.from_fields(parse_xml(body))
        except Forbidden as exc:
            return _plain(403, str(exc))
        except (BadRequest, ValueError) as exc:
            return _plain(400, str(exc))
        request[MSG_TYPE] = message.msg_type
        request[OPENID] = message.openid
        now = self.services.now()
        # classified before the transaction opens: never under SQLite's write lock
        try:
            ahead = await self.services.dispatcher.read_ahead(self.services, message)
        except Exception:  # classified again inside, where a failure is stored for staff
            log.exception("reading ahead failed")
            ahead = {}
        try:
            reply, _first = await inbox.receive(
                self.services.db, message, nonce, now, self._processor(message, now, ahead),
                fallback=lambda: text_reply(message.openid, message.account,
                                            self.services.texts("error.holding"), int(now.timestamp())),
                writer=self.writer,
            )
        except Forbidden as exc:
            return _plain(403, str(exc))
        if reply == "success" or not reply:
            return _plain(200, "success")
        if aes and self.safe is not None:
            reply = self.safe.encrypt(reply, nonce, timestamp)
        return web.Response(text=reply, content_type="application/xml")

    def _processor(self, message: Message, now: datetime, ahead: dict[str, Any]) -> inbox.Process:
        async def process(session: AsyncSession, message_id: int) -> str:
            ctx = Context(message=message, session=session, config=self.services.config,
                          services=self.services, now=now, data={**ahead, "message_id": message_id})
            text = await self.services.dispatcher.dispatch(ctx)
            if text is None:
                return "success"
            return text_reply(message.openid, message.account, text, int(now.timestamp()))

        return process


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        await services.db.ping()
    except Exception as exc:
        return web.json_response({"status": "error", "database": type(exc).__name__}, status=503)
    return web.json_response({"status": "ok", "database": services.db.dialect})


def create_app(services: Services) -> web.Application:
    app = web.Application(client_max_size=services.config.wechat.max_body_bytes, middlewares=[request_log])
    app[SERVICES] = services
    db_cfg = services.config.database
    writer = Writer(services.db, db_cfg.batch_max, db_cfg.batch_wait_ms / 1000)
    app[WRITER] = writer

    async def start_writer(_app: web.Application) -> None:
        writer.start()

    async def stop_writer(_app: web.Application) -> None:
        await writer.stop()

    app.on_startup.append(start_writer)
    app.on_cleanup.append(stop_writer)
    hook = Webhook(services, writer)
    path = services.config.wechat.path
    app.router.add_get(path, hook.get)
    app.router.add_post(path, hook.post)
    app.router.add_get("/healthz", healthz)
    from bot.console import mount

    mount(app, services)
    return app
