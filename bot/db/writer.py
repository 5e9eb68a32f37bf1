"""Group commit: one writer task per process runs the units of work of many
requests in one transaction, and answers each only after that commit.

A request submits `work` (what it does inside a transaction) and `alone`
(the same work in a transaction of its own, with whatever fallback the
caller has) and awaits the result. The writer takes what is queued (up to
`batch_max` items, waiting up to `batch_wait_s` for more once one is there),
runs the items one after another in one transaction, commits, and only then
resolves each item's future: a reply never leaves before its commit.

If anything in a batch fails, the batch is rolled back, so one bad request
can neither lose nor double another's work: when an item raised (a handler
error, a replayed nonce, a database error), the items before it run again
together, it runs `alone` (where the caller's fallback applies), and the
items after it lead the next batch; when the commit failed, each item runs
`alone`. (Running every item of a failed batch alone cost a whole batch of
single transactions per failing request: with 0.3% of requests failing, one
batch in ten was run twice under load.) Items run in order, each
after the previous one's rows were flushed, so a later item sees an earlier
one's rows exactly as if they had been committed before it.

When the writer is not running (not started, stopped, `batch_max` 1) a
submission runs `alone` at once: CLI paths and tests that never start an
app keep today's transaction per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.database import Database

log = logging.getLogger("lianxin.writer")

T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[T]]
Alone = Callable[[], Awaitable[T]]


@dataclass
class _Item(Generic[T]):
    work: Work[T]
    alone: Alone[T]
    order: str = ""
    future: asyncio.Future[T] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass
class WriterStats:
    """What the writer did, for benchmarks and tests."""

    batches: int = 0
    items: int = 0
    failed_batches: int = 0
    largest: int = 0


class Writer:
    """The process's group-commit writer over `db`."""

    def __init__(self, db: Database, batch_max: int = 32, batch_wait_s: float = 0.0) -> None:
        self.db = db
        self.batch_max = batch_max
        self.batch_wait_s = batch_wait_s
        self.stats = WriterStats()
        self._queue: deque[_Item[Any]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._stopping

    def start(self) -> None:
        if self.batch_max > 1 and self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="lianxin-writer")

    async def stop(self) -> None:
        """Run what is queued, then end the task."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await self._task
        finally:
            self._task = None
        s = self.stats
        log.info("writer: %d requests in %d batches (largest %d), %d batches rolled back and run again",
                 s.items, s.batches, s.largest, s.failed_batches)

    async def submit(self, work: Work[T], alone: Alone[T], order: str = "") -> T:
        """The result of `work`, once the transaction it ran in has committed.

        A batch runs its items sorted by `order` (stably: the same key keeps
        the order of submission), so batches of several processes take the
        row locks a key stands for (the sender's rows) in the same order
        instead of deadlocking each other."""
        if not self.running:
            return await alone()
        item: _Item[T] = _Item(work, alone, order)
        self._queue.append(item)
        self._wake.set()
        return await item.future

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if self.batch_wait_s > 0 and len(self._queue) < self.batch_max and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full(), self.batch_wait_s)
            batch = [self._queue.popleft() for _ in range(min(self.batch_max, len(self._queue)))]
            batch.sort(key=lambda item: item.order)
            try:
                await self._commit(batch)
            except Exception as exc:  # never lose the task: answer every item that is still waiting
                log.exception("the writer failed")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)

    async def _full(self) -> None:
        while len(self._queue) < self.batch_max and not self._stopping:
            self._wake.clear()
            await self._wake.wait()

    async def _commit(self, batch: list[_Item[Any]]) -> None:
        if not batch:
            return
        self.stats.batches += 1
        self.stats.items += len(batch)
        self.stats.largest = max(self.stats.largest, len(batch))
        if len(batch) == 1:
            await self._alone(batch[0])
            return
        results: list[Any] = []
        failed_at: int | None = None
        try:
            async with self.db.transaction() as session:
                for index, item in enumerate(batch):
                    if index:
                        await asyncio.sleep(0)  # let requests be read and classified meanwhile
                    try:
                        results.append(await item.work(session))
                        await session.flush()
                    except Exception:
                        failed_at = index
                        raise
                    session.expunge_all()  # the next item starts as in a session of its own
        except Exception:
            self.stats.failed_batches += 1
            log.info("a batch of %d failed at %s; rolled back", len(batch),
                     "its commit" if failed_at is None else f"item {failed_at + 1}", exc_info=True)
            if failed_at is None:  # the commit failed: each item alone
                for item in batch:
                    await self._alone(item)
                return
            # The items before the failing one ran well: again together. The
            # failing one alone (its fallback stores it as failed); those after
            # it lead the next batch. Each still commits before its answer.
            self._queue.extendleft(reversed(batch[failed_at + 1:]))
            await self._commit(batch[:failed_at])
            await self._alone(batch[failed_at])
            return
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)

    @staticmethod
    async def _alone(item: _Item[Any]) -> None:
        try:
            result = await item.alone()
        except Exception as exc:
            if not item.future.done():
                item.future.set_exception(exc)
            return
        if not item.future.done():
            item.future.set_result(result)
