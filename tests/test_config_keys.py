"""Config: an unknown key at any depth is refused with its dotted name and the
closest known key; the open maps (deadlines and first levels per category,
templates per notice kind) take only the categories of the taxonomy and the
notice kinds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.config import NOTICE_KINDS, ConfigError, load, parse

BASE: dict[str, Any] = {"wechat": {"token": "lianxintest"}}


def refused(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse({**BASE, **raw, "wechat": {**BASE["wechat"], **raw.get("wechat", {})}})
    return str(caught.value)


@pytest.mark.parametrize(("raw", "key", "guess"), [
    ({"tickets": {"deadlines": {"urgnet": {"accept_h": 1, "resolve_h": 2}}}}, "tickets.deadlines.urgnet", "urgent"),
    ({"tickets": {"deadlines": {"saftey": {"accept_h": 1, "resolve_h": 2}}}}, "tickets.deadlines.saftey", "safety"),
    ({"tickets": {"deadlines": {"urgent": {"accept_h": 1, "resolv_h": 2}}}},
     "tickets.deadlines.urgent.resolv_h", "resolve_h"),
    ({"tickets": {"category_first_level": {"parkng": "staff"}}}, "tickets.category_first_level.parkng", "parking"),
    ({"wechat": {"templates": {"new_tiket": "T1"}}}, "wechat.templates.new_tiket", "new_ticket"),
    ({"tickets": {"merge_windw_h": 3}}, "tickets.merge_windw_h", "merge_window_h"),
    ({"server": {"prot": 80}}, "server.prot", "port"),
    ({"delivery": {"max_attempt": 3}}, "delivery.max_attempt", "max_attempts"),
])
def test_an_unknown_key_is_named_with_the_closest_known_one(raw: dict[str, Any], key: str, guess: str) -> None:
    message = refused(raw)
    assert f"config error: {key}:" in message
    assert f"did you mean {key.rsplit('.', 1)[0]}.{guess}?" in message


def test_an_unknown_section_is_named_with_the_closest_one() -> None:
    assert "did you mean [tickets]?" in refused({"tickts": {}})


def test_the_open_maps_take_what_is_known() -> None:
    config = parse({**BASE, "tickets": {
        "deadlines": {"safety": {"accept_h": 1, "resolve_h": 8}, "elderly_care": {"accept_h": 1, "resolve_h": 8}},
        "category_first_level": {"policy": "staff", "dispute": "building_head"}},
        "wechat": {**BASE["wechat"], "templates": dict.fromkeys(NOTICE_KINDS, "TPL")}})
    assert config.tickets.deadlines["elderly_care"].resolve_h == 8
    assert config.tickets.category_first_level["dispute"] == "building_head"
    assert set(config.wechat.templates) == set(NOTICE_KINDS)


def test_a_communitys_own_category_may_have_its_own_deadline(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[categories.pets]\nname = "宠物管理"\n[categories.pets.keywords]\n"狗" = 3\n', encoding="utf-8")
    config = parse({**BASE, "nlp": {"rules_file": str(rules)},
                    "tickets": {"deadlines": {"pets": {"accept_h": 2, "resolve_h": 24}}}})
    assert config.tickets.deadlines["pets"].accept_h == 2
    assert "tickets.deadlines.pets" in refused({"tickets": {"deadlines": {"pets": {"accept_h": 2, "resolve_h": 24}}}})


def test_every_notice_kind_the_code_queues_can_have_a_template() -> None:
    """Each literal kind passed to the outbox in bot/ and handlers/ is a known notice kind."""
    import re

    root = Path(__file__).resolve().parent.parent
    kinds: set[str] = set()
    pattern = re.compile(r'notify_(?:person|staff|residents)\([^()]*?"([a-z_]+)"|kind="([a-z_]+)"')
    for path in [*root.glob("bot/**/*.py"), *root.glob("handlers/**/*.py")]:
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            kinds.add(match.group(1) or match.group(2))
    assert kinds and kinds <= set(NOTICE_KINDS), kinds - set(NOTICE_KINDS)


def test_the_timezone_is_a_config_key() -> None:
    assert load(Path(__file__).resolve().parent.parent / "config.example.toml", use_env=False
                ).tickets.timezone == "Asia/Shanghai"
    assert "tickets.timezone" in refused({"tickets": {"timezone": "Asia/Shang_hai"}})


def test_the_cli_prints_the_suggestion_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[wechat.templates]\nnew_tiket = "T1"\n', encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "bot", "--config", str(path), "tickets"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "config error: wechat.templates.new_tiket: expected a notice kind (known: "
        + ", ".join(NOTICE_KINDS) + "); did you mean wechat.templates.new_ticket?"]
