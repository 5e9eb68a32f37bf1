"""Two volunteers accepting the same ticket at the same moment, through two
webhook processes sharing one database: exactly one wins, the other is told."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from bot.db import Database
from bot.models import Ticket, TicketEvent
from bot.services import build
from bot.web.webhook import create_app
from tests.conftest import WeChat, make_config
from tests.roster import make_roster


@pytest.mark.parametrize("rounds", [5])
async def test_two_volunteers_accept_one_ticket_at_once_and_exactly_one_wins(
        db: Database, aiohttp_client, rounds: int) -> None:  # type: ignore[no-untyped-def]
    roster = await make_roster(db)
    other_process_db = Database(db.url, pool_size=5)
    try:
        first = WeChat(await aiohttp_client(create_app(build(make_config(db.url), db))), "aes")
        second = WeChat(await aiohttp_client(create_app(build(make_config(db.url), other_process_db))), "aes")
        await first.send("o_resident_zhou", "绑定 3栋2单元501")
        for round_no in range(rounds):
            reply = await first.send("o_resident_zhou", f"3栋{round_no + 1}楼楼道里好大的煤气味，快来人")
            no = int(reply.split("#")[1].split("【")[0])
            replies = await asyncio.gather(first.send("o_member_wang", f"接单 {no}"),
                                           second.send("o_head_li", f"接单 {no}"))
            winners = [r for r in replies if "已接单" in r]
            losers = [r for r in replies if "已被" in r]
            assert len(winners) == 1 and len(losers) == 1, replies
            async with db.reading() as s:
                t = await s.get(Ticket, no)
                assert t is not None and t.state == "accepted"
                assert t.assignee_id in (roster.member.id, roster.head.id)
                accepted_events = await s.scalar(select(func.count()).select_from(TicketEvent).where(
                    TicketEvent.ticket_id == no, TicketEvent.action == "accepted"))
            assert accepted_events == 1
            winner_name = "王建国" if t.assignee_id == roster.member.id else "李卫东"
            assert winner_name in losers[0]
    finally:
        await other_process_db.dispose()
