#!/usr/bin/env python3
"""Where a webhook request's CPU goes, in-process: CPU per request by stage
(verify, parse, classify, store, reply, plus the handler glue around them)
and SQL statements per request, with the real Webhook.post, one request at
a time (no HTTP, no load generator; the numbers are the server's own work).

The requests are the shared harness's (../shared/bench/gen_requests.py:
residents' complaints, 500 senders). With --bound (the default) each sender is
bound to a household of the example roster first, as most residents are;
--unbound leaves them strangers (the first message creates their record).

    .venv/bin/python benchmarks/bench_stages.py [--db sqlite|postgresql] [-n 2000] [--mode plain|aes]
        [--unbound] [--no-merge] [--show-sql] [--concurrent 64 --batch 32]

With --concurrent K it first measures, in the same process and rounds
interleaved, the CPU per request of K requests at a time through the
webhook with one transaction per request (batch_max 1) and with the
group-commit writer (batch_max --batch): the store stage's share that
batching can save (BEGIN/COMMIT, session and lock per request). Stages are
not split there (concurrent requests interleave).

Stages are timed with the process's CPU clock; a stage that runs inside
another (classification inside the store, before the change that moved it
out) is subtracted from the outer one. `sql` is the time inside the driver's
execute (part of store), shown for scale.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_notify import bind_all  # noqa: E402
from bench_webhook import BENCH  # noqa: E402

TOKEN, APPID = "benchtoken", "wxbench0000000000"
AES_KEY = "YmVuY2hrZXkwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc"
STAGES = ("verify", "parse", "classify", "store", "reply", "glue")


class Stages:
    """CPU time per stage; nested stages are taken out of the stage around them."""

    def __init__(self) -> None:
        self.ns: dict[str, int] = defaultdict(int)
        self._stack: list[list[int]] = []  # [started, nested]

    @contextmanager
    def measure(self, name: str) -> Iterator[None]:
        started = time.process_time_ns()
        self._stack.append([started, 0])
        try:
            yield
        finally:
            _, nested = self._stack.pop()
            spent = time.process_time_ns() - started
            self.ns[name] += spent - nested
            if self._stack:
                self._stack[-1][1] += spent


def _timed(stages: Stages, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    if asyncio.iscoroutinefunction(fn):
        async def awrapper(*a: Any, **k: Any) -> Any:
            with stages.measure(name):
                return await fn(*a, **k)
        return awrapper

    def wrapper(*a: Any, **k: Any) -> Any:
        with stages.measure(name):
            return fn(*a, **k)
    return wrapper


def instrument(stages: Stages, analyser: Any) -> None:
    """Wrap the webhook's steps (module attributes the handler looks up per call)."""
    from bot.chat import context
    from bot.web import inbox, webhook
    from bot.wechat import protocol

    webhook.signature_ok = _timed(stages, "verify", webhook.signature_ok)  # type: ignore[assignment]
    webhook.timestamp_fresh = _timed(stages, "verify", webhook.timestamp_fresh)  # type: ignore[assignment]
    webhook.parse_xml = _timed(stages, "parse", webhook.parse_xml)  # type: ignore[assignment]
    from_fields = context.Message.from_fields
    context.Message.from_fields = _timed(stages, "parse", from_fields)  # type: ignore[method-assign]
    protocol.SafeMode.decrypt = _timed(stages, "parse", protocol.SafeMode.decrypt)  # type: ignore[method-assign]
    protocol.SafeMode.encrypt = _timed(stages, "reply", protocol.SafeMode.encrypt)  # type: ignore[method-assign]
    webhook.text_reply = _timed(stages, "reply", webhook.text_reply)  # type: ignore[assignment]
    inbox.receive = _timed(stages, "store", inbox.receive)  # type: ignore[assignment]
    for name in ("analyse", "analyse_async", "parse_command", "tokens"):
        setattr(analyser, name, _timed(stages, "classify", getattr(analyser, name)))


class _Payload:
    def __init__(self, body: bytes) -> None:
        self._chunks = [body]

    def set_read_chunk_size(self, size: int) -> None:
        pass

    async def readany(self) -> bytes:
        return self._chunks.pop() if self._chunks else b""


def requests(n: int, mode: str) -> list[tuple[str, bytes, str]]:
    sys.path.insert(0, str(BENCH))
    import gen_requests as g

    out = []
    for pq, body in g.generate(n, mode, TOKEN, APPID, AES_KEY, "/wechat", g.DEFAULT_TO_USER, seed=7):
        openid = parse_qs(urlsplit(pq).query)["openid"][0]
        out.append((pq, body.encode("utf-8"), openid))
    return out


async def run(a: argparse.Namespace, db_url: str) -> int:
    from aiohttp.test_utils import make_mocked_request
    from sqlalchemy import event

    from bot.cli.demo_data import load_demo
    from bot.config import parse
    from bot.db import Database
    from bot.db.database import ensure_schema
    from bot.services import build
    from bot.web.webhook import Webhook, create_app

    config = parse({"database": {"url": db_url}, "wechat": {"token": TOKEN, "app_id": APPID,
                                                           "encoding_aes_key": AES_KEY},
                    "tickets": {"merge_window_h": 0 if a.no_merge else 48},
                    # the same 500 senders write thousands of times: no hourly cap (its refusals are cheaper)
                    "security": {"tickets_per_hour": 1_000_000}})
    db = Database(db_url)
    await ensure_schema(db)
    await load_demo(db)
    reqs = requests(a.n + a.warmup, a.mode)
    if not a.unbound:
        await bind_all(db, sorted({openid for _, _, openid in reqs}))
    services = build(config, db)
    app = create_app(services)
    hook = Webhook(services)

    statements: list[str] = []
    sql_ns = [0]
    started_sql = [0]

    def before(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        statements.append(statement)
        started_sql[0] = time.process_time_ns()

    def after(*_: Any) -> None:
        sql_ns[0] += time.process_time_ns() - started_sql[0]

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    event.listen(db.engine.sync_engine, "after_cursor_execute", after)

    def request_of(pq: str, body: bytes) -> Any:
        return make_mocked_request("POST", pq, payload=_Payload(body), app=app)

    async def one(request: Any) -> None:
        response = await hook.post(request)
        if response.status != 200 or b"<xml" not in (response.body or b""):  # type: ignore[operator]
            raise SystemExit(f"bad answer {response.status}: {response.body!r}")

    for pq, body, _ in reqs[:a.warmup]:
        await one(request_of(pq, body))
    if a.concurrent > 1:
        await compare_batching(a, services, db, request_of, statements)
    stages = Stages()
    instrument(stages, services.analyser)
    statements.clear()
    sql_ns[0] = 0
    per_request: list[int] = []
    sample: list[str] = []
    total_ns = 0
    for i, (pq, body, _) in enumerate(reqs[a.warmup:]):
        request = request_of(pq, body)  # the test double's cost is no part of the server's
        before_count = len(statements)
        started = time.process_time_ns()
        with stages.measure("glue"):
            await one(request)
        total_ns += time.process_time_ns() - started
        per_request.append(len(statements) - before_count)
        if i == a.n // 2:
            sample = statements[before_count:]
    n = len(per_request)
    print(f"{a.db} {a.mode} {'unbound' if a.unbound else 'bound'} residents, merge "
          f"{'off' if a.no_merge else 'on'}, {n} requests in-process, one at a time")
    print(f"  CPU per request: {total_ns / n / 1000:.0f} µs  (" + ", ".join(
        f"{s} {stages.ns[s] / n / 1000:.0f}" for s in STAGES) + f" µs; of store: sql {sql_ns[0] / n / 1000:.0f} µs)")
    spread = Counter(per_request)
    print(f"  statements per request: mean {sum(per_request) / n:.2f}, "
          + ", ".join(f"{k}: {v}" for k, v in sorted(spread.items())))
    if a.show_sql:
        print("  one request's statements:")
        for s in sample:
            print("    " + " ".join(s.split())[:160])
    await db.dispose()
    return 0


async def compare_batching(a: argparse.Namespace, services: Any, db: Any, request_of: Callable[[str, bytes], Any],
                           statements: list[str]) -> None:
    """CPU per request, `a.concurrent` requests at a time, per transaction vs group commit."""
    from bot.db.writer import Writer
    from bot.web.webhook import Webhook

    rounds, per_round = 3, max(a.n // 2, a.concurrent)
    extra = requests(a.n + a.warmup + 2 * rounds * per_round, a.mode)[a.n + a.warmup:]
    cpu: dict[int, list[float]] = {1: [], a.batch: []}
    counts: dict[int, list[int]] = {1: [], a.batch: []}
    largest = 0
    for round_no in range(rounds):
        for batch_max in (1, a.batch) if round_no % 2 == 0 else (a.batch, 1):
            chunk, extra = extra[:per_round], extra[per_round:]
            writer = Writer(db, batch_max=batch_max)
            writer.start()
            hook = Webhook(services, writer)
            built = [request_of(pq, body) for pq, body, _ in chunk]
            before = len(statements)
            started = time.process_time_ns()
            for i in range(0, len(built), a.concurrent):
                answers = await asyncio.gather(*(hook.post(r) for r in built[i:i + a.concurrent]))
                if any(r.status != 200 for r in answers):
                    raise SystemExit("bad answer under concurrency")
            cpu[batch_max].append((time.process_time_ns() - started) / len(built) / 1000)
            counts[batch_max].append(len(statements) - before)
            await writer.stop()
            largest = max(largest, writer.stats.largest)
    one_by_one, batched = min(cpu[1]), min(cpu[a.batch])
    print(f"{a.db} {a.mode}, {a.concurrent} requests at a time in-process, best of {rounds} rounds of {per_round}:")
    print(f"  one transaction per request: {one_by_one:.0f} µs CPU/request, "
          f"{sum(counts[1]) / (rounds * per_round):.2f} statements/request")
    print(f"  group commit (batch_max {a.batch}, largest batch {largest}): {batched:.0f} µs CPU/request "
          f"({batched / one_by_one:.2f}x), {sum(counts[a.batch]) / (rounds * per_round):.2f} statements/request")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--mode", choices=("plain", "aes"), default="plain")
    ap.add_argument("--unbound", action="store_true")
    ap.add_argument("--no-merge", action="store_true")
    ap.add_argument("--show-sql", action="store_true")
    ap.add_argument("--concurrent", type=int, default=0, help="also compare batching with K requests at a time")
    ap.add_argument("--batch", type=int, default=32, help="batch_max of that comparison")
    a = ap.parse_args()
    os.environ.pop("LIANXIN_CONFIG", None)
    if a.db == "sqlite":
        tmp = tempfile.mkdtemp(prefix="lianxin-stages-")
        db_url = f"sqlite+aiosqlite:///{tmp}/stages.db"
    else:
        from bench_webhook import fresh_pg_database

        db_url = fresh_pg_database()
    try:
        return asyncio.run(run(a, db_url))
    finally:
        if a.db == "postgresql":
            from bench_webhook import drop_pg_database

            asyncio.run(drop_pg_database(db_url))


if __name__ == "__main__":
    sys.exit(main())
