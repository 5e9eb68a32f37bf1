"""Outbox throughput against the fake WeChat API on loopback.

Fills a fresh outbox with N messages, starts W worker processes at the same
moment, and times until every message is sent: messages/s for 1 and 2
workers on PostgreSQL and 1 on SQLite, and the 2-worker/1-worker ratio. The
fake runs in its own process; --latency makes each send take that long, as a
real WeChat API call would (tens of milliseconds).

    .venv/bin/python benchmarks/bench_outbox.py [--messages 5000] [--latency 0.0]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from bot.config import Config, DeliveryConfig, WechatConfig  # noqa: E402
from bot.db import Database  # noqa: E402
from bot.models import Base, OutboxMessage, utcnow  # noqa: E402

PG_ADMIN = os.environ.get("LIANXIN_BENCH_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def fake_stats(base_url: str) -> dict[str, int]:
    async with aiohttp.ClientSession() as session, session.get(base_url + "/_fake/stats") as resp:
        return dict(await resp.json())


def make_config(fake_url: str, args: argparse.Namespace) -> Config:
    return Config(
        wechat=WechatConfig(token="lianxinbench", app_id="wxfakeapp", app_secret="fakesecret",
                            api_base_url=fake_url, api_timeout_s=5.0),
        delivery=DeliveryConfig(poll_interval_s=0.02, batch_size=args.batch_size, max_attempts=8,
                                backoff_base_s=0.5, backoff_max_s=5.0, claim_timeout_s=60.0),
    )


# ---- databases ----------------------------------------------------------------

async def _admin(sql: str) -> None:
    engine = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


async def fresh_database(backend: str, tmp: Path) -> str:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / f'bench-{uuid.uuid4().hex[:6]}.db'}"
    else:
        name = f"lianxin_bench_{uuid.uuid4().hex[:8]}"
        await _admin(f'CREATE DATABASE "{name}"')
        url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    await engine.dispose()
    return url


async def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        await _admin(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


async def fill(url: str, n: int) -> None:
    db = Database(url, 2)
    now = utcnow()
    rows = [{"kind": "notice", "text": f"bench-{i} 您的工单有新进展", "openid": f"op-{i % 500}", "data": {},
             "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now} for i in range(n)]
    async with db.transaction() as s:
        for start in range(0, n, 1000):
            await s.execute(insert(OutboxMessage), rows[start:start + 1000])
    await db.dispose()


async def count(url: str, status: str) -> int:
    db = Database(url, 1)
    try:
        async with db.reading() as s:
            return int(await s.scalar(select(func.count()).where(OutboxMessage.status == status)) or 0)
    finally:
        await db.dispose()


# ---- a worker process -------------------------------------------------------------

def worker_process(url: str, fake_url: str, args: argparse.Namespace, ready: Any, go: Any, result: Any) -> None:
    asyncio.run(_worker_main(url, fake_url, args, ready, go, result))


async def _worker_main(url: str, fake_url: str, args: argparse.Namespace, ready: Any, go: Any,
                       result: Any) -> None:
    from bot.delivery.worker import OutboxWorker

    db = Database(url, args.pool_size)
    await db.ping()
    worker = OutboxWorker(make_config(fake_url, args), db, concurrency=args.concurrency)
    ready.release()
    await asyncio.to_thread(go.wait)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))  # the production loop
    while True:
        await asyncio.sleep(0.02)
        async with db.reading() as s:
            left = await s.scalar(select(func.count()).where(OutboxMessage.status == "pending"))
        if not left:
            break
    stop.set()
    await running
    await db.dispose()
    result.put(worker.counts["sent"])


# ---- one scenario --------------------------------------------------------------------

async def scenario(backend: str, workers: int, fake_url: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    url = await fresh_database(backend, tmp)
    try:
        await fill(url, args.messages)
        before = await fake_stats(fake_url)
        ctx = mp.get_context("spawn")
        ready, go, result = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=worker_process, args=(url, fake_url, args, ready, go, result))
                 for _ in range(workers)]
        for p in procs:
            p.start()
        for _ in procs:
            await asyncio.to_thread(ready.acquire)
        started = time.perf_counter()
        go.set()
        for p in procs:
            await asyncio.to_thread(p.join)
        elapsed = time.perf_counter() - started
        handled = [await asyncio.to_thread(result.get) for _ in procs]
        sent = await count(url, "sent")
        after = await fake_stats(fake_url)
        delivered = after.get("delivered", 0) - before.get("delivered", 0)
        tokens = after.get("token:ok", 0) - before.get("token:ok", 0)
        return {"backend": backend, "workers": workers, "messages": args.messages, "seconds": elapsed,
                "per_second": args.messages / elapsed, "sent": sent, "delivered": delivered,
                "token_fetches": tokens, "per_worker": handled}
    finally:
        await drop_database(url)


async def main_async(args: argparse.Namespace) -> None:
    port = free_port()
    fake = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fake_wechat", "--port", str(port), "--latency", str(args.latency),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    fake_url = f"http://127.0.0.1:{port}"
    try:
        assert fake.stdout is not None
        await fake.stdout.readline()  # "fake WeChat on ..."
        results = []
        with tempfile.TemporaryDirectory() as tmp:
            plan = [("postgresql", 1), ("postgresql", 2)] if not args.skip_pg else []
            if not args.skip_sqlite:
                plan.append(("sqlite", 1))
            for _ in range(args.repeat):  # rounds interleave the scenarios, so drifting load hits all alike
                for backend, workers in plan:
                    r = await scenario(backend, workers, fake_url, args, Path(tmp))
                    results.append(r)
                    ok = "ok" if r["sent"] == r["delivered"] == args.messages else "MISMATCH"
                    print(f"{backend:<10} workers={workers}  {r['messages']} msgs in {r['seconds']:.2f}s  "
                          f"= {r['per_second']:,.0f} msgs/s   sent={r['sent']} delivered={r['delivered']} "
                          f"({ok})  token fetches={r['token_fetches']}  per worker={r['per_worker']}", flush=True)
        medians = {}
        for backend, workers in plan:
            rates = [r["per_second"] for r in results if (r["backend"], r["workers"]) == (backend, workers)]
            medians[backend, workers] = statistics.median(rates)
            print(f"median {backend:<10} workers={workers}: {medians[backend, workers]:,.0f} msgs/s "
                  f"(min {min(rates):,.0f}, max {max(rates):,.0f}, {len(rates)} runs)")
        if ("postgresql", 1) in medians and ("postgresql", 2) in medians:
            print(f"PostgreSQL 2-worker / 1-worker throughput (medians): "
                  f"{medians['postgresql', 2] / medians['postgresql', 1]:.2f}x")
        print(f"(fake latency per send {args.latency * 1000:.0f} ms, batch {args.batch_size}, "
              f"concurrency {args.concurrency or 'default'} per worker, {os.cpu_count()} CPUs shared by fake, "
              f"workers and the database)")
    finally:
        fake.terminate()
        await fake.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the fake takes per send")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=None,
                        help="sends in flight per worker (default: the worker's own)")
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1, help="rounds of all scenarios (medians reported)")
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
