"""`invite PHONE` (a single-use code) and `tickets` (list and show tickets,
as a table, JSON or CSV)."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime
from typing import Any

import click

from bot.cli.base import CliState, pass_state, run
from bot.db import Database
from bot.domain.listings import TicketQuery, list_tickets, timeline
from bot.models import Ticket, utcnow


@click.command("invite")
@click.argument("phone")
@pass_state
def invite(state: CliState, phone: str) -> None:
    """Print a single-use invite code (valid 72 h) for the roster person with PHONE."""
    from bot.domain.identity import create_invite, person_by_phone

    config = state.config()

    async def go() -> tuple[str, str, datetime]:
        db = Database(config.database.url)
        try:
            async with db.transaction() as session:
                person = await person_by_phone(session, phone)
                if person is None:
                    raise click.ClickException(f"no one with phone {phone} in the roster")
                code = await create_invite(session, person, utcnow())
                return person.name, code.code, code.expires_at
        finally:
            await db.dispose()

    name, code, expires = run(go())
    click.echo(f"Invite for {name} ({phone}), valid until {expires:%Y-%m-%d %H:%M} UTC.")
    click.echo(f"They send from WeChat: 绑定 邀请码 {code}")
    click.echo(code)


FIELDS = ("id", "state", "category", "kind", "urgent", "community", "assignee", "location", "created_at",
          "accept_due_at", "resolve_due_at", "overdue", "rating", "text")


def _row(ticket: Ticket, community: str, assignee: str, overdue: bool) -> dict[str, Any]:
    def iso(value: datetime | None) -> str:
        return value.isoformat(timespec="seconds") if value else ""

    return {"id": ticket.id, "state": ticket.state, "category": ticket.category, "kind": ticket.kind,
            "urgent": ticket.urgent, "community": community, "assignee": assignee, "location": ticket.location,
            "created_at": iso(ticket.created_at), "accept_due_at": iso(ticket.accept_due_at),
            "resolve_due_at": iso(ticket.resolve_due_at), "overdue": overdue,
            "rating": ticket.rating, "text": ticket.text}


@click.command("tickets")
@click.argument("number", required=False, type=int)
@click.option("--state", "states", multiple=True, help="open, assigned, accepted, resolved, closed, cancelled")
@click.option("--category", help="A category code, e.g. facilities.")
@click.option("--community", help="Community name.")
@click.option("--assignee", help="Assignee name or phone.")
@click.option("--overdue", is_flag=True, help="Only tickets past a deadline.")
@click.option("--limit", default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row.")
@pass_state
def tickets(state: CliState, number: int | None, states: tuple[str, ...], category: str | None,
            community: str | None, assignee: str | None, overdue: bool, limit: int, as_json: bool,
            as_csv: bool) -> None:
    """List tickets (overdue first), or show one ticket with its whole timeline."""
    config = state.config()
    now = utcnow()

    async def go() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        db = Database(config.database.url)
        try:
            async with db.reading() as session:
                found = await list_tickets(session, TicketQuery(
                    number=number, states=states, category=category, community=community, assignee=assignee,
                    overdue_only=overdue, limit=limit), now)
                rows = [_row(r.ticket, r.community, r.assignee, r.overdue) for r in found]
                events = [{**e, "at": e["at"].isoformat(timespec="seconds")}
                          for e in (await timeline(session, number) if number is not None and rows else [])]
                return rows, events
        finally:
            await db.dispose()

    rows, events = run(go())
    if number is not None and not rows:
        raise click.ClickException(f"no ticket #{number}")
    if as_json:
        for row in rows:
            click.echo(json.dumps({**row, "timeline": events} if number is not None else row, ensure_ascii=False))
    elif as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    elif number is not None:
        for key in FIELDS:
            click.echo(f"{key:>15}: {rows[0][key]}")
        click.echo("timeline:")
        for e in events:
            arrow = f" {e['from']}→{e['to']}" if e["to"] else ""
            click.echo(f"  {e['at']}  {e['action']:<15} {e['who']}{arrow}  {e['note']}")
    else:
        for r in rows:
            flag = "!" if r["overdue"] else ("*" if r["urgent"] else " ")
            click.echo(f"{flag}#{r['id']:<5} {r['state']:<9} {r['category']:<12} {r['assignee'] or '-':<6} "
                       f"{r['community'] or '-':<6} {r['text'][:30]}")
        click.echo(f"{len(rows)} ticket(s); ! overdue, * urgent")
