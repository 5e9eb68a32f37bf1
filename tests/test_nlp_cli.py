"""The classify and eval commands, run as a user would."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bot.cli.nlp import classify, evaluate


def test_classify_reads_lines_and_writes_json_lines() -> None:
    result = CliRunner().invoke(classify, [], input="3栋楼道灯坏了好几天了\n\n催办 123\n你好\n")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["intent"] for r in rows] == ["request", "urge", "greeting"]
    first = rows[0]
    assert set(first) == {"text", "intent", "category", "kind", "urgent", "location", "confidence", "matched"}
    assert (first["category"], first["location"], first["urgent"]) == ("facilities", "3栋", False)
    assert "楼道灯" in first["matched"]
    assert "楼道灯" in result.output  # not escaped: ensure_ascii=False


def test_classify_reads_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "不是停车的事，是垃圾没人收", "id": 1}\n', encoding="utf-8")
    result = CliRunner().invoke(classify, ["--jsonl", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["category"] == "sanitation"


def test_classify_with_a_rules_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[categories.sanitation.keywords]\n"横七竖八" = 5\n', encoding="utf-8")
    result = CliRunner().invoke(classify, ["--rules", str(rules)], input="横七竖八\n")
    assert json.loads(result.output)["category"] == "sanitation"


def test_classify_names_a_bad_rules_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("not = [toml", encoding="utf-8")
    result = CliRunner().invoke(classify, ["--rules", str(rules)], input="路灯坏了\n")
    assert result.exit_code == 2
    assert "rules.toml" in result.output


def test_classify_names_a_jsonl_line_without_text(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"body": "x"}\n', encoding="utf-8")
    result = CliRunner().invoke(classify, ["--jsonl", str(path)])
    assert result.exit_code != 0
    assert "line 1" in result.output


def test_eval_prints_the_figures(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    rows = [
        {"text": "楼道灯坏了", "intent": "request", "category": "facilities", "kind": "complaint", "urgent": False,
         "location": "", "ticket": None, "rating": None},
        {"text": "楼下着火了", "intent": "request", "category": "safety", "kind": "help", "urgent": True,
         "location": "", "ticket": None, "rating": None},
        {"text": "评价 12 4", "intent": "rate", "category": "", "kind": "", "urgent": False, "location": "",
         "ticket": 12, "rating": 4},
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    result = CliRunner().invoke(evaluate, [str(path)])
    assert result.exit_code == 0, result.output
    for line in ("category accuracy (requests): 100.0% (2/2)", "intent accuracy:              100.0% (3/3)",
                 "urgent recall:                100.0% (1/1)", "rating accuracy:              100.0% (1/1)",
                 "safety", "安全隐患"):
        assert line in result.output
