"""Scores the router on a labelled set (pure functions; the CLI and the tests call them).

A row has ``text`` and any of the labels ``intent``, ``category``, ``kind``,
``urgent``, ``place`` (the verbatim span; a guess is right when its span
overlaps it, or when both are empty), ``location`` (the older exact form),
``ticket``, ``rating``; a metric only counts the rows that carry its label.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nlp.results import Analysis

TICKET_INTENTS = ("status_query", "urge", "rate", "cancel")


class Analyser(Protocol):
    def analyse(self, text: str) -> Analysis: ...


@dataclass
class Ratio:
    hits: int = 0
    total: int = 0

    def add(self, ok: bool) -> None:
        self.hits += int(ok)
        self.total += 1

    @property
    def value(self) -> float:
        return self.hits / self.total if self.total else 1.0

    def __str__(self) -> str:
        return f"{self.value:6.1%} ({self.hits}/{self.total})"


@dataclass
class Mistake:
    field: str
    text: str
    expected: Any
    got: Any


@dataclass
class Report:
    rows: int = 0
    category: Ratio = field(default_factory=Ratio)  # on labelled requests
    kind: Ratio = field(default_factory=Ratio)
    intent: Ratio = field(default_factory=Ratio)
    place: Ratio = field(default_factory=Ratio)
    ticket: Ratio = field(default_factory=Ratio)  # rows of ticket intents, or with a labelled number
    rating: Ratio = field(default_factory=Ratio)
    urgent_recall: Ratio = field(default_factory=Ratio)
    urgent_precision: Ratio = field(default_factory=Ratio)
    per_category: dict[str, tuple[Ratio, Ratio]] = field(default_factory=dict)  # code -> (precision, recall)
    confusions: Counter[tuple[str, str]] = field(default_factory=Counter)  # (expected, got) on requests
    mistakes: list[Mistake] = field(default_factory=list)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSONL file (blank lines skipped)."""
    rows = []
    with Path(path).open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not JSON: {exc}") from None
    return rows


def spans_overlap(text: str, gold: str, got: str) -> bool:
    """Whether the place found overlaps the labelled one in ``text`` (both empty counts as right)."""
    if not gold or not got:
        return not gold and not got
    # the found span carries no position: any of its occurrences may be the one meant
    golds, gots = _starts(text, gold), _starts(text, got)
    if not golds or not gots:
        return gold in got or got in gold
    return any(g < p + len(got) and p < g + len(gold) for g in golds for p in gots)


def _starts(text: str, part: str) -> list[int]:
    out, i = [], text.find(part)
    while i >= 0:
        out.append(i)
        i = text.find(part, i + 1)
    return out


def _label(intent: str, category: str) -> str:
    return category if intent == "request" else f"<{intent}>"


def score(rows: Iterable[Mapping[str, Any]], router: Analyser) -> Report:
    """Compare the router's analysis of each row's text with the row's labels."""
    report = Report()
    predicted_labels: Counter[str] = Counter()
    correct_labels: Counter[str] = Counter()
    expected_labels: Counter[str] = Counter()
    for row in rows:
        text = row.get("text")
        if not isinstance(text, str):
            continue
        report.rows += 1
        a = router.analyse(text)
        gold_intent = row.get("intent", "request" if "category" in row else None)

        def miss(name: str, expected: Any, got: Any, text: str = text) -> None:
            report.mistakes.append(Mistake(name, text, expected, got))

        if gold_intent is not None:
            ok = a.intent == gold_intent
            report.intent.add(ok)
            if not ok:
                miss("intent", gold_intent, a.intent)
        is_request = gold_intent == "request"
        if is_request and "category" in row:
            gold_cat = row["category"]
            got = a.category if a.intent == "request" else f"<{a.intent}>"
            ok = got == gold_cat
            report.category.add(ok)
            if not ok:
                report.confusions[(gold_cat, got)] += 1
                miss("category", gold_cat, got)
        if gold_intent is not None and (not is_request or "category" in row):
            gold = _label(gold_intent, row.get("category", ""))
            pred = _label(a.intent, a.category)
            expected_labels[gold] += 1
            predicted_labels[pred] += 1
            if gold == pred:
                correct_labels[gold] += 1
        if is_request and "kind" in row:
            ok = a.kind == row["kind"]
            report.kind.add(ok)
            if not ok:
                miss("kind", row["kind"], a.kind)
        if "urgent" in row:
            gold_urgent = bool(row["urgent"])
            if gold_urgent:
                report.urgent_recall.add(a.urgent)
                if not a.urgent:
                    miss("urgent", True, False)
            if a.urgent:
                report.urgent_precision.add(gold_urgent)
                if not gold_urgent:
                    miss("urgent", False, True)
        if "place" in row:
            gold_place = row["place"] or ""
            ok = spans_overlap(text, gold_place, a.place.text)
            report.place.add(ok)
            if not ok:
                miss("place", gold_place, a.place.text)
        elif "location" in row:
            gold_loc = row["location"] or ""
            ok = a.place.text == gold_loc
            report.place.add(ok)
            if not ok:
                miss("location", gold_loc, a.place.text)
        if "ticket" in row and (row["ticket"] is not None or gold_intent in TICKET_INTENTS):
            ok = a.ticket == row["ticket"]
            report.ticket.add(ok)
            if not ok:
                miss("ticket", row["ticket"], a.ticket)
        if "rating" in row and (row["rating"] is not None or gold_intent == "rate"):
            ok = a.rating == row["rating"]
            report.rating.add(ok)
            if not ok:
                miss("rating", row["rating"], a.rating)
    for code in sorted(set(expected_labels) | set(predicted_labels)):
        if code.startswith("<"):
            continue
        report.per_category[code] = (
            Ratio(correct_labels[code], predicted_labels[code]),
            Ratio(correct_labels[code], expected_labels[code]),
        )
    return report


def format_report(report: Report, names: Mapping[str, str] | None = None, confusions: int = 10,
                  mistakes: bool = False) -> str:
    """A plain-text summary of ``report`` (category names shown beside codes when given)."""
    names = names or {}
    lines = [
        f"rows: {report.rows}",
        f"category accuracy (requests): {report.category}",
        f"kind accuracy (requests):     {report.kind}",
        f"intent accuracy:              {report.intent}",
        f"urgent recall:                {report.urgent_recall}",
        f"urgent precision:             {report.urgent_precision}",
        f"place accuracy:               {report.place}",
        f"ticket number accuracy:       {report.ticket}",
        f"rating accuracy:              {report.rating}",
        "",
        f"{'category':<14}{'name':<10}{'precision':>18}{'recall':>18}",
    ]
    for code, (precision, recall) in report.per_category.items():
        name = names.get(code, "")
        lines.append(f"{code:<14}{name:<{10 - _wide(name)}}{precision!s:>18}{recall!s:>18}")
    if report.confusions:
        lines += ["", "most frequent confusions (expected -> got):"]
        for (expected, got), count in report.confusions.most_common(confusions):
            lines.append(f"  {count:3d}  {expected} -> {got}")
    if mistakes and report.mistakes:
        lines += ["", "mistakes:"]
        for m in report.mistakes:
            lines.append(f"  [{m.field}] expected {m.expected!r}, got {m.got!r}: {m.text}")
    return "\n".join(lines)


def _wide(text: str) -> int:
    """How many extra columns wide characters take beyond one each."""
    return sum(1 for ch in text if ord(ch) > 0x2E80)
