"""Command-line tools of the router: ``classify`` messages and ``eval`` a labelled set.

Both are click commands that bot/cli.py registers on ``python -m bot``; they
need no config and work standalone too.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import click

from nlp import TextAnalyser
from nlp.evaluation import format_report, read_jsonl, score
from nlp.results import Analysis
from nlp.rules import RulesError


def _router(rules: Path | None) -> TextAnalyser:
    try:
        return TextAnalyser(rules)
    except RulesError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


def _utf8(stream: Any) -> Any:
    """``stream``, reading and writing UTF-8 whatever the locale says."""
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    if encoding != "utf8" and hasattr(stream, "buffer"):
        return io.TextIOWrapper(stream.buffer, encoding="utf-8", errors="replace", line_buffering=True)
    return stream


def as_row(a: Analysis) -> dict[str, Any]:
    """The JSON object ``classify`` writes for one message."""
    return {
        "text": a.text,
        "intent": a.intent,
        "category": a.category,
        "kind": a.kind,
        "urgent": a.urgent,
        "location": a.place.text,
        "confidence": a.confidence,
        "matched": list(a.matched),
    }


def _texts(stream: TextIO, jsonl: bool) -> Any:
    for number, line in enumerate(stream, 1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        if not jsonl:
            yield line
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"line {number}: not JSON: {exc}") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise click.ClickException(f"line {number}: no \"text\" field")
        yield row["text"]


@click.command("classify")
@click.option("--jsonl", "jsonl_file", type=click.File("r", encoding="utf-8"), default=None,
              help="Read JSON lines with a \"text\" field instead of plain lines on stdin.")
@click.option("--rules", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A community's rules file merged over the default rules.")
@click.pass_context
def classify(ctx: click.Context, jsonl_file: TextIO | None, rules: Path | None) -> None:
    """Classify messages (one per line on stdin) into one JSON object per line."""
    router = _router(rules)
    stream = jsonl_file if jsonl_file is not None else _utf8(sys.stdin)
    out = _utf8(sys.stdout)
    for text in _texts(stream, jsonl_file is not None):
        out.write(json.dumps(as_row(router.analyse(text)), ensure_ascii=False) + "\n")
    out.flush()


@click.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--rules", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A community's rules file merged over the default rules.")
@click.option("--mistakes", is_flag=True, help="List every mistake too.")
@click.pass_context
def evaluate(ctx: click.Context, file: Path, rules: Path | None, mistakes: bool) -> None:
    """Score the router on a labelled JSONL file (text, intent, category, kind, urgent, location, ticket, rating)."""
    router = _router(rules)
    try:
        rows = read_jsonl(file)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    report = score(rows, router)
    names = {code: router.category_name(code) for code in router.categories()}
    click.echo(format_report(report, names, mistakes=mistakes))


if __name__ == "__main__":
    @click.group()
    def _standalone() -> None:
        """TextAnalyser tools."""

    _standalone.add_command(classify)
    _standalone.add_command(evaluate)
    _standalone()
