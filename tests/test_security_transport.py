"""The transport holds against slow and greedy clients (issue 12): half-sent
headers and bodies time out, open connections are capped, a huge
Content-Length gets 413 before a byte of body, safe mode can refuse
plaintext, and timestamps from the future are refused like stale ones."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.db import Database
from bot.models import Base
from bot.wechat.simulator import WeChatSimulator
from tests.conftest import AES_KEY, APP_ID, TOKEN, make_config

Serve = Callable[..., Awaitable[int]]


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Serve]:
    """Start the real server (runner and capped site) on a free loopback port."""
    from bot.services import build
    from bot.web.server import start_site
    from bot.web.webhook import create_app

    url = f"sqlite+aiosqlite:///{tmp_path / 't.db'}"
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    runners: list[Any] = []

    async def start(**wechat: Any) -> int:
        config = make_config(url, wechat=wechat)
        runner, site = await start_site(create_app(build(config, db)), config, "127.0.0.1", 0)
        runners.append(runner)
        return site.port

    yield start
    for runner in runners:
        await runner.cleanup()
    await db.dispose()


def signed_query(sim: WeChatSimulator, openid: str = "o_raw", **kw: Any) -> str:
    req = sim.sign(sim.text(openid, "你好"), openid, **kw)
    return "&".join(f"{k}={v}" for k, v in req.query.items())


async def raw(port: int, data: bytes, *, wait: float = 10.0, until_closed: bool = True) -> bytes:
    """Send `data` and read until the server closes the connection, or only the first
    bytes of its answer (`wait` bounds either)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read() if until_closed else reader.read(64), wait)
    finally:
        writer.close()


async def test_a_huge_content_length_gets_413_before_any_body(serve: Serve) -> None:
    port = await serve()
    sim = WeChatSimulator(TOKEN, APP_ID, AES_KEY, "aes")
    head = (f"POST /wechat?{signed_query(sim)} HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
            f"Content-Length: 100000000\r\n\r\n").encode()
    answer = await raw(port, head, until_closed=False)
    assert answer.startswith(b"HTTP/1.1 413")


async def test_half_sent_headers_are_dropped_after_the_header_timeout(serve: Serve) -> None:
    port = await serve(header_timeout_s=0.3)
    answer = await raw(port, b"POST /wechat HTTP/1.1\r\nHost: x\r\nContent-")
    assert answer == b""  # closed by the server, not by our wait running out


async def test_a_body_that_never_finishes_gets_408(serve: Serve) -> None:
    port = await serve(body_timeout_s=0.3)
    sim = WeChatSimulator(TOKEN, APP_ID, AES_KEY, "aes")
    head = (f"POST /wechat?{signed_query(sim)} HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
            f"Content-Length: 500\r\n\r\n<xml>").encode()
    answer = await raw(port, head, until_closed=False)
    assert answer.startswith(b"HTTP/1.1 408")


async def test_connections_over_the_cap_are_refused_at_once(serve: Serve) -> None:
    port = await serve(max_connections=3)
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    await asyncio.sleep(0.05)
    try:
        answer = await raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503")
    finally:
        for _, writer in held:
            writer.close()
    await asyncio.sleep(0.05)
    answer = await raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200")


async def test_require_aes_refuses_plaintext_posts(serve: Serve) -> None:
    from aiohttp import ClientSession

    port = await serve(require_aes=True)
    url = f"http://127.0.0.1:{port}/wechat"
    async with ClientSession() as http:
        for mode, status in (("plain", 403), ("compat", 200), ("aes", 200)):  # compat carries the envelope
            sim = WeChatSimulator(TOKEN, APP_ID, AES_KEY if mode != "plain" else "", mode)
            req = sim.sign(sim.text(f"o_{mode}", "你好"), f"o_{mode}")
            async with http.post(url, params=req.query, data=req.body) as response:
                assert response.status == status, (mode, await response.text())


def test_require_aes_without_a_key_is_a_config_error() -> None:
    from bot.config import ConfigError, parse

    with pytest.raises(ConfigError, match=r"wechat\.require_aes"):
        parse({"wechat": {"token": TOKEN, "require_aes": True}})


async def test_a_timestamp_from_the_future_is_refused(serve: Serve) -> None:
    from aiohttp import ClientSession

    port = await serve()
    sim = WeChatSimulator(TOKEN, APP_ID, AES_KEY, "aes")
    async with ClientSession() as http:
        for ahead, status in ((301, 403), (3600 * 24 * 365, 403), (60, 200)):
            req = sim.sign(sim.text("o_future", "你好"), "o_future", timestamp=int(time.time()) + ahead)
            async with http.post(f"http://127.0.0.1:{port}/wechat", params=req.query, data=req.body) as response:
                assert response.status == status, ahead
