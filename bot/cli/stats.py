"""`stats`: the 三率 and other figures per township, community and compound
for a period, printed or written as an Excel report (one sheet per level)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import click

from bot.cli.base import CliState, pass_state, run
from bot.db import Database
from bot.domain.stats import CHINA, COLUMNS, LEVEL_NAMES, LEVEL_TITLES, RATE_COLUMNS, Report, percent, report
from bot.models import utcnow


def _period(since: str | None, until: str | None, days: int) -> tuple[datetime, datetime]:
    today = utcnow().astimezone(CHINA).date()
    end_day = date.fromisoformat(until) + timedelta(days=1) if until else today + timedelta(days=1)
    start_day = date.fromisoformat(since) if since else end_day - timedelta(days=days)
    return datetime.combine(start_day, time(0), CHINA), datetime.combine(end_day, time(0), CHINA)


def write_xlsx(rep: Report, path: Path) -> None:
    from bot.domain.exports import figures_xlsx

    path.write_bytes(figures_xlsx(rep, LEVEL_NAMES))


@click.command("stats")
@click.option("--since", help="First day (YYYY-MM-DD, China time). Default: --days before --until.")
@click.option("--until", help="Last day (YYYY-MM-DD). Default: today.")
@click.option("--days", default=30, show_default=True, help="Length of the period when --since is not given.")
@click.option("--level", type=click.Choice(LEVEL_NAMES), default="community", show_default=True)
@click.option("--xlsx", "xlsx", type=click.Path(path_type=Path), help="Write an Excel report, one sheet per level.")
@pass_state
def stats(state: CliState, since: str | None, until: str | None, days: int, level: str, xlsx: Path | None) -> None:
    """Response, resolution and satisfaction rates (三率) and more, per level."""
    config = state.config()
    try:
        start, end = _period(since, until, days)
    except ValueError as exc:
        raise click.BadParameter(f"dates are YYYY-MM-DD ({exc})") from None

    async def go() -> Report:
        db = Database(config.database.url)
        try:
            async with db.reading() as session:
                return await report(session, start=start, end=end, now=utcnow())
        finally:
            await db.dispose()

    rep = run(go())
    if xlsx is not None:
        write_xlsx(rep, xlsx)
        click.echo(f"wrote {xlsx}")
    header = [LEVEL_TITLES[level], *(name for name, _ in COLUMNS)]
    click.echo("\t".join(header))
    for name, figures in [*sorted(rep.rows[level].items()), ("合计", rep.total)]:
        cells = [percent(get(figures)) if col in RATE_COLUMNS else str(get(figures)) for col, get in COLUMNS]
        click.echo("\t".join([name, *cells]))
