"""Roster import: the org tree, households and people from a community's sheets.

A sheet is a CSV file (UTF-8 with or without BOM, GB18030, or Excel's UTF-16
"Unicode text") or a worksheet of an .xlsx workbook. Its kind follows from its
header row: a household sheet (乡镇, 社区, 小区, 楼栋, 单元, 房号, 户主, 联户党员,
党员电话, 楼栋长, 楼栋长电话, 支部书记, 支部书记电话) or a staff sheet (乡镇, 社区,
姓名, 电话, 角色). Column names and every message staff read live in
bot/data/roster_columns.toml.

People are identified by their mobile number; a re-import updates rows in
place and never duplicates anyone. Nothing is ever deleted by an import. A bad
row is reported with its spreadsheet row number and the good rows still load,
unless the import is strict: then nothing loads if any row is bad.

Files are read and parsed in a worker thread; only the database writes run on
the event loop, in one transaction.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.models import Building, Community, Compound, Household, Person, Township

_DATA_FILE = Path(__file__).resolve().parent.parent / "data" / "roster_columns.toml"
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
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise RosterFileError(_msg("errors", "bad_xlsx", path=path, detail=exc)) from exc
    try:
        return [
            RawSheet(sheet.title, [(number, [_cell_text(v) for v in row])
                                   for number, row in enumerate(sheet.iter_rows(values_only=True), 1)])
            for sheet in workbook.worksheets
        ]
    finally:
        workbook.close()


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
    member = _person(cells, "member_name", "member_phone", problems)
    building_head = _person(cells, "building_head_name", "building_head_phone", problems)
    secretary = _person(cells, "secretary_name", "secretary_phone", problems)
    if problems or building is None or unit is None or room is None:
        return None
    return HouseholdRow(
        row=number, sheet=sheet, township=township, community=community, compound=compound,
        building=building[0], building_number=building[1], unit=unit, room=room, head_name=head_name,
        member=member, has_member_column="member_name" in columns or "member_phone" in columns,
        building_head=building_head, secretary=secretary,
    )


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
    while rows and not any(cell.strip() for cell in rows[-1][1]):
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
    for number, cells in rows[header_at + 1:]:
        parsed.data_rows += 1
        if not any(cell.strip() for cell in cells):
            parsed.rejections.append(Rejection(number, raw.name, _msg("reasons", "empty_row")))
            continue
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


# --- the report -------------------------------------------------------------------------------------------


@dataclass
class KindCounts:
    """How many entities of one kind the import added, changed or left as they were."""

    added: int = 0
    changed: int = 0
    unchanged: int = 0


@dataclass
class ImportReport:
    """What an import did, per row and per entity kind."""

    added: int = 0
    changed: int = 0
    unchanged: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    entities: dict[str, KindCounts] = field(default_factory=lambda: {k: KindCounts() for k in KINDS})
    rows: int = 0
    strict: bool = False
    loaded: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.rejections)

    def summary(self) -> str:
        """The report in Chinese, for the staff who ran the import."""
        lines: list[str] = []
        if self.loaded:
            lines.append(_msg("summary", "done", total=self.rows, added=self.added, changed=self.changed,
                              unchanged=self.unchanged, rejected=self.rejected))
            for kind in KINDS:
                counts = self.entities[kind]
                if counts.added or counts.changed or counts.unchanged:
                    lines.append(_msg("summary", "kind_line", kind=_DATA["kinds"][kind], added=counts.added,
                                      changed=counts.changed, unchanged=counts.unchanged))
        else:
            lines.append(_msg("summary", "strict_refused", rejected=self.rejected, total=self.rows))
        if self.rejections:
            lines.append(_msg("summary", "rejections"))
            lines.extend(_msg("summary", "rejection", sheet=r.sheet, row=r.row, reason=r.reason)
                         for r in self.rejections)
        if self.notes:
            lines.append(_msg("summary", "notes"))
            lines.extend(_msg("summary", "note", note=note) for note in self.notes)
        return "\n".join(lines)


# --- writing to the database --------------------------------------------------------------------------------

_Status = Literal["added", "changed", "unchanged"]
_RANK = {"unchanged": 0, "changed": 1, "added": 2}


class _StrictRollback(Exception):
    """Raised inside the transaction to undo a strict import that had bad rows."""


class _Rejected(Exception):
    def __init__(self, reasons: list[str]) -> None:
        super().__init__("；".join(reasons))
        self.reasons = reasons


class _Importer:
    """Applies parsed rows in one session: caches, in-import consistency, counts."""

    def __init__(self, session: AsyncSession, import_phones: set[str]) -> None:
        self.session = session
        self.import_phones = import_phones
        self.townships: dict[str, Township] = {}
        self.township_names: dict[int, str] = {}
        self.communities: dict[tuple[str, str], Community] = {}
        self.compounds: dict[tuple[int, str], Compound] = {}
        self.buildings: dict[tuple[int, str], Building] = {}
        self.households: dict[tuple[int, int, str], Household] = {}
        self.loaded_compounds: set[int] = set()
        self.people: dict[str, Person] = {}
        # First statement of each fact in this import: (value, where it was stated).
        self.phone_names: dict[str, tuple[str, str, int]] = {}
        self.seen_households: dict[tuple[str, ...], tuple[str, int]] = {}
        self.seen_staff: dict[str, tuple[str, int]] = {}
        self.building_heads: dict[tuple[str, ...], tuple[PersonRef, str, int]] = {}
        self.secretaries: dict[tuple[str, ...], tuple[PersonRef, str, int]] = {}
        self.status: dict[str, dict[Any, _Status]] = {k: {} for k in KINDS}
        self.row_wrote = False
        self.notes: list[str] = []

    async def preload(self) -> None:
        s = self.session
        for township in (await s.scalars(select(Township))).all():
            self.townships[township.name] = township
            self.township_names[township.id] = township.name
        for community in (await s.scalars(select(Community))).all():
            self.communities[(self.township_names[community.township_id], community.name)] = community
        for compound in (await s.scalars(select(Compound))).all():
            self.compounds[(compound.community_id, compound.name)] = compound
        phones = sorted(self.import_phones)
        for start in range(0, len(phones), _PHONE_CHUNK):
            chunk = phones[start:start + _PHONE_CHUNK]
            for person in (await s.scalars(select(Person).where(Person.phone.in_(chunk)))).all():
                self.people[person.phone] = person

    async def _load_compound(self, compound: Compound) -> None:
        if compound.id in self.loaded_compounds:
            return
        self.loaded_compounds.add(compound.id)
        buildings = await self.session.scalars(select(Building).where(Building.compound_id == compound.id))
        for building in buildings.all():
            self.buildings[(compound.id, building.label)] = building
        households = (await self.session.scalars(
            select(Household).join(Building, Household.building_id == Building.id)
            .where(Building.compound_id == compound.id))).all()
        for household in households:
            self.households[(household.building_id, household.unit, household.room)] = household

    # -- bookkeeping

    def _mark(self, kind: str, key: Any, status: _Status) -> None:
        if status != "unchanged":
            self.row_wrote = True
        current = self.status[kind].get(key)
        if current is None or _RANK[status] > _RANK[current]:
            self.status[kind][key] = status

    def _set(self, obj: Any, attr: str, value: Any) -> bool:
        if getattr(obj, attr) == value:
            return False
        setattr(obj, attr, value)
        return True

    async def _add(self, obj: Any) -> None:
        self.session.add(obj)
        await self.session.flush()

    @staticmethod
    def _where(sheet: str, row: int, this_sheet: str) -> str:
        if sheet == this_sheet:
            return _msg("reasons", "row_ref", row=row)
        return _msg("reasons", "sheet_row_ref", sheet=sheet, row=row)

    # -- resolving

    def _resolve_community(self, township: str, community: str) -> tuple[str, str]:
        """The (township, community) names a row means; rejects an unknown or ambiguous name."""
        if township:
            return township, community
        matches = sorted(t for (t, c) in self.communities if c == community)
        if not matches:
            raise _Rejected([_msg("reasons", "community_unknown", community=community)])
        if len(matches) > 1:
            raise _Rejected([_msg("reasons", "community_ambiguous", community=community,
                                  townships="、".join(matches))])
        return matches[0], community

    def _check_people(self, refs: Iterable[PersonRef | None], sheet: str, row: int,
                      problems: list[str]) -> None:
        local: dict[str, str] = {}
        for ref in refs:
            if ref is None:
                continue
            first = self.phone_names.get(ref.phone)
            if first is not None and first[0] != ref.name:
                problems.append(_msg("reasons", "phone_two_names", phone=ref.phone, first=first[0],
                                     second=ref.name, where=self._where(first[1], first[2], sheet)))
            elif ref.phone in local and local[ref.phone] != ref.name:
                problems.append(_msg("reasons", "phone_two_names", phone=ref.phone, first=local[ref.phone],
                                     second=ref.name, where=_msg("reasons", "same_row")))
            local.setdefault(ref.phone, ref.name)

    def _remember_people(self, refs: Iterable[PersonRef | None], sheet: str, row: int) -> None:
        for ref in refs:
            if ref is not None:
                self.phone_names.setdefault(ref.phone, (ref.name, sheet, row))

    # -- get or create

    async def _township(self, name: str) -> Township:
        township = self.townships.get(name)
        if township is None:
            township = Township(name=name)
            await self._add(township)
            self.townships[name] = township
            self.township_names[township.id] = name
            self._mark("township", name, "added")
        else:
            self._mark("township", name, "unchanged")
        return township

    async def _community(self, township_name: str, name: str) -> Community:
        township = await self._township(township_name)
        key = (township_name, name)
        community = self.communities.get(key)
        if community is None:
            community = Community(township_id=township.id, name=name)
            await self._add(community)
            self.communities[key] = community
            self._mark("community", key, "added")
        else:
            self._mark("community", key, "unchanged")
        return community

    async def _compound(self, community: Community, key: tuple[str, ...], name: str) -> Compound:
        compound = self.compounds.get((community.id, name))
        if compound is None:
            compound = Compound(community_id=community.id, name=name)
            await self._add(compound)
            self.compounds[(community.id, name)] = compound
            self.loaded_compounds.add(compound.id)
            self._mark("compound", key, "added")
        else:
            await self._load_compound(compound)
            self._mark("compound", key, "unchanged")
        return compound

    async def _building(self, compound: Compound, key: tuple[str, ...], label: str,
                        number: int | None) -> Building:
        building = self.buildings.get((compound.id, label))
        if building is None:
            building = Building(compound_id=compound.id, label=label, number=number)
            await self._add(building)
            self.buildings[(compound.id, label)] = building
            self._mark("building", key, "added")
        else:
            changed = self._set(building, "number", number)
            self._mark("building", key, "changed" if changed else "unchanged")
        return building

    async def _person(self, ref: PersonRef, previous_id: int | None = None,
                      previous: Person | None = None) -> Person:
        """The person with the row's phone; created if new, renamed if the name changed.

        When the phone is new but the person who held the same place before
        (`previous`, or the person `previous_id`) has the same name and their
        old phone appears nowhere in this import, their phone number changed:
        the same person is updated in place, keeping their WeChat binding.
        """
        person = self.people.get(ref.phone)
        if person is None:
            if previous is None and previous_id is not None:
                previous = await self.session.get(Person, previous_id)
            if (previous is not None and previous.name == ref.name and previous.phone != ref.phone
                    and previous.phone not in self.import_phones):
                self.people.pop(previous.phone, None)
                self.notes.append(_msg("summary", "phone_moved", name=ref.name, old=previous.phone, new=ref.phone))
                previous.phone = ref.phone
                self.people[ref.phone] = previous
                self._mark("person", ref.phone, "changed")
                return previous
            person = Person(phone=ref.phone, name=ref.name)
            await self._add(person)
            self.people[ref.phone] = person
            self._mark("person", ref.phone, "added")
            return person
        changed = self._set(person, "name", ref.name)
        self._mark("person", ref.phone, "changed" if changed else "unchanged")
        return person

    # -- rows

    async def household(self, row: HouseholdRow) -> _Status:
        self.row_wrote = False
        township_name, community_name = self._resolve_community(row.township, row.community)
        ckey = (township_name, community_name)
        pkey = (*ckey, row.compound)
        bkey = (*pkey, row.building)
        hkey = (*bkey, str(row.unit), row.room)
        refs = (row.member, row.building_head, row.secretary)
        problems: list[str] = []
        if hkey in self.seen_households:
            sheet, first_row = self.seen_households[hkey]
            address = format_address(row.compound, row.building, row.unit, row.room)
            problems.append(_msg("reasons", "duplicate_household", address=address,
                                 where=self._where(sheet, first_row, row.sheet)))
        self._check_people(refs, row.sheet, row.row, problems)
        if row.building_head is not None and bkey in self.building_heads:
            first, sheet, first_row = self.building_heads[bkey]
            if first.phone != row.building_head.phone:
                problems.append(_msg("reasons", "building_head_conflict",
                                     building=row.compound + row.building,
                                     first=first.name, second=row.building_head.name,
                                     where=self._where(sheet, first_row, row.sheet)))
        if row.secretary is not None and pkey in self.secretaries:
            first, sheet, first_row = self.secretaries[pkey]
            if first.phone != row.secretary.phone:
                problems.append(_msg("reasons", "secretary_conflict", compound=row.compound,
                                     first=first.name, second=row.secretary.name,
                                     where=self._where(sheet, first_row, row.sheet)))
        if problems:
            raise _Rejected(problems)
        self.seen_households[hkey] = (row.sheet, row.row)
        self._remember_people(refs, row.sheet, row.row)
        if row.building_head is not None:
            self.building_heads.setdefault(bkey, (row.building_head, row.sheet, row.row))
        if row.secretary is not None:
            self.secretaries.setdefault(pkey, (row.secretary, row.sheet, row.row))

        community = await self._community(township_name, community_name)
        compound = await self._compound(community, pkey, row.compound)
        building = await self._building(compound, bkey, row.building, row.building_number)
        if row.secretary is not None:
            secretary = await self._person(row.secretary, compound.secretary_id)
            if self._set(compound, "secretary_id", secretary.id):
                self._mark("compound", pkey, "changed")
        if row.building_head is not None:
            head = await self._person(row.building_head, building.head_id)
            if self._set(building, "head_id", head.id):
                self._mark("building", bkey, "changed")
        household = self.households.get((building.id, row.unit, row.room))
        member_id: int | None = None
        if row.member is not None:
            previous = household.member_id if household is not None else None
            member_id = (await self._person(row.member, previous)).id
        if household is None:
            household = Household(building_id=building.id, unit=row.unit, room=row.room,
                                  head_name=row.head_name or "", member_id=member_id)
            self.session.add(household)
            self.households[(building.id, row.unit, row.room)] = household
            self._mark("household", hkey, "added")
            return "added"
        changed = False
        if row.head_name is not None:
            changed |= self._set(household, "head_name", row.head_name)
        if row.has_member_column:
            changed |= self._set(household, "member_id", member_id)
        self._mark("household", hkey, "changed" if changed else "unchanged")
        return "changed" if self.row_wrote else "unchanged"

    async def _previous_staff(self, community: Community, name: str) -> Person | None:
        found = (await self.session.scalars(
            select(Person).where(Person.staff_community_id == community.id, Person.name == name))).all()
        return found[0] if len(found) == 1 else None

    async def staff(self, row: StaffRow) -> _Status:
        self.row_wrote = False
        township_name, community_name = self._resolve_community(row.township, row.community)
        problems: list[str] = []
        if row.person.phone in self.seen_staff:
            sheet, first_row = self.seen_staff[row.person.phone]
            problems.append(_msg("reasons", "duplicate_staff", phone=row.person.phone,
                                 where=self._where(sheet, first_row, row.sheet)))
        self._check_people([row.person], row.sheet, row.row, problems)
        if problems:
            raise _Rejected(problems)
        self.seen_staff[row.person.phone] = (row.sheet, row.row)
        self._remember_people([row.person], row.sheet, row.row)

        community = await self._community(township_name, community_name)
        previous = None
        if row.person.phone not in self.people:
            previous = await self._previous_staff(community, row.person.name)
        person = await self._person(row.person, previous=previous)
        changed = self._set(person, "staff_community_id", community.id)
        if row.role is not None:
            changed |= self._set(person, "staff_title", row.role)
        if changed:
            self._mark("person", row.person.phone, "changed")
        if self.status["person"].get(row.person.phone) == "added":
            return "added"
        return "changed" if self.row_wrote else "unchanged"

    def fill(self, report: ImportReport) -> None:
        for kind, statuses in self.status.items():
            counts = report.entities[kind]
            for status in statuses.values():
                setattr(counts, status, getattr(counts, status) + 1)


def _phones(sheets: Iterable[ParsedSheet]) -> set[str]:
    phones: set[str] = set()
    for sheet in sheets:
        for row in sheet.rows:
            if isinstance(row, StaffRow):
                phones.add(row.person.phone)
            else:
                phones.update(ref.phone for ref in (row.member, row.building_head, row.secretary) if ref)
    return phones


async def import_rosters(db: Database, paths: Sequence[Path], *, strict: bool = False) -> ImportReport:
    """Import several roster files as one import (one transaction; --strict covers them all)."""
    sheets, notes = await asyncio.to_thread(load_sheets, [Path(p) for p in paths])
    report = ImportReport(strict=strict, notes=notes)
    order = {id(sheet): index for index, sheet in enumerate(sheets)}
    report.rows = sum(sheet.data_rows for sheet in sheets)
    rejections: list[tuple[int, Rejection]] = [(order[id(s)], r) for s in sheets for r in s.rejections]
    # Households first, so that a staff sheet can name a community created in the same import.
    ordered = [s for s in sheets if s.kind == "household"] + [s for s in sheets if s.kind == "staff"]
    try:
        async with db.transaction() as session:
            importer = _Importer(session, _phones(sheets))
            await importer.preload()
            for sheet in ordered:
                for row in sheet.rows:
                    try:
                        if isinstance(row, HouseholdRow):
                            status = await importer.household(row)
                        else:
                            status = await importer.staff(row)
                    except _Rejected as exc:
                        rejections.append((order[id(sheet)], Rejection(row.row, sheet.name, str(exc))))
                        continue
                    setattr(report, status, getattr(report, status) + 1)
            rejections.sort(key=lambda item: (item[0], item[1].row))
            report.rejections = [r for _, r in rejections]
            if strict and report.rejections:
                raise _StrictRollback
            importer.fill(report)
            report.notes.extend(importer.notes)
    except _StrictRollback:
        report.loaded = False
        report.added = report.changed = report.unchanged = 0
    return report


async def import_roster(db: Database, path: Path, *, strict: bool = False) -> ImportReport:
    """Import one roster file (CSV or .xlsx with any number of worksheets).

    Raises RosterFileError when the file itself cannot be read; bad rows are
    reported in the ImportReport instead.
    """
    return await import_rosters(db, [Path(path)], strict=strict)


# --- addresses ----------------------------------------------------------------------------------------


async def find_households(session: AsyncSession, *, building: int | None, unit: int | None, room: str | None,
                          compound: str | None = None, community_id: int | None = None) -> list[Household]:
    """The households a parsed address may mean.

    `building` is the building number, `unit` None matches any unit (0 is "no
    unit"), `room` is normalised like the import does ("501室" → "501"),
    `compound` matches compounds whose name contains it, `community_id`
    narrows to one community. A None criterion does not narrow the search.
    """
    query = (
        select(Household)
        .join(Building, Household.building_id == Building.id)
        .join(Compound, Building.compound_id == Compound.id)
    )
    if building is not None:
        query = query.where(Building.number == building)
    if unit is not None:
        query = query.where(Household.unit == unit)
    if room is not None:
        query = query.where(Household.room == (normalize_room(room) or normalize_text(room)))
    if compound:
        query = query.where(Compound.name.contains(normalize_name(compound), autoescape=True))
    if community_id is not None:
        query = query.where(Compound.community_id == community_id)
    return list((await session.scalars(query.order_by(Household.id))).all())


async def describe_household(session: AsyncSession, household: Household) -> str:
    """The household's address as people write it, with its compound: 幸福小区3栋2单元501."""
    row = (await session.execute(
        select(Compound.name, Building.label)
        .join(Building, Building.compound_id == Compound.id)
        .where(Building.id == household.building_id))).one()
    return format_address(row.name, row.label, household.unit, household.room)
