"""Our own small async client of the WeChat and WeCom APIs, on aiohttp.

It owns the HTTP side of sending: every call has a timeout, every failure
becomes a typed exception that carries WeChat's errcode (or the HTTP status,
or None for a timeout or a dropped connection), and an invalid-token answer
leads to one shared token refresh and a bounded number of retries. Retrying
other errors with back-off is the worker's business, not this module's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp

from bot.config import WechatConfig, WecomConfig

if TYPE_CHECKING:
    from bot.delivery.token_store import SharedToken

WINDOW_CLOSED = frozenset({45015, 45047})  # out of the customer-service window / over its message count
TOKEN_INVALID = frozenset({40001, 40014, 42001, 41001})  # invalid, not a token, expired, missing
QUOTA = frozenset({45009})  # daily API quota used up
SYSTEM_BUSY = -1
# Codes that no retry of the same message through the same channel can cure.
PERMANENT = frozenset({
    40003,  # invalid openid
    40008,  # invalid message type
    40037,  # invalid template_id
    43004,  # the user has not subscribed
    43019,  # the user blocked the account
    43101,  # the user refused this kind of message
    44002,  # empty post data
    44003,  # empty news data
    44004,  # empty text
    45002,  # content too long
    47001,  # malformed JSON / XML
    47003,  # template data not matching the template
    60111,  # WeCom: no such userid
    81013,  # WeCom: recipient(s) invalid
})

# How many times a call is repeated after an invalid-token answer (each time
# after a refresh of the shared token). Then the error is raised.
TOKEN_RETRIES = 1


class WeChatApiError(Exception):
    """A WeChat (or WeCom) API call failed.

    `errcode` is WeChat's code when it answered with one, None when there was
    no usable answer (timeout, dropped connection, HTTP error, garbage);
    `http_status` is set for HTTP-level failures.
    """

    def __init__(self, errcode: int | None, errmsg: str, *, http_status: int | None = None) -> None:
        super().__init__(f"errcode={errcode} {errmsg}" if errcode is not None else errmsg)
        self.errcode = errcode
        self.errmsg = errmsg
        self.http_status = http_status

    @property
    def is_window_closed(self) -> bool:
        return self.errcode in WINDOW_CLOSED

    @property
    def is_token_invalid(self) -> bool:
        return self.errcode in TOKEN_INVALID

    @property
    def is_quota(self) -> bool:
        return self.errcode in QUOTA

    @property
    def transient(self) -> bool:
        """Worth retrying the same call later: no answer, a 5xx, or 'system busy'."""
        if self.errcode is None:
            return self.http_status is None or self.http_status >= 500 or self.http_status == 429
        return self.errcode == SYSTEM_BUSY

    @property
    def permanent(self) -> bool:
        """No retry through this channel can succeed (bad openid, bad template, ...)."""
        return self.errcode in PERMANENT

    def short(self) -> str:
        """A compact description for last_error and staff notices."""
        if self.errcode is not None:
            return f"{self.errcode} {self.errmsg}"[:200]
        if self.http_status is not None:
            return f"HTTP {self.http_status}"
        return self.errmsg[:200]


class WeChatTransportError(WeChatApiError):
    """No answer at all: timeout, refused or dropped connection."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


def new_http_session(limit: int = 32) -> aiohttp.ClientSession:
    """An aiohttp session for API calls (the timeout is set per call)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit, limit_per_host=limit),
                                 raise_for_status=False)


async def call_json(session: aiohttp.ClientSession, method: str, url: str, *, timeout_s: float,
                    params: Mapping[str, str] | None = None, body: Mapping[str, Any] | None = None
                    ) -> dict[str, Any]:
    """One HTTP call that answers a JSON object with errcode 0 (or none); raises otherwise."""
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    data = None
    headers = None
    if body is not None:
        # ensure_ascii=False: WeChat shows \\uXXXX escapes literally in some clients.
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
    try:
        async with session.request(method, url, params=params, data=data, headers=headers,
                                   timeout=timeout) as resp:
            raw = await resp.read()
            status = resp.status
    except TimeoutError:
        raise WeChatTransportError(f"timeout after {timeout_s:g}s") from None
    except aiohttp.ClientError as exc:
        raise WeChatTransportError(f"{type(exc).__name__}: {exc}"[:200]) from None
    if status >= 400:
        raise WeChatApiError(None, f"HTTP {status}", http_status=status)
    try:
        answer = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WeChatApiError(None, f"not JSON: {raw[:80]!r}", http_status=status) from None
    if not isinstance(answer, dict):
        raise WeChatApiError(None, f"not a JSON object: {raw[:80]!r}", http_status=status)
    errcode = answer.get("errcode", 0)
    if errcode not in (0, None):
        try:
            code = int(errcode)
        except (TypeError, ValueError):
            code = SYSTEM_BUSY
        raise WeChatApiError(code, str(answer.get("errmsg", "")))
    return answer


class _TokenClient:
    """What the WeChat and WeCom clients share: a token, calls that carry it."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, timeout_s: float,
                 token: SharedToken) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.token = token

    async def _post_with_token(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        bad: str | None = None
        for attempt in range(TOKEN_RETRIES + 1):
            value = await self.token.get(bad=bad)
            try:
                return await call_json(self.session, "POST", self.base_url + path, timeout_s=self.timeout_s,
                                       params={"access_token": value}, body=body)
            except WeChatApiError as exc:
                if not exc.is_token_invalid or attempt == TOKEN_RETRIES:
                    raise
                bad = value
        raise AssertionError("unreachable")  # pragma: no cover


class WeChatClient(_TokenClient):
    """The official account's API: access_token, customer-service and template messages."""

    def __init__(self, session: aiohttp.ClientSession, config: WechatConfig, token: SharedToken) -> None:
        super().__init__(session, config.api_base_url, config.api_timeout_s, token)
        self.config = config

    async def fetch_token(self) -> tuple[str, int]:
        """A NEW access_token from WeChat (this invalidates the previous one): use SharedToken."""
        params = {"grant_type": "client_credential", "appid": self.config.app_id,
                  "secret": self.config.app_secret}
        answer = await call_json(self.session, "GET", self.base_url + "/cgi-bin/token",
                                 timeout_s=self.timeout_s, params=params)
        return _token_answer(answer)

    async def send_custom_text(self, openid: str, text: str) -> None:
        """A customer-service text message (only inside the window after the user last wrote)."""
        await self._post_with_token("/cgi-bin/message/custom/send",
                                    {"touser": openid, "msgtype": "text", "text": {"content": text}})

    async def send_template(self, openid: str, template_id: str, data: Mapping[str, Any],
                            url: str = "") -> int | None:
        """A template message; `data` maps field -> value (a str or {"value": ..., "color": ...}).
        Answers WeChat's msgid."""
        fields = {k: v if isinstance(v, Mapping) else {"value": str(v)} for k, v in data.items()}
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": fields}
        if url:
            body["url"] = url
        answer = await self._post_with_token("/cgi-bin/message/template/send", body)
        msgid = answer.get("msgid")
        return int(msgid) if isinstance(msgid, int) else None


class WeComClient(_TokenClient):
    """A WeCom (企业微信) application: its token and text messages to a userid."""

    def __init__(self, session: aiohttp.ClientSession, config: WecomConfig, timeout_s: float,
                 token: SharedToken) -> None:
        super().__init__(session, config.api_base_url, timeout_s, token)
        self.config = config

    async def fetch_token(self) -> tuple[str, int]:
        params = {"corpid": self.config.corp_id, "corpsecret": self.config.corp_secret}
        answer = await call_json(self.session, "GET", self.base_url + "/cgi-bin/gettoken",
                                 timeout_s=self.timeout_s, params=params)
        return _token_answer(answer)

    async def send_text(self, userid: str, text: str) -> None:
        answer = await self._post_with_token("/cgi-bin/message/send", {
            "touser": userid, "msgtype": "text", "agentid": self.config.agent_id, "text": {"content": text},
        })
        if answer.get("invaliduser"):  # WeCom says 0 but names the userid it could not reach
            raise WeChatApiError(81013, f"invaliduser {answer['invaliduser']}")


def _token_answer(answer: Mapping[str, Any]) -> tuple[str, int]:
    token = answer.get("access_token")
    expires_in = answer.get("expires_in", 7200)
    if not isinstance(token, str) or not token or not isinstance(expires_in, int):
        raise WeChatApiError(None, f"token answer without access_token/expires_in: {dict(answer)!r}"[:200])
    return token, expires_in


__all__ = [
    "WeChatApiError",
    "WeChatClient",
    "WeChatTransportError",
    "WeComClient",
    "call_json",
    "new_http_session",
]
