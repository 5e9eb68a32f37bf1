"""`campaign-export N --xlsx PATH`: every opinion of campaign N to Excel,
with coverage per building and per member and the households not reached."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.base import CliState, pass_state, run
from bot.db import Database


@click.command("campaign-export")
@click.argument("number", type=int)
@click.option("--xlsx", "xlsx", type=click.Path(path_type=Path), required=True, help="The Excel file to write.")
@pass_state
def campaign_export(state: CliState, number: int, xlsx: Path) -> None:
    """Export every opinion of campaign NUMBER (征集#N) to an Excel workbook."""
    from bot.domain.visits.export import export_opinions
    from bot.models import Campaign
    from bot.texts import texts

    config = state.config()

    async def go() -> int | None:
        db = Database(config.database.url)
        try:
            async with db.reading() as session:
                campaign = await session.get(Campaign, number)
                if campaign is None:
                    return None
                return await export_opinions(session, texts, campaign, xlsx)
        finally:
            await db.dispose()

    count = run(go())
    if count is None:
        click.echo(f"no campaign {number}", err=True)
        raise SystemExit(1)
    click.echo(f"wrote {count} opinions of campaign {number} to {xlsx}")
