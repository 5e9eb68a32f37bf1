"""The WeChat/WeCom client and the shared access_token, against the fake API on loopback."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest

from bot.config import WechatConfig
from bot.db import Database
from bot.delivery.token_store import DatabaseTokenBackend, RedisTokenBackend, SharedToken, TokenBackend
from bot.delivery.wechat_api import TOKEN_RETRIES, WeChatApiError, WeChatClient, WeComClient, new_http_session
from tests.fake_wechat import FakeClock, FakeWeChat, config_for, running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def fake(clock: FakeClock) -> AsyncIterator[FakeWeChat]:
    async with running(clock=clock) as server:
        yield server


def wechat_client(fake: FakeWeChat, backend: TokenBackend, clock: FakeClock, session, *,  # type: ignore[no-untyped-def]
                  timeout: float = 5.0, owner: str | None = None) -> WeChatClient:
    """A client of the fake API. The default timeout is far above what a loaded machine needs (a test of
    timeouts passes its own): a send that timed out on a busy machine would fail a test of something else."""
    config = WechatConfig(token="lianxintest", app_id=fake.app_id, app_secret=fake.app_secret,
                          api_base_url=fake.base_url, api_timeout_s=timeout)
    token = SharedToken(f"wechat:{fake.app_id}", lambda: client.fetch_token(), backend, now=clock, owner=owner,
                        lease_s=timeout + 2)
    client = WeChatClient(session, config, token)
    return client


async def test_fifty_concurrent_sends_fetch_the_token_once(db: Database, fake: FakeWeChat, clock: FakeClock) -> None:
    async with new_http_session() as session:
        client = wechat_client(fake, DatabaseTokenBackend(db), clock, session)
        await asyncio.gather(*(client.send_custom_text(f"openid-{i}", f"消息 {i}") for i in range(50)))
    assert len(fake.of("token")) == 1
    assert sorted(c.text for c in fake.delivered()) == sorted(f"消息 {i}" for i in range(50))


async def test_two_processes_share_one_token_fetch(db_url: str, fake: FakeWeChat, clock: FakeClock) -> None:
    """Two 'processes' (separate engines, separate token objects) start at once: one fetch, both send."""
    fake.script("token", delay=0.2)  # a slow fetch, so the second process must wait for the lease holder
    dbs = [Database(db_url, 5), Database(db_url, 5)]
    try:
        async with new_http_session() as s1, new_http_session() as s2:
            clients = [wechat_client(fake, DatabaseTokenBackend(d), clock, s, owner=f"proc{i}")
                       for i, (d, s) in enumerate(zip(dbs, (s1, s2), strict=True))]
            await asyncio.gather(*(c.send_custom_text(f"o{i}-{j}", f"m{i}-{j}")
                                   for i, c in enumerate(clients) for j in range(20)))
    finally:
        for d in dbs:
            await d.dispose()
    assert len(fake.of("token")) == 1
    assert len(fake.delivered()) == 40
    assert all(c.ok for c in fake.calls)


async def test_an_invalid_token_answer_causes_one_refresh_and_one_retry(db: Database, fake: FakeWeChat,
                                                                        clock: FakeClock) -> None:
    async with new_http_session() as session:
        client = wechat_client(fake, DatabaseTokenBackend(db), clock, session)
        await client.send_custom_text("o1", "first")
        fake.script("custom", errcode=40001, times=1)
        await client.send_custom_text("o1", "second")
    assert len(fake.of("token")) == 2
    assert [c.outcome for c in fake.of("custom")] == ["ok", "errcode:40001", "ok"]
    tokens = [c.params["access_token"] for c in fake.of("custom")]
    assert tokens[0] == tokens[1] != tokens[2]


async def test_retries_after_invalid_token_are_bounded(db: Database, fake: FakeWeChat, clock: FakeClock) -> None:
    fake.script("custom", errcode=40001)  # every call, forever
    async with new_http_session() as session:
        client = wechat_client(fake, DatabaseTokenBackend(db), clock, session)
        with pytest.raises(WeChatApiError) as caught:
            await client.send_custom_text("o1", "never")
    assert caught.value.errcode == 40001 and caught.value.is_token_invalid
    assert len(fake.of("custom")) == TOKEN_RETRIES + 1
    assert len(fake.of("token")) == TOKEN_RETRIES + 1


async def test_concurrent_invalid_token_answers_refresh_once(db: Database, fake: FakeWeChat,
                                                             clock: FakeClock) -> None:
    """Someone else fetched a token: 30 in-flight sends all get 40001, one refresh serves them all."""
    async with new_http_session() as session:
        client = wechat_client(fake, DatabaseTokenBackend(db), clock, session)
        await client.send_custom_text("o0", "warm-up")
        fake.issue_token()  # a rogue fetch elsewhere invalidates ours
        await asyncio.gather(*(client.send_custom_text(f"o{i}", f"m{i}") for i in range(30)))
    assert len(fake.of("token")) == 2
    assert len(fake.delivered()) == 31


async def test_the_token_is_refreshed_shortly_before_it_expires(db: Database, fake: FakeWeChat,
                                                                clock: FakeClock) -> None:
    async with new_http_session() as session:
        client = wechat_client(fake, DatabaseTokenBackend(db), clock, session)
        await client.send_custom_text("o1", "a")
        clock.advance(fake.token_ttl - 600)  # 10 min left: still used
        await client.send_custom_text("o1", "b")
        assert len(fake.of("token")) == 1
        clock.advance(400)  # under 5 min left: refreshed before use
        await client.send_custom_text("o1", "c")
    assert len(fake.of("token")) == 2
    assert all(c.ok for c in fake.calls)


async def test_a_token_stored_by_another_process_is_reused(db_url: str, fake: FakeWeChat, clock: FakeClock) -> None:
    first, second = Database(db_url, 2), Database(db_url, 2)
    try:
        async with new_http_session() as session:
            await wechat_client(fake, DatabaseTokenBackend(first), clock, session).send_custom_text("o", "1")
            await wechat_client(fake, DatabaseTokenBackend(second), clock, session).send_custom_text("o", "2")
    finally:
        await first.dispose()
        await second.dispose()
    assert len(fake.of("token")) == 1


@pytest.mark.parametrize(("script", "check"), [
    ({"status": 503}, lambda e: e.transient and e.http_status == 503),
    ({"drop": True}, lambda e: e.transient and e.errcode is None),
    ({"errcode": -1}, lambda e: e.transient),
    ({"errcode": 45009}, lambda e: e.is_quota and not e.transient),
    ({"errcode": 45015}, lambda e: e.is_window_closed and not e.permanent),
    ({"errcode": 45047}, lambda e: e.is_window_closed),
    ({"errcode": 40003}, lambda e: e.permanent and not e.transient),
])
async def test_failures_become_typed_errors(db: Database, fake: FakeWeChat, clock: FakeClock,  # type: ignore[no-untyped-def]
                                            script, check) -> None:
    async with new_http_session() as session:
        client = wechat_client(fake, DatabaseTokenBackend(db), clock, session)
        fake.script("custom", times=1, **script)
        with pytest.raises(WeChatApiError) as caught:
            await client.send_custom_text("o1", "x")
        assert check(caught.value), caught.value
        await client.send_custom_text("o1", "after")  # the next call works again


async def test_a_slow_answer_times_out_within_the_configured_time(db: Database, fake: FakeWeChat,
                                                                  clock: FakeClock) -> None:
    async with new_http_session() as session:
        client = wechat_client(fake, DatabaseTokenBackend(db), clock, session, timeout=0.3)
        await client.send_custom_text("o1", "warm-up")
        fake.script("custom", delay=0.8, times=1)
        with pytest.raises(WeChatApiError) as caught:
            await client.send_custom_text("o1", "slow")
    assert caught.value.transient and caught.value.errcode is None
    await asyncio.sleep(0.7)  # let the fake finish the abandoned request
    # the client hung up before the fake answered (benchmarks/bench_token_failure.py times it)
    assert fake.of("custom")[-1].outcome == "aborted"


async def test_template_message_body(db: Database, fake: FakeWeChat, clock: FakeClock) -> None:
    async with new_http_session() as session:
        client = wechat_client(fake, DatabaseTokenBackend(db), clock, session)
        await client.send_template("o1", "TPL1", {"content": "您好", "ticket": {"value": "#12", "color": "#173177"}},
                                   url="https://example.org/t/12")
    body = fake.of("template")[0].body
    assert body == {"touser": "o1", "template_id": "TPL1", "url": "https://example.org/t/12",
                    "data": {"content": {"value": "您好"}, "ticket": {"value": "#12", "color": "#173177"}}}


async def test_wecom_text_and_an_unknown_userid(db: Database, fake: FakeWeChat, clock: FakeClock) -> None:
    config = config_for(fake, wecom=True)
    fake.invalid_userids.add("nobody")
    async with new_http_session() as session:
        token = SharedToken("wecom:test", lambda: client.fetch_token(), DatabaseTokenBackend(db), now=clock)
        client = WeComClient(session, config.wecom, 0.5, token)
        await asyncio.gather(*(client.send_text("zhangsan", f"第{i}条") for i in range(10)))
        with pytest.raises(WeChatApiError) as caught:
            await client.send_text("nobody", "hi")
    assert caught.value.permanent
    assert len(fake.of("wecom_token")) == 1 and not fake.of("token")
    sent = fake.of("wecom_send")[0].body
    assert sent is not None and sent["agentid"] == 1000002 and sent["msgtype"] == "text"


# ---- the Redis store -------------------------------------------------------

REDIS_URL = os.environ.get("LIANXIN_TEST_REDIS", "redis://127.0.0.1:6379/15")


@pytest.fixture
async def redis_backend() -> AsyncIterator[RedisTokenBackend]:
    backend = RedisTokenBackend(REDIS_URL, prefix=f"lianxin-test:{uuid.uuid4().hex[:8]}:")
    try:
        await backend.redis.ping()
    except Exception as exc:
        await backend.close()
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is not reachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")
    yield backend
    keys = [k async for k in backend.redis.scan_iter(backend.prefix + "*")]
    if keys:
        await backend.redis.delete(*keys)
    await backend.close()


async def test_redis_store_one_fetch_for_two_processes(redis_backend: RedisTokenBackend, fake: FakeWeChat,
                                                       clock: FakeClock) -> None:
    fake.script("token", delay=0.2)
    other = RedisTokenBackend(REDIS_URL, prefix=redis_backend.prefix)
    try:
        async with new_http_session() as session:
            clients = [wechat_client(fake, b, clock, session, owner=f"proc{i}")
                       for i, b in enumerate((redis_backend, other))]
            await asyncio.gather(*(c.send_custom_text(f"o{j}", f"m{i}-{j}")
                                   for i, c in enumerate(clients) for j in range(25)))
            fake.issue_token()  # invalidated elsewhere: one refresh for both
            await asyncio.gather(*(c.send_custom_text("o", f"again{i}") for i, c in enumerate(clients)))
    finally:
        await other.close()
    assert len(fake.of("token")) == 2
    assert len(fake.delivered()) == 52


async def test_a_failing_token_endpoint_is_asked_once_not_once_per_waiting_send(db: Database, fake: FakeWeChat,
                                                                                clock: FakeClock) -> None:
    fake.script("token", delay=1.0, times=1)  # longer than the client timeout
    async with new_http_session() as session:
        client = wechat_client(fake, DatabaseTokenBackend(db), clock, session, timeout=0.2)
        client.token.failure_hold_s = 0.3
        results = await asyncio.gather(*(client.send_custom_text(f"o{i}", "x") for i in range(20)),
                                       return_exceptions=True)
        # one token request for the twenty sends, not twenty timeouts in a row
        # (benchmarks/bench_token_failure.py times it)
        assert all(isinstance(r, WeChatApiError) and r.transient for r in results)
        assert len(fake.of("token")) == 1
        await asyncio.sleep(client.token.failure_hold_s)
        await client.send_custom_text("o1", "later")  # the next refresh is tried again, and works
    assert len(fake.of("token")) == 2
