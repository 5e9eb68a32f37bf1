"""The command line a newcomer and the staff use: demo data, a terminal chat
through the real webhook, tickets, stats with an Excel report, invites."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIANXIN_DATABASE_URL", raising=False)
    (tmp_path / "config.toml").write_text('[database]\nurl = "sqlite+aiosqlite:///cli.db"\n', encoding="utf-8")
    return tmp_path


def invoke(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return result


def test_demo_then_a_chat_turns_a_message_into_an_assigned_ticket(workdir: Path) -> None:
    demo = invoke("demo")
    assert demo.exit_code == 0, demo.output
    assert "住户：新增 36" in demo.output and "chat --as" in demo.output
    chat = invoke("chat", "--as", "o_demo_resident", input="3栋楼道灯坏了好几天了\n")
    assert chat.exit_code == 0, chat.output
    assert "工单#1【公共设施】" in chat.output and "联户党员赵同志" in chat.output
    assert "[outbox → 赵玉兰]" in chat.output and "接单 1" in chat.output
    # the member, chatting by phone number, accepts and resolves
    member = invoke("chat", "--as", "13800000004", input="待办\n接单\n办结 灯换好了\n")
    assert "#1" in member.output and "已接单" in member.output and "已办结" in member.output
    assert "[outbox → o_demo_resident]" in member.output

    listing = invoke("tickets", "--json")
    rows = [json.loads(line) for line in listing.output.splitlines()]
    assert [(r["id"], r["state"], r["assignee"], r["category"]) for r in rows] == [
        (1, "resolved", "赵玉兰", "facilities")]
    shown = invoke("tickets", "1", "--json")
    timeline = json.loads(shown.output)["timeline"]
    assert [e["action"] for e in timeline] == ["created", "assigned", "accepted", "resolved"]
    as_csv = list(csv.DictReader(io.StringIO(invoke("tickets", "--csv").output.lstrip("\ufeff"))))
    assert as_csv[0]["工单号"] == "1" and as_csv[0]["社区"] == "北团社区"
    assert invoke("tickets", "--state", "open").output.startswith("0 ticket")


def test_a_person_without_wechat_binds_by_invite_when_chatting(workdir: Path) -> None:
    invoke("demo")
    # demo binds everyone; a newly imported person has no openid yet
    roster = workdir / "new.csv"
    roster.write_text("乡镇,社区,姓名,电话,角色\n莲峰镇,北团社区,新来的,15900000009,网格员\n", encoding="utf-8")
    assert invoke("import-roster", str(roster)).exit_code == 0
    chat = invoke("chat", "--as", "15900000009", input="待分派\n")
    assert "绑定 邀请码" in chat.output and "新来的同志，绑定成功" in chat.output
    assert "现在没有待分派的工单。" in chat.output  # a staff command, answered as to staff (the demo queue is empty)


def test_invite_prints_the_code_on_its_last_line(workdir: Path) -> None:
    invoke("demo")
    result = invoke("invite", "13800000004")
    assert result.exit_code == 0
    code = result.output.strip().splitlines()[-1]
    from bot.domain.security import INVITE_ALPHABET

    assert len(code) == 8 and set(code) <= set(INVITE_ALPHABET)
    assert f"绑定 邀请码 {code}" in result.output
    unknown = invoke("invite", "13000000000")
    assert unknown.exit_code != 0 and "no one" in unknown.output


def test_stats_prints_the_rates_and_writes_an_excel_report(workdir: Path) -> None:
    from openpyxl import load_workbook

    invoke("demo")
    invoke("chat", "--as", "o_demo_resident", input="3栋楼道灯坏了好几天了\n")
    invoke("chat", "--as", "13800000004", input="接单\n办结 好了\n")
    invoke("chat", "--as", "o_demo_resident", input="满意\n")
    result = invoke("stats", "--xlsx", "report.xlsx")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = lines[1].split("\t")
    beituan = dict(zip(header, next(line for line in lines if line.startswith("北团社区")).split("\t"), strict=True))
    assert beituan["新工单"] == "1" and beituan["办结率"] == "100.0%" and beituan["满意率"] == "100.0%"
    book = load_workbook(workdir / "report.xlsx")
    assert book.sheetnames == ["乡镇", "社区", "小区", "说明"]
    notes = {row[0]: row[1] for row in book["说明"].iter_rows(min_row=3, values_only=True)}
    assert "5分 + 4分" in notes["满意率"] and "÷" in notes["重办率"]
    rows = list(book["小区"].iter_rows(min_row=3, values_only=True))
    assert rows[0][0] == "北团社区/幸福小区" and rows[0][1] == 1
