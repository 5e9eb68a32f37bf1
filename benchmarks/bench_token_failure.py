"""How long the WeChat client takes to give up, against the fake WeChat API
on loopback (the timings the tests no longer assert):

- twenty sends while the token endpoint hangs past the client timeout: they
  share one token request and fail together, so the whole batch takes about
  one timeout, not twenty in a row;
- one send whose answer is slower than the configured timeout: it gives up
  after about the timeout.

Each scenario runs --rounds times on a fresh SQLite database; prints the
median and worst time against the bound the design expects.

    .venv/bin/python benchmarks/bench_token_failure.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from bot.config import WechatConfig  # noqa: E402
from bot.db import Database  # noqa: E402
from bot.delivery.token_store import DatabaseTokenBackend, SharedToken  # noqa: E402
from bot.delivery.wechat_api import WeChatApiError, WeChatClient, new_http_session  # noqa: E402
from bot.models import Base  # noqa: E402
from tests.fake_wechat import FakeClock, FakeWeChat, running  # noqa: E402


async def fresh_db(directory: str, n: int) -> Database:
    url = f"sqlite+aiosqlite:///{directory}/bench{n}.db"
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    await engine.dispose()
    return Database(url, 5)


def make_client(fake: FakeWeChat, db: Database, clock: FakeClock, session, timeout: float) -> WeChatClient:  # type: ignore[no-untyped-def]
    config = WechatConfig(token="bench", app_id=fake.app_id, app_secret=fake.app_secret,
                          api_base_url=fake.base_url, api_timeout_s=timeout)
    token = SharedToken(f"wechat:{fake.app_id}", lambda: client.fetch_token(), DatabaseTokenBackend(db),
                        now=clock, lease_s=timeout + 2)
    client = WeChatClient(session, config, token)
    return client


async def failing_token(fake: FakeWeChat, db: Database, clock: FakeClock) -> float:
    fake.script("token", delay=1.0, times=1)  # longer than the client timeout
    async with new_http_session() as session:
        client = make_client(fake, db, clock, session, timeout=0.2)
        client.token.failure_hold_s = 0.3
        started = time.monotonic()
        results = await asyncio.gather(*(client.send_custom_text(f"o{i}", "x") for i in range(20)),
                                       return_exceptions=True)
        elapsed = time.monotonic() - started
    assert all(isinstance(r, WeChatApiError) for r in results)
    await asyncio.sleep(1.0)  # let the fake finish the abandoned request
    return elapsed


async def slow_answer(fake: FakeWeChat, db: Database, clock: FakeClock) -> float:
    async with new_http_session() as session:
        client = make_client(fake, db, clock, session, timeout=0.3)
        await client.send_custom_text("o1", "warm-up")
        fake.script("custom", delay=0.8, times=1)
        started = time.monotonic()
        try:
            await client.send_custom_text("o1", "slow")
        except WeChatApiError:
            pass
        elapsed = time.monotonic() - started
    await asyncio.sleep(0.8)
    return elapsed


Scenario = Callable[[FakeWeChat, Database, FakeClock], Awaitable[float]]


async def measure(name: str, scenario: Scenario, bound: float, rounds: int, directory: str) -> bool:
    times = []
    for n in range(rounds):
        db = await fresh_db(directory, hash((name, n)) & 0xFFFF)
        clock = FakeClock()
        try:
            async with running(clock=clock) as fake:
                times.append(await scenario(fake, db, clock))
        finally:
            await db.dispose()
    worst = max(times)
    verdict = "ok" if worst < bound else "SLOW"
    print(f"{name:<44} median {statistics.median(times):.3f} s  worst {worst:.3f} s  bound {bound:.1f} s  {verdict}")
    return worst < bound


async def main(rounds: int) -> int:
    with tempfile.TemporaryDirectory() as directory:
        results = [
            await measure("20 sends, token endpoint hangs (timeout 0.2 s)", failing_token, 0.8, rounds, directory),
            await measure("1 send, answer slower than timeout (0.3 s)", slow_answer, 0.7, rounds, directory),
        ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    sys.exit(asyncio.run(main(parser.parse_args().rounds)))
