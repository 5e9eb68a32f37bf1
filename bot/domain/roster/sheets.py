"""Reading roster files (CSV in any of the encodings offices use, .xlsx) and
parsing their rows into household and staff rows with their problems.
Runs in a worker thread: no database here."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from bot.domain.roster.columns import (
    _DATA,
    _HEADER_SCAN_ROWS,
    HOUSEHOLD_REQUIRED,
    LIMITS,
    STAFF_REQUIRED,
    RosterFileError,
    SheetKind,
    _label,
    _msg,
)
from bot.domain.roster.values import (
    normalize_name,
    normalize_phone,
    normalize_room,
    normalize_text,
    parse_building,
    parse_unit,
)

# --- reading files (in a worker thread) ---------------------------------------------------------------


@dataclass
class RawSheet:
    """The cells of one sheet as text, with their spreadsheet row numbers (from 1)."""

    name: str
    rows: list[tuple[int, list[str]]]


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _decode_csv(data: bytes, path: Path) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RosterFileError(_msg("errors", "undecodable", path=path))


def read_csv(path: Path) -> RawSheet:
    """A CSV file (comma, tab or semicolon separated) as one sheet."""
    text = _decode_csv(path.read_bytes(), path)
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max(",\t;", key=first.count) if first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    return RawSheet(path.name, [(number, row) for number, row in enumerate(reader, 1)])


def read_xlsx(path: Path) -> list[RawSheet]:
    """Every worksheet of an .xlsx workbook."""
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        # not read_only: a read-only workbook does not tell its merged cells
        workbook = load_workbook(path, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise RosterFileError(_msg("errors", "bad_xlsx", path=path, detail=exc)) from exc
    try:
        sheets = []
        for sheet in workbook.worksheets:
            rows = [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
            _fill_merged(rows, sheet.merged_cells.ranges)
            sheets.append(RawSheet(sheet.title, list(enumerate(rows, 1))))
        return sheets
    finally:
        workbook.close()


def _fill_merged(rows: list[list[str]], ranges: Iterable[Any]) -> None:
    """Every cell of a merged range gets the range's value (the name spanning
    three rows is the name of each of the three)."""
    for merged in ranges:
        top, left = merged.min_row - 1, merged.min_col - 1
        if top >= len(rows):
            continue
        value = rows[top][left] if left < len(rows[top]) else ""
        for r in range(top, min(merged.max_row, len(rows))):
            row = rows[r]
            if len(row) < merged.max_col:
                row.extend([""] * (merged.max_col - len(row)))
            for c in range(left, merged.max_col):
                row[c] = value


def read_sheets(path: Path) -> list[RawSheet]:
    """The sheets of a roster file (blocking: call it in a thread)."""
    if not path.is_file():
        raise RosterFileError(_msg("errors", "not_found", path=path))
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx(path)
    if suffix in (".csv", ".txt", ".tsv"):
        return [read_csv(path)]
    raise RosterFileError(_msg("errors", "unsupported", suffix=suffix or path.name))


# --- parsing rows (in a worker thread) ------------------------------------------------------------------


class PersonRef(NamedTuple):
    """A person named in a row: name, phone, and the column they were named in."""

    name: str
    phone: str
    column: str


@dataclass
class HouseholdRow:
    row: int
    sheet: str
    township: str
    community: str
    compound: str
    building: str
    building_number: int | None
    unit: int
    room: str
    head_name: str | None  # None: the sheet has no 户主 column
    member: PersonRef | None
    has_member_column: bool
    building_head: PersonRef | None  # None: not stated in this row
    secretary: PersonRef | None
    care: str | None = None  # 关爱对象 marks joined by 、; None: the sheet has no such column, "": not marked


@dataclass
class StaffRow:
    row: int
    sheet: str
    township: str
    community: str
    person: PersonRef
    role: str | None  # None: not stated


class Rejection(NamedTuple):
    """A row that was not loaded: its spreadsheet row number, its sheet, and why."""

    row: int
    sheet: str
    reason: str


@dataclass
class ParsedSheet:
    name: str
    kind: SheetKind | None
    rows: list[HouseholdRow | StaffRow] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data_rows: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: {"blank": 0, "sign_off": 0})


def _header_key(cell: str) -> str:
    return normalize_text(cell).replace(" ", "").strip("*")


def _aliases() -> dict[str, str]:
    out: dict[str, str] = {}
    for column, names in _DATA["columns"].items():
        for name in names:
            out.setdefault(_header_key(name), column)
    return out


_ALIASES = _aliases()


def _column_of(cell: str) -> str | None:
    """The field a header cell names ("党员电话（手机）" → member_phone), or None."""
    key = _header_key(cell)
    if not key:
        return None
    if key in _ALIASES:
        return _ALIASES[key]
    bare = re.sub(r"\(.*?\)", "", key)
    return _ALIASES.get(bare)


def _map_header(cells: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        column = _column_of(cell)
        if column is not None and column not in columns:
            columns[column] = index
    return columns


def closest_column(cell: str) -> str | None:
    """The field a header cell that names none most likely meant ("联户党员手机号" → member_phone)."""
    import difflib

    key = re.sub(r"\(.*?\)", "", _header_key(cell))
    if not key:
        return None
    found = difflib.get_close_matches(key, list(_ALIASES), n=1, cutoff=0.6)
    if not found:  # a known name inside a longer one
        inside = [alias for alias in _ALIASES if len(alias) >= 2 and alias in key]
        found = sorted(inside, key=len, reverse=True)[:1]
    return _ALIASES[found[0]] if found else None


def _unknown_columns(cells: list[str], columns: dict[str, int], sheet: str) -> list[str]:
    """Notes on the header cells that name no field, with the closest field that is still missing."""
    notes: list[str] = []
    for index, cell in enumerate(cells):
        if not cell.strip() or index in columns.values():
            continue
        guess = closest_column(cell)
        if guess is not None and guess not in columns:
            notes.append(_msg("summary", "unknown_column_guess", sheet=sheet, cell=cell.strip(),
                              column=_label(guess)))
        else:
            notes.append(_msg("summary", "unknown_column", sheet=sheet, cell=cell.strip()))
    return notes


_SIGN_OFF = re.compile(r"^(?:" + "|".join(re.escape(w) for w in _DATA["skip"]["sign_off"]) + r")\s*[:：]")


def _skip_kind(cells: list[str]) -> str | None:
    """"blank" for a row with nothing in it, "sign_off" for a 制表人：… 审核人：… line, else None."""
    filled = [normalize_text(c).strip() for c in cells if c and c.strip()]
    if not filled:
        return "blank"
    if len(filled) <= 4 and any(_SIGN_OFF.match(c) for c in filled):
        return "sign_off"
    return None


def _kind_of(columns: dict[str, int]) -> SheetKind | None:
    if "building" in columns and "room" in columns:
        return "household"
    if "staff_name" in columns and "staff_phone" in columns:
        return "staff"
    return None


def _text(cells: dict[str, str], column: str, problems: list[str], *, limit: int,
          required: bool = False) -> str:
    value = normalize_name(cells.get(column, ""))
    if required and not value:
        problems.append(_msg("reasons", "missing", column=_label(column)))
    elif len(value) > limit:
        problems.append(_msg("reasons", "too_long", column=_label(column), value=value, limit=limit))
    return value


def _person(cells: dict[str, str], name_column: str, phone_column: str,
            problems: list[str]) -> PersonRef | None:
    name = normalize_name(cells.get(name_column, ""))
    raw_phone = normalize_text(cells.get(phone_column, ""))
    if not name and not raw_phone:
        return None
    if not raw_phone:
        problems.append(_msg("reasons", "name_without_phone", column=_label(name_column), name=name))
        return None
    phone = normalize_phone(raw_phone)
    if phone is None:
        problems.append(_msg("reasons", "bad_phone", column=_label(phone_column), value=raw_phone))
        return None
    if not name:
        problems.append(_msg("reasons", "phone_without_name", column=_label(phone_column), phone=phone))
        return None
    if len(name) > LIMITS["name"]:
        problems.append(_msg("reasons", "too_long", column=_label(name_column), value=name,
                             limit=LIMITS["name"]))
        return None
    return PersonRef(name, phone, _label(name_column))


def _household_row(number: int, sheet: str, cells: dict[str, str], columns: dict[str, int],
                   problems: list[str]) -> HouseholdRow | None:
    township = _text(cells, "township", problems, limit=LIMITS["township"])
    community = _text(cells, "community", problems, limit=LIMITS["community"], required=True)
    compound = _text(cells, "compound", problems, limit=LIMITS["compound"], required=True)
    raw_building = normalize_text(cells.get("building", ""))
    building = parse_building(raw_building)
    if not raw_building:
        problems.append(_msg("reasons", "missing", column=_label("building")))
    elif building is None:
        problems.append(_msg("reasons", "bad_building", value=raw_building))
    raw_unit = normalize_text(cells.get("unit", ""))
    unit = parse_unit(raw_unit)
    if unit is None:
        problems.append(_msg("reasons", "bad_unit", value=raw_unit))
    raw_room = normalize_text(cells.get("room", ""))
    room = normalize_room(raw_room)
    if not raw_room:
        problems.append(_msg("reasons", "missing", column=_label("room")))
    elif room is None:
        problems.append(_msg("reasons", "bad_room", value=raw_room))
    head_name = normalize_name(cells.get("head_name", "")) if "head_name" in columns else None
    if head_name is not None and len(head_name) > LIMITS["name"]:
        problems.append(_msg("reasons", "too_long", column=_label("head_name"), value=head_name,
                             limit=LIMITS["name"]))
    care = parse_care(cells.get("care", ""), problems) if "care" in columns else None
    member = _person(cells, "member_name", "member_phone", problems)
    building_head = _person(cells, "building_head_name", "building_head_phone", problems)
    secretary = _person(cells, "secretary_name", "secretary_phone", problems)
    if problems or building is None or unit is None or room is None:
        return None
    return HouseholdRow(
        row=number, sheet=sheet, township=township, community=community, compound=compound,
        building=building[0], building_number=building[1], unit=unit, room=room, head_name=head_name,
        member=member, has_member_column="member_name" in columns or "member_phone" in columns,
        building_head=building_head, secretary=secretary, care=care,
    )


def parse_care(value: str, problems: list[str]) -> str:
    """The 关爱对象 marks of a cell ("独居、残疾", "独居 残疾", "独居老人" → "独居、残疾" / "独居"), "" when empty."""
    text = normalize_text(value)
    if not text or text in ("无", "否", "-", "/"):
        return ""
    known: list[str] = list(_DATA["care"]["marks"])
    found: list[str] = []
    for part in re.split(r"[、,，;；/\s]+", text):
        mark = next((m for m in known if m in part), None) if part else None
        if part and mark is None:
            problems.append(_msg("reasons", "bad_care", value=text, marks="、".join(known)))
            return ""
        if mark is not None and mark not in found:
            found.append(mark)
    return "、".join(m for m in known if m in found)


def _staff_row(number: int, sheet: str, cells: dict[str, str], columns: dict[str, int],
               problems: list[str]) -> StaffRow | None:
    township = _text(cells, "township", problems, limit=LIMITS["township"])
    community = _text(cells, "community", problems, limit=LIMITS["community"], required=True)
    role = _text(cells, "staff_role", problems, limit=LIMITS["staff_role"])
    name = normalize_name(cells.get("staff_name", ""))
    raw_phone = normalize_text(cells.get("staff_phone", ""))
    if not name:
        problems.append(_msg("reasons", "missing", column=_label("staff_name")))
    if not raw_phone:
        problems.append(_msg("reasons", "missing", column=_label("staff_phone")))
    person = _person(cells, "staff_name", "staff_phone", problems) if name and raw_phone else None
    if problems or person is None:
        return None
    return StaffRow(row=number, sheet=sheet, township=township, community=community, person=person,
                    role=role or None)


def parse_sheet(raw: RawSheet) -> ParsedSheet:
    """Find the header row, tell the sheet's kind, and parse every row after it."""
    rows = [(number, cells) for number, cells in raw.rows]
    while rows and _skip_kind(rows[-1][1]) == "blank":
        rows.pop()
    header_at = -1
    columns: dict[str, int] = {}
    kind: SheetKind | None = None
    for position, (_, cells) in enumerate(rows[:_HEADER_SCAN_ROWS]):
        columns = _map_header(cells)
        kind = _kind_of(columns)
        if kind is not None:
            header_at = position
            break
    parsed = ParsedSheet(raw.name, kind)
    if kind is None:
        if rows:
            header_row = next((n for n, cells in rows if any(c.strip() for c in cells)), 1)
            parsed.rejections.append(Rejection(header_row, raw.name, _unknown_sheet_reason()))
        return parsed
    header_row = rows[header_at][0]
    required = HOUSEHOLD_REQUIRED if kind == "household" else STAFF_REQUIRED
    missing = [_label(c) for c in required if c not in columns]
    if missing:
        kind_name = _msg("reasons", f"{kind}_kind")
        parsed.rejections.append(Rejection(header_row, raw.name, _msg(
            "reasons", "missing_columns", kind=kind_name, columns="、".join(missing))))
        return parsed
    parsed.notes.extend(_unknown_columns(rows[header_at][1], columns, raw.name))
    for number, cells in rows[header_at + 1:]:
        skip = _skip_kind(cells)
        if skip is not None:  # blank rows and sign-off lines are no data: counted, never an error
            parsed.skipped[skip] += 1
            continue
        parsed.data_rows += 1
        by_column = {column: cells[index] if index < len(cells) else "" for column, index in columns.items()}
        problems: list[str] = []
        row: HouseholdRow | StaffRow | None
        if kind == "household":
            row = _household_row(number, raw.name, by_column, columns, problems)
        else:
            row = _staff_row(number, raw.name, by_column, columns, problems)
        if row is None:
            parsed.rejections.append(Rejection(number, raw.name, "；".join(dict.fromkeys(problems))))
        else:
            parsed.rows.append(row)
    if parsed.data_rows == 0:
        parsed.notes.append(_msg("summary", "header_only", sheet=raw.name))
    return parsed


def _unknown_sheet_reason() -> str:
    household = "、".join(_label(c) for c in HOUSEHOLD_REQUIRED)
    staff = "、".join(_label(c) for c in STAFF_REQUIRED)
    return _msg("reasons", "unknown_sheet", household=household, staff=staff)


def load_sheets(paths: Sequence[Path]) -> tuple[list[ParsedSheet], list[str]]:
    """Read and parse every sheet of the files (blocking: call it in a thread).

    A worksheet that is not a roster (a notes sheet in a workbook) is skipped
    with a note, unless no worksheet of its file is a roster.
    """
    sheets: list[ParsedSheet] = []
    notes: list[str] = []
    for path in paths:
        parsed = [parse_sheet(raw) for raw in read_sheets(path)]
        parsed = [p for p in parsed if p.kind is not None or p.rejections]  # drop empty worksheets
        if len(parsed) > 1 and any(p.kind is not None for p in parsed):
            for p in parsed:
                if p.kind is None:
                    notes.append(_msg("summary", "skipped_sheet", sheet=p.name))
            parsed = [p for p in parsed if p.kind is not None]
        if not parsed:
            empty = Rejection(1, path.name, _msg("reasons", "no_rows"))
            parsed = [ParsedSheet(path.name, None, rejections=[empty])]
        sheets.extend(parsed)
        notes.extend(note for p in parsed for note in p.notes)
    return sheets, notes
