"""The console's pages and actions. Thin: parse the request, call bot/domain,
render a template. Anything outside the viewer's scope answers 404 and
changes nothing; party members (scope "own") only read."""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.console.common import COOKIE, PREFIX, SERVICES, TEXTS, not_found, render, viewer
from bot.domain import listings
from bot.domain.assignment import available
from bot.domain.console_access import redeem_link, revoke_session, ticket_in_scope
from bot.domain.stats import CHINA
from bot.domain.tickets import ACTIVE, Outcome, TicketDesk
from bot.models import (
    Building,
    Community,
    Compound,
    Household,
    OutboxMessage,
    Person,
    Ticket,
    TicketAttachment,
    TicketFollower,
)

STATES = ("open", "assigned", "accepted", "resolved", "closed", "cancelled")


def beijing_text(value: datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    return value.astimezone(CHINA).strftime(fmt) if value is not None else ""


def _render(request: web.Request, name: str, context: dict[str, Any], status: int = 200) -> web.Response:
    return render(request, name, context, status)


def _desk(request: web.Request, session: AsyncSession) -> TicketDesk:
    services = request.app[SERVICES]
    analyser = services.analyser
    return TicketDesk(session, services.config, services.texts, services.now(), analyser.category_name,
                      analyser.tokens)


def _safe_next(value: object, default: str) -> str:
    """Where to go after an action: only a console path of this site."""
    if isinstance(value, str) and value.startswith(f"{PREFIX}/") and not value.startswith("//") \
            and "\\" not in value:
        return value
    return default


# --- login, logout ---------------------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.Response:
    return _render(request, "login.html", {"reason": ""})


async def login_link(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with services.db.transaction() as session:
        result = await redeem_link(session, request.match_info["token"], services.now())
    if isinstance(result, str):
        return _render(request, "login.html", {"reason": result}, status=403)
    response = web.HTTPSeeOther(f"{PREFIX}/")
    response.set_cookie(COOKIE, result.secret, path=f"{PREFIX}/", httponly=True,
                        secure=services.config.console.secure_cookie, samesite="Lax")
    raise response


async def logout(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with services.db.transaction() as session:
        await revoke_session(session, viewer(request).session_hash, services.now())
    response = _render(request, "login.html", {"reason": "logged_out", "logged_out": True})
    response.del_cookie(COOKIE, path=f"{PREFIX}/")
    return response


# --- the queue -------------------------------------------------------------------------------------------


def _day(value: str) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(value), time(0), CHINA) if value else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


_NUMBER = re.compile(r"^\s*[#＃]?\s*(\d+)\s*号?\s*$")


def _queue_query(request: web.Request) -> tuple[listings.TicketQuery, dict[str, str]]:
    q = request.query
    chosen = {k: q.get(k, "").strip() for k in ("state", "category", "compound", "building", "assignee", "since",
                                                 "until", "q", "overdue")}
    scope = viewer(request).scope
    state = chosen["state"]
    states: tuple[str, ...] = ACTIVE if not state else () if state == "all" else (state,) \
        if state in STATES else ACTIVE
    words, number = chosen["q"], None
    match = _NUMBER.match(words)
    if match:
        number, words = int(match.group(1)), ""
    until = _day(chosen["until"])
    query = listings.TicketQuery(
        number=number, states=states, category=chosen["category"] or None, assignee=chosen["assignee"] or None,
        overdue_only=chosen["overdue"] == "1", limit=200, where=scope.tickets(),
        compound_id=_int(chosen["compound"]), building_id=_int(chosen["building"]), since=_day(chosen["since"]),
        until=until + timedelta(days=1) if until else None, words=words, by_due=True)
    return query, chosen


async def _places(session: AsyncSession, request: web.Request) -> tuple[list[Any], list[Any]]:
    scope = viewer(request).scope
    compounds = (await session.execute(
        select(Compound.id, Compound.name, Community.name).join(Community, Compound.community_id == Community.id)
        .where(scope.communities()).order_by(Community.name, Compound.name))).all()
    buildings = (await session.execute(
        select(Building.id, Building.label, Compound.name).join(Compound, Building.compound_id == Compound.id)
        .join(Community, Compound.community_id == Community.id).where(scope.communities())
        .order_by(Compound.name, Building.number, Building.label))).all()
    return list(compounds), list(buildings)


async def queue(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    query, chosen = _queue_query(request)
    now = services.now()
    async with services.db.reading() as session:
        rows = await listings.list_tickets(session, query, now)
        counts = await listings.count_by_state(session, viewer(request).scope.tickets(), now)
        compounds, buildings = await _places(session, request) if "partial" not in request.query else ([], [])
        staff = await _pickable(session, request, None)
    analyser = services.analyser
    context = {
        "rows": rows, "counts": counts, "chosen": chosen, "states": STATES, "compounds": compounds,
        "buildings": buildings, "categories": [(c, analyser.category_name(c)) for c in analyser.categories()],
        "category_name": analyser.category_name, "now": now, "staff": staff,
        "querystring": urlencode({k: v for k, v in chosen.items() if v}),
        "poll": services.config.console.poll_interval_s, "message": request.query.get("done", ""),
    }
    template = "queue_rows.html" if "partial" in request.query else "queue.html"
    return _render(request, template, context)


async def bulk(request: web.Request) -> web.Response:
    """Assign or close several tickets at once; each goes through the desk on its own."""
    form = await request.post()
    view = viewer(request)
    if not view.scope.staff:
        return not_found(request)
    numbers = [int(v) for v in form.getall("ticket", []) if isinstance(v, str) and v.isdigit()]
    action = form.get("action")
    services = request.app[SERVICES]
    ok = refused = 0
    async with services.db.transaction() as session:
        desk = _desk(request, session)
        for number in numbers:
            if await ticket_in_scope(session, view.scope, number) is None:
                refused += 1
                continue
            if action == "close":
                outcome = await desk.close(view.person, number, str(form.get("note", "")))
            elif action == "assign" and _int(str(form.get("person", ""))) is not None:
                outcome = await desk.assign_to(view.person, number, int(str(form.get("person"))))
            else:
                outcome = Outcome(False, "")
            ok, refused = (ok + 1, refused) if outcome.ok else (ok, refused + 1)
    text = request.app[TEXTS]("queue.bulk_done", ok=ok, refused=refused)
    raise web.HTTPSeeOther(f"{PREFIX}/?done={quote(text)}")


# --- a ticket --------------------------------------------------------------------------------------------


async def _pickable(session: AsyncSession, request: web.Request, ticket: Ticket | None) -> list[dict[str, Any]]:
    """People a ticket may be given to: its chain, else the staff in the viewer's scope."""
    view = viewer(request)
    if not view.scope.staff:
        return []
    levels: list[tuple[str, Person]]
    if ticket is not None:
        levels = await _desk(request, session).chain_people(ticket)
    else:
        staff = (await session.scalars(select(Person).join(Community, Person.staff_community_id == Community.id)
                                       .where(view.scope.communities()).order_by(Person.name))).all()
        levels = [("staff", p) for p in staff]
    texts = request.app[TEXTS]
    return [{"id": p.id, "name": p.name, "level": texts(f"level.{level}"), "available": available(p)}
            for level, p in levels]


async def _ticket_context(request: web.Request, session: AsyncSession, ticket: Ticket) -> dict[str, Any]:
    from bot.domain.roster.addresses import describe_household

    services = request.app[SERVICES]
    analyser = services.analyser
    household = await session.get(Household, ticket.household_id) if ticket.household_id else None
    community = await session.get(Community, ticket.community_id) if ticket.community_id else None
    assignee = await session.get(Person, ticket.assignee_id) if ticket.assignee_id else None
    followers = (await session.scalars(select(TicketFollower).where(TicketFollower.ticket_id == ticket.id)
                                       .order_by(TicketFollower.joined_at))).all()
    attachments = (await session.scalars(select(TicketAttachment).where(TicketAttachment.ticket_id == ticket.id)
                                         .order_by(TicketAttachment.id))).all()
    return {
        "ticket": ticket, "timeline": await listings.timeline(session, ticket.id),
        "household": await describe_household(session, household) if household else "",
        "community": community.name if community else "", "assignee": assignee,
        "followers": followers, "attachments": attachments, "people": await _pickable(session, request, ticket),
        "categories": [(c, analyser.category_name(c)) for c in analyser.categories()],
        "category_name": analyser.category_name, "overdue": listings.is_overdue(ticket, services.now()),
        "active": ticket.state in ACTIVE, "message": "", "error": "",
    }


async def ticket_page(request: web.Request) -> web.Response:
    number = _int(request.match_info["number"])
    services = request.app[SERVICES]
    async with services.db.reading() as session:
        ticket = await ticket_in_scope(session, viewer(request).scope, number) if number else None
        if ticket is None:
            return not_found(request)
        context = await _ticket_context(request, session, ticket)
    done = request.query.get("done", "")
    if done in ("close", "assign", "recategorise", "reply", "note", "merge"):
        context["message"] = request.app[TEXTS](f"ticket.done_{done}")
    return _render(request, "ticket.html", context)


Action = Callable[[web.Request, TicketDesk, Person, int, Any], Awaitable[Outcome]]


def _ticket_action(name: str, act: Action) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        number = _int(request.match_info["number"])
        view = viewer(request)
        services = request.app[SERVICES]
        form = await request.post()
        async with services.db.transaction() as session:
            ticket = await ticket_in_scope(session, view.scope, number) if number else None
            if ticket is None or not view.scope.staff or number is None:
                return not_found(request)
            outcome = await act(request, _desk(request, session), view.person, number, form)
            if not outcome.ok:
                await session.rollback()
        if outcome.ok:
            default = f"{PREFIX}/tickets/{number}?done={name}"
            raise web.HTTPSeeOther(_safe_next(form.get("next"), default))
        async with services.db.reading() as session:
            ticket = await session.get(Ticket, number)
            assert ticket is not None
            context = await _ticket_context(request, session, ticket)
        context["error"] = services.texts(outcome.key, **outcome.fields) if outcome.key else ""
        return _render(request, "ticket.html", context, status=409)

    return handle


def _text(form: Any, key: str) -> str:
    value = form.get(key, "")
    return value.strip() if isinstance(value, str) else ""


async def _close(request: web.Request, desk: TicketDesk, person: Person, number: int, form: Any) -> Outcome:
    return await desk.close(person, number, _text(form, "note"))


async def _assign(request: web.Request, desk: TicketDesk, person: Person, number: int, form: Any) -> Outcome:
    target = _int(_text(form, "person"))
    if target is None:
        return Outcome(False, "reassign.no_one", {"name": _text(form, "person")})
    return await desk.assign_to(person, number, target)


async def _recategorise(request: web.Request, desk: TicketDesk, person: Person, number: int, form: Any) -> Outcome:
    known = request.app[SERVICES].analyser.categories()
    return await desk.recategorise(person, number, _text(form, "category"), known)


async def _reply(request: web.Request, desk: TicketDesk, person: Person, number: int, form: Any) -> Outcome:
    return await desk.reply_resident(person, number, _text(form, "text"))


async def _note(request: web.Request, desk: TicketDesk, person: Person, number: int, form: Any) -> Outcome:
    return await desk.note(person, number, _text(form, "text"))


async def _merge(request: web.Request, desk: TicketDesk, person: Person, number: int, form: Any) -> Outcome:
    into = _int(_text(form, "into").lstrip("#＃"))
    return await desk.merge(person, number, into)


# --- triage ----------------------------------------------------------------------------------------------


async def triage(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    view = viewer(request)
    if not view.scope.staff:
        return not_found(request)
    now = services.now()
    analyser = services.analyser
    items: list[dict[str, Any]] = []
    async with services.db.reading() as session:
        rows = await listings.list_tickets(session, listings.TicketQuery(
            states=("open",), where=view.scope.tickets(), by_due=True, limit=100), now)
        for row in rows:
            guess = await analyser.analyse_async(row.ticket.text)
            category = guess.category if guess.category not in ("", row.ticket.category) else ""
            people = await _pickable(session, request, row.ticket)
            person = next((p for p in people if p["available"]), None)
            items.append({"row": row, "category": category, "person": person, "people": people})
    return _render(request, "triage.html", {"items": items, "category_name": analyser.category_name,
                                            "categories": [(c, analyser.category_name(c))
                                                           for c in analyser.categories()], "now": now})


# --- roster ----------------------------------------------------------------------------------------------


async def _roster_context(request: web.Request, session: AsyncSession) -> dict[str, Any]:
    scope = viewer(request).scope
    communities = (await session.scalars(select(Community).where(scope.communities())
                                          .order_by(Community.name))).all()
    ids = [c.id for c in communities]
    compounds = (await session.scalars(select(Compound).where(Compound.community_id.in_(ids))
                                       .order_by(Compound.name))).all()
    buildings = (await session.scalars(select(Building).where(Building.compound_id.in_([c.id for c in compounds]))
                                       .order_by(Building.number, Building.label))).all()
    counts = dict((await session.execute(
        select(Household.building_id, func.count()).where(Household.building_id.in_([b.id for b in buildings]))
        .group_by(Household.building_id))).all())
    linked = dict((await session.execute(
        select(Household.member_id, func.count()).join(Building, Household.building_id == Building.id)
        .where(Building.id.in_([b.id for b in buildings]), Household.member_id.is_not(None))
        .group_by(Household.member_id))).all())
    people_ids = {*linked, *(b.head_id for b in buildings if b.head_id), *(c.secretary_id for c in compounds
                                                                              if c.secretary_id)}
    people = (await session.scalars(select(Person).where(
        (Person.id.in_(people_ids)) | (Person.staff_community_id.in_(ids))).order_by(Person.name))).all()
    names = {p.id: p.name for p in people}
    texts = request.app[TEXTS]
    heads = {b.head_id for b in buildings}
    secretaries = {c.secretary_id for c in compounds}
    roles = {p.id: [texts(key) for key, has in (
        ("roster.role_staff", p.staff_community_id in ids), ("roster.role_member", p.id in linked),
        ("roster.role_head", p.id in heads), ("roster.role_secretary", p.id in secretaries)) if has]
        for p in people}
    townships: dict[str, list[Community]] = {}
    for community in communities:
        townships.setdefault(community.township.name, []).append(community)
    return {"townships": townships, "compounds": compounds, "buildings": buildings, "counts": counts,
            "linked": linked, "people": people, "names": names, "roles": roles, "preview": None, "invite": None,
            "error": "", "upload": "", "filename": ""}


async def roster(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    if not viewer(request).scope.staff:
        return not_found(request)
    async with services.db.reading() as session:
        context = await _roster_context(request, session)
    if request.query.get("done") == "imported":
        context["imported"] = True
    return _render(request, "roster.html", context)


async def _person_in_scope(session: AsyncSession, request: web.Request) -> Person | None:
    number = _int(request.match_info["person"])
    if number is None or not viewer(request).scope.staff:
        return None
    context_people = (await _roster_context(request, session))["people"]
    return next((p for p in context_people if p.id == number), None)


async def set_leave(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    form = await request.post()
    async with services.db.transaction() as session:
        person = await _person_in_scope(session, request)
        if person is None:
            return not_found(request)
        await _desk(request, session).set_leave(person, form.get("on") == "1")
    raise web.HTTPSeeOther(f"{PREFIX}/roster")


async def invite(request: web.Request) -> web.Response:
    import segno

    from bot.domain.identity import create_invite

    services = request.app[SERVICES]
    async with services.db.transaction() as session:
        person = await _person_in_scope(session, request)
        if person is None:
            return not_found(request)
        code = await create_invite(session, person, services.now())
        name = person.name
    async with services.db.reading() as session:
        context = await _roster_context(request, session)
    qr = segno.make(f"绑定 邀请码 {code.code}", error="m").svg_inline(scale=4)
    context["invite"] = {"name": name, "code": code.code, "qr": qr}
    return _render(request, "roster.html", context)


def _upload_suffix(filename: str) -> str | None:
    suffix = Path(filename).suffix.lower()
    return suffix if suffix in (".csv", ".xlsx") else None


async def _import(request: web.Request, data: bytes, suffix: str, dry_run: bool) -> Any:
    from bot.domain.roster.importer import import_rosters

    services = request.app[SERVICES]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"roster{suffix}"
        await asyncio.to_thread(path.write_bytes, data)
        return await import_rosters(services.db, [path], dry_run=dry_run)


async def roster_upload(request: web.Request) -> web.Response:
    """Preview an uploaded sheet (nothing written), or import it once confirmed."""
    import base64

    from bot.domain.roster.columns import _DATA, KINDS, RosterFileError

    services = request.app[SERVICES]
    form = await request.post()
    texts = request.app[TEXTS]
    if not viewer(request).scope.staff:
        return not_found(request)
    confirmed = form.get("confirm") == "1"
    upload = form.get("file")
    if confirmed:
        filename, encoded = _text(form, "filename"), _text(form, "data")
        try:
            data = base64.b64decode(encoded, validate=True)
        except ValueError:
            data = b""
    elif isinstance(upload, web.FileField):
        filename, data = upload.filename, upload.file.read()
    else:
        filename, data = "", b""
    suffix = _upload_suffix(filename)
    async with services.db.reading() as session:
        context = await _roster_context(request, session)
    if suffix is None or not data:
        context["error"] = texts("roster.no_file")
        return _render(request, "roster.html", context, status=400)
    try:
        report = await _import(request, data, suffix, dry_run=not confirmed)
    except RosterFileError as exc:
        context["error"] = texts("roster.bad_file", error=str(exc))
        return _render(request, "roster.html", context, status=400)
    if confirmed:
        raise web.HTTPSeeOther(f"{PREFIX}/roster?done=imported")
    context["preview"] = report
    context["kinds"] = [(_DATA["kinds"][k], report.entities[k]) for k in KINDS]
    context["upload"] = base64.b64encode(data).decode()
    context["filename"] = filename
    return _render(request, "roster.html", context)


# --- delivery --------------------------------------------------------------------------------------------


def _outbox_scope(request: web.Request) -> Any:
    scope = viewer(request).scope
    in_tickets = OutboxMessage.ticket_id.in_(select(Ticket.id).where(scope.tickets()))
    in_people = OutboxMessage.person_id.in_(select(Person.id).join(
        Community, Person.staff_community_id == Community.id).where(scope.communities()))
    if scope.reach == "everything":
        return None
    return in_tickets | in_people


async def delivery(request: web.Request) -> web.Response:
    from bot.delivery.outbox import troubled

    services = request.app[SERVICES]
    if not viewer(request).scope.staff:
        return not_found(request)
    query = (select(OutboxMessage, Person.name).outerjoin(Person, OutboxMessage.person_id == Person.id)
             .where(troubled()).order_by(OutboxMessage.id.desc()).limit(200))
    where = _outbox_scope(request)
    if where is not None:
        query = query.where(where)
    async with services.db.reading() as session:
        rows = (await session.execute(query)).all()
    return _render(request, "delivery.html", {"rows": rows, "message": request.query.get("done") == "retried"})


async def delivery_retry(request: web.Request) -> web.Response:
    from bot.delivery.outbox import retry, troubled

    services = request.app[SERVICES]
    number = _int(request.match_info["message"])
    if number is None or not viewer(request).scope.staff:
        return not_found(request)
    query = select(OutboxMessage.id).where(OutboxMessage.id == number, troubled())
    where = _outbox_scope(request)
    if where is not None:
        query = query.where(where)
    async with services.db.transaction() as session:
        if await session.scalar(query) is None or not await retry(session, number, services.now()):
            return not_found(request)
    raise web.HTTPSeeOther(f"{PREFIX}/delivery?done=retried")


# --- figures ---------------------------------------------------------------------------------------------


def _period(request: web.Request, now: datetime) -> tuple[datetime, datetime, str, str]:
    today = now.astimezone(CHINA).date()
    until = _day(request.query.get("until", "")) or datetime.combine(today, time(0), CHINA)
    since = _day(request.query.get("since", "")) or until - timedelta(days=29)
    if since > until:
        since, until = until, since
    return since, until + timedelta(days=1), f"{since:%Y-%m-%d}", f"{until:%Y-%m-%d}"


async def stats_page(request: web.Request) -> web.Response:
    from bot.console.charts import bar_chart
    from bot.domain.stats import COLUMNS, EXTRA_LEVELS, LEVEL_NAMES, LEVEL_TITLES, RATE_COLUMNS, percent, report

    services = request.app[SERVICES]
    view = viewer(request)
    if not view.scope.staff:
        return not_found(request)
    now = services.now()
    start, end, since, until = _period(request, now)
    level = request.query.get("level", "community")
    if level not in (*LEVEL_NAMES, *EXTRA_LEVELS):
        level = "community"
    async with services.db.reading() as session:
        rep = await report(session, start=start, end=end, now=now, where=view.scope.tickets(),
                           category_name=services.analyser.category_name)
    rows = sorted(rep.rows[level].items())
    table = [(name, [percent(get(f)) if col in RATE_COLUMNS else get(f) for col, get in COLUMNS])
             for name, f in [*rows, (request.app[TEXTS]("stats.total"), rep.total)]]
    texts = request.app[TEXTS]
    rates = bar_chart([(name, [f.response_rate or 0, f.resolution_rate or 0, f.satisfaction_rate or 0])
                       for name, f in rows], ["响应率", "办结率", "满意率"], percent=True,
                      title=texts("stats.chart_rates"))
    counts = bar_chart([(name, [f.created, f.resolved, f.overdue]) for name, f in rows], ["新工单", "办结", "超时"],
                       percent=False, title=texts("stats.chart_counts"))
    query = urlencode({"since": since, "until": until})
    return _render(request, "stats.html", {
        "since": since, "until": until, "level": level, "levels": [(k, LEVEL_TITLES[k])
                                                                   for k in (*LEVEL_NAMES, *EXTRA_LEVELS)],
        "columns": [name for name, _ in COLUMNS], "table": table, "rates_svg": rates, "counts_svg": counts,
        "query": query, "empty": not rows})


async def _download(request: web.Request, kind: str) -> web.Response:
    from bot.domain.exports import figures_xlsx, ledger, ledger_xlsx
    from bot.domain.stats import report

    services = request.app[SERVICES]
    view = viewer(request)
    if not view.scope.staff:
        return not_found(request)
    now = services.now()
    start, end, since, until = _period(request, now)
    name = services.analyser.category_name
    async with services.db.reading() as session:
        if kind == "ledger":
            rows = await ledger(session, start=start, end=end, now=now, where=view.scope.tickets(),
                                category_name=name)
            body = await asyncio.to_thread(ledger_xlsx, rows, request.app[TEXTS]("stats.ledger_title"))
            filename = f"台账_{since}_{until}.xlsx"
        else:
            rep = await report(session, start=start, end=end, now=now, where=view.scope.tickets(), category_name=name)
            body = await asyncio.to_thread(figures_xlsx, rep)
            filename = f"统计_{since}_{until}.xlsx"
    return web.Response(body=body, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"})


async def ledger_download(request: web.Request) -> web.Response:
    return await _download(request, "ledger")


async def figures_download(request: web.Request) -> web.Response:
    return await _download(request, "figures")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/login", login_page)
    r.add_get("/login/{token}", login_link)
    r.add_post("/logout", logout)
    r.add_get("/", queue)
    r.add_post("/bulk", bulk)
    r.add_get("/tickets/{number}", ticket_page)
    for name, act in (("close", _close), ("assign", _assign), ("recategorise", _recategorise), ("reply", _reply),
                      ("note", _note), ("merge", _merge)):
        r.add_post(f"/tickets/{{number}}/{name}", _ticket_action(name, act))
    r.add_get("/triage", triage)
    r.add_get("/roster", roster)
    r.add_post("/roster/upload", roster_upload)
    r.add_post("/roster/people/{person}/leave", set_leave)
    r.add_post("/roster/people/{person}/invite", invite)
    r.add_get("/delivery", delivery)
    r.add_post("/delivery/{message}/retry", delivery_retry)
    r.add_get("/stats", stats_page)
    r.add_get("/stats/ledger.xlsx", ledger_download)
    r.add_get("/stats/figures.xlsx", figures_download)
