"""Writing parsed roster rows to the database in one transaction: people by
phone, never duplicated, never deleted; strict imports load nothing when a
row is bad."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.domain.roster.columns import _PHONE_CHUNK, KINDS, _msg
from bot.domain.roster.report import ImportReport
from bot.domain.roster.sheets import HouseholdRow, ParsedSheet, PersonRef, Rejection, StaffRow, load_sheets
from bot.domain.roster.values import format_address
from bot.domain.visits.care import set_care_mark
from bot.models import Building, Community, Compound, Household, Person, Township, utcnow

# --- writing to the database --------------------------------------------------------------------------------

_Status = Literal["added", "changed", "unchanged"]
_RANK = {"unchanged": 0, "changed": 1, "added": 2}


class _StrictRollback(Exception):
    """Raised inside the transaction to undo a strict import that had bad rows."""


class _DryRunRollback(Exception):
    """Raised inside the transaction to undo a preview."""


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
        self.moves: dict[str, Person] = {}  # a new phone -> the person who had another phone before

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

    async def plan_phone_moves(self, rows: Sequence[HouseholdRow]) -> None:
        """Before any row is written: a household whose linked member keeps their
        name but has a phone new to the roster, while their old phone appears
        nowhere in this import, is the same person with a new phone, whichever
        row of the import names them first (a new household of theirs listed
        above the old ones included)."""
        for row in rows:
            ref = row.member
            if ref is None or ref.phone in self.people or ref.phone in self.moves:
                continue
            building = select(Building.id).join(Compound, Building.compound_id == Compound.id).join(
                Community, Compound.community_id == Community.id).where(
                Compound.name == row.compound, Building.label == row.building, Community.name == row.community)
            if row.township:
                building = building.join(Township, Community.township_id == Township.id).where(
                    Township.name == row.township)
            member = await self.session.scalar(
                select(Person).join(Household, Household.member_id == Person.id)
                .where(Household.building_id.in_(building), Household.unit == row.unit, Household.room == row.room))
            if member is not None and member.name == ref.name and member.phone not in self.import_phones:
                self.moves[ref.phone] = member

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
            if ref.phone in self.moves:
                previous = self.moves.pop(ref.phone)
            elif previous is None and previous_id is not None:
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
            if row.care:
                await self.session.flush()
                await set_care_mark(self.session, household.id, row.care, utcnow())
            self._mark("household", hkey, "added")
            return "added"
        changed = False
        if row.care is not None:
            changed |= await set_care_mark(self.session, household.id, row.care, utcnow())
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


async def import_rosters(db: Database, paths: Sequence[Path], *, strict: bool = False,
                         dry_run: bool = False) -> ImportReport:
    """Import several roster files as one import (one transaction; --strict covers them all).
    A dry run reports what the import would do and writes nothing (the console's preview)."""
    sheets, notes = await asyncio.to_thread(load_sheets, [Path(p) for p in paths])
    report = ImportReport(strict=strict, notes=notes)
    order = {id(sheet): index for index, sheet in enumerate(sheets)}
    report.rows = sum(sheet.data_rows for sheet in sheets)
    for sheet in sheets:
        for kind, count in sheet.skipped.items():
            report.skipped[kind] = report.skipped.get(kind, 0) + count
    rejections: list[tuple[int, Rejection]] = [(order[id(s)], r) for s in sheets for r in s.rejections]
    # Households first, so that a staff sheet can name a community created in the same import.
    ordered = [s for s in sheets if s.kind == "household"] + [s for s in sheets if s.kind == "staff"]
    try:
        async with db.transaction() as session:
            importer = _Importer(session, _phones(sheets))
            await importer.preload()
            await importer.plan_phone_moves([row for sheet in ordered for row in sheet.rows
                                             if isinstance(row, HouseholdRow)])
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
            if dry_run:
                raise _DryRunRollback
    except _DryRunRollback:
        report.loaded, report.preview = False, True
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
