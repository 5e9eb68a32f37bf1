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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_webhook import BENCH, ROOT, TMP, fresh_pg_database, prepare


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--conns", type=int, default=2)
    ap.add_argument("--duration", default="20s")
    ap.add_argument("--latency", type=float, default=0.05, help="the fake's seconds per send")
    a = ap.parse_args()
    TMP.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    db_url = f"sqlite+aiosqlite:///{TMP}/notify-{stamp}.db" if a.db == "sqlite" else fresh_pg_database()
    fake_port, port = free_port(), free_port()
    config = TMP / f"notify-{stamp}.toml"
    config.write_text(
        f'[database]\nurl = "{db_url}"\n\n[wechat]\ntoken = "benchtoken"\napp_id = "wxfakeapp"\n'
        f'app_secret = "fakesecret"\napi_base_url = "http://127.0.0.1:{fake_port}"\n\n'
        '[tickets]\nmerge_window_h = 0\n\n[delivery]\npoll_interval_s = 0.05\n', encoding="utf-8")
    prepare(config, roster=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "LIANXIN_"))}
    fake = subprocess.Popen([sys.executable, "-m", "tests.fake_wechat", "--port", str(fake_port), "--latency",
                             str(a.latency)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    server = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "serve", "--port", str(port)],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{fake_port}/_fake/stats")
        wait_http(f"http://127.0.0.1:{port}/healthz")
        started = time.time()
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
        for proc in (server, fake):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    rps = float(re.search(r"rps=([0-9.]+)", line).group(1))  # type: ignore[union-attr]
    sent.sort()
    if not sent:
        print("no notification was sent")
        return 1
    p99 = sent[min(len(sent) - 1, int(len(sent) * 0.99))]
    print(f"webhook {rps:.0f} req/s with the worker in the same process; outbox rows {total}, "
          f"sent {len(sent)}, still pending {pending}")
    print(f"notification delay (outbox row created -> WeChat answered): p50 {statistics.median(sent):.3f} s, "
          f"p99 {p99:.3f} s, max {sent[-1]:.3f} s (fake send latency {a.latency * 1000:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
