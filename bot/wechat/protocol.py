"""Signatures, safe-mode encryption and the message XML of the WeChat protocol.

Signatures are compared in constant time. XML is parsed with defusedxml with
DTDs forbidden, so no body can expand entities or reach the network. AES is
wechatpy's PrpCrypto; the envelope and its signature are handled here.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from bot.wechat.crypto import AppIdMismatch, DecryptError, MessageCipher


class BadRequest(Exception):
    """The body is not a message we can read (HTTP 400)."""


class Forbidden(Exception):
    """The request is not from WeChat, or is a replay (HTTP 403)."""


def sign(*parts: str) -> str:
    """WeChat's SHA-1 signature of the sorted parts."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signature_ok(expected_parts: tuple[str, ...], given: str) -> bool:
    return hmac.compare_digest(sign(*expected_parts).encode(), given.encode("utf-8", "replace"))


def timestamp_fresh(timestamp: str, window_s: int, now: float | None = None) -> bool:
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    return abs((now if now is not None else time.time()) - ts) <= window_s


def parse_xml(body: bytes) -> dict[str, str]:
    """The flat fields of a WeChat XML document; nested elements are kept as
    their text. Raises BadRequest for anything that is not such a document."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise BadRequest(f"malformed XML: {type(exc).__name__}") from None
    if root.tag != "xml":
        raise BadRequest("root element is not <xml>")
    fields: dict[str, str] = {}
    for child in root:  # text as sent (a resident's leading spaces are theirs); callers strip what is structural
        fields[child.tag] = (child.text or "") if len(child) == 0 else _flatten(child)
    return fields


def _flatten(elem) -> str:
    return "".join(elem.itertext()).strip()


def cdata(text: str) -> str:
    """A CDATA section holding any text: a `]]>` inside cannot close it early."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


_XML_INVALID = dict.fromkeys([c for c in range(32) if c not in (9, 10, 13)] + [0xFFFE, 0xFFFF])


def xml_safe(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (control characters, lone surrogates)."""
    cleaned = text.translate(_XML_INVALID)
    return cleaned.encode("utf-8", "ignore").decode("utf-8") if _has_surrogates(cleaned) else cleaned


def _has_surrogates(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def text_reply(to_user: str, from_user: str, content: str, create_time: int) -> str:
    return (
        "<xml>"
        f"<ToUserName>{cdata(to_user)}</ToUserName>"
        f"<FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{create_time}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(xml_safe(content))}</Content>"
        "</xml>"
    )


@dataclass
class SafeMode:
    """AES safe mode for one account."""

    token: str
    aes_key: str
    app_id: str
    _cipher: MessageCipher = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._cipher = MessageCipher(self.aes_key, self.app_id)

    def decrypt(self, body: bytes, msg_signature: str, timestamp: str, nonce: str) -> bytes:
        envelope = parse_xml(body)
        encrypted = envelope.get("Encrypt", "").strip()
        if not encrypted:
            raise BadRequest("safe-mode body without <Encrypt>")
        if not signature_ok((self.token, timestamp, nonce, encrypted), msg_signature):
            raise Forbidden("bad msg_signature")
        try:
            return self._cipher.decrypt(encrypted)
        except AppIdMismatch:
            raise Forbidden("message for another AppID") from None
        except DecryptError as exc:
            raise BadRequest(f"cannot decrypt: {exc}") from None

    def encrypt(self, xml: str, nonce: str, timestamp: str) -> str:
        encrypted = self._cipher.encrypt(xml)
        signature = sign(self.token, timestamp, nonce, encrypted)
        return (
            f"<xml><Encrypt>{cdata(encrypted)}</Encrypt>"
            f"<MsgSignature>{cdata(signature)}</MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp>"
            f"<Nonce>{cdata(nonce)}</Nonce></xml>"
        )
