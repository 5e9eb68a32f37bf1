"""Roster import into the database (SQLite and PostgreSQL): the example sheets,
bad rows, --strict, re-imports, encodings, and address lookup."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from bot.db import Database
from bot.domain.roster.addresses import describe_household, find_households
from bot.domain.roster.importer import import_roster, import_rosters
from bot.models import Building, Community, Compound, Household, Person, Township

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "roster"
HOUSEHOLDS = EXAMPLES / "households.csv"
STAFF = EXAMPLES / "staff.csv"
XLSX = EXAMPLES / "roster.xlsx"
HEADER = "乡镇,社区,小区,楼栋,单元,房号,户主,联户党员,党员电话,楼栋长,楼栋长电话,支部书记,支部书记电话".split(",")


async def counts(db: Database) -> dict[str, int]:
    out = {}
    async with db.reading() as session:
        for model in (Township, Community, Compound, Building, Household, Person):
            out[model.__tablename__] = await session.scalar(select(func.count()).select_from(model))
    return out


async def snapshot(db: Database) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The roster by natural keys (names, labels, phones), independent of ids."""
    member, head, secretary = aliased(Person), aliased(Person), aliased(Person)
    tree = (
        select(Township.name, Community.name, Compound.name, secretary.phone, Building.label, Building.number,
               head.phone, Household.unit, Household.room, Household.head_name, member.phone)
        .join(Community, Community.township_id == Township.id)
        .join(Compound, Compound.community_id == Community.id)
        .join(Building, Building.compound_id == Compound.id)
        .join(Household, Household.building_id == Building.id)
        .outerjoin(member, Household.member_id == member.id)
        .outerjoin(head, Building.head_id == head.id)
        .outerjoin(secretary, Compound.secretary_id == secretary.id)
    )
    people = (select(Person.phone, Person.name, Person.staff_title, Community.name)
              .outerjoin(Community, Person.staff_community_id == Community.id))
    async with db.reading() as session:
        return (sorted(tuple(r) for r in (await session.execute(tree)).all()),
                sorted(tuple(r) for r in (await session.execute(people)).all()))


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


EXPECTED = {"townships": 1, "communities": 2, "compounds": 3, "buildings": 8, "households": 36, "people": 24}


async def test_the_example_sheets_load(db: Database) -> None:
    report = await import_rosters(db, [HOUSEHOLDS, STAFF])

    assert (report.added, report.changed, report.unchanged, report.rejected) == (42, 0, 0, 0)
    assert report.rows == 42 and report.loaded
    assert {k: (c.added, c.changed, c.unchanged) for k, c in report.entities.items()} == {
        "township": (1, 0, 0), "community": (2, 0, 0), "compound": (3, 0, 0), "building": (8, 0, 0),
        "household": (36, 0, 0), "person": (24, 0, 0)}
    assert await counts(db) == EXPECTED
    summary = report.summary()
    assert "新增 42 行" in summary and "住户：新增 36" in summary

    async with db.reading() as session:
        [household] = await find_households(session, building=3, unit=2, room="501", compound="幸福小区")
        member = await session.get(Person, household.member_id)
        assert (member.name, member.phone, household.head_name) == ("王志强", "13800000003", "韩雪梅")
        building = await session.get(Building, household.building_id)
        assert (building.label, building.number) == ("3栋", 3)
        head = await session.get(Person, building.head_id)
        assert (head.name, head.phone) == ("钱淑珍", "13900000003")
        compound = await session.get(Compound, building.compound_id)
        secretary = await session.get(Person, compound.secretary_id)
        assert (compound.name, secretary.name) == ("幸福小区", "何文斌")
        assert await describe_household(session, household) == "幸福小区3栋2单元501"

        # 陈国平 is a linked member and the head of 和平花园 6栋; 6栋601 has no linked member.
        chen = await session.scalar(select(Person).where(Person.phone == "13800000006"))
        linked = await session.scalar(select(func.count()).where(Household.member_id == chen.id))
        assert linked == 4
        [unlinked] = await find_households(session, building=6, unit=1, room="601室")
        assert unlinked.member_id is None
        six = await session.get(Building, unlinked.building_id)
        assert six.head_id == chen.id

        # Every party member is linked to several households.
        per_member = (await session.execute(
            select(Household.member_id, func.count()).where(Household.member_id.is_not(None))
            .group_by(Household.member_id))).all()
        assert len(per_member) == 8 and all(n >= 3 for _, n in per_member)

        # Staff belong to their community.
        staff = (await session.execute(
            select(Community.name, Person.name, Person.staff_title)
            .join(Community, Person.staff_community_id == Community.id))).all()
        assert sorted(staff) == sorted([
            ("北团社区", "孙立新", "社区书记"), ("北团社区", "马晓丽", "网格员"), ("北团社区", "许俊", "社工"),
            ("西康社区", "林志远", "社区书记"), ("西康社区", "郭美玲", "网格员"), ("西康社区", "罗佳", "社工")])

        # Building 3 is in one compound of 北团社区 only; 西康社区 has a building 3 too.
        beituan = await session.scalar(select(Community.id).where(Community.name == "北团社区"))
        xikang = await session.scalar(select(Community.id).where(Community.name == "西康社区"))
        compounds_with_3 = (await session.execute(
            select(Compound.community_id, Compound.name).join(Building, Building.compound_id == Compound.id)
            .where(Building.number == 3))).all()
        assert sorted(compounds_with_3) == sorted([(beituan, "幸福小区"), (xikang, "康乐苑")])


async def test_find_households_matches_parsed_addresses(db: Database) -> None:
    await import_roster(db, HOUSEHOLDS)
    async with db.reading() as session:
        beituan = await session.scalar(select(Community.id).where(Community.name == "北团社区"))
        everywhere = await find_households(session, building=3, unit=2, room="501")
        assert len(everywhere) == 2  # 幸福小区 and 康乐苑
        [one] = await find_households(session, building=3, unit=2, room="501", community_id=beituan)
        assert await describe_household(session, one) == "幸福小区3栋2单元501"
        [same] = await find_households(session, building=3, unit=2, room="501室", compound="幸福")
        assert same.id == one.id
        any_unit = await find_households(session, building=3, unit=None, room="501", community_id=beituan)
        assert len(any_unit) == 2  # 1单元501 and 2单元501
        assert len(await find_households(session, building=1, unit=None, room="101", community_id=beituan)) == 2
        assert await find_households(session, building=9, unit=None, room="101") == []
        assert await find_households(session, building=3, unit=2, room="501", compound="100%") == []


async def test_the_workbook_gives_the_same_roster_as_the_csv_files(db: Database) -> None:
    report = await import_roster(db, XLSX)
    assert (report.added, report.changed, report.unchanged, report.rejected) == (42, 0, 0, 0)
    assert report.notes == ["工作表“填表说明”不是住户表或工作人员表，已跳过"]
    assert await counts(db) == EXPECTED
    from_xlsx = await snapshot(db)

    again = await import_rosters(db, [HOUSEHOLDS, STAFF])
    assert (again.added, again.changed, again.unchanged, again.rejected) == (0, 0, 42, 0)
    assert await snapshot(db) == from_xlsx
    assert await counts(db) == EXPECTED


async def test_a_reimport_of_the_same_file_changes_nothing(db: Database) -> None:
    await import_rosters(db, [HOUSEHOLDS, STAFF])
    before = await snapshot(db)
    async with db.reading() as session:
        ids = sorted((await session.execute(select(Person.phone, Person.id))).all())

    report = await import_rosters(db, [HOUSEHOLDS, STAFF])

    assert (report.added, report.changed, report.unchanged, report.rejected) == (0, 0, 42, 0)
    assert {k: (c.added, c.changed) for k, c in report.entities.items()} == {k: (0, 0) for k in report.entities}
    assert report.entities["household"].unchanged == 36 and report.entities["person"].unchanged == 24
    assert await counts(db) == EXPECTED
    assert await snapshot(db) == before
    async with db.reading() as session:
        assert sorted((await session.execute(select(Person.phone, Person.id))).all()) == ids


async def test_a_reimport_with_changes_updates_in_place(db: Database, tmp_path: Path) -> None:
    await import_rosters(db, [HOUSEHOLDS, STAFF])
    async with db.reading() as session:
        wu_id = await session.scalar(select(Person.id).where(Person.phone == "13800000008"))
        xu_id = await session.scalar(select(Person.id).where(Person.phone == "15800000003"))
    rows = read_csv(HOUSEHOLDS)
    for row in rows[1:]:
        where = (row[2], row[3], row[4], row[5])
        if where == ("幸福小区", "3栋", "2单元", "501"):
            row[6] = "韩梅"                                      # 户主 changed
            row[7], row[8] = "赵玉兰", "13800000004"             # another linked member
        if row[2] == "幸福小区" and row[3] == "3栋":
            row[9], row[10] = "钱淑芬", "13900000013"            # a new building head
        if row[7] == "吴德明":
            row[8] = "139 0000 0018"                             # the member's phone changed
        if where == ("和平花园", "1号楼", "", "101"):
            row[7], row[8] = "", ""                              # the household loses its member
    staff = read_csv(STAFF)
    staff[3][2] = "许骏"                                         # a staff name corrected
    changed_households = write_csv(tmp_path / "households.csv", rows)
    changed_staff = write_csv(tmp_path / "staff.csv", staff)

    report = await import_rosters(db, [changed_households, changed_staff])

    # Rows: 3栋1单元501 (new head), 3栋2单元501, 和平花园1号楼101, the first 吴德明 row, 许骏.
    assert (report.added, report.changed, report.unchanged, report.rejected) == (0, 5, 37, 0)
    entities = {k: (c.added, c.changed, c.unchanged) for k, c in report.entities.items()}
    assert entities["household"] == (0, 2, 34)
    assert entities["building"] == (0, 1, 7)
    assert entities["person"] == (1, 2, 21)  # 钱淑芬 new; 吴德明's phone and 许骏's name changed
    assert await counts(db) == {**EXPECTED, "people": 25}  # nobody duplicated; 钱淑珍 stays on file
    assert report.notes == ["吴德明的电话由 13800000008 改为 13900000018：按同一人更新（微信绑定保留）；"
                            "如果其实是另一个人，请告诉管理员"]

    async with db.reading() as session:
        [household] = await find_households(session, building=3, unit=2, room="501", compound="幸福小区")
        member = await session.get(Person, household.member_id)
        assert (household.head_name, member.name) == ("韩梅", "赵玉兰")
        building = await session.get(Building, household.building_id)
        head = await session.get(Person, building.head_id)
        assert (head.name, head.phone) == ("钱淑芬", "13900000013")
        wu = await session.get(Person, wu_id)
        assert (wu.name, wu.phone) == ("吴德明", "13900000018")  # same person, new phone
        assert await session.scalar(select(func.count()).where(Household.member_id == wu_id)) == 5
        xu = await session.get(Person, xu_id)
        assert (xu.name, xu.phone) == ("许骏", "15800000003")
        [unlinked] = await find_households(session, building=1, unit=0, room="101", compound="和平花园")
        assert unlinked.member_id is None

    again = await import_rosters(db, [changed_households, changed_staff])
    assert (again.added, again.changed, again.unchanged) == (0, 0, 42)


def bad_workbook(path: Path) -> Path:
    """A workbook with a household sheet and a staff sheet, each with bad rows."""
    good = ["莲峰镇", "北团社区", "幸福小区", "3栋", "2单元", "501", "韩雪梅", "王志强", "13800000003",
            "钱淑珍", "13900000003", "何文斌", "15000000001"]
    workbook = Workbook()
    households = workbook.active
    households.title = "住户"
    rows = {
        1: HEADER,
        2: good,
        3: [*good[:5], "", *good[6:]],                                     # no 房号
        4: [*good[:5], "601", *good[6:8], "1380000003", *good[9:]],      # a 10-digit phone
        # row 5 left empty
        6: [*good[:5], "502", "杨振华", "王志刚", *good[8:]],                # 13800000003 again, another name
        7: [*good[:3], "3号楼", 2, 402, "沈建平", "王志强", "+86 138-0000-0003", *good[9:]],
    }
    for number, values in rows.items():
        for column, value in enumerate(values, 1):
            households.cell(row=number, column=column, value=value)
    staff = workbook.create_sheet("工作人员")
    for values in (["社区", "姓名", "电话", "角色"],
                   ["北团社区", "孙立新", "15800000001", "社区书记"],     # community made by the 住户 sheet
                   ["东方社区", "马晓丽", "15800000002", "网格员"],       # no such community
                   ["北团社区", "王小强", 13800000003, "社工"]):          # 王志强's phone
        staff.append(values)
    workbook.save(path)
    return path


async def test_bad_rows_are_reported_and_the_good_rows_load(db: Database, tmp_path: Path) -> None:
    report = await import_roster(db, bad_workbook(tmp_path / "bad.xlsx"))

    got = [(r.row, r.sheet, r.reason) for r in report.rejections]
    assert got == [
        (3, "住户", "房号为空"),
        (4, "住户", "党员电话“1380000003”不是11位手机号"),
        (6, "住户", "电话13800000003在第2行登记的姓名是“王志强”，这一行却是“王志刚”"),
        (3, "工作人员", "找不到社区“东方社区”（请先导入住户表，或在表中加上“乡镇”列）"),
        (4, "工作人员", "电话13800000003在“住户”第2行登记的姓名是“王志强”，这一行却是“王小强”"),
    ]
    assert (report.added, report.changed, report.unchanged, report.rejected) == (3, 0, 0, 5)
    assert report.skipped["blank"] == 1  # row 5: skipped and counted, not a problem
    assert report.loaded
    summary = report.summary()
    assert "有问题 5 行" in summary and "住户 第4行：党员电话“1380000003”不是11位手机号" in summary
    assert await counts(db) == {"townships": 1, "communities": 1, "compounds": 1, "buildings": 1,
                                "households": 2, "people": 4}
    async with db.reading() as session:
        rooms = await find_households(session, building=3, unit=2, room=None)
        assert sorted(h.room for h in rooms) == ["402", "501"]
        assert len({h.member_id for h in rooms}) == 1
        sun = await session.scalar(select(Person).where(Person.phone == "15800000001"))
        assert sun.staff_title == "社区书记" and sun.staff_community_id is not None


async def test_strict_loads_nothing_when_a_row_is_bad(db: Database, tmp_path: Path) -> None:
    report = await import_roster(db, bad_workbook(tmp_path / "bad.xlsx"), strict=True)

    assert report.rejected == 5 and not report.loaded
    assert (report.added, report.changed, report.unchanged) == (0, 0, 0)
    assert "严格模式" in report.summary() and "没有导入任何数据" in report.summary()
    assert all(n == 0 for n in (await counts(db)).values())

    clean = await import_rosters(db, [HOUSEHOLDS, STAFF], strict=True)
    assert clean.loaded and clean.added == 42


async def test_a_gb18030_csv_loads(db: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "gbk.csv", read_csv(HOUSEHOLDS), encoding="gb18030")
    report = await import_roster(db, path)
    assert (report.added, report.rejected) == (36, 0)
    async with db.reading() as session:
        names = set((await session.scalars(select(Compound.name))).all())
    assert names == {"幸福小区", "和平花园", "康乐苑"}


async def test_staff_sheets_match_communities_by_name(db: Database, tmp_path: Path) -> None:
    await import_roster(db, HOUSEHOLDS)
    staff = write_csv(tmp_path / "staff.csv", [["社区", "姓名", "电话", "角色"],
                                               ["西康社区", "林志远", "15800000004", "社区书记"],
                                               ["西康社区", "林志远", "15800000004", "网格员"]])
    report = await import_roster(db, staff)
    assert [(r.row, r.reason) for r in report.rejections] == [(3, "电话15800000004与第2行重复")]
    async with db.reading() as session:
        lin = await session.scalar(select(Person).where(Person.phone == "15800000004"))
        community = await session.get(Community, lin.staff_community_id)
        assert (community.name, lin.staff_title) == ("西康社区", "社区书记")

    # A second township with a 西康社区 makes the name ambiguous without a 乡镇 column.
    other = write_csv(tmp_path / "other.csv", [HEADER, ["城关镇", "西康社区", "南苑", "1栋", "", "101"]])
    await import_roster(db, other)
    report = await import_roster(db, staff)
    assert report.rejections[0].reason == "有多个乡镇都有社区“西康社区”（城关镇、莲峰镇），请在表中加上“乡镇”列"


async def test_conflicting_heads_in_one_import_reject_the_later_row(db: Database, tmp_path: Path) -> None:
    base = ["莲峰镇", "北团社区", "幸福小区", "3栋", "2", "501", "", "", "", "钱淑珍", "13900000003",
            "何文斌", "15000000001"]
    rows = [HEADER, base,
            [*base[:5], "502", "", "", "", "钱淑芬", "13900000013", *base[11:]],
            [*base[:5], "401", "", "", "", *base[9:11], "吕建军", "15000000002"],
            [*base[:5], "402", "", "", "", "", "", "", ""],
            [*base[:5], "501室", *base[6:]]]
    report = await import_roster(db, write_csv(tmp_path / "conflict.csv", rows))
    assert [(r.row, r.reason) for r in report.rejections] == [
        (3, "幸福小区3栋的楼栋长在第2行是“钱淑珍”，这一行却是“钱淑芬”"),
        (4, "幸福小区的支部书记在第2行是“何文斌”，这一行却是“吕建军”"),
        (6, "幸福小区3栋2单元501与第2行重复"),
    ]
    assert report.added == 2  # 501, and 402 whose blank head and secretary leave them as they are
    async with db.reading() as session:
        building = await session.scalar(select(Building))
        head = await session.get(Person, building.head_id)
        assert head.phone == "13900000003"


async def test_a_workbook_copy_in_another_folder_imports_the_same(db: Database, tmp_path: Path) -> None:
    copy = tmp_path / "花名册.xlsx"
    shutil.copy(XLSX, copy)
    report = await import_roster(db, copy)
    assert report.added == 42 and report.rejected == 0


async def test_a_staff_members_new_phone_updates_the_same_person(db: Database, tmp_path: Path) -> None:
    await import_rosters(db, [HOUSEHOLDS, STAFF])
    async with db.reading() as session:
        xu_id = await session.scalar(select(Person.id).where(Person.phone == "15800000003"))
    staff = read_csv(STAFF)
    staff[3][3] = "158 0000 0013"
    report = await import_roster(db, write_csv(tmp_path / "staff.csv", staff))
    assert (report.added, report.changed, report.unchanged) == (0, 1, 5)
    assert "许俊的电话由 15800000003 改为 15800000013" in report.summary()
    async with db.reading() as session:
        xu = await session.get(Person, xu_id)
    assert (xu.phone, xu.staff_title) == ("15800000013", "社工")
    assert (await counts(db))["people"] == 24
