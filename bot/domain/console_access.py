"""Who may use the staff console and what they see (design.md §7).

Logging in: a single-use link (the reply to 登录, or ``console-link PHONE``)
valid a few minutes, exchanged for a server-side session (revocable; it ends
after an idle time). Only hashes of the secrets are stored.

Scope: community staff see their community (and requests no community could
be told for, unless dispatchers take those); a staff row with no community and
the dispatchers of ``[tickets] unplaced_staff_phones`` see everything; any
other roster person (party members, building heads, secretaries) sees, read
only, the tickets they were given or acted on.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.db import affected
from bot.models import Community, ConsoleLink, ConsoleSession, Person, Ticket, TicketEvent

EVERYTHING, COMMUNITY, OWN = "everything", "community", "own"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# --- scope ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What one person sees in the console, and whether they may change anything."""

    person_id: int
    reach: str  # everything, community or own
    community_id: int | None = None
    unplaced: bool = False  # community staff also see requests with no community

    @property
    def staff(self) -> bool:
        return self.reach != OWN

    def tickets(self) -> ColumnElement[bool]:
        """The tickets in scope, as a WHERE clause."""
        if self.reach == EVERYTHING:
            return true()
        if self.reach == COMMUNITY:
            mine = Ticket.community_id == self.community_id
            return or_(mine, Ticket.community_id.is_(None)) if self.unplaced else mine
        acted = exists().where(TicketEvent.ticket_id == Ticket.id, TicketEvent.actor_person_id == self.person_id)
        return or_(Ticket.assignee_id == self.person_id, acted)

    def communities(self) -> ColumnElement[bool]:
        """The communities in scope (roster, figures), as a WHERE clause on Community."""
        if self.reach == EVERYTHING:
            return true()
        if self.reach == COMMUNITY:
            return Community.id == self.community_id
        return false()

    def covers_community(self, community_id: int | None) -> bool:
        if self.reach == EVERYTHING:
            return True
        if self.reach == COMMUNITY:
            return community_id == self.community_id or (community_id is None and self.unplaced)
        return False


def is_wide_staff(person: Person, config: Config) -> bool:
    """Township and county roles: a staff row with no community, or a dispatcher."""
    return person.phone in config.tickets.unplaced_staff_phones or (
        person.staff_community_id is None and bool(person.staff_title))


def scope_of(person: Person, config: Config) -> Scope:
    if is_wide_staff(person, config):
        return Scope(person.id, EVERYTHING)
    if person.staff_community_id is not None:
        return Scope(person.id, COMMUNITY, person.staff_community_id,
                     unplaced=not config.tickets.unplaced_staff_phones)
    return Scope(person.id, OWN)


async def ticket_in_scope(session: AsyncSession, scope: Scope, number: int) -> Ticket | None:
    """Ticket `number` if the scope covers it (else None: the console answers 404)."""
    return await session.scalar(select(Ticket).where(Ticket.id == number, scope.tickets()))


# --- login links ------------------------------------------------------------------------------------------


async def create_link(session: AsyncSession, person: Person, now: datetime, ttl_min: int) -> str:
    """A fresh single-use login secret for `person` (the path part of the link)."""
    token = secrets.token_urlsafe(24)
    session.add(ConsoleLink(token_hash=_hash(token), person_id=person.id, created_at=now,
                            expires_at=now + timedelta(minutes=ttl_min), used_at=None))
    await session.flush()
    return token


def link_url(base_url: str, token: str) -> str:
    return f"{base_url}/console/login/{token}"


@dataclass(frozen=True)
class NewSession:
    secret: str  # the cookie value
    csrf_token: str
    person_id: int


async def redeem_link(session: AsyncSession, token: str, now: datetime) -> NewSession | str:
    """Use a login link once: a new session, or the reason it was refused
    (``unknown``, ``used`` or ``expired``)."""
    link = await session.get(ConsoleLink, _hash(token))
    if link is None:
        return "unknown"
    if link.used_at is not None:
        return "used"
    if link.expires_at < now:
        return "expired"
    claimed = await session.execute(update(ConsoleLink).where(
        ConsoleLink.token_hash == link.token_hash, ConsoleLink.used_at.is_(None)).values(used_at=now))
    if affected(claimed) != 1:
        return "used"
    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    session.add(ConsoleSession(id_hash=_hash(secret), person_id=link.person_id, csrf_token=csrf,
                               created_at=now, last_seen_at=now, revoked_at=None))
    return NewSession(secret, csrf, link.person_id)


@dataclass(frozen=True)
class ActiveSession:
    person: Person
    csrf_token: str
    id_hash: str


async def open_session(session: AsyncSession, secret: str, now: datetime, idle_min: int) -> ActiveSession | None:
    """The live session behind a cookie, touched; None if unknown, revoked or idle too long."""
    if not secret:
        return None
    row = (await session.execute(select(ConsoleSession, Person).join(Person, Person.id == ConsoleSession.person_id)
                                 .where(ConsoleSession.id_hash == _hash(secret)))).first()
    if row is None:
        return None
    stored, person = row
    if stored.revoked_at is not None or stored.last_seen_at + timedelta(minutes=idle_min) < now:
        return None
    if (now - stored.last_seen_at).total_seconds() > 30:  # one write per half minute at most
        stored.last_seen_at = now
    return ActiveSession(person, stored.csrf_token, stored.id_hash)


async def revoke_session(session: AsyncSession, id_hash: str, now: datetime) -> None:
    await session.execute(update(ConsoleSession).where(ConsoleSession.id_hash == id_hash,
                                                       ConsoleSession.revoked_at.is_(None)).values(revoked_at=now))


async def revoke_person(session: AsyncSession, person_id: int, now: datetime) -> int:
    """End every session of a person (e.g. when they leave); how many were live."""
    result = await session.execute(update(ConsoleSession).where(
        and_(ConsoleSession.person_id == person_id, ConsoleSession.revoked_at.is_(None))).values(revoked_at=now))
    return affected(result)


def csrf_ok(given: str, expected: str) -> bool:
    return bool(given) and secrets.compare_digest(given.encode(), expected.encode())


def base_url(config: Config) -> str:
    """Where people open the console: [console] base_url, else the server's address."""
    if config.console.base_url:
        return config.console.base_url
    host = config.server.host if config.server.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{host}:{config.server.port}"
