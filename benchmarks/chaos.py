#!/usr/bin/env python3
"""Chaos against a real server: retry storms, kill -9 of the webhook and of
the outbox worker, an API outage longer than the retry budget, invite
guessing and bad inputs, each measured, printed as one table.

Everything runs on loopback: `python -m bot serve --no-worker` and `python -m
bot worker` as subprocesses, and the fake WeChat API (tests/fake_wechat.py)
inside this process, scripted to fail when a scenario needs it. Bounded in
time (about two minutes). The shared PostgreSQL server is never stopped: its
restart scenario is reported as skipped.

    python benchmarks/chaos.py [--db sqlite|postgresql] [--quick]

Targets (issue 12): 0 lost everywhere, 0 5xx, duplicates at most one per
worker kill, lockout within 10 wrong guesses.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp import ClientSession, ClientTimeout  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bot.db import Database  # noqa: E402
from bot.delivery.outbox import enqueue  # noqa: E402
from bot.models import InboundMessage, OutboxMessage, Person, Ticket, utcnow  # noqa: E402
from bot.wechat.simulator import WeChatSimulator  # noqa: E402
from tests.fake_wechat import FakeWeChat, running  # noqa: E402

TMP = Path(os.environ.get("BENCH_TMP", "/tmp/wechat-bench"))
TOKEN = "chaostoken"
REQUEST = "幸福小区3栋楼道灯坏了好几天了，第{n}次反映"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Row:
    scenario: str
    measured: str
    result: str
    target: str
    ok: bool | None  # None: skipped


class World:
    """The server and worker processes, the fake API and the database."""

    def __init__(self, db_url: str, config: Path, fake: FakeWeChat) -> None:
        self.db_url = db_url
        self.config = config
        self.fake = fake
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/wechat"
        self.sim = WeChatSimulator(TOKEN, "wxfakeapp", "", "plain")
        self.db = Database(db_url, 4)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "LIANXIN_", "PORT"))}
        self.server: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.log = (TMP / f"chaos-{os.getpid()}.log").open("ab")

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "bot", "--config", str(self.config), *args], cwd=ROOT,
                                env=self.env, stdout=self.log, stderr=self.log)

    async def start_server(self) -> None:
        self.server = self._spawn("serve", "--port", str(self.port), "--no-worker")
        await self.wait_up()

    def start_worker(self) -> None:
        self.worker = self._spawn("worker")

    async def wait_up(self, within: float = 40) -> None:
        deadline = time.monotonic() + within
        async with ClientSession(timeout=ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                try:
                    async with http.get(self.url.replace("/wechat", "/healthz")) as r:
                        if r.status == 200:
                            return
                except Exception:
                    pass
                await asyncio.sleep(0.1)
        raise SystemExit("the server did not come up (see the chaos log in " + str(TMP) + ")")

    @staticmethod
    def kill(proc: subprocess.Popen[bytes] | None) -> None:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    async def stop(self) -> None:
        for proc in (self.server, self.worker):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.kill(proc)
        await self.db.dispose()

    async def post(self, http: ClientSession, xml: str, openid: str, **sign: Any) -> tuple[int, str]:
        req = self.sim.sign(xml, openid, **sign)
        async with http.post(self.url, params=req.query, data=req.body) as r:
            body = await r.text()
            if r.status != 200 or not body.startswith("<xml"):
                return r.status, body
            return r.status, self.sim.read_reply(body, req).get("Content", "")

    async def scalar(self, query: Any) -> int:
        async with self.db.reading() as s:
            return int(await s.scalar(query) or 0)


async def wait_for(check: Callable[[], Awaitable[bool]], within: float, step: float = 0.5) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(step)
    return False


# ------------------------------------------------------------------ scenarios

async def retry_storms(w: World, storms: int) -> Row:
    """Each message delivered 5 times at once (WeChat's retries): one ticket, one reply."""
    async with ClientSession() as http:
        bad_replies = 0
        for i in range(storms):
            openid = f"o_storm_{i}"
            req = w.sim.sign(w.sim.text(openid, REQUEST.format(n=i)), openid)

            async def once(http: ClientSession = http, req: Any = req) -> str:
                async with http.post(w.url, params=req.query, data=req.body) as r:
                    return w.sim.read_reply(await r.text(), req).get("Content", "")

            replies = await asyncio.gather(*(once() for _ in range(5)))
            bad_replies += len(set(replies)) != 1 or "工单#" not in replies[0]
    tickets = await w.scalar(select(func.count()).select_from(Ticket).where(Ticket.openid.like("o_storm_%")))
    return Row("retry storms", f"{storms} messages x5 at once", f"{tickets} tickets, {bad_replies} differing replies",
               "1 ticket and 1 reply each", tickets == storms and bad_replies == 0)


async def webhook_kills(w: World, seconds: float, kills: int) -> Row:
    """Load from 8 senders; kill -9 the webhook `kills` times and restart it. Every
    acknowledged message (a 200 announcing a ticket) must be stored with its ticket."""
    acknowledged: list[str] = []
    stop = asyncio.Event()
    counter = iter(range(10**9))

    async def sender(k: int, http: ClientSession) -> None:
        while not stop.is_set():
            n = next(counter)
            openid = f"o_load_{k}_{n % 50}"
            msg_id = w.sim.next_msg_id()
            xml = w.sim.text(openid, REQUEST.format(n=n), msg_id=msg_id)
            try:
                status, content = await w.post(http, xml, openid)
            except Exception:
                await asyncio.sleep(0.05)
                continue
            if status == 200 and "工单#" in content:
                acknowledged.append(f"m:{msg_id}")

    async with ClientSession(timeout=ClientTimeout(total=5)) as http:
        tasks = [asyncio.create_task(sender(k, http)) for k in range(8)]
        for _ in range(kills):
            await asyncio.sleep(seconds / (kills + 1))
            w.kill(w.server)
            await w.start_server()
        await asyncio.sleep(seconds / (kills + 1))
        stop.set()
        await asyncio.gather(*tasks)
    missing = 0
    async with w.db.reading() as s:
        for chunk in range(0, len(acknowledged), 500):
            keys = acknowledged[chunk:chunk + 500]
            stored = set((await s.scalars(select(InboundMessage.dedup_key).join(
                Ticket, Ticket.source_message_id == InboundMessage.id).where(InboundMessage.dedup_key.in_(keys)))
                                ).all())
            missing += len(set(keys) - stored)
    return Row("webhook kill -9 under load", f"{kills} kills, {len(acknowledged)} acknowledged",
               f"{missing} acknowledged but missing", "0 missing", missing == 0)


async def queue_texts(w: World, prefix: str, n: int, *, ticket_id: int | None = None) -> list[str]:
    texts = [f"{prefix}-{i} 通知" for i in range(n)]
    async with w.db.transaction() as s:
        for i, text in enumerate(texts):
            enqueue(s, kind="notice", text=text, now=utcnow(), openid=f"o_chaos_rcpt_{i % 40}", ticket_id=ticket_id)
    return texts


async def drained(w: World, texts: list[str]) -> bool:
    return await w.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.text.in_(texts), OutboxMessage.status == "pending")) == 0


async def worker_kills(w: World, n: int, kills: int) -> Row:
    """n notifications with a slow API; kill -9 the worker `kills` times mid-flight."""
    w.fake.script("custom", delay=0.02)
    texts = await queue_texts(w, "chaos-worker", n)
    w.start_worker()
    for _ in range(kills):
        await asyncio.sleep(1.2)
        w.kill(w.worker)
        w.start_worker()
    await wait_for(lambda: drained(w, texts), within=60)
    w.fake.clear_scripts()
    got = Counter(c.text for c in w.fake.delivered())
    lost = sum(1 for t in texts if got[t] == 0)
    doubled = sum(got[t] - 1 for t in texts if got[t] > 1)
    return Row("worker kill -9", f"{kills} kills, {n} notices", f"{lost} lost, {doubled} doubled",
               f"0 lost, <= {kills} doubled", lost == 0 and doubled <= kills)


async def api_outage(w: World, n: int, outage_s: float) -> Row:
    """The API fails (HTTP 502) longer than the retry budget; everything must still
    arrive once it answers again, and staff must be told of the failures."""
    async with w.db.reading() as s:
        ticket_id = await s.scalar(select(Ticket.id).where(Ticket.community_id.is_not(None)).limit(1))
    w.fake.script("custom", status=502, until=utcnow() + timedelta(seconds=outage_s))
    w.fake.script("template", status=502, until=utcnow() + timedelta(seconds=outage_s))
    texts = await queue_texts(w, "chaos-outage", n, ticket_id=ticket_id)
    failed_during = 0

    async def all_failed_once() -> bool:
        nonlocal failed_during
        failed_during = await w.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.text.in_(texts), OutboxMessage.status == "failed"))
        return failed_during == n

    await wait_for(all_failed_once, within=outage_s)
    await wait_for(lambda: drained_and_sent(w, texts), within=outage_s + 40)
    got = Counter(c.text for c in w.fake.delivered())
    lost = sum(1 for t in texts if got[t] == 0)
    ids = await failed_ids(w, texts)
    told = sum(1 for c in w.fake.delivered() if "「chaos-outage-" in c.text)  # staff's failure notices
    return Row("API outage > retry budget", f"{outage_s:.0f} s down, {n} notices ({failed_during} failed)",
               f"{lost} lost, staff told {told} time(s) ({len(ids)} failed rows left)",
               "0 lost, staff told", lost == 0 and told > 0)


async def drained_and_sent(w: World, texts: list[str]) -> bool:
    return await w.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.text.in_(texts), OutboxMessage.status != "sent")) == 0


async def failed_ids(w: World, texts: list[str]) -> list[int]:
    async with w.db.reading() as s:
        return list((await s.scalars(select(OutboxMessage.id).where(OutboxMessage.text.in_(texts),
                                                                    OutboxMessage.status == "failed"))).all())


async def invite_guessing(w: World) -> Row:
    """One sender guessing codes, then many senders: guesses answered before the lockout."""
    async with ClientSession() as http:
        one = 0
        for i in range(30):
            _, content = await w.post(http, w.sim.text("o_guesser", f"绑定 邀请码 ZZZZZZ{i:02d}"), "o_guesser")
            if "次数太多" in content:
                break
            one += 1
        many = 0
        for i in range(200):
            openid = f"o_guesser_{i}"
            _, content = await w.post(http, w.sim.text(openid, f"绑定 邀请码 YYYYYY{i % 100:02d}"), openid)
            if "次数太多" in content:
                break
            many += 1
    async with w.db.reading() as s:
        taken = await s.scalar(select(func.count()).select_from(Person).where(Person.openid.like("o_guesser%")))
    return Row("invite guessing", "wrong codes answered before lockout",
               f"one sender {one}, many senders {many} in all, roles taken {taken}",
               "<= 10 per sender, 0 taken", one <= 10 and not taken)


def bad_bodies(sim: WeChatSimulator) -> list[tuple[str, bytes]]:
    def xml(**fields: str) -> bytes:
        base = {"ToUserName": "gh", "FromUserName": "o_bad", "CreateTime": str(int(time.time())),
                "MsgType": "text", "Content": "你好", "MsgId": str(sim.next_msg_id())}
        base.update(fields)
        return ("<xml>" + "".join(f"<{k}>{v}</{k}>" for k, v in base.items() if v != "-") + "</xml>").encode()

    return [
        ("create_time_huge", xml(CreateTime="9000000000000000")),
        ("create_time_negative", xml(CreateTime="-1")),
        ("create_time_text", xml(CreateTime="yesterday")),
        ("openid_long", xml(FromUserName="o" * 65)),
        ("openid_huge", xml(FromUserName="o" * 5000)),
        ("msg_type_long", xml(MsgType="t" * 33)),
        ("event_long", xml(MsgType="event", MsgId="-", Event="E" * 65)),
        ("event_key_long", xml(MsgType="event", MsgId="-", Event="CLICK", EventKey="K" * 5000)),
        ("msg_id_huge", xml(MsgId="9" * 300)),
        ("msg_id_negative", xml(MsgId="-5")),
        ("msg_id_text", xml(MsgId="abc")),
        ("no_openid", xml(FromUserName="-")),
        ("no_msg_type", xml(MsgType="-")),
        ("unknown_type", xml(MsgType="hologram")),
        ("content_huge", xml(Content="长" * 20000)),
        ("not_xml", b"hello"),
        ("truncated", b"<xml><ToUserName>gh</ToUserName><FromUserName>o"),
        ("other_root", b"<html><body/></html>"),
        ("nested", xml(Content="<a><b>x</b></a>")),
        ("billion_laughs", b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY l "l"><!ENTITY l2 "&l;&l;">]>'
                           b"<xml><Content>&l2;</Content></xml>"),
        ("xxe", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                b"<xml><Content>&e;</Content></xml>"),
        ("gbk", "<xml><FromUserName>o</FromUserName><Content>路灯</Content></xml>".encode("gbk")),
        ("nul_char_ref", xml(Content="a&#0;b")),
        ("surrogate_ref", xml(Content="a&#xD800;b")),
        ("empty", b""),
    ]


async def bad_inputs(w: World) -> Row:
    statuses: Counter[str] = Counter()
    fives: list[str] = []
    async with ClientSession() as http:
        for name, body in bad_bodies(w.sim):
            req = w.sim.sign(body, "o_bad")
            async with http.post(w.url, params=req.query, data=req.body) as r:
                statuses[f"{r.status // 100}xx"] += 1
                if r.status >= 500:
                    fives.append(name)
        # transport: unsigned, stale, future, replayed nonce, huge Content-Length, odd methods
        for name, kw in (("stale", {"timestamp": int(time.time()) - 3600}),
                         ("future", {"timestamp": int(time.time()) + 3600})):
            req = w.sim.sign(w.sim.text("o_bad", "你好"), "o_bad", **kw)
            async with http.post(w.url, params=req.query, data=req.body) as r:
                statuses[f"{r.status // 100}xx"] += 1
                if r.status >= 500:
                    fives.append(name)
        async with http.post(w.url, data=b"<xml/>") as r:
            statuses[f"{r.status // 100}xx"] += 1
        async with http.put(w.url, data=b"<xml/>") as r:
            statuses[f"{r.status // 100}xx"] += 1
    req = w.sim.sign(w.sim.text("o_bad", "你好"), "o_bad")
    query = "&".join(f"{k}={v}" for k, v in req.query.items())
    reader, writer = await asyncio.open_connection("127.0.0.1", w.port)
    writer.write(f"POST /wechat?{query} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.read(32), 5)
    writer.close()
    code = re.search(rb"HTTP/1.1 (\d)", head)
    statuses[f"{code.group(1).decode() if code else '?'}xx"] += 1
    total = sum(statuses.values())
    shown = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
    return Row("bad inputs", f"{total} requests", shown + (f" (5xx: {', '.join(fives)})" if fives else ""),
               "0 5xx", not fives and statuses.get("5xx", 0) == 0)


# ------------------------------------------------------------------ main

def write_config(path: Path, db_url: str, fake: FakeWeChat) -> None:
    path.write_text(f"""
[database]
url = "{db_url}"
[wechat]
token = "{TOKEN}"
app_id = "{fake.app_id}"
app_secret = "{fake.app_secret}"
api_base_url = "{fake.base_url}"
api_timeout_s = 2.0
[tickets]
merge_window_h = 0
[delivery]
poll_interval_s = 0.05
max_attempts = 3
backoff_base_s = 0.5
backoff_max_s = 2.0
claim_timeout_s = 4.0
[security]
messages_per_minute = 100000
tickets_per_hour = 100000
probe_interval_s = 1.0
probe_interval_max_s = 4.0
""", encoding="utf-8")


async def run(a: argparse.Namespace) -> list[Row]:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if a.db == "postgresql":
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench_webhook import fresh_pg_database

        db_url = await asyncio.to_thread(fresh_pg_database)
    else:
        db_url = f"sqlite+aiosqlite:///{TMP}/chaos-{stamp}.db"
    rows: list[Row] = []
    async with running() as fake:
        config = TMP / f"chaos-{stamp}.toml"
        write_config(config, db_url, fake)
        await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot", "--config", str(config), "demo"],
                                cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        w = World(db_url, config, fake)
        try:
            await w.start_server()
            quick = a.quick
            rows.append(await retry_storms(w, 10 if quick else 40))
            rows.append(await webhook_kills(w, 6 if quick else 15, 2 if quick else 4))
            rows.append(await worker_kills(w, 200 if quick else 600, 2 if quick else 5))
            rows.append(await api_outage(w, 20 if quick else 60, 6 if quick else 12))
            rows.append(Row("PostgreSQL restart under load", "-", "skipped: never stops the shared server",
                            "0 lost", None))
            rows.append(await invite_guessing(w))
            rows.append(await bad_inputs(w))
        finally:
            await w.stop()
            if a.db == "postgresql":
                from bench_webhook import _pg
                from sqlalchemy.engine import make_url

                await _pg(f'DROP DATABASE IF EXISTS "{make_url(db_url).database}" WITH (FORCE)')
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--quick", action="store_true", help="smaller scenarios (about a minute)")
    a = ap.parse_args()
    started = time.monotonic()
    TMP.mkdir(parents=True, exist_ok=True)
    rows = asyncio.run(asyncio.wait_for(run(a), timeout=300))
    widths = [max(len(r[i]) for r in [("scenario", "measured", "result", "target")] +
                  [(x.scenario, x.measured, x.result, x.target) for x in rows]) for i in range(4)]
    line = "  ".join(f"{{:<{n}}}" for n in widths) + "  {}"
    print(f"\nchaos on {a.db} ({time.monotonic() - started:.0f} s)")
    print(line.format("scenario", "measured", "result", "target", "ok"))
    for r in rows:
        print(line.format(r.scenario, r.measured, r.result, r.target,
                          "skip" if r.ok is None else ("yes" if r.ok else "NO")))
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
