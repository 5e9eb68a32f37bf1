"""Excel downloads for staff: the figures (one sheet per level) and the 台账
(one row per ticket). Chinese headers, a frozen header row, filters, widened
columns, times in Beijing time. Workbooks are built in a worker thread by
the callers (openpyxl is synchronous)."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.stats import (
    CHINA,
    COLUMNS,
    EXTRA_LEVELS,
    LEVEL_NAMES,
    LEVEL_TITLES,
    RATE_COLUMNS,
    Report,
    export_words,
    notes,
)
from bot.models import Building, Community, Compound, Household, Person, Ticket

STATE_NAMES = {"open": "待分派", "assigned": "已派单", "accepted": "办理中", "resolved": "已办结",
               "closed": "已关闭", "cancelled": "已撤销"}
LEDGER_HEADERS = ("工单号", "提交时间", "居民诉求", "地点", "住户", "社区", "小区", "类别", "紧急", "办理人",
                  "状态", "派单时间", "接单时间", "接单时限", "按时接单", "办结时间", "办结时限", "按时办结",
                  "关闭时间", "评价", "催办次数")
LEDGER_WIDTHS = {"居民诉求": 48, "地点": 24, "住户": 24, "社区": 14, "小区": 14}
TIME_FORMAT = "yyyy-mm-dd hh:mm"


def beijing(value: datetime | None) -> datetime | None:
    """A UTC time as a naive Beijing time (Excel cells have no zone)."""
    return value.astimezone(CHINA).replace(tzinfo=None) if value is not None else None


def _met(done: datetime | None, due: datetime | None, now: datetime) -> str:
    if due is None:
        return ""
    if done is None:
        return "超时" if due < now else "未到期"
    return "按时" if done <= due else "超时"


@dataclass(frozen=True)
class LedgerRow:
    cells: tuple[Any, ...]


async def ledger(session: AsyncSession, *, start: datetime, end: datetime, now: datetime,
                 where: ColumnElement[bool] | None, category_name: Callable[[str], str]) -> list[LedgerRow]:
    """Every ticket created in [start, end) within `where`, as 台账 rows."""
    query = (select(Ticket, Community.name, Compound.name, Person.name, Building.label, Household)
             .outerjoin(Community, Ticket.community_id == Community.id)
             .outerjoin(Compound, Ticket.compound_id == Compound.id)
             .outerjoin(Person, Ticket.assignee_id == Person.id)
             .outerjoin(Household, Ticket.household_id == Household.id)
             .outerjoin(Building, Household.building_id == Building.id)
             .where(Ticket.created_at >= start, Ticket.created_at < end).order_by(Ticket.id))
    if where is not None:
        query = query.where(where)
    rows: list[LedgerRow] = []
    for ticket, community, compound, assignee, building, household in (await session.execute(query)).all():
        home = ""
        if household is not None:
            unit = f"{household.unit}单元" if household.unit else ""
            home = f"{building or ''}{unit}{household.room} {household.head_name}".strip()
        accepted_met = _met(ticket.accepted_at, ticket.accept_due_at, now)
        resolved_met = _met(ticket.resolved_at or ticket.closed_at if ticket.state in ("resolved", "closed")
                            else None, ticket.resolve_due_at, now)
        rows.append(LedgerRow((
            ticket.id, beijing(ticket.created_at), ticket.text, ticket.location, home, community or "",
            compound or "", category_name(ticket.category), "是" if ticket.urgent else "", assignee or "",
            STATE_NAMES.get(ticket.state, ticket.state), beijing(ticket.assigned_at), beijing(ticket.accepted_at),
            beijing(ticket.accept_due_at), accepted_met, beijing(ticket.resolved_at), beijing(ticket.resolve_due_at),
            resolved_met, beijing(ticket.closed_at), ticket.rating if ticket.rating is not None else "",
            ticket.urge_count)))
    return rows


def _finish(sheet: Any, header_row: int, widths: Sequence[float]) -> None:
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    fill = PatternFill("solid", fgColor="DDEBF7")
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
        cell.fill = fill
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    last = get_column_letter(len(widths))
    sheet.auto_filter.ref = f"A{header_row}:{last}{max(sheet.max_row, header_row)}"
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width


def ledger_xlsx(rows: Sequence[LedgerRow], title: str) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append(list(LEDGER_HEADERS))
    for row in rows:
        sheet.append(list(row.cells))
    for column, header in enumerate(LEDGER_HEADERS, start=1):
        if header.endswith(("时间", "时限")):
            for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
                cell.number_format = TIME_FORMAT
    widths = [LEDGER_WIDTHS.get(h, 18 if h.endswith(("时间", "时限")) else max(8, len(h) * 2 + 4))
              for h in LEDGER_HEADERS]
    _finish(sheet, 1, widths)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _notes_sheet(book: Any, period: str) -> None:
    """The 说明 sheet: how each rate is computed (bot/data/stats.toml)."""
    from openpyxl.styles import Alignment, Font

    words = export_words()
    sheet = book.create_sheet(words["notes_sheet"])
    sheet.append([words["notes_title"].format(period=period)])
    sheet["A1"].font = Font(bold=True)
    sheet.append([words["notes_name"], words["notes_formula"]])
    for name, formula in notes():
        sheet.append([name, formula])
    for (cell,) in sheet.iter_rows(min_row=3, min_col=2, max_col=2):
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    _finish(sheet, 2, [14, 90])


def figures_xlsx(rep: Report, levels: Sequence[str] = (*LEVEL_NAMES, *EXTRA_LEVELS)) -> bytes:
    """The figures of a report, one sheet per level, with a total row."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    period = f"{rep.start.astimezone(CHINA):%Y-%m-%d} 至 {(rep.end - timedelta(days=1)).astimezone(CHINA):%Y-%m-%d}"
    for level in levels:
        sheet = book.create_sheet(LEVEL_TITLES[level])
        sheet.append([f"{LEVEL_TITLES[level]}工单统计 {period}"])
        sheet["A1"].font = Font(bold=True)
        sheet.append([LEVEL_TITLES[level], *(name for name, _ in COLUMNS)])
        for name, figures in sorted(rep.rows.get(level, {}).items()):
            sheet.append([name, *(get(figures) for _, get in COLUMNS)])
        sheet.append(["合计", *(get(rep.total) for _, get in COLUMNS)])
        for index, (name, _) in enumerate(COLUMNS, start=2):
            if name in RATE_COLUMNS:
                for row in sheet.iter_rows(min_row=3, min_col=index, max_col=index):
                    row[0].number_format = "0.0%"
        _finish(sheet, 2, [24, *(12 for _ in COLUMNS)])
    _notes_sheet(book, period)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
