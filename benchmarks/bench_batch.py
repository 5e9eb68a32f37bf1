#!/usr/bin/env python3
"""Group commit under load, and kill -9: the real server as a subprocess on
SQLite (or PostgreSQL), driven by 64 concurrent aiohttp clients.

For each variant — one transaction per request (`[database] batch_max = 1`)
and the group-commit writer (`batch_max = N`) — in the same run, rounds
interleaved: requests per second, p50/p99 latency and the server's CPU per
request (from /proc, user + system). Then the kill -9 check for each
variant: drive the same load, SIGKILL the server mid-run, restart it on the
same database, and count the acknowledged messages (HTTP 200 with a reply)
that are missing from the database or stored with another reply, and the
tickets a reply announced that do not exist. Both counts must be 0.

    .venv/bin/python benchmarks/bench_batch.py [--duration 10] [--conns 64] [--batch 32] [--rounds 2]
        [--wait-ms 0] [--kill-after 3] [--kills 1] [--roster] [--db sqlite|postgresql] [--no-kill] [--profile DIR]

The requests are the shared harness's (../shared/bench/gen_requests.py:
residents' complaints from 500 senders, plaintext mode), signed for the
config the script writes. The client runs on the same machine (2 cores
here): compare the variants with each other, not with other runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_webhook import BENCH, drop_pg_database, fresh_pg_database  # noqa: E402

TOKEN, APPID = "benchtoken", "wxbench0000000000"
MSGID = re.compile(rb"<MsgId>(\d+)</MsgId>")
TICKET = re.compile(r"工单#(\d+)")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, db_url: str, batch_max: int, wait_ms: float) -> Path:
    path.write_text(
        f'[database]\nurl = "{db_url}"\npool_size = 10\nbatch_max = {batch_max}\nbatch_wait_ms = {wait_ms}\n\n'
        f'[wechat]\ntoken = "{TOKEN}"\napp_id = "{APPID}"\n\n[tickets]\nmerge_window_h = 0\n', encoding="utf-8")
    return path


def requests(n: int, seed: int) -> list[tuple[str, bytes, int]]:
    """(path?query, body, MsgId) of `n` signed plaintext requests."""
    sys.path.insert(0, str(BENCH))
    import gen_requests as g

    out = []
    for pq, body in g.generate(n, "plain", TOKEN, APPID, g.DEFAULT_AES_KEY, "/wechat", g.DEFAULT_TO_USER,
                               seed=seed):
        raw = body.encode("utf-8")
        match = MSGID.search(raw)
        assert match is not None
        out.append((pq, raw, int(match.group(1))))
    return out


def tree(pid: int) -> list[int]:
    """`pid` and its children (the sibling processes of `serve --processes N`)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(int(c) for c in children)]


def cpu_s(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of `pid` and its children so far."""
    user = system = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user, system = user + int(fields[11]), system + int(fields[12])
    return user / CLK_TCK, system / CLK_TCK


class Server:
    def __init__(self, config: Path, port: int, procs: int = 1) -> None:
        self.config, self.port, self.procs = config, port, procs
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = config.with_suffix(".log")

    def writer_lines(self) -> list[str]:
        """The writer's summary line of each process that stopped cleanly."""
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return [line.split("writer: ", 1)[1] for line in text.splitlines() if "writer: " in line]

    async def start(self) -> None:
        import aiohttp

        self.proc = await asyncio.to_thread(
            subprocess.Popen,
            [sys.executable, "-m", "bot", "--config", str(self.config), "serve", "--port", str(self.port),
             "--no-worker", "--processes", str(self.procs)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.log.open("ab"),
            env={k: v for k, v in os.environ.items() if not k.startswith(("LIANXIN_", "WECHAT_"))})
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise SystemExit("the server did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    acked: dict[int, str] = field(default_factory=dict)  # MsgId -> the reply that came back
    errors: int = 0
    elapsed: float = 0.0
    killed: bool = False  # set by the kill: later failures are the kill's, not errors


async def drive(port: int, reqs: list[tuple[str, bytes, int]], conns: int, seconds: float,
                on_started: Any = None, load: Load | None = None) -> Load:
    """`conns` clients sending `reqs` (each once) for `seconds`; what came back."""
    import aiohttp

    load = load or Load()
    base = f"http://127.0.0.1:{port}"
    queue = iter(reqs)
    stop_at = time.perf_counter() + seconds

    async def client(http: aiohttp.ClientSession) -> None:
        for pq, body, msg_id in queue:
            if time.perf_counter() >= stop_at:
                return
            started = time.perf_counter()
            try:
                async with http.post(base + pq, data=body, headers={"Content-Type": "text/xml"}) as r:
                    text = await r.text()
                    if r.status == 200 and "<xml>" in text:
                        load.latencies.append(time.perf_counter() - started)
                        load.acked[msg_id] = text
                    elif not load.killed:
                        load.errors += 1
            except (TimeoutError, aiohttp.ClientError, OSError):
                if load.killed:
                    return
                load.errors += 1
                await asyncio.sleep(0.01)

    connector = aiohttp.TCPConnector(limit=conns)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as http:
        tasks = [asyncio.create_task(client(http)) for _ in range(conns)]
        if on_started is not None:
            await on_started()
        await asyncio.gather(*tasks)
    load.elapsed = time.perf_counter() - started
    return load


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def new_db(db: str, tmp: Path, name: str) -> str:
    if db == "sqlite":
        return f"sqlite+aiosqlite:///{tmp}/{name}.db"
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # it runs its own event loop
        url = pool.submit(fresh_pg_database).result()
    CREATED.append(url)
    return url


CREATED: list[str] = []  # the PostgreSQL databases this run made, dropped at its end


async def drop_created() -> None:
    while CREATED:
        await drop_pg_database(CREATED.pop())


def prepare(config: Path, roster: bool) -> None:
    subprocess.run([sys.executable, "-m", "bot", "--config", str(config), "demo" if roster else "init-db"],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


async def measure(a: argparse.Namespace, tmp: Path, name: str, batch_max: int, reqs: list[Any]
                  ) -> dict[str, Any]:
    config = write_config(tmp / f"{name}.toml", new_db(a.db, tmp, name), batch_max, a.wait_ms)
    prepare(config, a.roster)
    server = Server(config, free_port(), a.procs)
    await server.start()
    await asyncio.sleep(1.0 if a.procs > 1 else 0)  # the siblings start after the first process
    try:
        assert server.proc is not None
        warm = int(len(reqs) * 0.1)
        await drive(server.port, reqs[:warm], a.conns, 2.0)
        spy = None
        if a.profile:  # py-spy's collapsed stacks of the measured run
            spy = await asyncio.to_thread(subprocess.Popen, [
                str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(server.proc.pid),
                "--rate", "100", "--duration", str(int(a.duration)), "--format", "raw",
                "--output", str(Path(a.profile) / f"{name}.txt")], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
        cpu0 = cpu_s(server.proc.pid)
        load = await drive(server.port, reqs[warm:], a.conns, a.duration)
        if spy is not None:
            await asyncio.to_thread(spy.wait)
        cpu1 = cpu_s(server.proc.pid)
        user, system = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    finally:
        server.stop()
    n = len(load.latencies)
    return {"rps": n / load.elapsed, "p50": percentile(load.latencies, 0.5) * 1000,
            "p99": percentile(load.latencies, 0.99) * 1000, "cpu_us": (user + system) / max(n, 1) * 1e6,
            "sys_us": system / max(n, 1) * 1e6,
            "errors": load.errors, "n": n, "writer": "; ".join(server.writer_lines())}


def stored(db_url: str, msg_ids: list[int]) -> tuple[dict[str, str | None], set[int]]:
    """The stored reply of each of `msg_ids` found (by dedup key) and the ticket ids that exist."""
    keys = [f"m:{m}" for m in msg_ids]
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.split(":///", 1)[1])
        try:
            rows: dict[str, str | None] = {}
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                marks = ",".join("?" * len(chunk))
                rows.update(conn.execute(f"SELECT dedup_key, reply FROM inbound_messages WHERE dedup_key IN ({marks})",
                                         chunk).fetchall())
            return rows, {r[0] for r in conn.execute("SELECT id FROM tickets")}
        finally:
            conn.close()

    async def pg() -> tuple[dict[str, str | None], set[int]]:
        from sqlalchemy import bindparam, text
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(db_url)
        async with engine.connect() as c:
            q = text("SELECT dedup_key, reply FROM inbound_messages WHERE dedup_key IN :keys").bindparams(
                bindparam("keys", expanding=True))
            found = {k: v for k, v in (await c.execute(q, {"keys": keys})).all()}
            ids = set((await c.execute(text("SELECT id FROM tickets"))).scalars())
        await engine.dispose()
        return found, ids

    return _run_nested(pg())


def _run_nested(coro: Any) -> Any:
    """Run `coro` from inside the running loop's thread (a fresh loop in a thread)."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def kill_check(a: argparse.Namespace, tmp: Path, name: str, batch_max: int, reqs: list[Any],
                     kill_after: float) -> str:
    db_url = new_db(a.db, tmp, name)
    config = write_config(tmp / f"{name}.toml", db_url, batch_max, a.wait_ms)
    prepare(config, a.roster)
    server = Server(config, free_port(), a.procs)
    await server.start()
    await asyncio.sleep(1.0 if a.procs > 1 else 0)
    load = Load()

    async def kill_later() -> None:
        await asyncio.sleep(kill_after)
        assert server.proc is not None
        load.killed = True
        for pid in tree(server.proc.pid)[::-1]:
            os.kill(pid, signal.SIGKILL)
        await asyncio.to_thread(server.proc.wait)

    await drive(server.port, reqs, a.conns, kill_after + 2.0, on_started=kill_later, load=load)
    await server.start()  # restart on the same database (SQLite recovers its WAL here)
    server.stop()
    replies, tickets = stored(db_url, list(load.acked))
    missing = sum(1 for m in load.acked if f"m:{m}" not in replies)
    other = sum(1 for m, r in load.acked.items() if f"m:{m}" in replies and replies[f"m:{m}"] != r)
    announced = [int(t) for r in load.acked.values() for t in TICKET.findall(r)]
    lost_tickets = sum(1 for t in announced if t not in tickets)
    verdict = "ok" if missing == other == lost_tickets == 0 else "FAILED"
    return (f"{len(load.acked)} acknowledged before the kill, {load.errors} errors before it; "
            f"missing after restart: {missing}; stored with another reply: {other}; "
            f"announced tickets missing: {lost_tickets} of {len(announced)} -> {verdict}")


async def main_async(a: argparse.Namespace) -> int:
    try:
        return await run_all(a)
    finally:
        await drop_created()


async def run_all(a: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="lianxin-batch-"))
    variants = [("per-request", 1), *((f"batched-{b}", b) for b in (int(x) for x in a.batch.split(",")))]
    per_round = int(a.duration * 1500) + 2000
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in variants}
    seed = int(time.time())
    for round_no in range(a.rounds):
        for name, batch_max in variants[round_no % len(variants):] + variants[:round_no % len(variants)]:
            seed += 1
            reqs = requests(per_round, seed)
            r = await measure(a, tmp, f"{name}-r{round_no}", batch_max, reqs)
            results[name].append(r)
            print(f"  round {round_no + 1} {name}: {r['rps']:.0f} req/s, p50 {r['p50']:.1f} ms, "
                  f"p99 {r['p99']:.1f} ms, {r['cpu_us']:.0f} µs CPU/req (system {r['sys_us']:.0f}) ({int(r['n'])} ok, "
                  f"{int(r['errors'])} errors)", flush=True)
            if r["writer"]:
                print(f"    {r['writer']}", flush=True)
    print(f"\n{a.db}, {a.procs} process(es), plaintext, {a.conns} connections, {a.duration:.0f} s per run, "
          f"best of {a.rounds} (by req/s):")
    best = {name: max(rs, key=lambda r: r["rps"]) for name, rs in results.items()}
    base = best[variants[0][0]]
    for name, r in best.items():
        print(f"  {name:>14}: {r['rps']:6.0f} req/s ({r['rps'] / base['rps']:.2f}x), p50 {r['p50']:6.1f} ms, "
              f"p99 {r['p99']:6.1f} ms ({r['p99'] / base['p99']:.2f}x), {r['cpu_us']:5.0f} µs CPU/req "
              f"({r['cpu_us'] / base['cpu_us']:.2f}x; system {r['sys_us']:.0f} µs)")
    if not a.no_kill:
        print(f"\nkill -9 after {a.kill_after:.0f} s under load, restart, count acknowledged messages lost:")
        for kill_no in range(a.kills):
            for name, batch_max in variants:
                seed += 1
                after = a.kill_after + 0.37 * kill_no  # not always at the same moment of a batch
                reqs = requests(int(after * 1500) + 4000, seed)
                line = await kill_check(a, tmp, f"{name}-kill{kill_no}", batch_max, reqs, after)
                print(f"  {name:>14}, killed after {after:.2f} s: {line}", flush=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--procs", type=int, default=1, help="server processes (PostgreSQL only for > 1)")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--batch", default="32", help="batch_max of the batched variant(s), comma-separated")
    ap.add_argument("--wait-ms", type=float, default=0.0, help="batch_wait_ms of the batched variant")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--kill-after", type=float, default=3.0)
    ap.add_argument("--kills", type=int, default=1, help="kill -9 checks per variant")
    ap.add_argument("--no-kill", action="store_true")
    ap.add_argument("--roster", action="store_true", help="load the example roster first")
    ap.add_argument("--profile", metavar="DIR", help="record each measured run with py-spy into DIR (collapsed stacks)")
    a = ap.parse_args()
    if a.procs > 1 and a.db == "sqlite":
        raise SystemExit("SQLite serves from one process; use --db postgresql for --procs > 1")
    return asyncio.run(main_async(a))


if __name__ == "__main__":
    sys.exit(main())
