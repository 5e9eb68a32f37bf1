"""The roster in each process's memory: a place's assignment chain and a
household's address, read again only when the roster changed.

A change to people, households, buildings, compounds, communities or
townships — by the ORM or by an UPDATE/INSERT/DELETE statement, in any
process — bumps the `roster` counter in cache_epochs in the same
transaction (session events below, so no code path can forget it). A
request reads the counter once per transaction (one primary-key lookup; a
message through the dispatcher reads it as a column of its first read) and
drops what this process holds when it moved. A transaction that changes the
roster itself reads the database, never the cache. Who last wrote (last_message_at) is no
roster change (an ORM change of it alone, or a statement that carries
NOT_A_ROSTER_CHANGE).

Cached people are detached copies, shared by concurrent requests and only
read (their id, name, phone, openid, leave and staff fields).
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, event, inspect, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, make_transient_to_detached

from bot.db.database import _insert_ignore_statement
from bot.models import Building, CacheEpoch, Community, Compound, Household, Person, Township

T = TypeVar("T")
ROSTER = "roster"
WATCHED: tuple[type, ...] = (Person, Household, Building, Compound, Community, Township)
WATCHED_TABLES = frozenset(m.__table__.name for m in WATCHED)  # type: ignore[attr-defined]
NOT_ROSTER = frozenset({"last_message_at"})
_NOT_ROSTER_OPTION = "lianxin_not_roster"
# The execution options of a statement that writes only NOT_ROSTER columns of a watched table.
NOT_A_ROSTER_CHANGE = {_NOT_ROSTER_OPTION: True}
_CHANGED = "roster_changed"
_VERSION = "roster_version"

# Built once: the version read runs on every request that uses the cache.
_EPOCHS = cast(Table, CacheEpoch.__table__)
_READ_VERSION = select(_EPOCHS.c.version).where(_EPOCHS.c.name == bindparam("epoch"))
# The counter as a column of another read (the sender's, in handlers/middlewares.py), executed with
# VERSION_PARAMS; what it found is handed over with `version_read`.
VERSION_COLUMN = _READ_VERSION.scalar_subquery()
VERSION_PARAMS = {"epoch": ROSTER}
_BUMP_VERSION = (update(_EPOCHS).where(_EPOCHS.c.name == bindparam("epoch"))
                 .values(version=_EPOCHS.c.version + 1))


class _Cache:
    def __init__(self) -> None:
        self.version: int | None = None
        self.entries: dict[Hashable, Any] = {}


_caches: weakref.WeakKeyDictionary[Engine, _Cache] = weakref.WeakKeyDictionary()


def _cache_of(session: AsyncSession) -> _Cache:
    bind = session.get_bind()
    engine: Engine = bind.engine if not isinstance(bind, Engine) else bind
    cache = _caches.get(engine)
    if cache is None:
        cache = _caches[engine] = _Cache()
    return cache


def _roster_object_changed(obj: object, dirty: bool) -> bool:
    if not isinstance(obj, WATCHED):
        return False
    if not dirty:
        return True
    state = inspect(obj)
    return any(attr.key not in NOT_ROSTER and attr.history.has_changes() for attr in state.attrs)


def _touches_roster(session: Session) -> bool:
    if session.info.get(_CHANGED):
        return True
    return any(_roster_object_changed(o, False) for o in (*session.new, *session.deleted)) or \
        any(_roster_object_changed(o, True) for o in session.dirty)


@event.listens_for(Session, "do_orm_execute")
def _on_statement(state: ORMExecuteState) -> None:
    statement = state.statement  # runs for every statement: is_dml is INSERT, UPDATE or DELETE
    if statement.is_dml and getattr(getattr(statement, "table", None), "name", None) in WATCHED_TABLES \
            and not state.execution_options.get(_NOT_ROSTER_OPTION):
        state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_flush")
def _on_flush(session: Session, _context: Any) -> None:
    if not session.info.get(_CHANGED) and _touches_roster(session):
        session.info[_CHANGED] = True


@event.listens_for(Session, "before_commit")
def _bump(session: Session) -> None:
    if not _touches_roster(session):
        return
    dialect = session.get_bind().dialect.name
    session.execute(_insert_ignore_statement(dialect, _EPOCHS, ("name",), None), {"name": ROSTER, "version": 0})
    session.execute(_BUMP_VERSION, {"epoch": ROSTER})


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_CHANGED, None)
    session.info.pop(_VERSION, None)


def version_read(session: AsyncSession, version: int | None) -> None:
    """The counter as VERSION_COLUMN found it in this transaction: `roster_version`
    then needs no read of its own. The first value of a transaction stays."""
    session.info.setdefault(_VERSION, version or 0)


async def roster_version(session: AsyncSession) -> int:
    """The roster counter, read once per transaction."""
    version = session.info.get(_VERSION)
    if version is None:
        version = await session.scalar(_READ_VERSION, VERSION_PARAMS) or 0
        session.info[_VERSION] = version
    return int(version)


async def cached(session: AsyncSession, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
    """What `load` returns for `key`, from memory while the roster is unchanged."""
    if _touches_roster(session.sync_session):
        return await load()
    cache = _cache_of(session)
    version = await roster_version(session)
    if cache.version != version:
        cache.entries.clear()
        cache.version = version
    if key in cache.entries:
        return cache.entries[key]
    value = await load()
    if cache.version == version:  # not stored if a newer version was seen meanwhile
        cache.entries[key] = value
    return value


def snapshot(person: Person, copies: dict[int, Person]) -> Person:
    """A detached copy of `person` (one per id in `copies`), safe to share between sessions."""
    copy = copies.get(person.id)
    if copy is None:
        copy = Person(**{c.key: getattr(person, c.key) for c in Person.__table__.columns})
        make_transient_to_detached(copy)
        copies[person.id] = copy
    return copy
