"""Conversation state, fed straight to the dispatcher (as aiogram's
feed_update does): the routers' order, every command's handler and refusal,
short replies that never open a ticket, and a pending question that holds
across processes and expires."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select

from bot.chat.context import Context, Message
from bot.db import Database
from bot.models import OutboxMessage, PendingQuestion, Ticket
from tests.conftest import Clock, make_config
from tests.roster import make_roster

_ids = itertools.count(1)


class Feed:
    """Messages handed to Dispatcher.dispatch, each in its own transaction."""

    def __init__(self, services) -> None:  # type: ignore[no-untyped-def]
        self.services = services

    async def send(self, openid: str, text: str) -> str | None:
        message = Message(openid=openid, account="gh_lianxin", msg_type="text", create_time=0,
                          msg_id=next(_ids), content=text)
        async with self.services.db.transaction() as session:
            ctx = Context(message=message, session=session, config=self.services.config, services=self.services,
                          now=self.services.now(), data={})
            return await self.services.dispatcher.dispatch(ctx)


@pytest.fixture
def feed(services) -> Feed:  # type: ignore[no-untyped-def]
    return Feed(services)


async def count(db: Database, model: type, *where: object) -> int:
    async with db.reading() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_the_conversation_routers_come_before_commands_and_requests(services) -> None:  # type: ignore[no-untyped-def]
    names = [r.name for r in services.dispatcher.routers]
    order = ["pending", "short replies", "near miss", "staff", "staff refusals", "console", "console refusals",
             "volunteer", "volunteer refusals", "resident", "fallback"]
    assert [n for n in names if n in order] == order


async def test_every_command_has_its_handler_and_its_refusal(feed: Feed, db: Database, services) -> None:  # type: ignore[no-untyped-def]
    await make_roster(db)
    refusals = {services.texts("refused.not_staff"), services.texts("refused.not_volunteer"),
                services.texts("console.not_person")}
    staff_only = {"close", "reassign", "recategorise", "triage_queue", "stats",
                  "campaign_open", "campaign_result", "campaign_close"}
    everyone = {"opinion"}  # a resident's command (意见 1 内容): an unbound resident is asked to bind
    for name, words in services.analyser.commands().items():
        text = words[0] if name in services.analyser.bare_commands() else f"{words[0]} 1"
        refused = await feed.send("o_plain_resident", text)
        if name in everyone:
            assert refused == services.texts("opinion.need_bind"), (name, refused)
        else:
            assert refused in refusals, (name, refused)
            assert (refused == services.texts("refused.not_staff")) == (name in staff_only), name
        handled = await feed.send("o_staff_liu", text)
        assert handled and handled not in refusals, (name, handled)
    assert await count(db, Ticket) == 0


@pytest.mark.parametrize("short", ["是", "对", "可以", "1", "好", "嗯", "不是", "算了"])
async def test_a_short_reply_never_opens_a_ticket(feed: Feed, db: Database, short: str, services) -> None:  # type: ignore[no-untyped-def]
    await make_roster(db)
    for openid in ("o_plain_resident", "o_member_wang", "o_staff_liu"):
        reply = await feed.send(openid, short)
        assert reply == services.texts("ask.what")
    assert await count(db, Ticket) == 0
    assert await count(db, OutboxMessage) == 0


async def test_a_confirmed_slip_runs_the_command_once(feed: Feed, db: Database) -> None:
    await make_roster(db)
    await feed.send("o_resident", "绑定 3栋2单元501")
    await feed.send("o_resident", "3栋楼道灯坏了好几天了")
    reply = await feed.send("o_member_wang", "接但 1")
    assert reply == "您是想发“接单 1”吗？回复“是”确认，“不是”取消。"
    assert await count(db, PendingQuestion) == 1
    reply = await feed.send("o_member_wang", "是")
    assert reply is not None and "已接单#1" in reply
    assert await count(db, PendingQuestion) == 0
    again = await feed.send("o_member_wang", "是")  # nothing pending any more
    assert again is not None and "您是想说什么" in again
    assert await count(db, Ticket) == 1


async def test_declining_or_saying_something_else_forgets_the_question(feed: Feed, db: Database) -> None:
    await make_roster(db)
    assert "接单 3" in (await feed.send("o_member_wang", "接但 3") or "")
    assert "没有操作" in (await feed.send("o_member_wang", "不是") or "")
    assert await count(db, PendingQuestion) == 0
    assert "接单 3" in (await feed.send("o_member_wang", "接但 3") or "")
    reply = await feed.send("o_member_wang", "待办")  # anything else: handled as usual
    assert reply is not None and "待办" in reply
    assert await count(db, PendingQuestion) == 0


async def test_a_question_holds_across_processes_and_expires(db: Database, clock: Clock) -> None:
    from bot.services import build

    await make_roster(db)
    config = make_config(db.url, chat={"pending_minutes": 3})
    first, second = Feed(build(config, db, now=clock)), Feed(build(config, db, now=clock))
    await first.send("o_resident", "绑定 3栋2单元501")
    await first.send("o_resident", "3栋楼道灯坏了好几天了")
    assert "接单 1" in (await first.send("o_member_wang", "接但 1") or "")
    assert "已接单#1" in (await second.send("o_member_wang", "是") or "")  # another process answers
    assert "退单 1" in (await first.send("o_member_wang", "退但 1") or "")
    clock.advance(minutes=4)
    assert "您是想说什么" in (await second.send("o_member_wang", "是") or "")
    async with db.reading() as s:
        t = await s.get(Ticket, 1)
        assert t is not None and t.state == "accepted"


async def test_a_number_picks_from_a_choice(feed: Feed, db: Database) -> None:
    await make_roster(db)
    await feed.send("o_resident", "绑定 3栋2单元501")
    await feed.send("o_resident", "3栋楼道灯坏了好几天了")
    await feed.send("o_resident", "5栋门口的垃圾桶满了没人倒")
    reply = await feed.send("o_resident", "撤销")
    assert reply is not None and "回复1" in reply and "回复2" in reply
    assert "序号" in (await feed.send("o_resident", "3") or "")  # not on the list: asked again
    reply = await feed.send("o_resident", "2")
    assert reply is not None and "工单#1已撤销" in reply
    async with db.reading() as s:
        states = [t.state for t in (await s.scalars(select(Ticket).order_by(Ticket.id))).all()]
    assert states == ["cancelled", "assigned"]
