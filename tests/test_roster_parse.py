"""Roster import, without a database: values, headers, sheet kinds, file reading."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.roster.columns import RosterFileError
from bot.domain.roster.sheets import HouseholdRow, RawSheet, StaffRow, load_sheets, parse_sheet, read_sheets
from bot.domain.roster.values import (
    format_address,
    normalize_name,
    normalize_phone,
    normalize_room,
    parse_building,
    parse_unit,
)

HEADER = "乡镇,社区,小区,楼栋,单元,房号,户主,联户党员,党员电话,楼栋长,楼栋长电话,支部书记,支部书记电话".split(",")


@pytest.mark.parametrize(("text", "expected"), [
    ("3栋", ("3栋", 3)),
    ("3号楼", ("3栋", 3)),
    ("三栋", ("3栋", 3)),
    ("3", ("3栋", 3)),
    ("３ 栋", ("3栋", 3)),
    ("第十二栋", ("12栋", 12)),
    ("12幢", ("12栋", 12)),
    ("7号", ("7栋", 7)),
    ("A座", ("A座", None)),
    ("综合楼", ("综合楼", None)),
    ("", None),
    ("0栋", None),
    ("3栋2单元", None),
])
def test_building_labels_are_normalised(text: str, expected: tuple[str, int | None] | None) -> None:
    assert parse_building(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("2单元", 2), ("2", 2), ("", 0), ("二单元", 2), ("第3单元", 3), (" 2 单元 ", 2), ("A单元", None),
])
def test_units(text: str, expected: int | None) -> None:
    assert parse_unit(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("501", "501"), ("501室", "501"), ("５０１", "501"), (" 501 ", "501"), ("b-12", "B-12"), ("", None),
    ("五楼", None), ("1" * 21, None),
])
def test_rooms(text: str, expected: str | None) -> None:
    assert normalize_room(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("13800000001", "13800000001"),
    ("138 0000 0001", "13800000001"),
    ("138-0000-0001", "13800000001"),
    ("+86 138 0000 0001", "13800000001"),
    ("8613800000001", "13800000001"),
    ("１３８００００００01", "13800000001"),
    ("1380000001", None),
    ("23800000001", None),
    ("0597-5321234", None),
    ("", None),
])
def test_phones(text: str, expected: str | None) -> None:
    assert normalize_phone(text) == expected


def test_names_lose_padding_spaces() -> None:
    assert normalize_name(" 张  三 ") == "张三"
    assert normalize_name("Anna  Li") == "Anna Li"


def test_addresses_are_written_as_people_write_them() -> None:
    assert format_address("幸福小区", "3栋", 2, "501") == "幸福小区3栋2单元501"
    assert format_address("和平花园", "1栋", 0, "101") == "和平花园1栋101"


def test_a_household_sheet_is_told_by_its_header_even_below_a_title_row() -> None:
    raw = RawSheet("s", [
        (1, ["北团社区党员联户花名册"]),
        (2, [" 乡镇 ", "社区", "小区", "楼栋号", "单元", "房号（室）", "户主姓名", "联户党员", "党员电话(手机)"]),
        (3, ["莲峰镇", "北团社区", "幸福小区", "3号楼", "2", "501室", "韩雪梅", "王志强", "138 0000 0003"]),
    ])
    parsed = parse_sheet(raw)
    assert parsed.kind == "household"
    assert parsed.rejections == []
    [row] = parsed.rows
    assert isinstance(row, HouseholdRow)
    assert (row.row, row.building, row.building_number, row.unit, row.room) == (3, "3栋", 3, 2, "501")
    assert row.member is not None and row.member.phone == "13800000003"
    assert row.building_head is None and row.secretary is None


def test_a_staff_sheet_is_told_by_its_header() -> None:
    parsed = parse_sheet(RawSheet("s", [(1, ["社区", "姓名", "手机号", "职务"]),
                                        (2, ["北团社区", "孙立新", "15800000001", "社区书记"])]))
    assert parsed.kind == "staff"
    [row] = parsed.rows
    assert isinstance(row, StaffRow)
    assert (row.community, row.person.name, row.person.phone, row.role) == ("北团社区", "孙立新", "15800000001",
                                                                             "社区书记")


def test_an_unknown_header_is_a_rejection_naming_the_columns_expected() -> None:
    parsed = parse_sheet(RawSheet("s", [(1, ["甲", "乙"]), (2, ["1", "2"])]))
    assert parsed.kind is None
    [rejection] = parsed.rejections
    assert rejection.row == 1 and "房号" in rejection.reason and "姓名" in rejection.reason


def test_a_household_sheet_without_a_required_column_is_rejected_whole() -> None:
    parsed = parse_sheet(RawSheet("s", [(1, ["社区", "楼栋", "房号"]), (2, ["北团社区", "3栋", "501"])]))
    [rejection] = parsed.rejections
    assert "小区" in rejection.reason and parsed.rows == []


def test_a_row_lists_all_its_problems() -> None:
    parsed = parse_sheet(RawSheet("s", [(1, HEADER), (2, ["莲峰镇", "北团社区", "", "3栋", "X单元", "", "",
                                                          "王志强", "123", "钱淑珍", ""])]))
    [rejection] = parsed.rejections
    assert rejection.row == 2
    for part in ("小区为空", "单元“X单元”无法识别", "房号为空", "党员电话“123”不是11位手机号",
                 "楼栋长“钱淑珍”但没有填电话"):
        assert part in rejection.reason


def test_empty_rows_are_skipped_and_counted_not_reported() -> None:
    good = ["莲峰镇", "北团社区", "幸福小区", "3栋", "2", "501"]
    parsed = parse_sheet(RawSheet("s", [(1, HEADER), (2, good), (3, [""] * 6), (4, [*good[:5], "502"]),
                                        (5, []), (6, ["", " "])]))
    assert parsed.rejections == []
    assert len(parsed.rows) == 2 and parsed.data_rows == 2
    assert parsed.skipped == {"blank": 1, "sign_off": 0}  # the trailing ones are not even counted


def test_csv_encodings_and_delimiters(tmp_path: Path) -> None:
    text = ",".join(HEADER) + "\n莲峰镇,北团社区,幸福小区,三栋,二单元,501室,韩雪梅\n"
    for name, data in [("utf8.csv", text.encode("utf-8")), ("bom.csv", text.encode("utf-8-sig")),
                       ("gbk.csv", text.encode("gb18030")),
                       ("utf16.txt", text.replace(",", "\t").encode("utf-16"))]:
        (tmp_path / name).write_bytes(data)
        [sheet] = read_sheets(tmp_path / name)
        assert sheet.rows[1] == (2, ["莲峰镇", "北团社区", "幸福小区", "三栋", "二单元", "501室", "韩雪梅"]), name


def test_files_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(RosterFileError, match="找不到文件"):
        read_sheets(tmp_path / "missing.csv")
    (tmp_path / "roster.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(RosterFileError, match="不支持的文件类型"):
        read_sheets(tmp_path / "roster.xls")
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    with pytest.raises(RosterFileError, match="无法打开 Excel 文件"):
        read_sheets(tmp_path / "broken.xlsx")
    (tmp_path / "binary.csv").write_bytes(b"\x81\x30\x81")  # invalid in UTF-8 and in GB18030
    with pytest.raises(RosterFileError, match="GB18030"):
        read_sheets(tmp_path / "binary.csv")


def test_an_empty_file_is_a_rejection(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    sheets, _notes = load_sheets([tmp_path / "empty.csv"])
    [sheet] = sheets
    assert [(r.row, r.reason) for r in sheet.rejections] == [(1, "表中没有数据行")]
