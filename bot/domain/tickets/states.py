"""Ticket states, the values an action returns (Outcome), and what a request
is (Request, Location); small helpers on names and word lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.models import (
    Ticket,
)

OPEN, ASSIGNED, ACCEPTED, RESOLVED, CLOSED, CANCELLED = (
    "open", "assigned", "accepted", "resolved", "closed", "cancelled")
ACTIVE = (OPEN, ASSIGNED, ACCEPTED)
LEVEL_TITLE_KEY = {"member": "role.member", "building_head": "role.building_head",
                   "branch_secretary": "role.branch_secretary", "staff": "role.staff"}


@dataclass
class Outcome:
    """The result of an action: ok or refused, the reply text key and its fields."""

    ok: bool
    key: str
    fields: dict[str, Any] = field(default_factory=dict)
    ticket: Ticket | None = None


@dataclass(frozen=True)
class Location:
    household_id: int | None = None
    building_id: int | None = None
    compound_id: int | None = None
    community_id: int | None = None
    label: str = ""  # the household's full address when known, else the place as written


@dataclass(frozen=True)
class Request:
    """What the router read from a resident's request."""

    text: str
    category: str
    kind: str
    urgent: bool
    confidence: float
    matched: Sequence[str] = ()
    location: str = ""
    building: int | None = None
    unit: int | None = None
    room: str | None = None
    place_name: str | None = None
    tokens: Sequence[str] = ()


def surname(name: str) -> str:
    compound_surnames = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "令狐", "慕容", "尉迟", "公孙")
    return name[:2] if name[:2] in compound_surnames else name[:1]


def merge_words(tokens: Sequence[str]) -> str:
    """The words `similarity` looks at (two characters or more), once each, space-separated:
    what a ticket keeps for the merge check."""
    return " ".join(dict.fromkeys(t for t in tokens if len(t) > 1 and not any(c.isspace() for c in t)))


def similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """Jaccard overlap of two word lists (the jieba tokens, or the keywords the
    router matched); punctuation and one-character tokens are ignored."""
    sa = {t for t in a if len(t) > 1}
    sb = {t for t in b if len(t) > 1}
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)
