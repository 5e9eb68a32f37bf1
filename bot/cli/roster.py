"""``python -m bot import-roster FILE... [--strict]``: load a community's roster sheets.

Prints the import summary (in Chinese, for the staff who run it). Exit code 1
when --strict refused the import because of bad rows, or when a file cannot be
read at all; 0 otherwise (bad rows of a non-strict import are listed, not fatal).
"""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.base import CliState, pass_state, run
from bot.db import Database, is_sqlite, upgrade
from bot.domain.roster.columns import RosterFileError
from bot.domain.roster.importer import import_rosters
from bot.domain.roster.report import ImportReport


async def _import(url: str, pool_size: int, files: list[Path], strict: bool) -> ImportReport:
    db = Database(url, pool_size)  # on SQLite this also makes the database file's folder
    try:
        if is_sqlite(url):
            await upgrade(url)
        return await import_rosters(db, files, strict=strict)
    finally:
        await db.dispose()


@click.command("import-roster")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--strict", is_flag=True,
              help="Load nothing if any row is bad (default: load the good rows, list the bad ones).")
@pass_state
def import_roster_command(state: CliState, files: tuple[Path, ...], strict: bool) -> None:
    """Import household and staff sheets (CSV or .xlsx); re-importing updates in place.

    Several files are imported together, in one transaction.
    """
    config = state.config()
    try:
        report = run(_import(config.database.url, config.database.pool_size, list(files), strict))
    except RosterFileError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(report.summary())
    if strict and report.rejected:
        raise SystemExit(1)
