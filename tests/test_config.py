"""Configuration: defaults from config.example.toml, and every mistake stops
the program with one line naming the key and what was expected (exit 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load, parse


def test_the_example_config_gives_the_documented_defaults() -> None:
    config = load(Path(__file__).resolve().parent.parent / "config.example.toml", use_env=False)
    assert config.database.url == "sqlite+aiosqlite:///lianxin.db"
    assert config.wechat.path == "/wechat"
    assert config.wechat.api_base_url == "https://api.weixin.qq.com"
    assert config.wechat.replay_window_s == 300
    assert config.wechat.max_body_bytes == 65536
    assert config.wechat.encoding_aes_key == "" and not config.aes_mode


def test_a_users_file_overrides_only_what_it_sets(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[wechat]\ntoken = "mytoken123"\nencoding_aes_key = "' + "a" * 43 + '"\napp_id = "wx1"\n',
                    encoding="utf-8")
    config = load(path, use_env=False)
    assert config.wechat.token == "mytoken123" and config.aes_mode
    assert config.wechat.replay_window_s == 300  # still the example's default
    assert config.server.port == 8080


@pytest.mark.parametrize(
    ("raw", "key", "expected"),
    [
        ({"server": {"port": "abc"}}, "server.port", "port number"),
        ({"server": {"port": 70000}}, "server.port", "port number"),
        ({"database": {"url": "mysql://x"}}, "database.url", "sqlite+aiosqlite://"),
        ({"wechat": {"token": ""}}, "wechat.token", "letters or digits"),
        ({"wechat": {"token": "ok123", "encoding_aes_key": "short"}}, "wechat.encoding_aes_key", "43"),
        ({"wechat": {"token": "ok123", "encoding_aes_key": "a" * 43, "app_id": ""}}, "wechat.app_id", "AppID"),
        ({"wechat": {"token": "ok123", "path": "wechat"}}, "wechat.path", "starting with /"),
        ({"wechat": {"token": "ok123", "replay_window_s": -1}}, "wechat.replay_window_s", "positive"),
        ({"wechat": {"token": "ok123", "max_body_bytes": 10}}, "wechat.max_body_bytes", ">= 1024"),
        ({"wechat": {"token": "ok123", "tokn": "x"}}, "wechat.tokn", "no such key"),
        ({"wechat": {"token": "ok123"}, "tickets": {"category_first_level": {"policy": "mayor"}}},
         "tickets.category_first_level.policy", "member"),
        ({"wechat": {"token": "ok123"}, "tickets": {"deadlines": {"parking": {"accept_h": 2}}}},
         "tickets.deadlines.parking.resolve_h", "hours"),
        ({"wechat": {"token": "ok123"}, "tickets": {"holidays": ["2027-13-45"]}}, "tickets.holidays", "YYYY-MM-DD"),
        ({"wechat": {"token": "ok123"}, "tickets": {"workday_start": "18:00", "workday_end": "09:00"}},
         "tickets.workday_end", "after"),
        ({"wechat": {"token": "ok123"}, "serverr": {}}, "serverr", "no such section"),
    ],
)
def test_a_wrong_value_names_the_key_and_what_was_expected(raw: dict, key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(raw)
    assert err.value.key == key
    assert expected in str(err.value)


def test_the_cli_prints_one_line_and_exits_2_on_a_config_mistake(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[server]\nport = "abc"\n', encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "bot", "--config", str(bad), "init-db"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["config error: server.port: expected a port number 0-65535 (got 'abc')"]
    assert "Traceback" not in result.stderr


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bot", "--config", "nowhere.toml", "tickets"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert "nowhere.toml" in result.stderr and "Traceback" not in result.stderr


def test_broken_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text("[server\nport = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load(bad, use_env=False)
    assert "broken.toml" in str(err.value) and "valid TOML" in str(err.value)
