"""Roster import of the sheets people really keep: merged cells, a column
named a little differently, blank rows and a sign-off line, and a member's
new phone number."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import func, select

from bot.db import Database
from bot.domain.roster.importer import import_roster
from bot.models import Household, Person
from tests.test_roster_import import HEADER, write_csv

ROW = ["莲峰镇", "北团社区", "幸福小区", "3栋", "1单元"]


def household(room: str, head: str, member: str = "王丽华", phone: str = "13800000021") -> list[str]:
    return [*ROW, room, head, member, phone, "钱淑珍", "13900000003", "何文斌", "15000000001"]


async def people_named(db: Database, name: str) -> list[Person]:
    async with db.reading() as s:
        return list((await s.scalars(select(Person).where(Person.name == name))).all())


async def households_of(db: Database, person_id: int) -> int:
    async with db.reading() as s:
        return int(await s.scalar(select(func.count()).where(Household.member_id == person_id)) or 0)


async def test_merged_cells_are_filled_down(db: Database, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for room, head in (("101", "林美华"), ("102", "高建国"), ("201", "蔡丽萍")):
        sheet.append(household(room, head))
    for column in ("A", "B", "C", "D", "E", "H", "I", "J", "K", "L", "M"):  # 小区, 楼栋, 联户党员 ... span 3 rows
        for row in (3, 4):
            sheet[f"{column}{row}"] = None
        sheet.merge_cells(f"{column}2:{column}4")
    path = tmp_path / "花名册.xlsx"
    book.save(path)

    report = await import_roster(db, path, strict=True)

    assert (report.added, report.rejected) == (3, 0), report.summary()
    [wang] = await people_named(db, "王丽华")
    assert await households_of(db, wang.id) == 3


async def test_an_unknown_column_is_reported_with_the_closest_known_one(db: Database, tmp_path: Path) -> None:
    header = [("联户党员手机号" if h == "党员电话" else h) for h in HEADER] + ["备注栏"]
    path = write_csv(tmp_path / "households.csv", [header, [*household("101", "林美华"), ""]])
    report = await import_roster(db, path)
    summary = report.summary()
    assert "“联户党员手机号”认不出" in summary and "是不是“党员电话”" in summary
    assert "“备注栏”认不出" in summary


async def test_blank_rows_and_sign_off_lines_are_skipped_and_counted(db: Database, tmp_path: Path) -> None:
    rows = [["幸福小区住户花名册"], HEADER, household("101", "林美华"), [""] * 13, household("102", "高建国"),
            [], ["制表人：张敏", "", "", "", "审核人：何文斌", "", "", "", "", "日期：2024年3月1日"],
            ["填表日期：2024-03-01"]]
    report = await import_roster(db, write_csv(tmp_path / "households.csv", rows), strict=True)
    assert report.loaded and (report.added, report.rejected, report.rows) == (2, 0, 2), report.summary()
    assert report.skipped == {"blank": 2, "sign_off": 2}
    assert "跳过了空行 2 行、落款行（制表人、审核人等）2 行" in report.summary()


async def test_a_members_new_phone_updates_her_even_when_a_new_household_comes_first(
        db: Database, tmp_path: Path) -> None:
    first = [HEADER, household("101", "林美华"), household("102", "高建国"), household("201", "蔡丽萍")]
    await import_roster(db, write_csv(tmp_path / "v1.csv", first))
    [wang] = await people_named(db, "王丽华")

    new_phone = "13800000031"
    second = [HEADER, household("202", "潘志明", phone=new_phone),  # a new household of hers, listed first
              *(household(room, head, phone=new_phone) for room, head in (("101", "林美华"), ("102", "高建国"),
                                                                          ("201", "蔡丽萍")))]
    report = await import_roster(db, write_csv(tmp_path / "v2.csv", second), strict=True)

    assert report.rejected == 0
    [same] = await people_named(db, "王丽华")  # one 王丽华, not two
    assert (same.id, same.phone) == (wang.id, new_phone)
    assert await households_of(db, wang.id) == 4
    assert "王丽华的电话由 13800000021 改为 13800000031" in report.summary()
