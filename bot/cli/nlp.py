"""Command-line tools of the text analyser: ``classify`` messages, ``train``
the weights on the corpus (and staff's corrections), and ``eval`` them.

``classify`` and ``eval FILE`` need no config. ``train`` and ``eval`` without
a file need scikit-learn (``pip install -e '.[train]'``); ``train`` reads the
corrections from the configured database when it has any.
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
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--rules", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A community's rules file merged over the default rules.")
@click.option("--mistakes", is_flag=True, help="List every mistake too.")
@click.option("--no-lowo", is_flag=True, help="Without FILE: skip leave-one-writer-out (it refits per writer).")
@click.pass_context
def evaluate(ctx: click.Context, file: Path | None, rules: Path | None, mistakes: bool, no_lowo: bool) -> None:
    """Score the analyser: on FILE (JSONL: text, intent, category, kind, urgent, place, ticket, rating), or,
    without FILE, on the corpus: development writers, the held-out writer, and leave-one-writer-out."""
    analyser = _router(rules)
    names = {code: analyser.category_name(code) for code in analyser.categories()}
    if file is not None:
        try:
            rows = read_jsonl(file)
        except (OSError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(format_report(score(rows, analyser), names, mistakes=mistakes))
        return
    from nlp import training

    sections = [("development writers (the shipped weights were fitted on these)", training.load_corpus()),
                ("held-out writer " + ", ".join(training.HELD_OUT) + " (never used to fit or tune)",
                 training.load_corpus(held_out=True))]
    for title, rows in sections:
        click.echo(f"== {title}")
        click.echo(format_report(score(rows, analyser), names, mistakes=mistakes) + "\n")
    if not no_lowo:
        _need_sklearn()
        click.echo("== leave-one-writer-out on the development writers (the figure to trust)")
        report, per_writer = training.leave_one_writer_out(analyser, training.load_corpus())
        for writer, figures in per_writer.items():
            click.echo(f"  {writer:<18} {figures}")
        click.echo(format_report(report, names, mistakes=mistakes))


def _need_sklearn() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise click.ClickException("training needs scikit-learn: pip install -e '.[train]'") from None


@click.command("train")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the weights (default: the file the analyser loads, nlp/data/weights.json).")
@click.option("--corrections/--no-corrections", default=True, show_default=True,
              help="Include staff's 分类 corrections from the configured database.")
@click.option("--corpus", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A corpus folder of writer files (default: nlp/corpus).")
@click.option("--no-tune", is_flag=True,
              help="Keep the urgent threshold of the current weights instead of tuning it (a minute faster).")
@click.pass_context
def train(ctx: click.Context, out: Path | None, corrections: bool, corpus: Path | None, no_tune: bool) -> None:
    """Fit the weights on the corpus's development writers (and staff's corrections), tune the
    urgent threshold by leave-one-writer-out, and write the weights file."""
    _need_sklearn()
    from nlp import training
    from nlp.model import DEFAULT_WEIGHTS, Model

    extra: list[dict[str, Any]] = []
    if corrections:
        extra = _corrections(ctx)
    analyser = TextAnalyser(weights=None)
    current = Model.load(DEFAULT_WEIGHTS)
    keep = dict(current.thresholds) if no_tune and current is not None else None
    model = training.train(analyser, training.load_corpus(corpus or training.CORPUS_DIR), extra, thresholds=keep)
    target = out or DEFAULT_WEIGHTS
    model.save(target)
    click.echo(f"{model.meta['examples']} examples ({len(extra)} staff corrections), thresholds "
               f"{model.thresholds}; weights written to {target}")


def _corrections(ctx: click.Context) -> list[dict[str, Any]]:
    """Staff's corrections (text, new category) from the configured database; none when there is no database."""
    from bot.cli.base import CliState, run

    state = ctx.find_object(CliState)
    if state is None:
        return []

    async def read() -> list[dict[str, Any]]:
        from sqlalchemy import select

        from bot.db import Database
        from bot.models import CategoryCorrection

        db = Database(state.config().database.url)
        try:
            async with db.reading() as session:
                found = (await session.execute(select(CategoryCorrection.text, CategoryCorrection.new_category)
                                               .order_by(CategoryCorrection.id))).all()
            return [{"text": t, "intent": "request", "category": c, "writer": "staff_corrections"}
                    for t, c in found]
        except Exception as exc:  # no database yet, or no table: train on the corpus alone
            click.echo(f"no corrections read ({type(exc).__name__}); training on the corpus alone", err=True)
            return []
        finally:
            await db.dispose()

    return run(read())


if __name__ == "__main__":
    @click.group()
    def _standalone() -> None:
        """TextAnalyser tools."""

    _standalone.add_command(classify)
    _standalone.add_command(evaluate)
    _standalone.add_command(train)
    _standalone()
