"""The webhook speaks WeChat's protocol: requests built and signed (and
encrypted) by wechatpy, in plaintext, compatible and safe mode; bad input
gets its documented status; every message is stored once and retries get
the very same reply."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select

from bot.db import Database
from bot.models import InboundMessage, SeenNonce
from tests.conftest import WeChat


async def stored(db: Database) -> list[InboundMessage]:
    async with db.reading() as session:
        return list((await session.scalars(select(InboundMessage).order_by(InboundMessage.id))).all())


async def count_nonces(db: Database) -> int:
    async with db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(SeenNonce)) or 0)


# ------------------------------------------------------------------ URL check

async def test_url_check_echoes_echostr_when_the_signature_holds(client, wechat: WeChat) -> None:
    response = await client.get("/wechat", params=wechat.sim.url_check("hello-echo-123"))
    assert response.status == 200
    assert await response.text() == "hello-echo-123"


async def test_url_check_with_a_forged_signature_is_refused(client, wechat: WeChat) -> None:
    params = wechat.sim.url_check("x")
    params["signature"] = "0" * 40
    response = await client.get("/wechat", params=params)
    assert response.status == 403


# ---------------------------------------------------------- the three modes

async def test_a_text_message_gets_a_passive_reply_in_every_mode(client, db: Database, mode: str) -> None:
    wechat = WeChat(client, mode)
    xml = wechat.sim.text("o_resident_mode", "你好")
    response, req = await wechat.post(xml, "o_resident_mode")
    assert response.status == 200
    body = await response.text()
    if mode == "plain":
        assert "<Encrypt>" not in body
    else:
        assert "<Encrypt>" in body and "<MsgSignature>" in body and "你好" not in body
    reply = wechat.sim.read_reply(body, req)  # decrypts and checks msg_signature with wechatpy
    assert reply["ToUserName"] == "o_resident_mode"
    assert reply["FromUserName"] == wechat.sim.account
    assert reply["MsgType"] == "text"
    assert reply["Content"]
    rows = await stored(db)
    assert [(r.openid, r.msg_type, r.content) for r in rows] == [("o_resident_mode", "text", "你好")]


async def test_safe_mode_request_with_a_forged_msg_signature_is_refused(client, db: Database) -> None:
    wechat = WeChat(client, "aes")
    req = wechat.sim.sign(wechat.sim.text("o1", "你好"), "o1")
    req.query["msg_signature"] = "f" * 40
    response = await client.post("/wechat", params=req.query, data=req.body)
    assert response.status == 403
    assert await stored(db) == []


async def test_safe_mode_body_encrypted_for_another_app_id_is_refused(client, db: Database) -> None:
    from bot.wechat.simulator import WeChatSimulator
    from tests.conftest import AES_KEY, TOKEN

    other = WeChatSimulator(TOKEN, "wxSomeOtherAccount", AES_KEY, "aes")
    req = other.sign(other.text("o1", "你好"), "o1")
    response = await client.post("/wechat", params=req.query, data=req.body)
    assert response.status == 403
    assert await stored(db) == []


# ------------------------------------------------------------------ bad input

async def test_forged_signature_is_refused_and_nothing_is_stored(client, db: Database) -> None:
    wechat = WeChat(client, "plain")
    req = wechat.sim.sign(wechat.sim.text("o1", "路灯坏了"), "o1")
    req.query["signature"] = req.query["signature"][:-1] + ("0" if req.query["signature"][-1] != "0" else "1")
    response = await client.post("/wechat", params=req.query, data=req.body)
    assert response.status == 403
    assert await stored(db) == []


async def test_a_stale_timestamp_is_refused(client, db: Database) -> None:
    wechat = WeChat(client, "plain")
    response, _ = await wechat.post(wechat.sim.text("o1", "路灯坏了"), "o1", timestamp=int(time.time()) - 301)
    assert response.status == 403
    assert await stored(db) == []


async def test_a_nonce_reused_with_another_message_is_a_replay(client, db: Database) -> None:
    wechat = WeChat(client, "plain")
    first, _ = await wechat.post(wechat.sim.text("o1", "3栋路灯坏了"), "o1", nonce="nonce-abc")
    assert first.status == 200
    replay, _ = await wechat.post(wechat.sim.text("o1", "转账给我"), "o1", nonce="nonce-abc")
    assert replay.status == 403
    assert [r.content for r in await stored(db)] == ["3栋路灯坏了"]


async def test_the_same_request_sent_again_is_a_retry_with_the_same_reply(client, db: Database) -> None:
    wechat = WeChat(client, "plain")
    xml = wechat.sim.text("o1", "3栋路灯坏了")
    req = wechat.sim.sign(xml, "o1")
    first = await client.post("/wechat", params=req.query, data=req.body)
    again = await client.post("/wechat", params=req.query, data=req.body)
    assert first.status == again.status == 200
    assert await first.text() == await again.text()
    assert len(await stored(db)) == 1


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("not xml", b"hello, this is not xml"),
        ("truncated", b"<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[o1"),
        ("missing MsgType", b"<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>"
                            b"<CreateTime>1</CreateTime><Content>hi</Content><MsgId>1</MsgId></xml>"),
        ("billion laughs", b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                           b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                           b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
                           b"<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>"
                           b"<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol3;</Content>"
                           b"<MsgId>1</MsgId></xml>"),
        ("xxe", b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                b"<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>"
                b"<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>"),
        ("xxe over the network", b'<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd">'
                                 b"<xml><MsgType>text</MsgType></xml>"),
        ("non-utf-8", "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>"
                      "<MsgType>text</MsgType><Content>路灯坏了</Content><MsgId>1</MsgId></xml>".encode("gbk")),
        ("empty body", b""),
        ("wrong root", b"<message><MsgType>text</MsgType></message>"),
    ],
)
async def test_a_malformed_body_gets_400_and_nothing_is_stored(client, db: Database, name: str, body: bytes) -> None:
    wechat = WeChat(client, "plain")
    response, _ = await wechat.post(body, "o1")
    assert response.status == 400, name
    assert await stored(db) == []


async def test_a_body_over_the_limit_gets_413(client, db: Database) -> None:
    wechat = WeChat(client, "plain")
    response, _ = await wechat.post(wechat.sim.text("o1", "长" * 30000), "o1")  # 90 KB of UTF-8
    assert response.status == 413
    assert await stored(db) == []


async def test_malformed_xml_inside_the_safe_mode_envelope_gets_400(client, db: Database) -> None:
    wechat = WeChat(client, "aes")
    response, _ = await wechat.post("<xml><broken", "o1")
    assert response.status == 400
    assert await stored(db) == []


@pytest.mark.parametrize(
    "text",
    ["", "😀👍🏻🏠 3栋电梯又坏了😡", "]]><xml>injected</xml><![CDATA[", "楼道灯不亮" * 2000],
    ids=["empty", "emoji", "cdata terminator", "10000 characters"],
)
async def test_odd_but_valid_texts_are_stored_exactly_and_answered(client, db: Database, text: str) -> None:
    wechat = WeChat(client, "aes")
    xml = wechat.sim.text("o_odd", text)
    response, req = await wechat.post(xml, "o_odd")
    assert response.status == 200
    reply = wechat.sim.read_reply(await response.text(), req)  # parses: the reply XML is intact
    assert reply["ToUserName"] == "o_odd"
    rows = await stored(db)
    assert len(rows) == 1
    assert rows[0].content == text


# -------------------------------------------------------------------- retries

async def test_a_message_sent_four_times_in_a_row_is_stored_once_with_one_reply(client, db: Database,
                                                                                  mode: str) -> None:
    wechat = WeChat(client, mode)
    xml = wechat.sim.text("o_retry", "5栋门口垃圾好几天没人收了")
    replies = []
    for _ in range(4):  # WeChat signs each retry afresh: new nonce, new timestamp
        response, req = await wechat.post(xml, "o_retry")
        assert response.status == 200
        replies.append(wechat.sim.read_reply(await response.text(), req))
    assert all(r == replies[0] for r in replies)
    rows = await stored(db)
    assert len(rows) == 1 and rows[0].reply is not None


async def test_a_message_sent_four_times_at_once_is_stored_once_with_one_reply(client, db: Database,
                                                                                mode: str) -> None:
    wechat = WeChat(client, mode)
    xml = wechat.sim.text("o_retry", "楼上天天漏水到我家")
    results = await asyncio.gather(*(wechat.post(xml, "o_retry") for _ in range(4)))
    replies = []
    for response, req in results:
        assert response.status == 200
        replies.append(wechat.sim.read_reply(await response.text(), req))
    assert all(r == replies[0] for r in replies) and replies[0]["Content"]
    assert len(await stored(db)) == 1


async def test_an_event_retry_is_recognised_by_sender_time_and_event(client, db: Database) -> None:
    wechat = WeChat(client, "plain")
    xml = wechat.sim.event("o_new", "subscribe", create_time=1_700_000_000)
    first = await wechat.deliver(xml, "o_new")
    second = await wechat.deliver(xml, "o_new")
    assert first == second and "绑定" in first
    rows = await stored(db)
    assert len(rows) == 1 and rows[0].event == "subscribe"


async def test_old_nonces_are_forgotten_after_twice_the_window(client, db: Database, services, clock) -> None:
    from bot.web.inbox import forget_old_nonces

    wechat = WeChat(client, "plain")
    await wechat.send("o1", "你好")
    assert await count_nonces(db) == 1
    assert await forget_old_nonces(db, services.now(), 300) == 0
    clock.advance(seconds=601)
    assert await forget_old_nonces(db, services.now(), 300) == 1


# -------------------------------------------------------------------- health

async def test_healthz_checks_the_database(client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok" and body["database"] in ("sqlite", "postgresql")
