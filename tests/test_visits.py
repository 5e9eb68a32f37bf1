"""Door to door (联户走访) by reply, through the webhook, on SQLite and
PostgreSQL: staff open an opinion campaign and read its results; residents
answer with `意见`, which never opens a ticket; party members record visits
for households in their scope; 关爱对象 households are reminded and climb
when overdue; words that call for help open a ticket."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.db import Database
from bot.domain.clock import tick
from bot.domain.visits.care import set_care_mark
from bot.models import Campaign, CareMark, Household, Opinion, OutboxMessage, Ticket, Visit
from bot.texts import texts
from tests.conftest import Clock, WeChat, make_config
from tests.roster import Roster, make_roster

RESIDENT = "o_resident_zhou"  # binds 3栋2单元501
NEIGHBOUR = "o_resident_sun"  # binds 3栋2单元601
STAFF = "o_staff_liu"
MEMBER = "o_member_wang"  # linked to 3栋2单元501 and 502
MEMBER2 = "o_member_zhang"  # linked to 3栋2单元601


def number(reply: str, mark: str = "#") -> int:
    found = re.search(re.escape(mark) + r"(\d+)", reply)
    assert found, reply
    return int(found.group(1))


async def count(db: Database, model: type, *where: object) -> int:
    async with db.reading() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def outbox(db: Database, *where: object) -> list[OutboxMessage]:
    async with db.reading() as s:
        return list((await s.scalars(select(OutboxMessage).where(*where).order_by(OutboxMessage.id))).all())


async def run_tick(db: Database, clock: Clock) -> dict[str, int]:
    return await tick(db, make_config(db.url), texts, clock())


async def test_a_campaign_from_opening_to_the_summary(wechat: WeChat, db: Database) -> None:
    roster = await make_roster(db)
    await wechat.send(RESIDENT, "绑定 3栋2单元501")
    await wechat.send(NEIGHBOUR, "绑定 3栋2单元601")
    await wechat.send("o_resident_heping", "绑定 和平花园3栋1单元501")  # another community

    reply = await wechat.send(STAFF, "征集 小区封闭式管理意见 截止12月20日")
    no = number(reply, "征集#")
    assert "「小区封闭式管理意见」" in reply and "12月20日截止" in reply
    assert "2 位绑定的居民" in reply and "共 4 户" in reply
    async with db.reading() as s:
        campaign = await s.get(Campaign, no)
        assert campaign is not None and campaign.deadline is not None
        assert campaign.deadline.astimezone(UTC).strftime("%m-%d %H:%M") == "12-20 16:00"  # end of day, China
    told = await outbox(db, OutboxMessage.kind == "campaign", OutboxMessage.openid.is_not(None))
    assert sorted(m.openid for m in told) == [NEIGHBOUR, RESIDENT]
    assert all(f"意见 {no}" in m.text for m in told)
    members_told = await outbox(db, OutboxMessage.kind == "campaign", OutboxMessage.person_id.is_not(None))
    assert {m.person_id for m in members_told} == {roster.member.id, roster.member2.id, roster.unbound_member.id}
    assert "2 户" in next(m.text for m in members_told if m.person_id == roster.member.id)

    # a resident answers; it is their household's opinion and never a ticket
    reply = await wechat.send(RESIDENT, f"意见 {no} 同意封闭管理，希望多留停车位")
    assert f"征集#{no}" in reply and "同意" in reply
    reply = await wechat.send(RESIDENT, "意见 电梯也该加装了")  # one campaign covers them: no number needed
    assert "补充" in reply
    assert await count(db, Ticket) == 0
    async with db.reading() as s:
        mine = (await s.scalars(select(Opinion).where(Opinion.household_id == roster.household_501)
                                .order_by(Opinion.id))).all()
    assert [(o.text, o.choice, o.openid) for o in mine] == [
        ("同意封闭管理，希望多留停车位", "同意", RESIDENT), ("电梯也该加装了", None, RESIDENT)]

    # the linked member records a visit next door
    reply = await wechat.send(MEMBER, "走访 3栋2单元502 户主同意封闭管理，希望多留停车位")
    assert "幸福小区3栋2单元502" in reply and "孙阿姨" in reply and f"征集#{no}" in reply
    async with db.reading() as s:
        h502 = await s.scalar(select(Household.id).where(Household.room == "502"))
        collected = await s.scalar(select(Opinion).where(Opinion.household_id == h502))
        assert collected is not None and (collected.collector_id, collected.openid) == (roster.member.id, None)
    await wechat.send(NEIGHBOUR, f"意见 {no} 不同意，封闭了出入不方便")

    reply = await wechat.send(STAFF, f"征集结果 {no}")
    assert "已收到 3 户的意见（共 4 条），覆盖 3/4 户（75%）" in reply
    assert "幸福小区3栋 3/3" in reply and "幸福小区5栋 0/1" in reply
    assert "王建国 2/2" in reply and "张秀英 1/1" in reply and "吴海 0/1" in reply
    assert "同意 2，不同意 1" in reply
    assert "停车位 2" in reply

    # closing sends the summary staff wrote to the residents who took part
    reply = await wechat.send(STAFF, f"征集结束 {no} 多数住户同意封闭管理，方案会增加停车位")
    assert "2 位居民" in reply
    summaries = await outbox(db, OutboxMessage.text.contains("方案会增加停车位"))
    assert sorted(m.openid for m in summaries) == [NEIGHBOUR, RESIDENT]
    reply = await wechat.send(STAFF, f"征集结束 {no} 再发一次")
    assert "不会重复" in reply
    reply = await wechat.send(RESIDENT, f"意见 {no} 还想补充")
    assert "已经结束" in reply
    assert await count(db, Opinion) == 4


async def test_who_may_do_what(wechat: WeChat, db: Database) -> None:
    await make_roster(db)
    assert "只有社区工作人员" in await wechat.send(RESIDENT, "征集 老旧小区改造意见")
    assert "只有社区工作人员" in await wechat.send(MEMBER, "征集结果 1")
    assert "党员志愿者" in await wechat.send(RESIDENT, "走访 3栋2单元502 户主同意封闭管理，希望多留停车位")
    # an opinion with nothing being asked, or from someone not bound, opens no ticket either
    assert "请先绑定" in await wechat.send(MEMBER, "意见 希望多留停车位")  # a member's own home is not bound
    await wechat.send(RESIDENT, "绑定 3栋2单元501")
    assert "没有正在征集" in await wechat.send(RESIDENT, "意见 希望多留停车位")
    no = number(await wechat.send(STAFF, "征集 老旧小区改造意见"), "征集#")
    assert "请先绑定" in await wechat.send("o_stranger", f"意见 {no} 希望加装电梯")
    assert await count(db, Ticket) == 0
    # a member records visits only for households in their scope
    reply = await wechat.send(MEMBER2, "走访 3栋2单元502 户主同意封闭管理，希望多留停车位")
    assert "不在您联系的住户里" in reply
    assert "没找到" in await wechat.send(MEMBER, "走访 9栋1单元101 一切都好")
    assert await count(db, Visit) == 0 and await count(db, Opinion) == 0
    # the building head may visit any household of the building; staff any of the community
    assert "已记录走访" in await wechat.send("o_head_li", "走访 3栋2单元601 户主同意")
    assert "已记录走访" in await wechat.send(STAFF, "走访 5栋1单元101 钱奶奶支持改造")
    # staff of another community may not read this one's campaign
    assert f"没有找到征集#{no}" in await wechat.send("o_staff_huang", f"征集结果 {no}")


async def test_a_visit_that_calls_for_help_opens_a_ticket_with_the_member_as_reporter(
        wechat: WeChat, db: Database, roster_ready: Roster) -> None:
    reply = await wechat.send(MEMBER, "走访 3栋2单元502 家里漏水，墙都泡了")
    no = number(reply, "工单#")
    async with db.reading() as s:
        t = await s.get(Ticket, no)
        h502 = await s.scalar(select(Household.id).where(Household.room == "502"))
        visit = await s.scalar(select(Visit).where(Visit.ticket_id == no))
    assert t is not None and visit is not None
    assert (t.openid, t.household_id, t.urgent, t.location) == (MEMBER, h502, False, "幸福小区3栋2单元502")
    assert visit.household_id == h502 and visit.person_id == roster_ready.member.id

    reply = await wechat.send(MEMBER2, "走访 3栋2单元601 老人摔了，身体不舒服")
    urgent_no = number(reply, "工单#")
    assert "紧急工单" in reply
    async with db.reading() as s:
        t = await s.get(Ticket, urgent_no)
    assert t is not None and t.urgent and t.openid == MEMBER2
    # a visit without such words opens nothing
    await wechat.send(MEMBER, "走访 3栋2单元501 老人身体挺好，家里都收拾得很干净")
    assert await count(db, Ticket) == 2


async def test_care_rounds_remind_climb_and_restart_with_a_visit(
        wechat: WeChat, db: Database, clock: Clock, roster_ready: Roster) -> None:
    roster = roster_ready
    start = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    clock.offset_s = (start - datetime.now(UTC)).total_seconds()
    marked = clock()
    async with db.transaction() as s:
        assert await set_care_mark(s, roster.household_501, "独居", marked)
        assert not await set_care_mark(s, roster.household_501, "独居", marked)
    assert (await run_tick(db, clock))["care_reminded"] == 0
    async with db.reading() as s:
        mark = await s.get(CareMark, roster.household_501)
        assert mark is not None and mark.due_at == marked + timedelta(days=7)  # 独居: every 7 days
    assert "没有到期" in await wechat.send(MEMBER, "走访情况")

    clock.advance(days=7, minutes=1)
    assert (await run_tick(db, clock))["care_reminded"] == 1
    assert (await run_tick(db, clock))["care_reminded"] == 0  # once
    reminders = await outbox(db, OutboxMessage.person_id == roster.member.id, OutboxMessage.kind == "reminder")
    assert len(reminders) == 1 and "幸福小区3栋2单元501" in reminders[0].text and "独居" in reminders[0].text
    assert "【到期】幸福小区3栋2单元501" in await wechat.send(MEMBER, "走访情况")

    # three days overdue it climbs to the building head, then the branch secretary
    clock.advance(days=3)
    result = await run_tick(db, clock)
    assert result["care_escalated"] == 1
    assert (await run_tick(db, clock))["care_escalated"] == 0
    head_told = await outbox(db, OutboxMessage.person_id == roster.head.id, OutboxMessage.kind == "escalation")
    assert len(head_told) == 1 and "超期" in head_told[0].text
    clock.advance(days=3)
    assert (await run_tick(db, clock))["care_escalated"] == 1
    assert len(await outbox(db, OutboxMessage.person_id == roster.secretary.id,
                            OutboxMessage.kind == "escalation")) == 1
    assert "【超期6天】幸福小区3栋2单元501" in await wechat.send(MEMBER, "走访情况")

    # a visit restarts the clock
    reply = await wechat.send(MEMBER, "走访 3栋2单元501 老人身体挺好")
    assert "关爱对象（独居）" in reply
    async with db.reading() as s:
        mark = await s.get(CareMark, roster.household_501)
        assert mark is not None and (mark.level, mark.reminded_at) == ("member", None)
        assert mark.due_at is not None and abs(mark.due_at - (clock() + timedelta(days=7))) < timedelta(minutes=1)
    assert "没有到期" in await wechat.send(MEMBER, "走访情况")


async def test_a_campaign_past_its_deadline_closes_and_tells_its_creator(
        wechat: WeChat, db: Database, clock: Clock, roster_ready: Roster) -> None:
    clock.offset_s = (datetime(2026, 12, 1, 2, 0, tzinfo=UTC) - datetime.now(UTC)).total_seconds()
    no = number(await wechat.send(STAFF, "征集 老旧小区改造意见 截止12月20日"), "征集#")
    await wechat.send(MEMBER, "走访 3栋2单元502 支持改造")
    assert (await run_tick(db, clock))["campaigns_closed"] == 0
    clock.advance(days=20)
    assert (await run_tick(db, clock))["campaigns_closed"] == 1
    told = await outbox(db, OutboxMessage.person_id == roster_ready.staff.id, OutboxMessage.kind == "campaign")
    assert len(told) == 1 and "1/4" in told[0].text
    reply = await wechat.send(MEMBER, "走访 3栋2单元501 同意改造")
    assert "已记录走访" in reply and f"征集#{no}" not in reply


async def test_every_opinion_exports_to_excel(wechat: WeChat, db: Database, tmp_path: Path,
                                              roster_ready: Roster) -> None:
    from openpyxl import load_workbook

    from bot.domain.visits.export import export_opinions

    await wechat.send(RESIDENT, "绑定 3栋2单元501")
    no = number(await wechat.send(STAFF, "征集 小区封闭式管理意见"), "征集#")
    await wechat.send(RESIDENT, f"意见 {no} 同意封闭管理，希望多留停车位")
    await wechat.send(MEMBER, "走访 3栋2单元502 户主不太同意，怕出入不方便")
    async with db.reading() as s:
        campaign = await s.get(Campaign, no)
        assert campaign is not None
        assert await export_opinions(s, texts, campaign, tmp_path / "o.xlsx") == 2
    book = load_workbook(tmp_path / "o.xlsx")
    assert book.sheetnames == ["意见", "按楼栋", "按党员", "未覆盖住户"]
    rows = list(book["意见"].iter_rows(min_row=3, values_only=True))
    assert [(r[2], r[5], r[6], r[7]) for r in rows] == [
        ("幸福小区3栋2单元501", "居民自报", "同意", "同意封闭管理，希望多留停车位"),
        ("幸福小区3栋2单元502", "王建国走访", "不同意", "户主不太同意，怕出入不方便")]
    missing = [r[0] for r in book["未覆盖住户"].iter_rows(min_row=3, values_only=True)]
    assert missing == ["幸福小区3栋2单元601", "幸福小区5栋1单元101"]


async def test_the_roster_marks_care_households(db: Database, tmp_path: Path) -> None:
    import csv

    from bot.domain.roster.importer import import_rosters

    header = ["社区", "小区", "楼栋", "单元", "房号", "户主", "关爱对象"]
    rows = [["北团社区", "幸福小区", "3栋", "2", "501", "周大爷", "独居"],
            ["北团社区", "幸福小区", "3栋", "2", "502", "孙阿姨", "空巢 残疾"],
            ["北团社区", "幸福小区", "3栋", "2", "601", "郑先生", ""],
            ["北团社区", "幸福小区", "3栋", "2", "602", "王大妈", "有钱人"]]

    def sheet(name: str, body: list[list[str]]) -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([["乡镇", *header], *(["莲峰镇", *r] for r in body)])
        return path

    report = await import_rosters(db, [sheet("a.csv", rows)])
    assert report.rejected == 1 and "关爱对象“有钱人”无法识别" in report.rejections[0].reason
    async with db.reading() as s:
        marks = dict((await s.execute(select(Household.room, CareMark.mark)
                                      .join(CareMark, CareMark.household_id == Household.id))).all())
    assert marks == {"501": "独居", "502": "空巢、残疾"}
    # a re-import with the column empty unmarks; without the column nothing changes
    rows[0][6] = ""
    again = await import_rosters(db, [sheet("b.csv", rows[:3])])
    assert again.changed == 1 and await count(db, CareMark) == 1
    no_column = [r[:6] for r in rows[:3]]
    path = tmp_path / "c.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["乡镇", *header[:6]], *(["莲峰镇", *r] for r in no_column)])
    third = await import_rosters(db, [path])
    assert third.changed == 0 and await count(db, CareMark) == 1


def test_stances_are_read_minding_negation() -> None:
    from bot.domain.visits.words import calls_for_help, read_choice, split_deadline

    assert read_choice("户主同意封闭管理，希望多留停车位") == "同意"
    assert read_choice("不同意封闭") == "不同意"
    assert read_choice("户主不太同意，怕出入不方便") == "不同意"
    assert read_choice("我们不反对") == "同意"
    assert read_choice("同意封闭，反对收费") is None  # both: not counted either way
    assert read_choice("希望多留停车位") is None
    assert read_choice("选方案二", ["方案一", "方案二"]) == "方案二"
    assert read_choice("我不同意", ["同意", "不同意"]) == "不同意"
    assert calls_for_help("老人摔了，腿疼") == "摔了" and calls_for_help("一切都好") is None
    now = datetime(2026, 12, 25, 2, 0, tzinfo=UTC)
    title, deadline = split_deadline("小区封闭式管理意见 截止12月20日", now)
    assert title == "小区封闭式管理意见" and deadline is not None and deadline.year == 2027  # passed: next year
    assert split_deadline("老旧小区改造意见", now) == ("老旧小区改造意见", None)


def test_the_demo_has_a_campaign_to_export(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner
    from openpyxl import load_workbook

    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIANXIN_DATABASE_URL", raising=False)
    (tmp_path / "config.toml").write_text('[database]\nurl = "sqlite+aiosqlite:///v.db"\n', encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["demo"], catch_exceptions=False).exit_code == 0
    assert runner.invoke(main, ["demo"], catch_exceptions=False).exit_code == 0  # twice: still one campaign
    chat = runner.invoke(main, ["chat", "--as", "15800000002"], input="征集结果 1\n", catch_exceptions=False)
    assert "小区封闭式管理意见" in chat.output and "同意 1，不同意 1" in chat.output
    result = runner.invoke(main, ["campaign-export", "1", "--xlsx", "opinions.xlsx"], catch_exceptions=False)
    assert result.exit_code == 0 and "wrote 2 opinions" in result.output
    rows = list(load_workbook(tmp_path / "opinions.xlsx")["意见"].iter_rows(min_row=3, values_only=True))
    assert [r[5] for r in rows] == ["赵玉兰走访", "王志强走访"]
    assert runner.invoke(main, ["campaign-export", "9", "--xlsx", "x.xlsx"]).exit_code == 1
