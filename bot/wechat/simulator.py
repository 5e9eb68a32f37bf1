"""A stand-in for WeChat's servers: builds messages and signs (and, in safe
mode, encrypts) them exactly as WeChat does, with wechatpy's own signer and
WeChatCrypto, and reads the replies. Used by `python -m bot chat`, the tests
and the benchmarks; never by the webhook itself.

Modes: "plain" (plaintext), "compat" (兼容模式: plaintext fields plus
<Encrypt>, with encrypt_type=aes) and "aes" (安全模式: only <Encrypt>).
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

MODES = ("plain", "compat", "aes")
_msg_ids = itertools.count(int(time.time() * 1000) * 1000 + secrets.randbelow(1000))


def _signature(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


@dataclass
class SignedRequest:
    query: dict[str, str]
    body: bytes
    nonce: str
    timestamp: str


@dataclass
class WeChatSimulator:
    token: str
    app_id: str = "wxsimulator000000"
    aes_key: str = ""
    mode: str = "plain"
    account: str = "gh_lianxin0001"
    _crypto: WeChatCrypto | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if self.mode != "plain":
            if not self.aes_key:
                raise ValueError("compat and aes modes need the EncodingAESKey")
            self._crypto = WeChatCrypto(self.token, self.aes_key, self.app_id)

    # ------------------------------------------------------------- messages

    @staticmethod
    def next_msg_id() -> int:
        return next(_msg_ids)

    def message_xml(self, openid: str, msg_type: str, fields: dict[str, Any], *, msg_id: int | None = None,
                    create_time: int | None = None, with_msg_id: bool = True) -> str:
        parts = [
            f"<ToUserName><![CDATA[{self.account}]]></ToUserName>",
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>",
            f"<CreateTime>{create_time if create_time is not None else int(time.time())}</CreateTime>",
            f"<MsgType><![CDATA[{msg_type}]]></MsgType>",
        ]
        for key, value in fields.items():
            text = str(value)
            parts.append(f"<{key}>{escape(text)}</{key}>")
        if with_msg_id:
            parts.append(f"<MsgId>{msg_id if msg_id is not None else self.next_msg_id()}</MsgId>")
        return "<xml>" + "".join(parts) + "</xml>"

    def text(self, openid: str, content: str, **kw: Any) -> str:
        return self.message_xml(openid, "text", {"Content": content}, **kw)

    def voice(self, openid: str, recognition: str, **kw: Any) -> str:
        return self.message_xml(openid, "voice", {"MediaId": "media-" + secrets.token_hex(4), "Format": "amr",
                                                  "Recognition": recognition}, **kw)

    def image(self, openid: str, pic_url: str = "http://mmbiz.example/pic.jpg", **kw: Any) -> str:
        return self.message_xml(openid, "image", {"PicUrl": pic_url, "MediaId": "media-" + secrets.token_hex(4)},
                                **kw)

    def location(self, openid: str, x: float = 25.71, y: float = 116.75, label: str = "", **kw: Any) -> str:
        return self.message_xml(openid, "location", {"Location_X": x, "Location_Y": y, "Scale": 15,
                                                     "Label": label}, **kw)

    def event(self, openid: str, event: str, key: str = "", **kw: Any) -> str:
        fields = {"Event": event}
        if key:
            fields["EventKey"] = key
        return self.message_xml(openid, "event", fields, with_msg_id=False, **kw)

    # --------------------------------------------------------------- signing

    def sign(self, xml: str | bytes, openid: str = "", *, nonce: str | None = None,
             timestamp: int | None = None) -> SignedRequest:
        """The query and body WeChat would POST for this message."""
        nonce = nonce or secrets.token_hex(8)
        ts = str(timestamp if timestamp is not None else int(time.time()))
        query = {"signature": _signature(self.token, ts, nonce), "timestamp": ts, "nonce": nonce}
        if openid:
            query["openid"] = openid
        if self._crypto is None:  # bytes go out as they are, even if they are not UTF-8
            return SignedRequest(query, xml if isinstance(xml, bytes) else xml.encode("utf-8"), nonce, ts)
        raw = xml.decode("utf-8") if isinstance(xml, bytes) else xml
        envelope = xmltodict.parse(self._crypto.encrypt_message(raw, nonce, ts))["xml"]
        encrypted = envelope["Encrypt"]
        query.update(encrypt_type="aes", msg_signature=_signature(self.token, ts, nonce, encrypted))
        if self.mode == "compat":
            body = raw.replace("</xml>", f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
        else:
            body = (f"<xml><ToUserName><![CDATA[{self.account}]]></ToUserName>"
                    f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
        return SignedRequest(query, body.encode("utf-8"), nonce, ts)

    def url_check(self, echostr: str, *, timestamp: int | None = None) -> dict[str, str]:
        nonce = secrets.token_hex(8)
        ts = str(timestamp if timestamp is not None else int(time.time()))
        return {"signature": _signature(self.token, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": echostr}

    # --------------------------------------------------------------- replies

    def read_reply(self, body: str | bytes, request: SignedRequest | None = None) -> dict[str, str]:
        """The reply's fields; in safe mode checks its signature and decrypts it."""
        text = body.decode() if isinstance(body, bytes) else body
        if text in ("", "success"):
            return {}
        fields: dict[str, str] = xmltodict.parse(text)["xml"]
        if "Encrypt" in fields:
            if self._crypto is None:
                raise ValueError("encrypted reply in plaintext mode")
            plain = self._crypto.decrypt_message(text, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"])
            fields = xmltodict.parse(plain)["xml"]
        return fields
