"""The words door to door reads (bot/data/visits.toml): a stance in an
opinion (a given choice, else 同意/支持 against 不同意/反对, minding
negation), words in a visit that call for help, the topics of opinions, and
a campaign's deadline written in its title (截止12月20日)."""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")
_DATA_FILE = Path(__file__).resolve().parent.parent.parent / "data" / "visits.toml"
_DATA: dict[str, Any] = tomllib.loads(_DATA_FILE.read_text(encoding="utf-8"))

FOR_LABEL: str = _DATA["stance"]["for_label"]
AGAINST_LABEL: str = _DATA["stance"]["against_label"]
_FOR: tuple[str, ...] = tuple(_DATA["stance"]["for"])
_AGAINST: tuple[str, ...] = tuple(_DATA["stance"]["against"])
_NEGATORS: tuple[str, ...] = tuple(sorted(_DATA["stance"]["negators"], key=len, reverse=True))
HELP_WORDS: tuple[str, ...] = tuple(sorted(_DATA["care"]["help_words"], key=len, reverse=True))
_STOPWORDS = frozenset(_DATA["topics"]["stopwords"])
_CJK_WORD = re.compile(r"^[\u4e00-\u9fff]{2,}$")
_DEADLINE = re.compile(r"[，,\s]*(?:截止|截至)(?:到|日期|时间)?[:：\s]*(?:(\d{4})\s*年)?"
                       r"\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?(?:前|之前|为止)?")


def _occurrences(text: str, words: Iterable[str]) -> list[tuple[int, int, str]]:
    """Non-overlapping occurrences of `words` in `text`, longest first at each place: (start, end, word)."""
    ordered = sorted(set(words), key=len, reverse=True)
    taken = bytearray(len(text))
    found: list[tuple[int, int, str]] = []
    for word in ordered:
        start = text.find(word)
        while start >= 0:
            end = start + len(word)
            if not any(taken[start:end]):
                taken[start:end] = b"\x01" * len(word)
                found.append((start, end, word))
            start = text.find(word, end)
    return sorted(found)


def _negated(text: str, start: int) -> bool:
    before = text[max(0, start - 4):start]
    return any(before.endswith(n) for n in _NEGATORS)


def read_choice(text: str, choices: Sequence[str] = ()) -> str | None:
    """What an opinion chooses: one of the campaign's `choices` when they are
    given (the first named, the longest at each place, so 不同意 is not 同意),
    else 同意 or 不同意 read from the words, minding negation (不太同意 is
    against, 不反对 is for). None when it says neither, or both."""
    if choices:
        named = _occurrences(text, choices)
        return named[0][2] if named else None
    sides: set[str] = set()
    for start, _, word in _occurrences(text, (*_FOR, *_AGAINST)):
        positive = word in _FOR
        if _negated(text, start):
            positive = not positive
        sides.add(FOR_LABEL if positive else AGAINST_LABEL)
    return sides.pop() if len(sides) == 1 else None


def calls_for_help(text: str) -> str | None:
    """The first word in a visit that calls for help (身体不舒服, 摔了 …), or None."""
    found = _occurrences(text, HELP_WORDS)
    return found[0][2] if found else None


def topics(texts: Iterable[str], tokens: Callable[[str], list[str]], top: int = 8) -> list[tuple[str, int]]:
    """The words the most households used (each household's text counts a word once)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update({t for t in tokens(text) if _CJK_WORD.match(t) and t not in _STOPWORDS})
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]


def split_deadline(text: str, now: datetime) -> tuple[str, datetime | None]:
    """A campaign title and the deadline written in it: "小区封闭式管理意见 截止12月20日"
    → ("小区封闭式管理意见", the end of 20 December, China time, this year or next)."""
    m = _DEADLINE.search(text)
    if m is None:
        return text.strip(), None
    today = now.astimezone(CHINA).date()
    year = int(m.group(1)) if m.group(1) else today.year
    try:
        day = date(year, int(m.group(2)), int(m.group(3)))
    except ValueError:
        return text.strip(), None
    if not m.group(1) and day < today:
        day = date(year + 1, day.month, day.day)
    title = (text[:m.start()] + text[m.end():]).strip(" ，,。")
    return title, datetime.combine(day + timedelta(days=1), time(0), CHINA)


def local_day(moment: datetime) -> str:
    """A moment as people read a date: 12月20日."""
    local = moment.astimezone(CHINA)
    return f"{local.month}月{local.day}日"
