"""Reading short replies: 是 / 对 / 可以 confirm, 不是 / 算了 decline, a number
picks; and telling a request too vague to act on (有问题, 帮帮忙). The words
live in bot/data/chat.toml."""

from __future__ import annotations

import tomllib
import unicodedata
from pathlib import Path

_WORDS = tomllib.loads((Path(__file__).resolve().parent.parent / "data" / "chat.toml").read_text("utf-8"))
CONFIRM_WORDS = frozenset(_WORDS["confirm"])
DECLINE_WORDS = frozenset(_WORDS["decline"])
_VAGUE = sorted(_WORDS["vague"], key=len, reverse=True)
_FILLER = sorted(_WORDS["filler"], key=len, reverse=True)
_TRIM = " \t\r\n,，。.!！?？~～…:：;；、\"“”'‘’()（）"

CONFIRM, DECLINE = "confirm", "decline"


def plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower().strip(_TRIM)


def read_reply(text: str) -> str | int | None:
    """CONFIRM, DECLINE, a number (1-999), or None when ``text`` is not a short answer."""
    word = plain(text)
    if word in CONFIRM_WORDS:
        return CONFIRM
    if word in DECLINE_WORDS:
        return DECLINE
    if word.isdigit() and len(word) <= 3 and int(word) > 0:
        return int(word)
    return None


def is_vague(text: str) -> bool:
    """A request that names no problem: only vague words and filler (有问题, 你们管不管)."""
    rest = plain(text)
    if not rest or len(rest) > 16:
        return False
    hit = False
    for word in _VAGUE:
        if word in rest:
            rest, hit = rest.replace(word, " "), True
    if not hit:
        return False
    for word in _FILLER:
        rest = rest.replace(word, " ")
    return not rest.strip(_TRIM + " ")
