"""`python -m bot import-roster` end to end, on a SQLite file named in a config file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from tests.test_roster_import import HOUSEHOLDS, STAFF, XLSX, bad_workbook


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    for name in ("LIANXIN_DATABASE_URL", "WECHAT_TOKEN", "WECHAT_APPID", "WECHAT_AES_KEY", "PORT"):
        monkeypatch.delenv(name, raising=False)
    database = tmp_path / "data" / "lianxin.db"
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{database.as_posix()}"\n\n'
                    '[wechat]\ntoken = "testtoken"\n', encoding="utf-8")
    return path, database


def count(database: Path, table: str) -> int:
    with sqlite3.connect(database) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_import_then_reimport(config: tuple[Path, Path]) -> None:
    path, database = config
    runner = CliRunner()

    result = runner.invoke(main, ["--config", str(path), "import-roster", str(HOUSEHOLDS), str(STAFF)])
    assert result.exit_code == 0, result.output
    assert "新增 42 行" in result.output and "有问题 0 行" in result.output
    assert (count(database, "households"), count(database, "people")) == (36, 24)

    result = runner.invoke(main, ["--config", str(path), "import-roster", "--strict", str(XLSX)])
    assert result.exit_code == 0, result.output
    assert "未变 42 行" in result.output and "填表说明" in result.output
    assert (count(database, "households"), count(database, "people")) == (36, 24)


def test_bad_rows_exit_1_only_under_strict(config: tuple[Path, Path], tmp_path: Path) -> None:
    path, database = config
    bad = bad_workbook(tmp_path / "bad.xlsx")
    runner = CliRunner()

    result = runner.invoke(main, ["--config", str(path), "import-roster", "--strict", str(bad)])
    assert result.exit_code == 1, result.output
    assert "严格模式" in result.output and "住户 第3行：房号为空" in result.output
    assert count(database, "households") == 0

    result = runner.invoke(main, ["--config", str(path), "import-roster", str(bad)])
    assert result.exit_code == 0, result.output
    assert "有问题 5 行" in result.output
    assert count(database, "households") == 2


def test_a_file_that_cannot_be_read(config: tuple[Path, Path], tmp_path: Path) -> None:
    path, _database = config
    runner = CliRunner()
    result = runner.invoke(main, ["--config", str(path), "import-roster", str(tmp_path / "nope.csv")])
    assert result.exit_code == 1 and "找不到文件" in result.output
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    result = runner.invoke(main, ["--config", str(path), "import-roster", str(tmp_path / "old.xls")])
    assert result.exit_code == 1 and ".xlsx" in result.output
