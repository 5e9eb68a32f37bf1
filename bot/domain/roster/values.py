"""Normalising the values of a roster cell: text, names, phones, building,
unit and room notations, and the address they make."""

from __future__ import annotations

import re
import unicodedata

from bot.domain.roster.columns import LIMITS

# --- values ---------------------------------------------------------------------------------------

_CN_DIGITS = "零〇一二两三四五六七八九十百"
_NUMBER = rf"([0-9]+|[{_CN_DIGITS}]+)"
_BUILDING_RE = re.compile(rf"^第?{_NUMBER}(号楼|号栋|栋楼|栋|幢|号|座|楼)?$")
_UNIT_RE = re.compile(rf"^第?{_NUMBER}(单元|单)?$")
_ROOM_RE = re.compile(r"^[0-9A-Z]+(?:-[0-9A-Z]+)*$")
_PHONE_RE = re.compile(r"^1[3-9][0-9]{9}$")
_SPACE_RE = re.compile(r"\s+")


def normalize_text(value: object) -> str:
    """A cell as clean text: full-width forms folded (NFKC), runs of spaces collapsed."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", str(value))
    return _SPACE_RE.sub(" ", text).strip()


def normalize_name(value: object) -> str:
    """A name of a person or place; spaces padding Chinese names ("张  三", "幸福 小区") are dropped."""
    text = normalize_text(value)
    if not re.search(r"[A-Za-z]", text):
        text = text.replace(" ", "")
    return text


def _number(text: str) -> int | None:
    if text.isascii():
        return int(text) if text.isdigit() else None
    try:
        import cn2an  # only imports need it; kept off the webhook's start-up

        value = cn2an.cn2an(text, "normal")
    except (ValueError, KeyError, IndexError):
        return None
    return int(value) if float(value).is_integer() else None


def normalize_phone(value: object) -> str | None:
    """An 11-digit mainland mobile number, or None. Strips spaces, dashes and +86."""
    text = normalize_text(value)
    for ch in " -()":
        text = text.replace(ch, "")
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    elif text.startswith("86") and len(text) == 13:
        text = text[2:]
    return text if _PHONE_RE.match(text) else None


def parse_building(value: object) -> tuple[str, int | None] | None:
    """The normalised label and number of a building: "3号楼"/"三栋"/"3" → ("3栋", 3).

    A label without a number ("A座", "综合楼") is kept as written with number
    None; "" or something that is clearly not a building gives None.
    """
    text = normalize_text(value).replace(" ", "")
    if not text:
        return None
    match = _BUILDING_RE.match(text)
    if match:
        number = _number(match.group(1))
        if number is None or number <= 0:
            return None
        return f"{number}栋", number
    if "单元" in text or "室" in text or len(text) > LIMITS["building"]:
        return None
    return text, None


def parse_unit(value: object) -> int | None:
    """A unit number: "2单元"/"2"/"二单元" → 2, "" → 0 (no units); None when unreadable."""
    text = normalize_text(value).replace(" ", "")
    if not text:
        return 0
    match = _UNIT_RE.match(text)
    return _number(match.group(1)) if match else None


def normalize_room(value: object) -> str | None:
    """A room number as stored: "501室" → "501", "b-12" → "B-12"; None when unreadable."""
    text = normalize_text(value).replace(" ", "").upper()
    if text.endswith(("室", "号", "房")):
        text = text[:-1]
    if not text or len(text) > LIMITS["room"] or not _ROOM_RE.match(text):
        return None
    return text


def format_address(compound: str, building: str, unit: int, room: str) -> str:
    """A household's address as people write it: 幸福小区3栋2单元501."""
    return f"{compound}{building}{unit}单元{room}" if unit else f"{compound}{building}{room}"
