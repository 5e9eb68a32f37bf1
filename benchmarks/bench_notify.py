#!/usr/bin/env python3
"""How long from a ticket's creation to its notification reaching WeChat,
while the webhook is under the shared load harness.

Starts the fake WeChat API (tests/fake_wechat.py) on loopback with a per-send
latency, then `python -m bot serve` (webhook, outbox worker, deadline clock)
with the example roster loaded and `[wechat] api_base_url` pointing at the
fake, drives the webhook with ../shared/bench/run.sh, waits for the outbox
to drain, and prints the delay from each outbox row's creation (in the
ticket's transaction) to its successful send: p50, p99, max, plus the
request rate the webhook sustained and how many messages were sent.

    python benchmarks/bench_notify.py [--db sqlite|postgresql] [--conns 2] [--duration 20s]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_webhook import BENCH, ROOT, TMP, fresh_pg_database, prepare

if TYPE_CHECKING:
    from bot.db import Database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


async def delays(db_url: str, since: float) -> tuple[list[float], int, int]:
    from sqlalchemy import select

    from bot.db import Database
    from bot.models import OutboxMessage

    db = Database(db_url)
    try:
        async with db.reading() as session:
            rows = (await session.execute(select(OutboxMessage.created_at, OutboxMessage.sent_at,
                                                 OutboxMessage.status))).all()
    finally:
        await db.dispose()
    sent = [(s - c).total_seconds() for c, s, status in rows if status == "sent" and c.timestamp() >= since]
    pending = sum(1 for _, _, status in rows if status == "pending")
    return sent, pending, len(rows)


async def bind_residents(db_url: str, openids: list[str]) -> int:
    """Bind each openid to one of the roster's households, round robin."""
    from bot.db import Database

    db = Database(db_url)
    try:
        return await bind_all(db, openids)
    finally:
        await db.dispose()


async def bind_all(db: Database, openids: list[str]) -> int:
    """Bind each openid to one of the roster's households of `db`, round robin; the households' count."""
    from sqlalchemy import select

    from bot.models import Household, Resident, utcnow

    async with db.transaction() as session:
        households = list((await session.scalars(
            select(Household.id).where(Household.member_id.is_not(None)).order_by(Household.id))).all())
        now = utcnow()
        for i, openid in enumerate(openids):
            session.add(Resident(openid=openid, household_id=households[i % len(households)], bound_at=now,
                                 first_seen_at=now, last_message_at=now))
    return len(households)


def drive_bound(port: int, db_url: str, conns: int, duration: str, stamp: str) -> str:
    """Generate the harness's requests, bind their senders, then load the webhook with wrk
    and the harness's wechat.lua (what run.sh does, with the senders known beforehand)."""
    from urllib.parse import parse_qs, urlsplit

    python = os.environ.get("BENCH_PYTHON") or ("/tmp/anchors/bin/python" if Path("/tmp/anchors/bin/python").exists()
                                                else sys.executable)
    reqs = TMP / f"notify-{stamp}-reqs.tsv"
    subprocess.run([python, str(BENCH / "gen_requests.py"), "-n", "40000", "--mode", "plain", "--token", "benchtoken",
                    "--appid", "wxfakeapp", "-o", str(reqs)], check=True, capture_output=True)
    openids = sorted({parse_qs(urlsplit(line.split("\t", 1)[0]).query)["openid"][0]
                      for line in reqs.read_text(encoding="utf-8").splitlines() if not line.startswith("#")})
    households = asyncio.run(bind_residents(db_url, openids))
    print(f"bound {len(openids)} residents to {households} households")
    out = subprocess.run(["wrk", "-t", "1", "-c", str(conns), "-d", duration, "--timeout", "5s", "-s",
                          str(BENCH / "wechat.lua"), f"http://127.0.0.1:{port}/wechat", "--", str(reqs), "1", "<xml"],
                         capture_output=True, text=True, check=True).stdout
    return next(line for line in out.splitlines() if line.startswith("RESULT"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--conns", type=int, default=2)
    ap.add_argument("--duration", default="20s")
    ap.add_argument("--latency", type=float, default=0.05, help="the fake's seconds per send")
    ap.add_argument("--bound", action="store_true",
                    help="bind the harness's residents to the example households first, so each request goes "
                         "to its linked member (one notification per ticket) instead of staff triage")
    ap.add_argument("--separate-worker", action="store_true",
                    help="run the outbox worker as its own process (serve --no-worker + worker)")
    ap.add_argument("--dispatcher", default="", help="a staff phone told of unplaced requests ([tickets] "
                    "unplaced_staff_phones); default: every staff member on duty")
    a = ap.parse_args()
    TMP.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    db_url = f"sqlite+aiosqlite:///{TMP}/notify-{stamp}.db" if a.db == "sqlite" else fresh_pg_database()
    fake_port, port = free_port(), free_port()
    config = TMP / f"notify-{stamp}.toml"
    config.write_text(
        f'[database]\nurl = "{db_url}"\n\n[wechat]\ntoken = "benchtoken"\napp_id = "wxfakeapp"\n'
        f'app_secret = "fakesecret"\napi_base_url = "http://127.0.0.1:{fake_port}"\n\n'
        '[tickets]\nmerge_window_h = 0\n'
        + (f'unplaced_staff_phones = ["{a.dispatcher}"]\n' if a.dispatcher else "")
        + '\n[delivery]\npoll_interval_s = 0.05\n', encoding="utf-8")
    prepare(config, roster=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "LIANXIN_"))}
    fake = subprocess.Popen([sys.executable, "-m", "tests.fake_wechat", "--port", str(fake_port), "--latency",
                             str(a.latency)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    serve = [sys.executable, "-m", "bot", "--config", str(config), "serve", "--port", str(port)]
    server = subprocess.Popen(serve + (["--no-worker"] if a.separate_worker else []), cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker_log = (TMP / f"notify-{stamp}-worker.log").open("w")
    workers = [subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "worker"], cwd=ROOT, env=env,
                                stdout=worker_log, stderr=subprocess.STDOUT)] if a.separate_worker else []
    try:
        wait_http(f"http://127.0.0.1:{fake_port}/_fake/stats")
        wait_http(f"http://127.0.0.1:{port}/healthz")
        started = time.time()
        if a.bound:
            line = drive_bound(port, db_url, a.conns, a.duration, stamp)
        else:
            load = subprocess.run([str(BENCH / "run.sh"), f"http://127.0.0.1:{port}/wechat", "-m", "plain", "-c",
                                   str(a.conns), "-d", a.duration, "-n", "40000", "--token", "benchtoken", "--appid",
                                   "wxfakeapp", "--pid", str(server.pid)], capture_output=True, text=True, check=True)
            line = load.stdout.strip().splitlines()[-1]
        print(line)
        deadline = time.monotonic() + 120
        while True:
            sent, pending, total = asyncio.run(delays(db_url, started))
            if pending == 0 or time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        for proc in (server, *workers, fake):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    rps = float(re.search(r"rps=([0-9.]+)", line).group(1))  # type: ignore[union-attr]
    sent.sort()
    if not sent:
        print("no notification was sent")
        return 1
    p99 = sent[min(len(sent) - 1, int(len(sent) * 0.99))]
    where = "its own process" if a.separate_worker else "the same process"
    print(f"webhook {rps:.0f} req/s with the worker in {where}; outbox rows {total}, "
          f"sent {len(sent)}, still pending {pending}")
    print(f"notification delay (outbox row created -> WeChat answered): p50 {statistics.median(sent):.3f} s, "
          f"p99 {p99:.3f} s, max {sent[-1]:.3f} s (fake send latency {a.latency * 1000:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
