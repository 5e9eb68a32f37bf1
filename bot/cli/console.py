"""``python -m bot console-link PHONE``: a single-use login link to the staff console."""

from __future__ import annotations

import click
from sqlalchemy import select

from bot.cli.base import CliState, pass_state, run
from bot.db import Database, is_sqlite, upgrade
from bot.models import Person, utcnow


@click.command("console-link")
@click.argument("phone")
@pass_state
def console_link(state: CliState, phone: str) -> None:
    """Print a single-use console login link for the roster person with PHONE (URL on the last line)."""
    from bot.domain.console_access import base_url, create_link, link_url

    config = state.config()

    async def go() -> tuple[str, str]:
        if is_sqlite(config.database.url):
            await upgrade(config.database.url)
        db = Database(config.database.url)
        try:
            async with db.transaction() as session:
                person = await session.scalar(select(Person).where(Person.phone == phone.strip()))
                if person is None:
                    raise click.ClickException(f"no one with phone {phone} in the roster")
                token = await create_link(session, person, utcnow(), config.console.link_ttl_min)
                return person.name, link_url(base_url(config), token)
        finally:
            await db.dispose()

    name, url = run(go())
    click.echo(f"Console login link for {name} ({phone}), single use, valid {config.console.link_ttl_min} minutes:")
    click.echo(url)
