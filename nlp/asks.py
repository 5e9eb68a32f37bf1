"""Splitting a message that makes two asks (楼道灯坏了，还有3栋门口有人晕倒了)
into its asks, conservatively: only at a clause marker (还有, 另外, 再就是,
此外 at the start of a clause) or a semicolon, and only when every part is long
enough to be an ask of its own. Anything else is one ask."""

from __future__ import annotations

import re

_MARKER = re.compile(r"(?:^|[，,。.！!？?\s])(?:还有就是|还有|另外|再就是|再有就是|再有|此外)[，,：:\s]*|[；;]+")
_TRIM = " \t\r\n，,。.！!？?：:；;、"
MIN_CHARS = 4


def split_asks(text: str) -> list[str]:
    """The asks in ``text``: two or more parts, or ``[text]`` when it is one ask."""
    parts = [p.strip(_TRIM) for p in _MARKER.split(text)]
    parts = [p for p in parts if p]
    if len(parts) < 2 or any(len(p) < MIN_CHARS for p in parts):
        return [text]
    return parts
