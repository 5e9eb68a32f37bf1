"""The shared access_token: fetched by one refresher, used by every process.

Fetching a new token invalidates the old one at WeChat, so fetches must never
overlap. Inside a process an asyncio lock lets one coroutine refresh while
the others wait for its result; across processes a lease (a row of
api_tokens, or a Redis key set with NX) lets one process fetch while the
others poll the shared value. The token is refreshed a few minutes before it
expires, and when a caller reports the value WeChat just refused.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import or_, select, update

from bot.db import Database, insert_ignore
from bot.delivery.wechat_api import WeChatApiError, WeChatTransportError
from bot.models import ApiToken, utcnow

log = logging.getLogger("lianxin.delivery.token")

Fetcher = Callable[[], Awaitable[tuple[str, int]]]  # -> (access_token, expires_in seconds)


@dataclass(frozen=True)
class StoredToken:
    value: str
    expires_at: datetime | None


class TokenBackend(Protocol):
    """Where the shared token and the refresher's lease live."""

    async def read(self, name: str) -> StoredToken | None: ...

    async def try_lease(self, name: str, owner: str, now: datetime, seconds: float) -> bool: ...

    async def store(self, name: str, owner: str, value: str, expires_at: datetime, now: datetime) -> None:
        """Save a new token and give up the lease, in one step."""
        ...

    async def release(self, name: str, owner: str) -> None: ...

    async def close(self) -> None: ...


class DatabaseTokenBackend:
    """The token in a row of api_tokens; the lease in its lease_owner/lease_until."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def read(self, name: str) -> StoredToken | None:
        async with self.db.reading() as session:
            row = (await session.execute(
                select(ApiToken.value, ApiToken.expires_at).where(ApiToken.name == name))).first()
        if row is None or not row.value:
            return None
        return StoredToken(row.value, row.expires_at)

    async def try_lease(self, name: str, owner: str, now: datetime, seconds: float) -> bool:
        async with self.db.transaction() as session:
            await insert_ignore(session, ApiToken, {"name": name, "value": "", "expires_at": None, "lease_owner": None,
                                                    "lease_until": None}, ["name"])
            result = await session.execute(
                update(ApiToken)
                .where(ApiToken.name == name,
                       or_(ApiToken.lease_until.is_(None), ApiToken.lease_until < now,
                           ApiToken.lease_owner == owner))
                .values(lease_owner=owner, lease_until=now + timedelta(seconds=seconds))
                .execution_options(synchronize_session=False))
            return result.rowcount == 1  # type: ignore[attr-defined]

    async def store(self, name: str, owner: str, value: str, expires_at: datetime, now: datetime) -> None:
        async with self.db.transaction() as session:
            await session.execute(update(ApiToken).where(ApiToken.name == name)
                                  .values(value=value, expires_at=expires_at)
                                  .execution_options(synchronize_session=False))
            await self._release(session, name, owner)

    async def release(self, name: str, owner: str) -> None:
        async with self.db.transaction() as session:
            await self._release(session, name, owner)

    @staticmethod
    async def _release(session: Any, name: str, owner: str) -> None:
        await session.execute(update(ApiToken).where(ApiToken.name == name, ApiToken.lease_owner == owner)
                              .values(lease_owner=None, lease_until=None)
                              .execution_options(synchronize_session=False))

    async def close(self) -> None:
        return None


_RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisTokenBackend:
    """The token under `{prefix}{name}`; the lease under `{prefix}{name}:lease` (SET NX PX)."""

    def __init__(self, url: str, prefix: str = "lianxin:token:") -> None:
        import redis.asyncio as aioredis

        self.redis = aioredis.from_url(url, decode_responses=True)
        self.prefix = prefix

    async def read(self, name: str) -> StoredToken | None:
        raw = await self.redis.get(self.prefix + name)
        if not raw:
            return None
        doc = json.loads(raw)
        expires = doc.get("expires_at")
        return StoredToken(doc["value"], datetime.fromisoformat(expires) if expires else None)

    async def try_lease(self, name: str, owner: str, now: datetime, seconds: float) -> bool:
        key = self.prefix + name + ":lease"
        if await self.redis.set(key, owner, nx=True, px=max(1, int(seconds * 1000))):
            return True
        return await self.redis.get(key) == owner

    async def store(self, name: str, owner: str, value: str, expires_at: datetime, now: datetime) -> None:
        ttl = max(60, int((expires_at - now).total_seconds()))
        doc = json.dumps({"value": value, "expires_at": expires_at.isoformat()})
        await self.redis.set(self.prefix + name, doc, ex=ttl)
        await self.release(name, owner)

    async def release(self, name: str, owner: str) -> None:
        await self.redis.eval(_RELEASE_SCRIPT, 1, self.prefix + name + ":lease", owner)

    async def close(self) -> None:
        await self.redis.aclose()


def default_owner() -> str:
    """A name for this process (and object) in leases and claims."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SharedToken:
    """One access_token (e.g. "wechat:<appid>"), shared through a backend.

    `get()` answers a token with more than `refresh_margin_s` left, fetching a
    new one when needed; `get(bad=value)` is for a caller whose `value` was
    just refused: it answers a newer token, fetching one only if nobody has
    yet. Concurrent callers in one process cause at most one fetch; callers
    in other processes poll for the new value while the lease is held.
    """

    def __init__(self, name: str, fetch: Fetcher, backend: TokenBackend, *,
                 now: Callable[[], datetime] = utcnow, owner: str | None = None,
                 refresh_margin_s: float = 300.0, lease_s: float = 15.0, wait_s: float | None = None,
                 poll_s: float = 0.05, failure_hold_s: float = 2.0) -> None:
        self.name = name
        self.fetch = fetch
        self.backend = backend
        self.now = now
        self.owner = owner or default_owner()
        self.refresh_margin = timedelta(seconds=refresh_margin_s)
        self.lease_s = lease_s
        self.wait_s = wait_s if wait_s is not None else lease_s + 1.0
        self.poll_s = poll_s
        self.failure_hold_s = failure_hold_s
        self.fetches = 0  # how many tokens this object fetched (for logs and tests)
        self._failure: tuple[float, WeChatApiError] | None = None
        self._cached: StoredToken | None = None
        self._lock = asyncio.Lock()

    def _valid(self, token: StoredToken | None, bad: str | None, margin: timedelta) -> bool:
        if token is None or not token.value or token.value == bad:
            return False
        return token.expires_at is None or token.expires_at - self.now() > margin

    async def get(self, *, bad: str | None = None) -> str:
        cached = self._cached
        if self._valid(cached, bad, self.refresh_margin):
            return cached.value  # type: ignore[union-attr]
        async with self._lock:
            if self._valid(self._cached, bad, self.refresh_margin):
                return self._cached.value  # type: ignore[union-attr]
            loop = asyncio.get_running_loop()
            if self._failure is not None and loop.time() - self._failure[0] < self.failure_hold_s:
                # The refresh just failed: the callers queued behind it fail fast instead of
                # each waiting out another timeout.
                exc = self._failure[1]
                raise WeChatApiError(exc.errcode, f"token refresh failed just now: {exc.errmsg}",
                                     http_status=exc.http_status)
            try:
                return await self._refresh(bad)
            except WeChatApiError as exc:
                self._failure = (loop.time(), exc)
                raise

    async def _refresh(self, bad: str | None) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        while True:
            stored = await self.backend.read(self.name)
            if self._valid(stored, bad, self.refresh_margin):
                self._cached = stored
                return stored.value  # type: ignore[union-attr]
            if await self.backend.try_lease(self.name, self.owner, self.now(), self.lease_s):
                return await self._fetch_under_lease(bad)
            # Another process is refreshing. A token that is old but not yet
            # expired still works meanwhile; otherwise wait for the new one.
            if self._valid(stored, bad, timedelta(0)):
                self._cached = stored
                return stored.value  # type: ignore[union-attr]
            if loop.time() >= deadline:
                raise WeChatTransportError(f"access_token {self.name}: another process holds the lease")
            await asyncio.sleep(self.poll_s)

    async def _fetch_under_lease(self, bad: str | None) -> str:
        try:
            # Someone may have stored a new token between our read and our lease.
            stored = await self.backend.read(self.name)
            if self._valid(stored, bad, self.refresh_margin):
                await self.backend.release(self.name, self.owner)
                self._cached = stored
                return stored.value  # type: ignore[union-attr]
            value, expires_in = await self.fetch()
            self.fetches += 1
            now = self.now()
            token = StoredToken(value, now + timedelta(seconds=expires_in))
            await self.backend.store(self.name, self.owner, value, token.expires_at, now)  # type: ignore[arg-type]
        except BaseException:
            try:
                await asyncio.shield(self.backend.release(self.name, self.owner))
            except Exception:  # the lease then simply expires
                log.warning("could not release the %s token lease", self.name, exc_info=True)
            raise
        log.info("fetched a new %s access_token (expires in %ss)", self.name, expires_in)
        self._cached = token
        return value


def make_backend(redis_url: str, db: Database) -> TokenBackend:
    """Redis when [delivery] redis_url is set, else the database."""
    return RedisTokenBackend(redis_url) if redis_url else DatabaseTokenBackend(db)
