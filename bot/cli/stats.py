"""`stats`: the 三率 and other figures per township, community and compound
for a period, printed or written as an Excel report (one sheet per level)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from bot.cli.base import CliState, pass_state, run
from bot.db import Database
from bot.domain.stats import (
    COLUMNS,
    LEVEL_NAMES,
    LEVEL_TITLES,
    PERIOD_CODES,
    RATE_COLUMNS,
    Report,
    percent,
    period,
    period_code,
    period_names,
    report,
)
from bot.models import utcnow


def _period(since: str | None, until: str | None, days: int, named: str | None, tz: ZoneInfo
            ) -> tuple[datetime, datetime]:
    if named is not None:
        code = period_code(named) or (named if named in PERIOD_CODES else None)
        if code is None:
            raise click.BadParameter(f"no period {named!r}; one of: "
                                     + ", ".join(f"{c} ({n})" for c, n in zip(PERIOD_CODES, period_names(),
                                                                                 strict=True)),
                                     param_hint="--period")
        span = period(code, utcnow(), tz)
        return span.start, span.end
    today = utcnow().astimezone(tz).date()
    end_day = date.fromisoformat(until) + timedelta(days=1) if until else today + timedelta(days=1)
    start_day = date.fromisoformat(since) if since else end_day - timedelta(days=days)
    return datetime.combine(start_day, time(0), tz), datetime.combine(end_day, time(0), tz)


def write_xlsx(rep: Report, path: Path) -> None:
    from bot.domain.exports import figures_xlsx

    path.write_bytes(figures_xlsx(rep, LEVEL_NAMES))


@click.command("stats")
@click.option("--since", help="First day (YYYY-MM-DD, in [tickets] timezone). Default: --days before --until.")
@click.option("--until", help="Last day (YYYY-MM-DD). Default: today.")
@click.option("--days", default=30, show_default=True, help="Length of the period when --since is not given.")
@click.option("--period", "named", help="A named period instead of dates: 今天, 本周, 上周, 本月, 上月, 今年 "
              "(or today, this_week, last_week, this_month, last_month, this_year).")
@click.option("--level", type=click.Choice(LEVEL_NAMES), default="community", show_default=True)
@click.option("--xlsx", "xlsx", type=click.Path(path_type=Path), help="Write an Excel report, one sheet per level.")
@pass_state
def stats(state: CliState, since: str | None, until: str | None, days: int, named: str | None, level: str,
          xlsx: Path | None) -> None:
    """Response, resolution and satisfaction rates (三率) and more, per level.
    Each rate's formula is in the Excel report's 说明 sheet (bot/data/stats.toml)."""
    config = state.config()
    if xlsx is not None:
        folder = xlsx.expanduser().resolve().parent
        if not folder.is_dir():
            raise click.BadParameter(f"the folder {folder} does not exist: create it first, or pick another path",
                                     param_hint="--xlsx")
    try:
        start, end = _period(since, until, days, named, config.tickets.tz)
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
