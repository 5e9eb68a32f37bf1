"""The outbox worker: claim due messages, send them, record what happened.

Claims: a batch of due rows (pending, next_attempt_at <= now, no live claim)
gets claimed_by/claimed_until in one short transaction; on PostgreSQL the
SELECT uses FOR UPDATE SKIP LOCKED so several processes share the outbox.
Each message is then sent on its own and its outcome committed right after
its API call (successes that finish while a commit is running share the next
one): a worker killed mid-batch leaves only the messages it had not finished,
whose claims expire (claim_timeout_s) and which the next worker sends. Errors retry with exponential back-off up to
max_attempts; then, or at once for an error no retry can cure, the message is
marked failed and a "failed" notice is queued to the community's staff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import aiohttp
from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import DBAPIError

from bot.config import Config
from bot.db import Database, affected
from bot.delivery.channels import (
    REASON_RETRIES,
    ChannelChain,
    Outgoing,
    Recipient,
    Undeliverable,
    reason_of,
    recipient_key,
    resolve,
)
from bot.delivery.outbox import enqueue
from bot.delivery.token_store import SharedToken, TokenBackend, default_owner, make_backend
from bot.delivery.wechat_api import WeChatApiError, WeChatClient, WeComClient, new_http_session
from bot.models import DeliveryAttempt, OutboxMessage, Ticket, utcnow
from bot.texts import Texts

log = logging.getLogger("lianxin.delivery.worker")
T = TypeVar("T")

TEXTS = Texts(Path(__file__).resolve().parent / "texts.toml", Path("texts.toml"))
FAILED_KIND = "failed"
EXCERPT_CHARS = 40
MAX_CONCURRENCY = 32  # API calls in flight per worker (by default: the batch, up to this)
LANES = 2  # batches in flight at once in run()
DB_WRITERS = 4  # retry/failure transactions at once per worker
RECORD_TRIES = 4  # a success that cannot be recorded would be sent again: try hard
SENDING = "sending"  # an attempt begun; a row left so was interrupted (the message may have gone out)
MAX_REQUEUES = 3  # times the API probe queues one failed message again
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Claimed(Outgoing):
    """An outbox row this worker holds a claim on."""

    ticket_id: int | None = None
    attempts: int = 0
    claimed_until: datetime = _NEVER
    requeued: int = 0

    @classmethod
    def of(cls, row: OutboxMessage) -> Claimed:
        assert row.claimed_until is not None
        return cls(row.id, row.kind, row.text, dict(row.data or {}), row.person_id, row.openid,
                   ticket_id=row.ticket_id, attempts=row.attempts, claimed_until=row.claimed_until,
                   requeued=row.requeued or 0)


class GroupCommit(Generic[T]):
    """Commits items as soon as they come, several per transaction: an item
    that arrives while a commit is running joins the next commit instead of
    waiting for a turn of its own. `add` returns once its item is committed."""

    def __init__(self, flush: Callable[[list[T]], Awaitable[None]]) -> None:
        self._flush = flush
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._lock = asyncio.Lock()

    async def add(self, item: T) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        async with self._lock:
            if not future.done():  # nobody took ours along: commit everything waiting
                batch, self._waiting = self._waiting, []
                try:
                    await self._flush([i for i, _ in batch])
                except Exception as exc:
                    for _, f in batch:
                        if not f.done():
                            f.set_exception(exc)
                except BaseException:
                    for _, f in batch:
                        f.cancel()
                    raise
                else:
                    for _, f in batch:
                        f.set_result(None)
        await future


class _Services(Protocol):
    @property
    def config(self) -> Config: ...
    @property
    def db(self) -> Database: ...
    @property
    def now(self) -> Callable[[], datetime]: ...


class OutboxWorker:
    """Delivers the outbox. Several may run at once on PostgreSQL (one per process or not)."""

    def __init__(self, config: Config, db: Database, *, now: Callable[[], datetime] = utcnow,
                 name: str | None = None, concurrency: int | None = None) -> None:
        self.config = config
        self.db = db
        self.now = now
        self.name = (name or default_owner())[:64]
        d = config.delivery
        self.concurrency = concurrency or min(d.batch_size, MAX_CONCURRENCY)
        # Retries and failures each take a connection: a few at a time keep the pool for the webhook.
        self._db_gate = asyncio.Semaphore(DB_WRITERS)
        self._gate = asyncio.Semaphore(self.concurrency)
        # Time a send may take (token refresh, a retry, the template fallback) that must fit in the claim.
        self._claim_margin = timedelta(seconds=min(3 * config.wechat.api_timeout_s, d.claim_timeout_s / 2))
        self.counts: Counter[str] = Counter()  # sent / retried / failed by this worker, for logs and benchmarks
        self._http: aiohttp.ClientSession | None = None
        self._backend: TokenBackend | None = None
        self._chain: ChannelChain | None = None
        self.wechat_token: SharedToken | None = None
        self.wecom_token: SharedToken | None = None
        self._sent: GroupCommit[tuple[Claimed, str]] = GroupCommit(self._record_sent)
        self._probe_at: datetime | None = None  # when the API may be probed next
        self._probe_every = config.security.probe_interval_s

    # ---- set-up ----------------------------------------------------------
    def _ensure_clients(self) -> ChannelChain:
        if self._chain is not None:
            return self._chain
        cfg = self.config
        timeout = cfg.wechat.api_timeout_s
        self._http = new_http_session(limit=max(self.concurrency * 2, 8))
        self._backend = make_backend(cfg.delivery.redis_url, self.db)
        token_opts: dict[str, Any] = {"now": self.now, "owner": self.name, "lease_s": timeout + 5.0}
        self.wechat_token = SharedToken(f"wechat:{cfg.wechat.app_id}", lambda: wechat.fetch_token(),
                                        self._backend, **token_opts)
        wechat = WeChatClient(self._http, cfg.wechat, self.wechat_token)
        wecom: WeComClient | None = None
        if cfg.wecom.enabled:
            self.wecom_token = SharedToken(f"wecom:{cfg.wecom.corp_id}:{cfg.wecom.agent_id}",
                                           lambda: wecom_client.fetch_token(), self._backend, **token_opts)
            wecom_client = WeComClient(self._http, cfg.wecom, timeout, self.wecom_token)
            wecom = wecom_client
        if not cfg.wechat.app_secret:
            log.warning("[wechat] app_secret is empty: WeChat messages cannot be sent")
        self._chain = ChannelChain(cfg, wechat, wecom, self.now)
        return self._chain

    async def close(self) -> None:
        """Close the HTTP session and the token backend (the worker can start again later)."""
        if self._http is not None:
            await self._http.close()
        if self._backend is not None:
            await self._backend.close()
        self._http = self._backend = self._chain = None

    async def __aenter__(self) -> OutboxWorker:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # ---- the loop --------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set. Two lanes each claim and send batches, sharing the
        `concurrency` slots, so a batch's slow last sends do not hold up the next batch."""
        log.info("outbox worker %s started", self.name)
        try:
            await asyncio.gather(*(self._lane(stop, i) for i in range(LANES)))
        finally:
            await self.close()
            log.info("outbox worker %s stopped", self.name)

    async def _lane(self, stop: asyncio.Event, index: int) -> None:
        d = self.config.delivery
        if index:  # interleave the lanes' polls
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=d.poll_interval_s * index / LANES)
        while not stop.is_set():
            try:
                handled = await self.run_once()
                if index == 0:
                    await self.probe_if_due()
            except Exception:
                log.exception("outbox round failed")
                handled = -1
            if handled >= d.batch_size:
                await asyncio.sleep(0)
                continue
            pause = d.poll_interval_s if handled >= 0 else max(d.poll_interval_s, 5.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)

    async def run_once(self) -> int:
        """Claim one batch of due messages and handle each; answers how many were claimed."""
        chain = self._ensure_clients()
        batch = await self.claim()
        if not batch:
            return 0
        async with self.db.reading() as session:
            recipients = await resolve(session, batch)
        groups: dict[str, list[Claimed]] = {}
        for msg in batch:  # one recipient's messages go out in order
            groups.setdefault(recipient_key(msg), []).append(msg)

        async def one_recipient(messages: list[Claimed]) -> None:
            for msg in messages:
                await self._deliver(chain, msg, recipients.get(recipient_key(msg)))

        results = await asyncio.gather(*(one_recipient(g) for g in groups.values()), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                log.error("outbox delivery crashed", exc_info=result)
        return len(batch)

    # ---- claims ----------------------------------------------------------
    async def claim(self) -> list[Claimed]:
        now = self.now()
        until = now + timedelta(seconds=self.config.delivery.claim_timeout_s)
        due = (OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now,
               or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until <= now))
        async with self.db.transaction() as session:
            query = (select(OutboxMessage.id).where(*due)
                     .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                     .limit(self.config.delivery.batch_size))
            if self.db.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list((await session.scalars(query)).all())
            if not ids:
                return []
            # The conditions again: a claim stays safe even without row locks.
            await session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids), *due)
                                  .values(claimed_by=self.name, claimed_until=until)
                                  .execution_options(synchronize_session=False))
            rows = (await session.scalars(
                select(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.claimed_by == self.name,
                                            OutboxMessage.claimed_until == until)
                .order_by(OutboxMessage.id))).all()
            if rows:  # every attempt is on record before it starts (an interrupted one stays "sending")
                await session.execute(insert(DeliveryAttempt), [
                    {"outbox_id": row.id, "at": now, "worker": self.name, "outcome": SENDING} for row in rows])
            return [Claimed.of(row) for row in rows]

    async def _attempt_done(self, session: Any, ids: list[int], outcome: str, channel: str | None = None,
                            error: str | None = None) -> None:
        await session.execute(
            update(DeliveryAttempt).where(DeliveryAttempt.outbox_id.in_(ids), DeliveryAttempt.worker == self.name,
                                          DeliveryAttempt.outcome == SENDING)
            .values(outcome=outcome, channel=channel, error=error)
            .execution_options(synchronize_session=False))

    # ---- one message -----------------------------------------------------
    async def _deliver(self, chain: ChannelChain, msg: Claimed, to: Recipient | None) -> None:
        error: Undeliverable | WeChatApiError | None = None
        async with self._gate:  # bounds the API calls in flight, not the bookkeeping after them
            if self.now() + self._claim_margin >= msg.claimed_until:
                # The claim runs out before the calls could finish (the batch waited long):
                # leave the message to whoever claims it next rather than risk two senders.
                return
            try:
                channel = await chain.send(msg, to)
            except (Undeliverable, WeChatApiError) as exc:
                error = exc
        if error is None:
            # Record the success at once, even if we are being cancelled right now.
            await asyncio.shield(self._sent.add((msg, channel)))
        elif isinstance(error, Undeliverable):
            await self._failed(msg, to, error.reason, error.detail)
        elif error.permanent:
            await self._failed(msg, to, reason_of(error), error.short())
        else:
            await self._retry(msg, to, error)

    async def _record_sent(self, sent: list[tuple[Claimed, str]]) -> None:
        """Mark messages sent (one transaction; one UPDATE per channel)."""
        now = self.now()
        by_channel: dict[str, list[int]] = {}
        for msg, channel in sent:
            by_channel.setdefault(channel, []).append(msg.id)
        for attempt in range(RECORD_TRIES):
            try:
                await self._update_sent(by_channel, now)
                break
            except DBAPIError:
                if attempt == RECORD_TRIES - 1:
                    log.error("outbox %s were sent but could not be marked sent: they may go out again",
                              [m.id for m, _ in sent])
                    raise
                log.warning("marking outbox messages sent failed; trying again", exc_info=True)
                await asyncio.sleep(0.1 * 2 ** attempt)
        self.counts["sent"] += len(sent)
        log.debug("outbox %s sent", [m.id for m, _ in sent])

    async def _update_sent(self, by_channel: dict[str, list[int]], now: datetime) -> None:
        async with self.db.transaction() as session:
            for channel, ids in by_channel.items():
                result = await session.execute(
                    update(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.status == "pending")
                    .values(status="sent", channel=channel, sent_at=now, attempts=OutboxMessage.attempts + 1,
                            last_error=None, claimed_by=None, claimed_until=None)
                    .execution_options(synchronize_session=False))
                if result.rowcount != len(ids):  # type: ignore[attr-defined]
                    log.error("outbox %s sent by %s, but %d of them were no longer pending", ids, self.name,
                              len(ids) - result.rowcount)  # type: ignore[attr-defined]
                await self._attempt_done(session, ids, "sent", channel)

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt number `attempts + 1`: base * 2^(attempts-1), capped, plus up to 10%."""
        d = self.config.delivery
        delay = min(d.backoff_base_s * 2 ** max(attempts - 1, 0), d.backoff_max_s)
        return min(delay * (1 + random.random() * 0.1), d.backoff_max_s)

    async def _retry(self, msg: Claimed, to: Recipient | None, exc: WeChatApiError) -> None:
        attempts = msg.attempts + 1
        budget = (self.config.security.failed_notice_max_attempts if msg.kind == FAILED_KIND
                  else self.config.delivery.max_attempts)  # staff's failure notices have a budget of their own
        if attempts >= budget:
            await self._failed(msg, to, REASON_RETRIES, exc.short())
            return
        delay = self.config.delivery.backoff_max_s if exc.is_quota else self.backoff(attempts)
        log.warning("outbox %s attempt %d failed (%s); retry in %.1fs", msg.id, attempts, exc.short(), delay)
        self.counts["retried"] += 1
        async with self._db_gate, self.db.transaction() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == msg.id, OutboxMessage.status == "pending",
                       OutboxMessage.claimed_by == self.name)
                .values(attempts=attempts, next_attempt_at=self.now() + timedelta(seconds=delay),
                        last_error=exc.short(), claimed_by=None, claimed_until=None)
                .execution_options(synchronize_session=False))
            await self._attempt_done(session, [msg.id], "retry", error=exc.short())

    async def _failed(self, msg: Claimed, to: Recipient | None, reason: str, detail: str) -> None:
        now = self.now()
        log.error("outbox %s (%s to %s) failed for good: %s", msg.id, msg.kind, recipient_key(msg), detail)
        self.counts["failed"] += 1
        async with self._db_gate, self.db.transaction() as session:
            result = await session.execute(
                update(OutboxMessage).where(OutboxMessage.id == msg.id, OutboxMessage.status == "pending")
                .values(status="failed", attempts=msg.attempts + 1, last_error=f"{reason}: {detail}"[:1000],
                        fail_reason=reason, claimed_by=None, claimed_until=None)
                .execution_options(synchronize_session=False))
            await self._attempt_done(session, [msg.id], "failed", error=f"{reason}: {detail}"[:1000])
            if affected(result) != 1 or msg.kind == FAILED_KIND or msg.requeued:
                return  # staff were told the first time it failed
            await self._tell_staff(session, msg, to, reason, now)

    async def _tell_staff(self, session: Any, msg: Claimed, to: Recipient | None, reason: str,
                          now: datetime) -> None:
        """A failed message is never lost quietly: its community's staff are told; a
        message with no community goes to the dispatchers ([tickets]
        unplaced_staff_phones), else to all staff on duty."""
        from bot.domain.security import dispatchers_or_staff

        community_id = None
        if msg.ticket_id is not None:
            community_id = await session.scalar(select(Ticket.community_id).where(Ticket.id == msg.ticket_id))
        exclude = [msg.person_id] if msg.person_id is not None else []
        staff = await dispatchers_or_staff(session, self.config, community_id, exclude)
        if not staff and community_id is not None:
            staff = await dispatchers_or_staff(session, self.config, None, exclude)
        if not staff:
            log.error("outbox %s failed and there is no staff member to tell (see `deliveries --failed`)", msg.id)
            return
        excerpt = msg.text if len(msg.text) <= EXCERPT_CHARS else msg.text[:EXCERPT_CHARS] + "…"
        fields = {"recipient": (to.name if to and to.name else TEXTS("delivery.failed.resident")),
                  "reason": TEXTS(f"delivery.reasons.{reason}"), "excerpt": excerpt,
                  "ticket_id": msg.ticket_id, "outbox_id": msg.id}
        text = TEXTS("delivery.failed.with_ticket" if msg.ticket_id is not None else "delivery.failed.no_ticket",
                     **fields)
        for person in staff:
            enqueue(session, kind=FAILED_KIND, text=text, now=now, person_id=person.id,
                    ticket_id=msg.ticket_id, data={"failed_outbox_id": msg.id})

    # ---- after an outage ------------------------------------------------
    async def probe_if_due(self) -> str:
        """When messages failed for want of retries (an outage longer than the retry
        budget), send the oldest once more as a probe, with back-off between
        probes; when it goes through, queue the others again. Answers what
        happened: "none", "wait", "down" or "requeued"."""
        now = self.now()
        if self._probe_at is not None and now < self._probe_at:
            return "wait"
        s = self.config.security
        async with self.db.reading() as session:
            oldest = await session.scalar(
                select(OutboxMessage.id).where(OutboxMessage.status == "failed",
                                               OutboxMessage.fail_reason == REASON_RETRIES,
                                               OutboxMessage.requeued < MAX_REQUEUES)
                .order_by(OutboxMessage.id).limit(1))
        if oldest is None:
            self._probe_every = s.probe_interval_s
            self._probe_at = now + timedelta(seconds=s.probe_interval_s)
            return "none"
        until = now + timedelta(seconds=self.config.delivery.claim_timeout_s)
        async with self.db.transaction() as session:
            taken = await session.execute(
                update(OutboxMessage).where(OutboxMessage.id == oldest, OutboxMessage.status == "failed",
                                            or_(OutboxMessage.claimed_until.is_(None),
                                                OutboxMessage.claimed_until <= now))
                .values(claimed_by=self.name, claimed_until=until).execution_options(synchronize_session=False))
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                return "wait"  # another worker is probing
            row = await session.get(OutboxMessage, oldest)
            assert row is not None
            msg = Claimed.of(row)
            session.add(DeliveryAttempt(outbox_id=oldest, at=now, worker=self.name, outcome=SENDING))
            recipients = await resolve(session, [msg])
        try:
            channel = await self._ensure_clients().send(msg, recipients.get(recipient_key(msg)))
        except (Undeliverable, WeChatApiError) as exc:
            self._probe_at = self.now() + timedelta(seconds=self._probe_every)
            log.warning("API probe with outbox %s failed (%s); next probe in %.0fs", oldest, exc,
                        self._probe_every)
            self._probe_every = min(self._probe_every * 2, s.probe_interval_max_s)
            async with self.db.transaction() as session:
                await session.execute(update(OutboxMessage).where(OutboxMessage.id == oldest)
                                      .values(claimed_by=None, claimed_until=None)
                                      .execution_options(synchronize_session=False))
                await self._attempt_done(session, [oldest], "probe_failed", error=str(exc)[:1000])
            return "down"
        async with self.db.transaction() as session:
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id == oldest)
                .values(status="sent", channel=channel, sent_at=self.now(), claimed_by=None, claimed_until=None,
                        fail_reason=None, requeued=OutboxMessage.requeued + 1)
                .execution_options(synchronize_session=False))
            await self._attempt_done(session, [oldest], "sent", channel)
            again = await session.execute(
                update(OutboxMessage).where(OutboxMessage.status == "failed",
                                            OutboxMessage.fail_reason == REASON_RETRIES,
                                            OutboxMessage.requeued < MAX_REQUEUES)
                .values(status="pending", attempts=0, next_attempt_at=self.now(), fail_reason=None,
                        claimed_by=None, claimed_until=None, requeued=OutboxMessage.requeued + 1)
                .execution_options(synchronize_session=False))
        self.counts["sent"] += 1
        self.counts["requeued"] += again.rowcount  # type: ignore[attr-defined]
        log.warning("the API answers again: outbox %s sent as a probe, %d failed message(s) queued again",
                    oldest, again.rowcount)  # type: ignore[attr-defined]
        self._probe_every = s.probe_interval_s
        self._probe_at = self.now() + timedelta(seconds=s.probe_interval_s)
        return "requeued"


async def run_worker_task(services: _Services, stop: asyncio.Event) -> None:
    """The background task `serve` starts: one worker until `stop` is set."""
    worker = OutboxWorker(services.config, services.db, now=services.now)
    await worker.run(stop)
