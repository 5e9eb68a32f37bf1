"""The figures (统计, `stats`): each rate is tickets with X among tickets with Y,
so none leaves 0..100%; a reopened ticket keeps its first acceptance; tickets
closed as 误操作 or 重复 are not 办结; 满意 is 4 or 5; `统计 本月` counts the
month. Small hand-made histories with known answers, a property test on
random ones, and whole flows through the webhook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.db import Database
from bot.domain.stats import (
    RATES,
    Figures,
    close_reason,
    facts,
    figures_for,
    notes,
    period,
    period_code,
)
from bot.models import Ticket, TicketEvent
from tests.conftest import Clock, WeChat
from tests.roster import make_roster

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in China, a working Monday
NOW = T0 + timedelta(days=10)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def ticket(**kw: Any) -> Ticket:
    values: dict[str, Any] = dict(
        id=1, openid="o_r", text="楼道灯坏了", category="facilities", kind="complaint", urgent=False,
        state="assigned", created_at=T0, updated_at=T0, accept_due_at=at(4), resolve_due_at=None,
        accepted_at=None, resolved_at=None, closed_at=None, rating=None, solved=None, reopens=0, handbacks=0)
    values.update(kw)
    return Ticket(**values)


def event(action: str, hours: float, from_state: str | None = None, to_state: str | None = None,
          note: str = "", **data: Any) -> TicketEvent:
    return TicketEvent(ticket_id=1, at=at(hours), action=action, from_state=from_state, to_state=to_state,
                       note=note, data=data)


def figures(*histories: tuple[Ticket, list[TicketEvent]]) -> Figures:
    out = Figures()
    for t, events in histories:
        out.add(t, NOW, events)
    return out


def resolved(rating: int | None, **kw: Any) -> tuple[Ticket, list[TicketEvent]]:
    t = ticket(state="resolved", accepted_at=at(1), resolved_at=at(5), resolve_due_at=at(72), rating=rating,
               solved=None if rating is None else True, **kw)
    return t, [event("accepted", 1, "assigned", "accepted", on_time=True),
               event("resolved", 5, "accepted", "resolved")]


# --- hand-made histories --------------------------------------------------------------------------------


def test_rating_4_is_satisfied_and_rating_3_is_not() -> None:
    assert figures(resolved(4), resolved(3)).satisfaction_rate == 0.5
    assert figures(resolved(5), resolved(4)).satisfaction_rate == 1.0
    assert figures(resolved(3), resolved(2)).satisfaction_rate == 0.0
    assert figures(resolved(None)).satisfaction_rate is None  # nobody rated: no rate, not 0%


def test_a_cancelled_ticket_counts_as_created_and_in_no_rate() -> None:
    cancelled = ticket(state="cancelled", closed_at=at(1))
    f = figures(resolved(5), (cancelled, [event("cancelled", 1, "assigned", "cancelled")]))
    assert (f.created, f.cancelled, f.considered, f.resolved) == (2, 1, 1, 1)
    assert f.resolution_rate == 1.0 and f.response_rate == 1.0


def test_a_ticket_closed_as_a_mistake_or_a_duplicate_is_not_done() -> None:
    def closed(note: str, **data: Any) -> tuple[Ticket, list[TicketEvent]]:
        return ticket(state="closed", closed_at=at(2)), [event("closed", 2, "assigned", "closed", note, **data)]

    f = figures(closed("误操作"), closed("重复，同#5"), closed("", reason="duplicate"), closed("已修好"))
    assert (f.created, f.void, f.considered, f.resolved) == (4, 3, 1, 1)
    assert f.resolution_rate == 1.0
    # merged by staff into another ticket (closed by a merge): a duplicate too
    merged = ticket(state="closed", closed_at=at(2))
    f = figures((merged, [event("merged", 2, "assigned", "closed", "→ #7")]))
    assert (f.void, f.resolved, f.resolution_rate) == (1, 0, None)


def test_close_notes_are_read_by_their_first_words() -> None:
    assert close_reason("误操作") == "mistake"
    assert close_reason("居民误报，已核实") == "mistake"
    assert close_reason("重复工单，见#12") == "duplicate"
    assert close_reason("不是重复，已修好") == "done"
    assert close_reason("已修好，和#3不重复") == "done"
    assert close_reason("") == "done"


def test_a_reopened_ticket_keeps_its_first_acceptance() -> None:
    # accepted on time, resolved, then 不满意: back to assigned with accepted_at cleared
    reopened = ticket(state="assigned", accepted_at=None, resolved_at=None, reopens=1, rating=2, solved=False,
                      accept_due_at=at(30))
    events = [event("accepted", 1, "assigned", "accepted", on_time=True),
              event("resolved", 5, "accepted", "resolved"),
              event("reopened", 20, "resolved", "assigned")]
    f = figures((reopened, events), resolved(5))
    assert (f.accepted, f.accepted_on_time) == (2, 2)
    assert f.response_rate == 1.0
    assert f.reopen_rate == 0.5  # one of the two that were resolved came back
    assert f.resolution_rate == 0.5
    assert f.satisfaction_rate == 0.5  # the 2 still stands until the next rating


def test_on_time_and_overdue() -> None:
    late = ticket(state="resolved", accepted_at=at(6), resolved_at=at(80), resolve_due_at=at(78))
    late_events = [event("accepted", 6, "assigned", "accepted", on_time=False),
                   event("resolved", 80, "accepted", "resolved")]
    waiting_late = ticket(state="assigned", accept_due_at=at(4))  # NOW is long past its deadline
    waiting_in_time = ticket(state="assigned", accept_due_at=NOW + timedelta(hours=1))
    f = figures(resolved(5), (late, late_events), (waiting_late, []), (waiting_in_time, []))
    assert (f.accepted, f.accepted_on_time, f.overdue, f.active) == (2, 1, 1, 2)
    # 应接单: the two accepted and the one past its deadline; the one still in time is not judged yet
    assert f.response_rate == 1 / 3
    assert f.on_time_rate == 0.5


def test_resolving_straight_from_assigned_is_the_acceptance() -> None:
    t = ticket(state="resolved", accepted_at=at(2), resolved_at=at(2), resolve_due_at=None)
    f = figures((t, [event("resolved", 2, "assigned", "resolved", on_time=True)]))
    assert (f.accepted, f.response_rate) == (1, 1.0)


def test_periods_are_local_days_weeks_and_months() -> None:
    monday = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # already Tuesday 01:00 in China
    assert period("today", monday).label() == "2026-12-01"
    assert period("this_week", monday).label() == "2026-11-30 至 2026-12-06"
    assert period("this_month", monday).label() == "2026-12-01 至 2026-12-31"
    assert period("last_month", monday).label() == "2026-11-01 至 2026-11-30"
    assert period("last_month", datetime(2026, 1, 5, tzinfo=UTC)).label() == "2025-12-01 至 2025-12-31"
    assert period("last_week", monday).label() == "2026-11-23 至 2026-11-29"
    assert [period_code(w) for w in ("本月", "上个月", "本周", "今天", "这个星期", "下个月")] == [
        "this_month", "last_month", "this_week", "today", "this_week", None]


def test_every_rate_has_its_formula_in_the_notes() -> None:
    written = dict(notes())
    for rate in RATES:
        assert written[rate.name] and "÷" in written[rate.name]
    assert "4分" in written["满意率"] and "基本满意" in written["满意率"]


# --- random histories ---------------------------------------------------------------------------------

STATES = ("open", "assigned", "accepted", "resolved", "closed", "cancelled")
ACTIONS = ("created", "assigned", "accepted", "resolved", "reopened", "handed_back", "closed", "merged",
           "cancelled", "rated")
hours = st.floats(min_value=0, max_value=200, allow_nan=False)
maybe_time = st.none() | hours.map(at)


@st.composite
def histories(draw: st.DrawFn) -> tuple[Ticket, list[TicketEvent]]:
    t = ticket(state=draw(st.sampled_from(STATES)), accepted_at=draw(maybe_time), resolved_at=draw(maybe_time),
               closed_at=draw(maybe_time), accept_due_at=draw(maybe_time), resolve_due_at=draw(maybe_time),
               rating=draw(st.none() | st.integers(1, 5)), solved=draw(st.none() | st.booleans()),
               reopens=draw(st.integers(0, 3)), handbacks=draw(st.integers(0, 3)))
    events = draw(st.lists(st.builds(
        event, st.sampled_from(ACTIONS), hours, st.none() | st.sampled_from(STATES),
        st.none() | st.sampled_from(STATES), st.sampled_from(("", "误操作", "重复", "已修好", "不是重复")),
    ), max_size=8))
    for e in events:
        if draw(st.booleans()):
            e.data = {"on_time": draw(st.booleans())}
    return t, events


@settings(max_examples=300, deadline=None)
@given(st.lists(histories(), max_size=12))
def test_every_rate_stays_within_0_and_100_percent(lives: list[tuple[Ticket, list[TicketEvent]]]) -> None:
    f = figures(*lives)
    for rate in RATES:
        value = f.rate_of(rate.code)
        assert value is None or 0.0 <= value <= 1.0, (rate.name, value)
    for name in ("response_rate", "resolution_rate", "satisfaction_rate", "on_time_rate", "handback_rate",
                 "reopen_rate"):
        value = getattr(f, name)
        assert value is None or 0.0 <= value <= 1.0, (name, value)
    assert f.cancelled + f.void + f.considered == f.created == len(lives)


@settings(max_examples=100, deadline=None)
@given(histories())
def test_only_valid_tickets_have_facts(life: tuple[Ticket, list[TicketEvent]]) -> None:
    one = facts(life[0], NOW, life[1])
    if one.cancelled or one.void:
        assert not (one.valid or one.done or one.accepted or one.rated)


# --- whole flows through the webhook --------------------------------------------------------------------

RESIDENT = "o_resident_zhou"


def number(reply: str) -> int:
    return int(reply.split("#")[1].split("【")[0].split("已")[0])


async def test_the_figures_of_a_month_with_a_reopen_a_mistake_a_merge_and_a_cancel(
        wechat: WeChat, db: Database, clock: Clock) -> None:
    roster = await make_roster(db)
    clock.offset_s = (T0 - datetime.now(UTC)).total_seconds()
    await wechat.send(RESIDENT, "绑定 3栋2单元501")
    await wechat.send("o_resident_li", "绑定 3栋2单元502")
    a = number(await wechat.send(RESIDENT, "3栋楼道灯坏了好几天了"))
    b = number(await wechat.send(RESIDENT, "小区门口垃圾堆了好几天没人收"))
    c = number(await wechat.send(RESIDENT, "楼下的健身器材坏了"))
    d = number(await wechat.send(RESIDENT, "5栋门口停车位被占了"))
    merged = await wechat.send("o_resident_li", "3栋楼道的灯坏了好几天了")
    assert f"#{a}" in merged  # the neighbour's report joined #a: no new ticket
    for no in (a, b):
        assert "接单" in await wechat.send("o_member_wang", f"接单 {no}")
        clock.advance(minutes=30)
        assert "办结" in await wechat.send("o_member_wang", f"办结 {no} 已处理")
    assert f"#{a}" in await wechat.send(RESIDENT, f"评价 {a} 2 灯还是不亮")  # reopened, back to 王建国
    assert "4分" in await wechat.send(RESIDENT, f"评价 {b} 4")
    reply = await wechat.send("o_staff_liu", f"关闭 {c} 误操作")
    assert f"#{c}" in reply and "不算办结" in reply
    assert "撤销" in await wechat.send(RESIDENT, f"撤销 {d}")
    async with db.reading() as s:
        reopened = await s.get(Ticket, a)
        assert reopened is not None and (reopened.state, reopened.accepted_at) == ("assigned", None)

    span = period("this_month", clock())
    async with db.reading() as s:
        f = await figures_for(s, community_id=roster.community_id, start=span.start, end=span.end, now=clock())
    assert (f.created, f.cancelled, f.void, f.considered) == (4, 1, 1, 2)
    assert (f.accepted, f.resolved, f.rated, f.satisfied) == (2, 1, 2, 1)
    assert f.response_rate == 1.0  # #a's first acceptance still counts
    assert f.resolution_rate == 0.5  # #b; #c (误操作) is not 办结
    assert f.reopen_rate == 0.5  # #a of #a and #b
    assert f.satisfaction_rate == 0.5  # 4 is satisfied, 2 is not

    reply = await wechat.send("o_staff_liu", "统计 本月")
    assert "本月（2026-11-01 至 2026-11-30）北团社区" in reply
    assert "新工单 4 张（撤销 1 张，误操作/重复 1 张）" in reply
    assert "响应率 100.0%，办结率 50.0%，满意率 50.0%" in reply and "重办率 50.0%" in reply
    assert "本周（2026-11-23 至 2026-11-29）" in await wechat.send("o_staff_liu", "统计本周")
    assert "今天（2026-11-23）" in await wechat.send("o_staff_liu", "统计")
    assert "上月（2026-10-01 至 2026-10-31）北团社区：\n新工单 0 张" in await wechat.send("o_staff_liu", "统计 上月")
    unknown = await wechat.send("o_staff_liu", "统计 下个月")
    assert "下个月" in unknown and "本月" in unknown and "上月" in unknown


async def test_acceptance_deadlines_skip_a_holiday(wechat: WeChat, db: Database, clock: Clock) -> None:
    """Reported at 15:00 on 30 September 2024, the day before 国庆: the 4 working
    hours to accept run 2.5 h that day and 1.5 h on 8 October, after the holiday."""
    roster = await make_roster(db)
    before_holiday = datetime(2024, 9, 30, 7, 0, tzinfo=UTC)  # 15:00 in China
    clock.offset_s = (before_holiday - datetime.now(UTC)).total_seconds()
    await wechat.send(RESIDENT, "绑定 3栋2单元501")
    early = number(await wechat.send(RESIDENT, "3栋楼道灯坏了好几天了"))
    late = number(await wechat.send(RESIDENT, "小区门口垃圾堆了好几天没人收"))
    clock.offset_s = (datetime(2024, 10, 8, 1, 30, tzinfo=UTC) - datetime.now(UTC)).total_seconds()  # 09:30
    await wechat.send("o_member_wang", f"接单 {early}")
    clock.advance(hours=1)  # 10:30, past 10:00
    await wechat.send("o_member_wang", f"接单 {late}")
    async with db.reading() as s:
        f = await figures_for(s, community_id=roster.community_id, start=before_holiday - timedelta(days=1),
                              end=clock(), now=clock())
    assert (f.accepted, f.accepted_on_time, f.response_rate) == (2, 1, 0.5)
