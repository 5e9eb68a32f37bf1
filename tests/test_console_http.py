"""The staff console over HTTP: login links, sessions, CSRF, scope, and every
action going through the ticket desk (the aiohttp test client, SQLite and
PostgreSQL)."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from bot.db import Database
from bot.domain.console_access import create_link
from bot.domain.stats import CHINA
from bot.models import ConsoleSession, OutboxMessage, Person, Ticket, TicketEvent, TicketFollower
from tests.conftest import WeChat
from tests.roster import Roster, make_roster

RESIDENT = "o_resident_zhou"


@pytest.fixture
async def roster(db: Database) -> Roster:
    return await make_roster(db)


async def link_for(db: Database, clock, phone: str) -> str:  # type: ignore[no-untyped-def]
    async with db.transaction() as s:
        person = await s.scalar(select(Person).where(Person.phone == phone))
        assert person is not None
        return "/console/login/" + await create_link(s, person, clock(), 10)


async def log_in(client, db: Database, clock, phone: str) -> str:  # type: ignore[no-untyped-def]
    """Open a fresh login link; the session cookie stays in the client. Returns the CSRF token."""
    response = await client.get(await link_for(db, clock, phone), allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/console/"
    cookie = response.cookies["lianxin_console"]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Lax"
    client.session.cookie_jar.update_cookies({"lianxin_console": cookie.value})
    page = await (await client.get("/console/")).text()
    return csrf_of(page)


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


async def report(wechat: WeChat, text: str = "3栋楼道灯坏了好几天了", openid: str = RESIDENT,
                 address: str | None = "3栋2单元501") -> int:
    if address:
        await wechat.send(openid, f"绑定 {address}")
    reply = await wechat.send(openid, text)
    match = re.search(r"#(\d+)", reply)
    assert match, reply
    return int(match.group(1))


async def ticket(db: Database, no: int) -> Ticket:
    async with db.reading() as s:
        found = await s.get(Ticket, no)
        assert found is not None
        return found


async def actions(db: Database, no: int) -> list[str]:
    async with db.reading() as s:
        return list((await s.scalars(select(TicketEvent.action).where(TicketEvent.ticket_id == no)
                                     .order_by(TicketEvent.id))).all())


# --- logging in ------------------------------------------------------------------------------------------


async def test_staff_send_登录_and_get_a_single_use_link(wechat: WeChat, client, roster: Roster) -> None:
    reply = await wechat.send("o_staff_liu", "登录")
    url = re.search(r"https?://\S+/console/login/\S+", reply)
    assert url and "10分钟" in reply, reply
    path = "/console/login/" + url.group(0).rsplit("/", 1)[1]
    first = await client.get(path, allow_redirects=False)
    assert first.status == 303
    again = await client.get(path, allow_redirects=False)
    assert again.status == 403 and "已经用过" in await again.text() and "登录" in await again.text()


async def test_a_resident_gets_no_link(wechat: WeChat, roster: Roster) -> None:
    reply = await wechat.send("o_just_a_resident", "登录")
    assert "/console/login/" not in reply and "邀请码" in reply


async def test_an_expired_link_is_refused_and_says_how_to_get_one(client, db: Database, clock, roster: Roster
                                                                  ) -> None:
    path = await link_for(db, clock, "13800000005")
    clock.advance(minutes=11)
    response = await client.get(path, allow_redirects=False)
    text = await response.text()
    assert response.status == 403 and "过期" in text and "发送“登录”" in text


async def test_without_a_session_no_page_shows_data(client, wechat: WeChat, db: Database, roster: Roster) -> None:
    no = await report(wechat)
    for path in ("/console/", f"/console/tickets/{no}", "/console/triage", "/console/roster", "/console/delivery",
                 "/console/stats", "/console/stats/ledger.xlsx"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/console/login", path
    response = await client.post(f"/console/tickets/{no}/close", data={"note": "x"}, allow_redirects=False)
    assert response.status == 401
    assert (await ticket(db, no)).state == "assigned"


async def test_sessions_expire_when_idle_and_logout_revokes_them(client, db: Database, clock, roster: Roster
                                                                 ) -> None:
    csrf = await log_in(client, db, clock, "13800000005")
    clock.advance(minutes=119)
    assert (await client.get("/console/", allow_redirects=False)).status == 200  # touched: idle time starts again
    clock.advance(minutes=119)
    assert (await client.get("/console/", allow_redirects=False)).status == 200
    clock.advance(minutes=121)
    assert (await client.get("/console/", allow_redirects=False)).status == 303

    csrf = await log_in(client, db, clock, "13800000005")
    response = await client.post("/console/logout", data={"csrf_token": csrf})
    assert response.status == 200 and "已退出" in await response.text()
    async with db.reading() as s:
        sessions = (await s.scalars(select(ConsoleSession).order_by(ConsoleSession.created_at))).all()
    assert sessions[-1].revoked_at is not None
    assert (await client.get("/console/", allow_redirects=False)).status == 303


async def test_a_post_without_the_csrf_token_is_403_and_changes_nothing(client, wechat: WeChat, db: Database,
                                                                        clock, roster: Roster) -> None:
    no = await report(wechat)
    csrf = await log_in(client, db, clock, "13800000005")
    for data in ({"note": "已修好"}, {"note": "已修好", "csrf_token": "forged"}):
        response = await client.post(f"/console/tickets/{no}/close", data=data, allow_redirects=False)
        assert response.status == 403
    assert (await ticket(db, no)).state == "assigned"
    response = await client.post(f"/console/tickets/{no}/close", data={"note": "已修好", "csrf_token": csrf},
                                 allow_redirects=False)
    assert response.status == 303
    assert (await ticket(db, no)).state == "closed"


# --- scope -----------------------------------------------------------------------------------------------


async def test_staff_of_another_community_get_404_and_change_nothing(client, wechat: WeChat, db: Database, clock,
                                                                     roster: Roster) -> None:
    no = await report(wechat)
    csrf = await log_in(client, db, clock, "13800000006")  # 黄丽, 西康社区
    assert (await client.get(f"/console/tickets/{no}")).status == 404
    assert f"#{no}" not in await (await client.get("/console/?state=all")).text()
    response = await client.post(f"/console/tickets/{no}/close", data={"note": "x", "csrf_token": csrf})
    assert response.status == 404
    assert (await ticket(db, no)).state == "assigned"


async def test_a_county_staff_row_without_community_sees_everything(client, wechat: WeChat, db: Database, clock,
                                                                    roster: Roster) -> None:
    no = await report(wechat)
    async with db.transaction() as s:
        s.add(Person(phone="13900009999", name="县指挥中心", staff_title="县级调度"))
    csrf = await log_in(client, db, clock, "13900009999")
    assert (await client.get(f"/console/tickets/{no}")).status == 200
    response = await client.post(f"/console/tickets/{no}/close", data={"note": "县里结案", "csrf_token": csrf},
                                 allow_redirects=False)
    assert response.status == 303 and (await ticket(db, no)).state == "closed"


async def test_party_members_read_their_own_tickets_only(client, wechat: WeChat, db: Database, clock,
                                                         roster: Roster) -> None:
    no = await report(wechat)  # goes to 王建国
    other = await report(wechat, "和平花园3栋门口垃圾没人收", openid="o_other", address=None)
    csrf = await log_in(client, db, clock, "13800000001")
    page = await client.get(f"/console/tickets/{no}")
    text = await page.text()
    assert page.status == 200 and "楼道灯" in text and "关闭工单" not in text and "只能查看" in text
    assert (await client.get(f"/console/tickets/{other}")).status == 404
    response = await client.post(f"/console/tickets/{no}/close", data={"note": "x", "csrf_token": csrf})
    assert response.status == 404 and (await ticket(db, no)).state == "assigned"
    assert (await client.get("/console/roster")).status == 404


# --- the queue and the ticket's actions ------------------------------------------------------------------


async def test_the_queue_lists_open_tickets_with_counts_filters_and_search(client, wechat: WeChat, db: Database,
                                                                           clock, roster: Roster) -> None:
    lamp = await report(wechat)
    park = await report(wechat, "小区里乱停车堵住消防通道", openid="o_neighbour")
    await log_in(client, db, clock, "13800000005")
    page = await (await client.get("/console/")).text()
    assert f"#{lamp}" in page and f"#{park}" in page and "已派单 <b>" in page
    page = await (await client.get("/console/", params={"q": "楼道灯"})).text()
    assert f"#{lamp}" in page and f"#{park}" not in page
    page = await (await client.get("/console/", params={"q": f"#{park}"})).text()
    assert f"#{park}" in page and f"#{lamp}" not in page
    page = await (await client.get("/console/", params={"category": "facilities"})).text()
    assert f"#{lamp}" in page and f"#{park}" not in page
    partial = await (await client.get("/console/", params={"partial": "1"})).text()
    assert partial.lstrip().startswith('<div id="queue"') and "hx-trigger" in partial


async def test_ticket_page_actions_go_through_the_desk(client, wechat: WeChat, db: Database, clock,
                                                       roster: Roster) -> None:
    no = await report(wechat)
    csrf = await log_in(client, db, clock, "13800000005")
    page = await (await client.get(f"/console/tickets/{no}")).text()
    assert "3栋楼道灯坏了好几天了" in page and "公共设施" in page and "处理记录" in page

    async def post(action: str, **data: str) -> int:
        response = await client.post(f"/console/tickets/{no}/{action}", data={"csrf_token": csrf, **data},
                                     allow_redirects=False)
        return response.status

    assert await post("assign", person=str(roster.member2.id)) == 303
    t = await ticket(db, no)
    assert t.assignee_id == roster.member2.id
    assert await post("recategorise", category="safety") == 303
    assert (await ticket(db, no)).category == "safety"
    assert await post("note", text="物业电工周五来") == 303
    assert await post("reply", text="已安排电工，周五上门") == 303
    assert await post("note", text="  ") == 409
    async with db.reading() as s:
        told = (await s.scalars(select(OutboxMessage.text).where(OutboxMessage.openid == RESIDENT))).all()
    assert any("已安排电工，周五上门" in text for text in told)
    assert not any("物业电工周五来" in text for text in told)
    assert await post("close", note="灯已换好") == 303
    assert (await ticket(db, no)).state == "closed"
    assert await post("close", note="again") == 409  # refused by the desk: already closed
    assert (await actions(db, no))[-5:] == ["reassigned", "recategorised", "note", "staff_reply", "closed"]
    page = await (await client.get(f"/console/tickets/{no}")).text()
    assert "物业电工周五来" in page and "内部备注" in page and "灯已换好" in page


async def test_merge_moves_the_resident_to_the_other_ticket(client, wechat: WeChat, db: Database, clock,
                                                            roster: Roster) -> None:
    first = await report(wechat)
    second = await report(wechat, "5栋门口的垃圾桶满了没人清", openid="o_neighbour")
    csrf = await log_in(client, db, clock, "13800000005")
    response = await client.post(f"/console/tickets/{second}/merge", data={"csrf_token": csrf, "into": f"#{first}"},
                                 allow_redirects=False)
    assert response.status == 303
    assert (await ticket(db, second)).state == "closed"
    async with db.reading() as s:
        followers = (await s.scalars(select(TicketFollower.openid).where(TicketFollower.ticket_id == first))).all()
    assert "o_neighbour" in followers
    assert "merged_in" in await actions(db, first)


async def test_triage_offers_the_chain_and_bulk_close_works(client, wechat: WeChat, db: Database, clock,
                                                            roster: Roster) -> None:
    no = await report(wechat, "我想咨询一下低保怎么申请")  # policy goes straight to staff
    assert (await ticket(db, no)).state == "open"
    csrf = await log_in(client, db, clock, "13800000005")
    page = await (await client.get("/console/triage")).text()
    assert f"#{no}" in page and "建议派给" in page
    response = await client.post("/console/bulk", data={"csrf_token": csrf, "ticket": str(no), "action": "close",
                                                        "note": "已电话答复"}, allow_redirects=False)
    assert response.status == 303 and (await ticket(db, no)).state == "closed"


# --- roster, delivery, figures ---------------------------------------------------------------------------


async def test_roster_upload_previews_before_writing(client, db: Database, clock, roster: Roster) -> None:
    csrf = await log_in(client, db, clock, "13800000005")
    sheet = "乡镇,社区,姓名,电话,角色\n莲峰镇,北团社区,赵新,15800000009,网格员\n莲峰镇,北团社区,坏行,123,网格员\n"
    response = await client.post("/console/roster/upload", data=_multipart(csrf, sheet))
    page = await response.text()
    assert response.status == 200 and "导入预览" in page and "第3行" in page
    async with db.reading() as s:
        assert await s.scalar(select(Person).where(Person.phone == "15800000009")) is None
    upload = re.search(r'name="data" value="([^"]+)"', page)
    assert upload
    response = await client.post("/console/roster/upload", data={
        "csrf_token": csrf, "confirm": "1", "filename": "staff.csv", "data": upload.group(1)}, allow_redirects=False)
    assert response.status == 303
    async with db.reading() as s:
        added = await s.scalar(select(Person).where(Person.phone == "15800000009"))
    assert added is not None and added.staff_community_id == roster.community_id


def _multipart(csrf: str, sheet: str):  # type: ignore[no-untyped-def]
    from aiohttp import FormData

    form = FormData()
    form.add_field("csrf_token", csrf)
    form.add_field("file", sheet.encode(), filename="staff.csv", content_type="text/csv")
    return form


async def test_leave_and_invites_from_the_roster(client, db: Database, clock, roster: Roster) -> None:
    csrf = await log_in(client, db, clock, "13800000005")
    response = await client.post(f"/console/roster/people/{roster.member.id}/leave",
                                 data={"csrf_token": csrf, "on": "1"}, allow_redirects=False)
    assert response.status == 303
    async with db.reading() as s:
        assert (await s.get(Person, roster.member.id)).on_leave  # type: ignore[union-attr]
    page = await (await client.post(f"/console/roster/people/{roster.unbound_member.id}/invite",
                                    data={"csrf_token": csrf})).text()
    assert "绑定 邀请码" in page and "<svg" in page
    # a person of another community is out of scope
    response = await client.post(f"/console/roster/people/{roster.other_staff.id}/leave",
                                 data={"csrf_token": csrf, "on": "1"})
    assert response.status == 404


async def test_failed_deliveries_can_be_retried(client, wechat: WeChat, db: Database, clock, roster: Roster) -> None:
    no = await report(wechat)
    async with db.transaction() as s:
        message = await s.scalar(select(OutboxMessage).where(OutboxMessage.ticket_id == no).limit(1))
        assert message is not None
        message.status, message.attempts, message.last_error = "failed", 8, "errcode 45015"
        failed_id = message.id
    csrf = await log_in(client, db, clock, "13800000005")
    page = await (await client.get("/console/delivery")).text()
    assert "errcode 45015" in page and "重新发送" in page
    response = await client.post(f"/console/delivery/{failed_id}/retry", data={"csrf_token": csrf},
                                 allow_redirects=False)
    assert response.status == 303
    async with db.reading() as s:
        again = await s.get(OutboxMessage, failed_id)
    assert again is not None and (again.status, again.attempts) == ("pending", 0)


async def test_figures_and_the_ledger_download(client, wechat: WeChat, db: Database, clock, roster: Roster) -> None:
    from openpyxl import load_workbook

    no = await report(wechat)
    await log_in(client, db, clock, "13800000005")
    page = await (await client.get("/console/stats")).text()
    assert "<svg" in page and "响应率" in page and "北团社区" in page
    response = await client.get("/console/stats/ledger.xlsx")
    assert response.status == 200
    book = load_workbook(io.BytesIO(await response.read()))
    sheet = book.active
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    headers = [c.value for c in sheet[1]]
    assert headers[:3] == ["工单号", "提交时间", "居民诉求"]
    assert sheet.cell(row=2, column=1).value == no and sheet.cell(row=2, column=3).value == "3栋楼道灯坏了好几天了"
    created = sheet.cell(row=2, column=2).value
    beijing_now = clock().astimezone(CHINA).replace(tzinfo=None)
    assert abs((created - beijing_now).total_seconds()) < 120  # Beijing time, not UTC
    figures = await client.get("/console/stats/figures.xlsx")
    assert figures.status == 200 and "社区" in load_workbook(io.BytesIO(await figures.read())).sheetnames
