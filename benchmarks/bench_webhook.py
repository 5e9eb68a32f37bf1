#!/usr/bin/env python3
"""Load-test Lianxin's webhook with the shared harness (../shared/bench), beside
the `aiohttp-wechatpy` anchor with as many processes, in the same run, and check afterwards that no
ticket was lost or doubled.

Every request the harness sends is a resident's complaint, so each one goes
the whole way: verified, decrypted, stored once, classified, a ticket opened
and assigned (or put in the triage queue), a notification queued, the reply
stored and sent.

    python benchmarks/bench_webhook.py                       # SQLite, 1 process
    python benchmarks/bench_webhook.py --db postgresql --procs 1,2
    python benchmarks/bench_webhook.py --duration 15s --rounds 2 --conns 8,64

Needs `wrk` (apt-get install -y wrk) and the harness's Python
(/tmp/anchors, see ../shared/bench/README.md). Prints the harness's table,
the ratio of each Lianxin row to the anchor's row of the same mode and
concurrency, and the ticket count check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("BENCH_DIR") or next(
    (str(p / "shared" / "bench") for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared" / "bench").is_dir()),
    str(ROOT.parent / "shared" / "bench")))  # beside the project, or beside a worktree's parent
TMP = Path(os.environ.get("BENCH_TMP", "/tmp/wechat-bench"))
PG_ADMIN = os.environ.get("LIANXIN_BENCH_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
ANCHOR = "aiohttp-wechatpy-{procs}p"  # the anchor with as many processes as the Lianxin row


def write_config(path: Path, db_url: str, extra: str = "") -> Path:
    """A config for one server under test: its database, merging off (every
    request must open its own ticket, so tickets can be counted), plus `extra`."""
    path.write_text(f'[database]\nurl = "{db_url}"\npool_size = 10\n\n[tickets]\nmerge_window_h = 0\n{extra}',
                    encoding="utf-8")
    return path


def server_spec(name: str, mode: str, port: int, config: Path, procs: int, worker: bool = False) -> str:
    cmd = (f"{shlex.quote(sys.executable)} -m bot --config {shlex.quote(str(config))} serve --port {port} "
           f"--processes {procs}{'' if worker else ' --no-worker'}")
    return f"{name}|{mode}|text|http://127.0.0.1:{port}/wechat|{cmd}"


def prepare(config: Path, roster: bool) -> None:
    """Create the schema and, with `roster`, load the example roster (people bound)."""
    command = "demo" if roster else "init-db"
    subprocess.run([sys.executable, "-m", "bot", "--config", str(config), command], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)


async def _pg(sql: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(sql))
    await engine.dispose()


def fresh_pg_database() -> str:
    from sqlalchemy.engine import make_url

    name = f"lianxin_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


async def drop_pg_database(url: str) -> None:
    """Drop a database that fresh_pg_database made: a benchmark leaves none behind."""
    from sqlalchemy.engine import make_url

    await _pg(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def count_rows(db_url: str) -> dict[str, int]:
    """Inbound messages, tickets, tickets per source message, replies that announced a ticket."""
    created = "(reply LIKE '%已登记为工单#%' OR reply LIKE '%已同时通知%')"
    queries = {
        "inbound": "SELECT count(*) FROM inbound_messages WHERE msg_type = 'text'",
        "tickets": "SELECT count(*) FROM tickets",
        # one message may open two tickets (two distinct asks), never the same ticket twice
        "doubled": "SELECT count(*) FROM (SELECT source_message_id FROM tickets GROUP BY source_message_id, text "
                   "HAVING count(*) > 1) d",
        "announced": f"SELECT count(*) FROM inbound_messages WHERE {created}",
        "merged": "SELECT count(*) FROM inbound_messages WHERE reply LIKE '%合并到工单#%'",
        "announced_without_ticket": f"SELECT count(*) FROM inbound_messages m WHERE {created} AND NOT EXISTS "
                                    "(SELECT 1 FROM tickets t WHERE t.source_message_id = m.id)",
        "outbox": "SELECT count(*) FROM outbox",
    }
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.split(":///", 1)[1])
        try:
            return {k: conn.execute(q).fetchone()[0] for k, q in queries.items()}
        finally:
            conn.close()

    async def pg() -> dict[str, int]:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(db_url)
        async with engine.connect() as conn:
            out = {k: (await conn.execute(text(q))).scalar_one() for k, q in queries.items()}
        await engine.dispose()
        return out

    return asyncio.run(pg())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--procs", default="1", help="comma list of process counts (PostgreSQL only for > 1)")
    ap.add_argument("--modes", default="plain,aes")
    ap.add_argument("--conns", default="64")
    ap.add_argument("--duration", default="10s")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--no-anchor", action="store_true")
    ap.add_argument("--roster", action="store_true",
                    help="load the example roster first (requests naming a known building go to its people)")
    a = ap.parse_args()
    if not (BENCH / "compare.py").exists():
        print(f"the load harness is not at {BENCH}", file=sys.stderr)
        return 2
    TMP.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = TMP / f"lianxin-{a.db}-{stamp}.jsonl"
    servers: list[str] = []
    urls: dict[tuple[str, str], str] = {}
    port = 19300
    proc_counts = [int(p) for p in a.procs.split(",")]
    for procs in proc_counts:
        if procs > 1 and a.db == "sqlite":
            raise SystemExit("SQLite serves from one process; use --db postgresql for --procs > 1")
        for mode in a.modes.split(","):
            name = f"lianxin-{a.db}-{procs}p"
            stem = TMP / f"{name}-{mode}-{stamp}"
            db_url = f"sqlite+aiosqlite:///{stem}.db" if a.db == "sqlite" else fresh_pg_database()
            config = write_config(Path(f"{stem}.toml"), db_url)
            prepare(config, a.roster)
            urls[(name, mode)] = db_url
            servers.append(server_spec(name, mode, port, config, procs))
            port += 1
    anchors = sorted({ANCHOR.format(procs=p) for p in proc_counts})
    only = "|".join([f"{n}" for n, _ in urls] + ([] if a.no_anchor else anchors))
    cmd = [sys.executable, str(BENCH / "compare.py"), "--rounds", str(a.rounds), "--duration", a.duration,
           "--conns", a.conns, "--only", f"^({only})\\[({'|'.join(a.modes.split(','))})\\]$", "--out", str(out)]
    for spec in servers:
        cmd += ["--server", spec]
    print("running:", " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)

    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    runs = [r for r in records if "rps" in r]
    anchor = {(r["name"], r["mode"], r["c"]): r for r in runs if r["name"] in anchors}
    print("\nratios against the anchor with as many processes, measured in the same run:")
    for r in runs:
        if r["name"] in anchors:
            continue
        name = ANCHOR.format(procs=r["name"].rsplit("-", 1)[-1].rstrip("p"))  # lianxin-<db>-<N>p
        base = anchor.get((name, r["mode"], r["c"]))
        ratio = f"{r['rps'] / base['rps']:.0%} of {name} ({base['rps']:.0f} req/s)" if base else "no anchor row"
        print(f"  {r['name']}[{r['mode']}] c={r['c']}: {r['rps']:.0f} req/s = {ratio}; p99 {r['p99_ms']} ms; "
              f"start-up {r.get('startup_s')} s; peak RSS {r.get('rss_mb')} MB; {r.get('cpu_us_per_req')} µs CPU/req")
    print("\nticket check (each announced ticket exists once; nothing doubled):")
    for (name, mode), db_url in urls.items():
        counts = count_rows(db_url)
        if db_url.startswith("postgresql"):
            asyncio.run(drop_pg_database(db_url))
        whole = counts["announced"] <= counts["tickets"] and counts["doubled"] == 0
        verdict = "ok" if whole and counts["announced_without_ticket"] == 0 else "FAILED"
        print(f"  {name}[{mode}]: {counts} -> {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
