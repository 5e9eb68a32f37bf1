"""Which channel carries a message, decided at send time.

Recipients are resolved when the message goes out (a person's openid or
WeCom userid may have changed since it was queued). The chain: a WeCom
application message when WeCom is on and the person has a userid; else a
customer-service text; when WeChat says the window is closed (45015/45047),
or the recipient has not written for 48 h, the template configured for the
message's kind (or for "notice").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.delivery.wechat_api import WeChatApiError, WeChatClient, WeComClient
from bot.models import Person, Resident

log = logging.getLogger("lianxin.delivery.channels")

SERVICE_WINDOW = timedelta(hours=48)  # WeChat's customer-service window after the user last wrote

# Reasons a message cannot be delivered at all (keys of [delivery.reasons] in texts.toml).
REASON_NO_RECIPIENT = "no_recipient"
REASON_NO_OPENID = "no_openid"
REASON_UNSUBSCRIBED = "unsubscribed"
REASON_NO_TEMPLATE = "no_template"
REASON_INVALID_RECIPIENT = "invalid_recipient"
REASON_TEMPLATE = "template"
REASON_REJECTED = "rejected"
REASON_RETRIES = "retries"


class Undeliverable(Exception):
    """No retry can deliver this message (unknown recipient, no template, ...)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def reason_of(exc: WeChatApiError) -> str:
    """The [delivery.reasons] key of a permanent API error."""
    if exc.errcode in (40003, 43004, 43019, 43101, 60111, 81013):
        return REASON_INVALID_RECIPIENT
    if exc.errcode in (40037, 47003):
        return REASON_TEMPLATE
    return REASON_REJECTED


@dataclass(frozen=True)
class Recipient:
    """Where a message can reach someone, as the roster says now."""

    name: str
    openid: str | None
    wecom_userid: str | None = None
    last_message_at: datetime | None = None
    subscribed: bool = True


@dataclass(frozen=True)
class Outgoing:
    """What the channels need of an outbox row."""

    id: int
    kind: str
    text: str
    data: dict[str, Any]
    person_id: int | None
    openid: str | None


def recipient_key(msg: Outgoing) -> str:
    return f"p{msg.person_id}" if msg.person_id is not None else f"o{msg.openid}"


async def resolve(session: AsyncSession, messages: Iterable[Outgoing]) -> dict[str, Recipient]:
    """recipient_key -> Recipient for every message (missing when nobody is found)."""
    messages = list(messages)
    person_ids = {m.person_id for m in messages if m.person_id is not None}
    openids = {m.openid for m in messages if m.person_id is None and m.openid}
    found: dict[str, Recipient] = {}
    if person_ids:
        rows = await session.execute(select(Person.id, Person.name, Person.openid, Person.wecom_userid,
                                            Person.last_message_at).where(Person.id.in_(person_ids)))
        for row in rows:
            found[f"p{row.id}"] = Recipient(row.name, row.openid, row.wecom_userid, row.last_message_at)
    if openids:
        rows = await session.execute(select(Resident.openid, Resident.last_message_at, Resident.subscribed)
                                     .where(Resident.openid.in_(openids)))
        known = {row.openid: row for row in rows}
        for openid in openids:
            row = known.get(openid)  # type: ignore[assignment]
            # An openid without a resident row (someone queued it directly) is still worth a try.
            found[f"o{openid}"] = (Recipient("", openid, None, row.last_message_at, bool(row.subscribed))
                                   if row is not None else Recipient("", openid))
    return found


class ChannelChain:
    """Sends one message through the first channel that can carry it; answers its name."""

    def __init__(self, config: Config, wechat: WeChatClient, wecom: WeComClient | None,
                 now: Callable[[], datetime]) -> None:
        self.config = config
        self.wechat = wechat
        self.wecom = wecom
        self.now = now

    def template_for(self, kind: str) -> str:
        templates = self.config.wechat.templates
        return templates.get(kind) or templates.get("notice") or ""

    async def send(self, msg: Outgoing, to: Recipient | None) -> str:
        """'wecom', 'custom' or 'template'; raises WeChatApiError or Undeliverable."""
        if to is None:
            raise Undeliverable(REASON_NO_RECIPIENT, f"recipient of message {msg.id} not found")
        if self.wecom is not None and to.wecom_userid:
            try:
                await self.wecom.send_text(to.wecom_userid, msg.text)
                return "wecom"
            except WeChatApiError as exc:
                # A transient error is retried on WeCom: it may have got through.
                if not exc.permanent or not to.openid:
                    raise
                log.warning("WeCom refused %s for message %s (%s); trying WeChat", to.wecom_userid, msg.id,
                            exc.short())
        if not to.openid:
            raise Undeliverable(REASON_NO_OPENID, "recipient has no openid")
        if not to.subscribed:
            raise Undeliverable(REASON_UNSUBSCRIBED, "recipient unsubscribed")
        template_id = self.template_for(msg.kind)
        window_open = to.last_message_at is None or self.now() - to.last_message_at < SERVICE_WINDOW
        if window_open or not template_id:
            try:
                await self.wechat.send_custom_text(to.openid, msg.text)
                return "custom"
            except WeChatApiError as exc:
                if not exc.is_window_closed:
                    raise
                if not template_id:
                    raise Undeliverable(REASON_NO_TEMPLATE,
                                        f"{exc.short()}; no template configured for {msg.kind!r}") from None
        url = str(msg.data.get("url", ""))
        await self.wechat.send_template(to.openid, template_id, template_data(msg), url=url)
        return "template"


def template_data(msg: Outgoing) -> dict[str, Any]:
    """The template's fields: data["template"] when the sender gave them, else {"content": text}."""
    given = msg.data.get("template")
    if isinstance(given, dict) and given:
        return dict(given)
    return {"content": msg.text}
