"""A command line that speaks to people: one-line errors that say what to do,
filters that take the Chinese names, times in the configured zone, a CSV that
Excel on Chinese Windows opens, and a chat window that shows only what its own
messages queued."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import main

CONFIG = '[database]\nurl = "sqlite+aiosqlite:///cli.db"\n'


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIANXIN_DATABASE_URL", raising=False)
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def one_line_error(result: Result) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture
def demo(workdir: Path) -> Path:
    assert invoke("demo").exit_code == 0
    invoke("chat", "--as", "o_demo_resident", input="3栋楼道灯坏了好几天了\n小区门口垃圾堆了好几天没人收\n")
    invoke("chat", "--as", "13800000004", input="接单 1\n")
    return workdir


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["tickets"], ["stats"], ["tickets", "--csv"]])
def test_without_tables_the_command_says_to_run_init_db_first(workdir: Path, command: list[str]) -> None:
    result = invoke(*command)
    assert result.exit_code == 1
    line = one_line_error(result)
    assert "init-db" in line and "first" in line and "cli.db" in line


def test_a_database_host_that_refuses_is_named(workdir: Path) -> None:
    (workdir / "pg.toml").write_text('[database]\nurl = "postgresql+asyncpg://lianxin:secret@127.0.0.1:1/lianxin"\n',
                                     encoding="utf-8")
    result = invoke("--config", "pg.toml", "tickets")
    assert result.exit_code == 1
    line = one_line_error(result)
    assert "127.0.0.1:1" in line and "refused" in line and "secret" not in line


def test_a_missing_folder_for_the_excel_report_is_named(workdir: Path) -> None:
    missing = workdir / "no" / "such" / "dir"
    result = invoke("stats", "--xlsx", str(missing / "x.xlsx"))
    assert result.exit_code == 2
    assert str(missing) in result.output and "does not exist" in result.output
    assert "Traceback" not in result.output and "FileNotFoundError" not in result.output


# --- filters -------------------------------------------------------------------------------------------


def ids(result: Result) -> list[int]:
    assert result.exit_code == 0, result.output
    return [json.loads(line)["id"] for line in result.output.splitlines()]


def test_filters_take_chinese_names(demo: Path) -> None:
    assert ids(invoke("tickets", "--json", "--state", "已派单")) == [2]
    assert ids(invoke("tickets", "--json", "--state", "处理中")) == [1]
    assert ids(invoke("tickets", "--json", "--state", "已派单,处理中")) == [2, 1]
    assert ids(invoke("tickets", "--json", "--state", "assigned")) == [2]
    assert ids(invoke("tickets", "--json", "--category", "公共设施")) == [1]
    assert ids(invoke("tickets", "--json", "--category", "环境卫生")) == [2]
    assert ids(invoke("tickets", "--json", "--category", "sanitation")) == [2]


@pytest.mark.parametrize(("option", "value", "listed"), [
    ("--state", "bogus", "assigned (已派单)"), ("--state", "已完成", "resolved (已办结)"),
    ("--category", "公共设备", "facilities (公共设施)"),
])
def test_unknown_filter_values_are_refused_with_the_list(demo: Path, option: str, value: str, listed: str) -> None:
    result = invoke("tickets", option, value)
    assert result.exit_code == 2
    assert value in result.output and listed in result.output


# --- times and CSV -------------------------------------------------------------------------------------


def test_times_are_shown_in_the_configured_time_zone(demo: Path) -> None:
    [row, *_] = [json.loads(line) for line in invoke("tickets", "--json").output.splitlines()]
    assert row["created_at"].endswith("+08:00")
    timeline = json.loads(invoke("tickets", "1", "--json").output)["timeline"]
    assert all(e["at"].endswith("+08:00") for e in timeline)
    (demo / "config.toml").write_text(CONFIG + '[tickets]\ntimezone = "America/New_York"\n', encoding="utf-8")
    [row, *_] = [json.loads(line) for line in invoke("tickets", "--json").output.splitlines()]
    assert row["created_at"].endswith(("-05:00", "-04:00"))
    assert "America/New_York" in invoke("tickets").output


def test_the_csv_opens_in_excel_with_chinese_headers(demo: Path) -> None:
    CliRunner().invoke(main, ["tickets", "--csv"])
    data = CliRunner().invoke(main, ["tickets", "--csv"]).stdout_bytes
    assert data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert list(rows[0])[:4] == ["工单号", "状态", "类别", "诉求类型"]
    by_id = {row["工单号"]: row for row in rows}
    assert (by_id["1"]["状态"], by_id["1"]["类别"], by_id["1"]["社区"]) == ("处理中", "公共设施", "北团社区")
    assert by_id["2"]["状态"] == "已派单" and by_id["2"]["提交时间"][:2] == "20"
    assert "T" not in by_id["2"]["提交时间"] and "+" not in by_id["2"]["提交时间"]


# --- chat --------------------------------------------------------------------------------------------


async def test_a_chat_window_shows_only_what_its_own_messages_queued(tmp_path: Path) -> None:
    from bot.cli.demo import WebhookSession
    from bot.cli.demo_data import demo_openid, load_demo
    from bot.config import load
    from bot.db import Database, upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
    (tmp_path / "c.toml").write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    config = load(tmp_path / "c.toml", use_env=False)
    await upgrade(url)
    db = Database(url)
    try:
        await load_demo(db)
        async with WebhookSession(config, db) as member_window, WebhookSession(config, db) as resident_window:
            # the member's window is open while the resident reports in another window
            reply, queued = await resident_window.exchange("o_demo_resident", "3栋楼道灯坏了好几天了")
            assert "#1" in reply and any(name == "赵玉兰" for name, _ in queued)
            reply, queued = await member_window.exchange(demo_openid("13800000004"), "待办")
            assert "#1" in reply
            assert queued == []  # not the notice the resident's report queued for 赵玉兰
            reply, queued = await member_window.exchange(demo_openid("13800000004"), "接单 1")
            assert [name for name, _ in queued] == ["o_demo_resident"]
    finally:
        await db.dispose()
