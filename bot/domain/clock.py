"""The deadline clock (吹哨) and follow-up (回访) that run in the background.

Each tick, in one transaction:
- an assigned ticket past its accept deadline, or an accepted one past its
  resolve deadline, first reminds its assignee; if it is still overdue one
  grace period (the category's accept time) after the reminder, it climbs
  one level of the chain;
- a ticket waiting in the triage queue past its deadline reminds staff, once
  per grace period;
- a resolved ticket nobody rated within N days is closed as 未评价;
- door to door: a 关爱对象 household due a visit reminds its member, an
  overdue one climbs (bot.domain.visits.care); a campaign past its deadline
  closes and its creator is told.
On PostgreSQL the tickets are locked with SKIP LOCKED, so several processes
can run the clock without reminding twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from bot.config import Config
from bot.db import Database
from bot.domain.deadlines import calendar_from_config, rule_for
from bot.domain.listings import overdue_clause, overdue_stage
from bot.domain.tickets import CLOSED, OPEN, RESOLVED, TicketDesk
from bot.models import Person, Ticket
from bot.texts import Texts

log = logging.getLogger("lianxin.clock")

TICK_S = 30.0


def grace_until(config: Config, ticket: Ticket, since: datetime) -> datetime:
    """When a reminded ticket climbs: one accept period after the reminder."""
    rule = rule_for(config.tickets.deadlines, category=ticket.category, urgent=ticket.urgent)
    if ticket.urgent:
        return since + timedelta(hours=rule.accept_h)
    return calendar_from_config(config.tickets).add_working_hours(since, rule.accept_h)


async def tick(db: Database, config: Config, texts: Texts, now: datetime, category_name: Any = str) -> dict[str, int]:
    """One pass of the clock; returns how many reminders, escalations and closures it made."""
    done = {"reminded": 0, "escalated": 0, "staff_reminded": 0, "auto_closed": 0}
    async with db.transaction() as session:
        desk = TicketDesk(session, config, texts, now, category_name)
        overdue = select(Ticket).where(overdue_clause(now)).order_by(Ticket.id).limit(200)
        if db.dialect == "postgresql":
            overdue = overdue.with_for_update(skip_locked=True)
        for ticket in (await session.scalars(overdue)).all():
            stage = overdue_stage(ticket)
            if ticket.state == OPEN or ticket.assignee_id is None:
                if ticket.reminded_at is None or grace_until(config, ticket, ticket.reminded_at) < now:
                    await desk.notify_staff(ticket, "escalation", "notify.escalated_staff",
                                             reason=texts(f"escalate.reason_{stage}_overdue"))
                    ticket.reminded_at = now
                    desk.record(ticket, "staff_reminded", note=texts(f"escalate.reason_{stage}_overdue"))
                    done["staff_reminded"] += 1
                continue
            if ticket.reminded_at is None:
                person = await session.get(Person, ticket.assignee_id)
                if person is not None:
                    desk.notify_person(person, "reminder", f"notify.reminder_{stage}", ticket,
                                        **desk.ticket_fields(ticket))
                ticket.reminded_at = now
                desk.record(ticket, "reminded", data={"stage": stage})
                done["reminded"] += 1
            elif grace_until(config, ticket, ticket.reminded_at) < now:
                await desk.escalate(ticket, reason=texts(f"escalate.reason_{stage}_overdue"))
                done["escalated"] += 1
        await session.execute(update(Person).where(Person.on_leave.is_(True), Person.leave_until.is_not(None),
                                                   Person.leave_until <= now)
                              .values(on_leave=False, leave_until=None).execution_options(synchronize_session=False))
        stale = select(Ticket).where(
            Ticket.state == RESOLVED,
            Ticket.resolved_at < now - timedelta(days=config.tickets.followup_close_days),
        ).order_by(Ticket.id).limit(200)
        if db.dialect == "postgresql":
            stale = stale.with_for_update(skip_locked=True)
        for ticket in (await session.scalars(stale)).all():
            if await desk.transition(ticket, CLOSED, (RESOLVED,), closed_at=now):
                desk.record(ticket, "auto_closed", from_state=RESOLVED, to_state=CLOSED,
                            note=texts("followup.unrated") if ticket.rating is None else "")
                await desk.notify_residents(ticket, "closed", "notify.followup_closed")
                done["auto_closed"] += 1
        done.update(await door_to_door(session, config, texts, now, lock=db.dialect == "postgresql"))
    return done


async def door_to_door(session: Any, config: Config, texts: Texts, now: datetime, *, lock: bool) -> dict[str, int]:
    """Care rounds due and overdue (关爱走访), and campaigns past their deadline."""
    from bot.delivery.outbox import enqueue
    from bot.domain.visits import campaigns, care, results

    done = await care.tick(session, config.visits, texts, now, lock=lock)
    closed = await campaigns.close_due(session, now, lock=lock)
    for campaign in closed:
        if campaign.created_by is not None:
            found = await results.scope_households(session, campaign)
            enqueue(session, kind=campaigns.KIND, now=now, person_id=campaign.created_by,
                    text=texts("campaign.deadline_closed", **campaigns.campaign_fields(texts, campaign),
                               reached=sum(1 for h in found if h.reached), total=len(found)))
    done["campaigns_closed"] = len(closed)
    return done


async def run_clock_task(services: Any, stop: asyncio.Event) -> None:
    """Run `tick` every TICK_S seconds until `stop` is set."""
    while not stop.is_set():
        try:
            result = await tick(services.db, services.config, services.texts, services.now(),
                                services.analyser.category_name)
            if any(result.values()):
                log.info("clock %s", " ".join(f"{k}={v}" for k, v in result.items()))
        except Exception:
            log.exception("deadline clock failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=TICK_S)
