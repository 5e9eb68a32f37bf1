"""A fake WeChat (and WeCom) API server on a real loopback port, for tests and benchmarks.

It issues access_tokens (each fetch invalidates the previous token, as
WeChat does), checks the token on every send, records every call, and can be
scripted per endpoint to answer an errcode, an HTTP status, slowly, or by
dropping the connection, for the next N calls or until a time on its clock.

A send counts as delivered only when the fake answered it with success to a
client still connected: a request the client gave up on (timeout, killed
worker) before the answer is recorded with outcome "aborted".

Run alone (benchmarks): ``python -m tests.fake_wechat --port 8700``; GET
/_fake/stats answers the counts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

ENDPOINTS = {
    "token": "/cgi-bin/token",
    "custom": "/cgi-bin/message/custom/send",
    "template": "/cgi-bin/message/template/send",
    "wecom_token": "/cgi-bin/gettoken",
    "wecom_send": "/cgi-bin/message/send",
}
SENDS = ("custom", "template", "wecom_send")


def utcnow() -> datetime:
    return datetime.now(UTC)


class FakeClock:
    """A clock tests move by hand; call it for the current (aware UTC) time."""

    def __init__(self, start: datetime | None = None) -> None:
        self.t = start or datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> datetime:
        self.t += timedelta(seconds=seconds)
        return self.t


@dataclass
class Call:
    """One request the fake received."""

    endpoint: str
    params: dict[str, str]
    body: dict[str, Any] | None
    at: datetime
    outcome: str = "pending"  # ok | errcode:N | http:N | dropped | aborted

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def delivered(self) -> bool:
        return self.ok and self.endpoint in SENDS

    @property
    def to(self) -> str:
        return str((self.body or {}).get("touser", ""))

    @property
    def text(self) -> str:
        """The words of a send: text content, or the template's field values joined."""
        body = self.body or {}
        if "text" in body:
            return str(body["text"].get("content", ""))
        if "data" in body:
            return " ".join(str(v.get("value", "")) for v in body["data"].values())
        return ""


@dataclass
class Rule:
    """A scripted answer: errcode, HTTP status, delay and/or a dropped connection."""

    errcode: int | None = None
    status: int | None = None
    delay: float = 0.0
    drop: bool = False
    remaining: int | None = None  # calls left; None = no count limit
    until: datetime | None = None  # on the fake's clock; None = no time limit
    hits: int = 0

    def active(self, now: datetime) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return self.until is None or now < self.until


@dataclass
class _Tokens:
    current: str | None = None
    expires_at: datetime | None = None
    previous: set[str] = field(default_factory=set)


class FakeWeChat:
    """The fake server. `await start()`, then point api_base_url at `base_url`."""

    def __init__(self, *, clock: Callable[[], datetime] = utcnow, token_ttl: int = 7200,
                 app_id: str = "wxfakeapp", app_secret: str = "fakesecret",
                 corp_id: str = "wwfakecorp", corp_secret: str = "fakecorpsecret",
                 record_bodies: bool = True) -> None:
        self.clock = clock
        self.token_ttl = token_ttl
        self.app_id, self.app_secret = app_id, app_secret
        self.corp_id, self.corp_secret = corp_id, corp_secret
        self.record_bodies = record_bodies
        self.calls: list[Call] = []
        self.counts: Counter[str] = Counter()  # endpoint:outcome, kept even when bodies are not
        self.rules: dict[str, list[Rule]] = {name: [] for name in ENDPOINTS}
        self.window_closed: set[str] = set()  # openids whose customer-service window is closed
        self.invalid_openids: set[str] = set()
        self.invalid_userids: set[str] = set()
        self.templates: set[str] | None = None  # known template ids; None = any
        self._tokens = {"token": _Tokens(), "wecom_token": _Tokens()}
        self._serial = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- scripting -------------------------------------------------------
    def script(self, endpoint: str, *, errcode: int | None = None, status: int | None = None,
               delay: float = 0.0, drop: bool = False, times: int | None = None,
               until: datetime | None = None) -> Rule:
        """Answer the next `times` calls (or all calls until `until`) of `endpoint` this way."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; one of {sorted(ENDPOINTS)}")
        rule = Rule(errcode, status, delay, drop, times, until)
        self.rules[endpoint].append(rule)
        return rule

    def clear_scripts(self) -> None:
        for rules in self.rules.values():
            rules.clear()

    def issue_token(self, endpoint: str = "token") -> str:
        """A new token, as if some other client fetched one: the previous one stops working."""
        tokens = self._tokens[endpoint]
        if tokens.current:
            tokens.previous.add(tokens.current)
        prefix = "AT" if endpoint == "token" else "WT"
        tokens.current = f"{prefix}{next(self._serial):06d}"
        tokens.expires_at = self.clock() + timedelta(seconds=self.token_ttl)
        return tokens.current

    # ---- reading the record ----------------------------------------------
    def of(self, endpoint: str) -> list[Call]:
        return [c for c in self.calls if c.endpoint == endpoint]

    def delivered(self) -> list[Call]:
        return [c for c in self.calls if c.delivered]

    def stats(self) -> dict[str, int]:
        out = dict(self.counts)
        out["delivered"] = sum(v for k, v in self.counts.items()
                               if k.split(":")[0] in SENDS and k.endswith(":ok"))
        return out

    # ---- serving ---------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        app = web.Application()
        for name, path in ENDPOINTS.items():
            method = "GET" if name in ("token", "wecom_token") else "POST"
            app.router.add_route(method, path, self._handler(name))
        app.router.add_get("/_fake/stats", self._stats)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeWeChat:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _stats(self, _request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    def _handler(self, endpoint: str) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            body: dict[str, Any] | None = None
            if request.method == "POST":
                try:
                    body = json.loads(await request.read())
                except ValueError:
                    body = None
            call = Call(endpoint, dict(request.query), body, self.clock())
            if self.record_bodies:
                self.calls.append(call)
            rule = next((r for r in self.rules[endpoint] if r.active(call.at)), None)
            if rule is not None:
                rule.hits += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
                if rule.delay:
                    await asyncio.sleep(rule.delay)
                if rule.drop:
                    return self._finish(call, "dropped", request, None)
                if rule.status is not None:
                    return self._finish(call, f"http:{rule.status}", request,
                                        web.Response(status=rule.status, text="upstream error"))
                if rule.errcode is not None:
                    return self._finish(call, f"errcode:{rule.errcode}", request,
                                        _err(rule.errcode, "scripted error"))
            code, answer = self._answer(endpoint, request, body)
            return self._finish(call, "ok" if code == 0 else f"errcode:{code}", request, answer)

        return handle

    def _finish(self, call: Call, outcome: str, request: web.Request,
                response: web.StreamResponse | None) -> web.StreamResponse:
        transport = request.transport
        if transport is None or transport.is_closing():
            outcome = "aborted"  # the client gave up before the answer
        elif response is None:
            transport.abort()  # drop the connection without an answer
        call.outcome = outcome
        self.counts[f"{call.endpoint}:{outcome}"] += 1
        return response if response is not None else web.Response()

    def _answer(self, endpoint: str, request: web.Request,
                body: dict[str, Any] | None) -> tuple[int, web.Response]:
        q = request.query
        if endpoint == "token":
            if q.get("grant_type") != "client_credential" or q.get("appid") != self.app_id:
                return 40013, _err(40013, "invalid appid")
            if q.get("secret") != self.app_secret:
                return 40125, _err(40125, "invalid appsecret")
            token = self.issue_token("token")
            return 0, web.json_response({"access_token": token, "expires_in": self.token_ttl})
        if endpoint == "wecom_token":
            if q.get("corpid") != self.corp_id or q.get("corpsecret") != self.corp_secret:
                return 40001, _err(40001, "invalid secret")
            return 0, web.json_response({"errcode": 0, "errmsg": "ok",
                                         "access_token": self.issue_token("wecom_token"),
                                         "expires_in": self.token_ttl})
        tokens = self._tokens["wecom_token" if endpoint == "wecom_send" else "token"]
        given = q.get("access_token", "")
        if not given:
            return 41001, _err(41001, "access_token missing")
        if given != tokens.current:
            return 40001, _err(40001, "invalid credential, access_token is invalid or not latest")
        if tokens.expires_at is not None and self.clock() >= tokens.expires_at:
            return 42001, _err(42001, "access_token expired")
        if body is None:
            return 47001, _err(47001, "data format error")
        to = str(body.get("touser", ""))
        if endpoint == "wecom_send":
            if to in self.invalid_userids:
                return 0, web.json_response({"errcode": 0, "errmsg": "ok", "invaliduser": to})
            return 0, web.json_response({"errcode": 0, "errmsg": "ok", "msgid": f"m{next(self._serial)}"})
        if to in self.invalid_openids:
            return 40003, _err(40003, "invalid openid")
        if endpoint == "custom":
            if to in self.window_closed:
                return 45015, _err(45015, "response out of time limit or subscription is canceled")
            return 0, _err(0, "ok")
        if self.templates is not None and body.get("template_id") not in self.templates:
            return 40037, _err(40037, "invalid template_id")
        return 0, web.json_response({"errcode": 0, "errmsg": "ok", "msgid": next(self._serial)})


def _err(code: int, message: str) -> web.Response:
    return web.json_response({"errcode": code, "errmsg": message})


@contextlib.asynccontextmanager
async def running(**kwargs: Any) -> AsyncIterator[FakeWeChat]:
    """A started FakeWeChat, stopped on exit."""
    fake = FakeWeChat(**kwargs)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


async def _serve(port: int, latency: float) -> None:
    fake = FakeWeChat(record_bodies=False)
    if latency:
        for name in SENDS:
            fake.script(name, delay=latency)  # every send takes this long, then succeeds
    await fake.start(port=port)
    print(f"fake WeChat on {fake.base_url}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake WeChat API on loopback (for benchmarks).")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each send takes")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.latency))


if __name__ == "__main__":
    main()


# ---- the world around the fake, for the delivery tests and the benchmark ----

def config_for(fake: FakeWeChat, *, templates: dict[str, str] | None = None, wecom: bool = False,
               api_timeout_s: float = 5.0, redis_url: str = "", **delivery: Any) -> Any:
    """A Config whose [wechat] (and optionally [wecom]) point at `fake`; [delivery] from keywords.

    The API timeout is far above what a loaded machine needs (a test of timeouts passes its own): a
    send that timed out after the fake took it is sent again, as WeChat has no idempotency key, and
    a test of something else would see it twice."""
    from bot.config import Config, DeliveryConfig, WechatConfig, WecomConfig

    options: dict[str, Any] = {"poll_interval_s": 0.01, "batch_size": 20, "max_attempts": 5,
                               "backoff_base_s": 1.0, "backoff_max_s": 30.0, "claim_timeout_s": 60.0}
    options.update(delivery)
    return Config(
        wechat=WechatConfig(token="lianxintest", app_id=fake.app_id, app_secret=fake.app_secret,
                            api_base_url=fake.base_url, api_timeout_s=api_timeout_s,
                            templates=dict(templates or {})),
        wecom=(WecomConfig(corp_id=fake.corp_id, corp_secret=fake.corp_secret, agent_id=1000002,
                           api_base_url=fake.base_url) if wecom else WecomConfig()),
        delivery=DeliveryConfig(redis_url=redis_url, **options),
    )
