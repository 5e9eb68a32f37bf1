"""`invite PHONE` (a single-use code) and `tickets` (list and show tickets,
as a table, JSON or CSV)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

import click

from bot.cli.base import CliState, pass_state, run
from bot.db import Database
from bot.domain.listings import (
    WORDS,
    TicketQuery,
    category_code,
    category_names,
    list_tickets,
    state_code,
    state_names,
    timeline,
)
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
    until = expires.astimezone(config.tickets.tz)
    click.echo(f"Invite for {name} ({phone}), valid until {until:%Y-%m-%d %H:%M} ({config.tickets.timezone}).")
    click.echo(f"They send from WeChat: 绑定 邀请码 {code}")
    click.echo(code)


FIELDS = ("id", "state", "category", "kind", "urgent", "community", "assignee", "location", "created_at",
          "accept_due_at", "resolve_due_at", "overdue", "rating", "text")
TIME_FIELDS = ("created_at", "accept_due_at", "resolve_due_at")


def _row(ticket: Ticket, community: str, assignee: str, overdue: bool, tz: ZoneInfo) -> dict[str, Any]:
    return {"id": ticket.id, "state": ticket.state, "category": ticket.category, "kind": ticket.kind,
            "urgent": ticket.urgent, "community": community, "assignee": assignee, "location": ticket.location,
            "created_at": local(ticket.created_at, tz), "accept_due_at": local(ticket.accept_due_at, tz),
            "resolve_due_at": local(ticket.resolve_due_at, tz), "overdue": overdue,
            "rating": ticket.rating, "text": ticket.text}


def local(value: datetime | None, tz: ZoneInfo) -> str:
    """A time in the configured zone, with its offset (2026-11-23T09:00:00+08:00)."""
    return value.astimezone(tz).isoformat(timespec="seconds") if value else ""


def _choices(names: dict[str, str]) -> str:
    return ", ".join(f"{code} ({name})" for code, name in names.items())


def _states(given: tuple[str, ...]) -> tuple[str, ...]:
    codes = []
    for word in given:
        for part in word.replace("，", ",").split(","):
            if not part.strip():
                continue
            code = state_code(part)
            if code is None:
                raise click.BadParameter(f"no state {part!r}; one of: {_choices(state_names())}",
                                         param_hint="--state")
            codes.append(code)
    return tuple(codes)


def _category(given: str | None, rules_file: str) -> str | None:
    if given is None:
        return None
    names = category_names(rules_file)
    code = category_code(given, names)
    if code is None:
        raise click.BadParameter(f"no category {given!r}; one of: {_choices(names)}", param_hint="--category")
    return code


def write_csv(rows: list[dict[str, Any]], out: IO[str], rules_file: str = "") -> None:
    """The rows as CSV for Excel: a BOM, Chinese headers, Chinese state and category names."""
    words = WORDS["csv"]
    states, categories, kinds = state_names(), category_names(rules_file), WORDS["kinds"]
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([words[name] for name in FIELDS])
    for row in rows:
        cells = {**row, "state": states.get(row["state"], row["state"]),
                 "category": categories.get(row["category"], row["category"]),
                 "kind": kinds.get(row["kind"], row["kind"]),
                 "urgent": words["yes"] if row["urgent"] else "", "overdue": words["yes"] if row["overdue"] else "",
                 "rating": "" if row["rating"] is None else row["rating"],
                 **{name: row[name][:19].replace("T", " ") for name in TIME_FIELDS}}
        writer.writerow([cells[name] for name in FIELDS])


@click.command("tickets")
@click.argument("number", required=False, type=int)
@click.option("--state", "states", multiple=True,
              help="open/待分派, assigned/已派单, accepted/处理中, resolved/已办结, closed/已关闭, cancelled/已撤销 "
                   "(repeat or separate with commas).")
@click.option("--category", help="A category code or name, e.g. facilities or 公共设施.")
@click.option("--community", help="Community name.")
@click.option("--assignee", help="Assignee name or phone.")
@click.option("--overdue", is_flag=True, help="Only tickets past a deadline.")
@click.option("--limit", default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV for Excel (UTF-8 with BOM, Chinese headers).")
@pass_state
def tickets(state: CliState, number: int | None, states: tuple[str, ...], category: str | None,
            community: str | None, assignee: str | None, overdue: bool, limit: int, as_json: bool,
            as_csv: bool) -> None:
    """List tickets (overdue first), or show one ticket with its whole timeline.
    Times are shown in [tickets] timezone."""
    config = state.config()
    tz = config.tickets.tz
    wanted_states = _states(states)
    category_code_ = _category(category, config.nlp.rules_file)
    now = utcnow()

    async def go() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        db = Database(config.database.url)
        try:
            async with db.reading() as session:
                found = await list_tickets(session, TicketQuery(
                    number=number, states=wanted_states, category=category_code_, community=community,
                    assignee=assignee, overdue_only=overdue, limit=limit), now)
                rows = [_row(r.ticket, r.community, r.assignee, r.overdue, tz) for r in found]
                events = [{**e, "at": local(e["at"], tz)}
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
        out = io.StringIO()
        write_csv(rows, out, config.nlp.rules_file)
        click.echo(out.getvalue(), nl=False)
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
                       f"{r['community'] or '-':<6} {r['created_at'][:16].replace('T', ' ')} {r['text'][:30]}")
        click.echo(f"{len(rows)} ticket(s); ! overdue, * urgent; times in {config.tickets.timezone}")
