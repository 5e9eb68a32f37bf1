"""`python -m bot console-link PHONE`: a single-use login link, its URL on the last line."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from bot.config import ConfigError, parse
from bot.db import Database, ensure_schema
from bot.models import Person


def test_console_link_prints_a_link_for_a_roster_person(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"

    async def setup() -> None:
        db = Database(url)
        await ensure_schema(db)
        async with db.transaction() as s:
            s.add(Person(phone="15800000002", name="马晓丽"))
        await db.dispose()

    asyncio.run(setup())
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[console]\nbase_url = "https://lx.example.cn"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "console-link", "15800000002"])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("https://lx.example.cn/console/login/") and len(last) > 50
    unknown = CliRunner().invoke(main, ["--config", str(config), "console-link", "13900000000"])
    assert unknown.exit_code != 0 and "no one" in unknown.output


def test_console_config_names_the_wrong_key() -> None:
    base = {"wechat": {"token": "abc123"}}
    assert parse(base).console.idle_timeout_min == 120
    for key, value in (("idle_timeout_min", 0), ("base_url", "lx.example.cn"), ("secure_cookie", "yes")):
        try:
            parse({**base, "console": {key: value}})
        except ConfigError as exc:
            assert exc.key == f"console.{key}"
        else:
            raise AssertionError(key)
