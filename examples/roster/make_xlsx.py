"""Build roster.xlsx from households.csv and staff.csv (run it after editing them).

The workbook looks like one a community keeps in Excel: a 住户 worksheet and
a 工作人员 worksheet, numbers (phones, rooms, units) stored as numbers, and a
填表说明 worksheet of notes that the import skips.

    .venv/bin/python examples/roster/make_xlsx.py
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent
NOTES = [
    ["填表说明"],
    ["1. “住户”表每户一行；楼栋写 3栋、3号楼 或 3，没有单元的单元列空着。"],
    ["2. 联户党员、楼栋长、支部书记都要填手机号（11位），系统按手机号认人。"],
    ["3. “工作人员”表填社区工作人员，角色如 社区书记、网格员、社工。"],
]


def _cell(value: str) -> str | int:
    """Digits become numbers, as Excel stores them when typed in."""
    return int(value) if value.isdigit() and not value.startswith("0") else value


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def build(target: Path = HERE / "roster.xlsx") -> Path:
    workbook = Workbook()
    households = workbook.active
    households.title = "住户"
    for number, row in enumerate(_rows(HERE / "households.csv")):
        households.append(row if number == 0 else [_cell(v) for v in row])
    staff = workbook.create_sheet("工作人员")
    for number, row in enumerate(_rows(HERE / "staff.csv")):
        staff.append(row if number == 0 else [_cell(v) for v in row])
    notes = workbook.create_sheet("填表说明")
    for row in NOTES:
        notes.append(row)
    stamp = datetime(2024, 5, 1, 9, 0, 0)  # fixed document dates (the zip entries still get the time of the build)
    workbook.properties.created = stamp
    workbook.properties.modified = stamp
    workbook.save(target)
    return target


if __name__ == "__main__":
    print(f"wrote {build()}")
