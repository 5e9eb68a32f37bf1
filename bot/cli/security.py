"""`audit` (every role granted, moved or revoked) and `deliveries --failed`
(messages that could not be delivered, with whom and why)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import aliased

from bot.cli.base import CliState, pass_state, run, with_database
from bot.db import Database
from bot.models import OutboxMessage, Person, RoleAudit


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


async def audit_rows(db: Database, phone: str | None, limit: int) -> list[dict[str, Any]]:
    async with db.reading() as session:
        query = (select(RoleAudit, Person.name, Person.phone).join(Person, RoleAudit.person_id == Person.id)
                 .order_by(RoleAudit.id.desc()).limit(limit))
        if phone:
            query = query.where(Person.phone == phone)
        rows = (await session.execute(query)).all()
    return [{"id": a.id, "at": _iso(a.at), "action": a.action, "person": name, "phone": ph, "openid": a.openid or "",
             "previous_openid": a.previous_openid or "", "via": a.via, "note": a.note}
            for a, name, ph in reversed(rows)]


async def delivery_rows(db: Database, statuses: tuple[str, ...], limit: int) -> list[dict[str, Any]]:
    recipient = aliased(Person)
    async with db.reading() as session:
        query = (select(OutboxMessage, recipient.name).outerjoin(recipient, OutboxMessage.person_id == recipient.id)
                 .order_by(OutboxMessage.id.desc()).limit(limit))
        if statuses:
            query = query.where(OutboxMessage.status.in_(statuses))
        rows = (await session.execute(query)).all()
    return [{"id": m.id, "created_at": _iso(m.created_at), "status": m.status, "kind": m.kind,
             "to": name or m.openid or "", "ticket": m.ticket_id, "attempts": m.attempts,
             "requeued": m.requeued, "reason": m.fail_reason or "", "error": m.last_error or "", "text": m.text}
            for m, name in reversed(rows)]


@click.command("audit")
@click.option("--phone", help="Only this person's roles.")
@click.option("--limit", default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_state
def audit(state: CliState, phone: str | None, limit: int, as_json: bool) -> None:
    """The audit trail: every role granted, moved to another WeChat, or revoked."""
    config = state.config()

    rows = run(with_database(config.database.url, lambda db: audit_rows(db, phone, limit)))
    for r in rows:
        if as_json:
            click.echo(json.dumps(r, ensure_ascii=False))
            continue
        moved = f" (was {r['previous_openid']})" if r["previous_openid"] else ""
        click.echo(f"{r['at']}  {r['action']:<8} {r['person']} {r['phone']}  {r['openid'] or '-'}{moved}  "
                   f"{r['via']} {r['note']}".rstrip())
    if not as_json:
        click.echo(f"{len(rows)} change(s) of role")


@click.command("deliveries")
@click.option("--failed", is_flag=True, help="Only messages that could not be delivered.")
@click.option("--pending", is_flag=True, help="Only messages still waiting to go out.")
@click.option("--limit", default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_state
def deliveries(state: CliState, failed: bool, pending: bool, limit: int, as_json: bool) -> None:
    """Outgoing messages: who they were for, how often tried, and why they failed."""
    config = state.config()
    statuses = tuple(s for s, on in (("failed", failed), ("pending", pending)) if on)

    rows = run(with_database(config.database.url, lambda db: delivery_rows(db, statuses, limit)))
    for r in rows:
        if as_json:
            click.echo(json.dumps(r, ensure_ascii=False))
            continue
        ticket = f"#{r['ticket']}" if r["ticket"] else "-"
        click.echo(f"{r['id']:<6} {r['status']:<7} {r['kind']:<10} {ticket:<6} {r['to'] or '-':<10} "
                   f"tries={r['attempts']} {r['error'][:60]}  「{r['text'][:30]}」")
    if not as_json:
        click.echo(f"{len(rows)} message(s)")
