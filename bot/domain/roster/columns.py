"""The roster's column names and every message staff read, from
bot/data/roster_columns.toml, and the limits of each value."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

_DATA_FILE = Path(__file__).resolve().parent.parent.parent / "data" / "roster_columns.toml"
_DATA: dict[str, Any] = tomllib.loads(_DATA_FILE.read_text(encoding="utf-8"))

# Longest values the columns hold (see bot/models/org.py).
LIMITS = {"township": 100, "community": 100, "compound": 100, "building": 50, "room": 20, "name": 50,
          "staff_role": 50}
KINDS: tuple[str, ...] = ("township", "community", "compound", "building", "household", "person")
HOUSEHOLD_REQUIRED = ("community", "compound", "building", "room")
STAFF_REQUIRED = ("community", "staff_name", "staff_phone")
_HEADER_SCAN_ROWS = 10
_PHONE_CHUNK = 500

SheetKind = Literal["household", "staff"]


def _msg(section: str, key: str, **fields: Any) -> str:
    return str(_DATA[section][key]).format(**fields)


def _label(column: str) -> str:
    return str(_DATA["labels"][column])


class RosterFileError(Exception):
    """The file cannot be read at all (missing, wrong type, wrong encoding)."""
