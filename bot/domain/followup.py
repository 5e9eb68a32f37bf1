"""Reading a resident's answer to the follow-up question (回访) when it only
makes sense in that context: a bare "4" is a rating, "没解决" says the problem
is not solved. The words live in bot/data/followup.toml."""

from __future__ import annotations

import tomllib
import unicodedata
from pathlib import Path

_RULES = tomllib.loads((Path(__file__).resolve().parent.parent / "data" / "followup.toml").read_text("utf-8"))
RATINGS = frozenset(_RULES["ratings"])
NOT_SOLVED = tuple(_RULES["not_solved"])


def read_answer(text: str) -> tuple[int | None, bool | None] | None:
    """(rating, solved) if `text` can be a follow-up answer, else None."""
    plain = unicodedata.normalize("NFKC", text).strip().rstrip("。.!！分星")
    if plain in RATINGS:
        return int(plain), None
    if len(plain) <= 20 and any(phrase in plain for phrase in NOT_SOLVED):
        return None, False
    return None
