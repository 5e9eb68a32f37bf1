"""Every opinion of a campaign as an Excel workbook: the opinions, coverage
per building and per member, and the households not yet reached."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.visits.results import OpinionRow, ScopeHousehold, Share, opinion_rows, scope_households
from bot.domain.visits.results import _shares as shares
from bot.domain.visits.words import CHINA
from bot.models import Campaign
from bot.texts import Texts


async def export_opinions(session: AsyncSession, texts: Texts, campaign: Campaign, path: Path) -> int:
    """Write the campaign's workbook to `path`; returns how many opinions it lists."""
    rows = await opinion_rows(session, campaign)
    items = await scope_households(session, campaign)
    await asyncio.to_thread(_write, texts, campaign, rows, items, path)
    return len(rows)


def _write(texts: Texts, campaign: Campaign, rows: list[OpinionRow], items: list[ScopeHousehold],
           path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    def header(sheet: Any, key: str) -> None:
        sheet.append([f"{texts('export.title', no=campaign.id, title=campaign.title)}"])
        sheet["A1"].font = Font(bold=True)
        sheet.append(texts(key).split("|"))
        for cell in sheet[2]:
            cell.font = Font(bold=True)

    book = Workbook()
    opinions = book.active
    opinions.title = texts("export.opinions_sheet")
    header(opinions, "export.opinions_columns")
    for r in rows:
        opinions.append([r.id, r.at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M"), r.address, r.head_name, r.member,
                         texts("export.by_resident") if r.by_resident else texts("export.by_member", name=r.collector),
                         r.choice, r.text])
    opinions.column_dimensions["C"].width = 24
    opinions.column_dimensions["H"].width = 60

    def share_sheet(title_key: str, columns_key: str, data: list[Share]) -> None:
        sheet = book.create_sheet(texts(title_key))
        header(sheet, columns_key)
        for s in data:
            sheet.append([s.label or texts("results.no_member"), s.reached, s.total, round(s.rate, 4)])
        for row in sheet.iter_rows(min_row=3, min_col=4, max_col=4):
            row[0].number_format = "0.0%"
        sheet.column_dimensions["A"].width = 24

    share_sheet("export.buildings_sheet", "export.buildings_columns", shares(items, False))
    share_sheet("export.members_sheet", "export.members_columns", shares(items, True))
    missing = book.create_sheet(texts("export.unreached_sheet"))
    header(missing, "export.unreached_columns")
    for h in items:
        if not h.reached:
            missing.append([h.address, h.head_name, h.member or texts("results.no_member")])
    missing.column_dimensions["A"].width = 24
    book.save(path)
