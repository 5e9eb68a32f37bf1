"""The inbound event a handler sees: the message fields, plus what the
middlewares add (who the sender is, what the router read)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.config import Config
    from bot.domain.identity import Sender
    from bot.services import Services
    from nlp import Analysis, Command


# Limits checked before anything reaches the database (the columns' sizes, a
# CreateTime a datetime can hold, a MsgId that fits 64 bits).
MAX_OPENID = 64
MAX_MSG_TYPE = 32
MAX_EVENT = 64
MAX_EVENT_KEY = 128
MAX_CREATE_TIME = 4_102_444_800  # 2100-01-01
MAX_MSG_ID = 2**64 - 1
MAX_DEDUP_KEY = 200


@dataclass
class Message:
    """One WeChat message or event, as parsed from its XML."""

    openid: str
    account: str
    msg_type: str
    create_time: int
    msg_id: int | None = None
    content: str = ""
    event: str = ""
    event_key: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def dedup_key(self) -> str:
        if self.msg_id is not None:
            return f"m:{self.msg_id}"
        key = f"e:{self.openid}:{self.create_time}:{self.event}:{self.event_key}"
        if len(key) > MAX_DEDUP_KEY:  # a long event key: keep the column's size, stay unique
            key = "h:" + hashlib.sha256(key.encode()).hexdigest()
        return key

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> Message:
        """Raises ValueError when a required field is missing or wrong (a 400, never
        something the database refuses later)."""
        msg_type = fields.get("MsgType", "").strip().lower()
        if not msg_type:
            raise ValueError("missing MsgType")
        if len(msg_type) > MAX_MSG_TYPE:
            raise ValueError("MsgType too long")
        openid = fields.get("FromUserName", "").strip()
        if not openid:
            raise ValueError("missing FromUserName")
        if len(openid) > MAX_OPENID:
            raise ValueError("FromUserName too long")
        try:
            create_time = int(fields.get("CreateTime", "").strip() or 0)
        except ValueError:
            raise ValueError("CreateTime is not a number") from None
        if not 0 <= create_time <= MAX_CREATE_TIME:
            raise ValueError("CreateTime out of range")
        msg_id_raw = fields.get("MsgId", "").strip()
        try:
            msg_id = int(msg_id_raw) if msg_id_raw else None
        except ValueError:
            raise ValueError("MsgId is not a number") from None
        if msg_id is not None and not 0 <= msg_id <= MAX_MSG_ID:
            raise ValueError("MsgId out of range")
        event = fields.get("Event", "").strip().lower()
        if len(event) > MAX_EVENT:
            raise ValueError("Event too long")
        event_key = fields.get("EventKey", "").strip()
        if len(event_key) > MAX_EVENT_KEY:
            raise ValueError("EventKey too long")
        if msg_id is None and msg_type != "event":
            raise ValueError("missing MsgId")
        if msg_type == "voice":
            content = fields.get("Recognition", "")
        elif msg_type == "text":
            content = fields.get("Content", "")
        else:
            content = ""
        return cls(
            openid=openid,
            account=fields.get("ToUserName", "").strip(),
            msg_type=msg_type,
            create_time=create_time,
            msg_id=msg_id,
            content=content,
            event=event,
            event_key=event_key,
            fields=fields,
        )


@dataclass
class Context:
    """What a handler gets: the message, an open database session (its
    transaction commits with the reply), the config, and the services."""

    message: Message
    session: AsyncSession
    config: Config
    services: Services
    now: datetime
    sender: Sender | None = None
    analysis: Analysis | None = None
    command: Command | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.message.content
