"""The router against the labelled sets: the targets the product relies on.

tests/data/dev_set.jsonl is the labelled development set; tests/data/nlp_smoke.jsonl is
a smaller set worded independently of it (same taxonomy), as a second check.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp import TextAnalyser
from nlp.evaluation import Report, format_report, read_jsonl, score

DATA = Path(__file__).resolve().parent / "data"
SETS = [DATA / "dev_set.jsonl", DATA / "nlp_smoke.jsonl"]


@pytest.fixture(scope="module")
def router() -> TextAnalyser:
    return TextAnalyser()


@pytest.fixture(scope="module", params=SETS, ids=lambda p: p.name)
def report(request: pytest.FixtureRequest, router: TextAnalyser) -> Report:
    path: Path = request.param
    if not path.is_file():
        pytest.skip(f"{path.name} is not there")
    result = score(read_jsonl(path), router)
    print(format_report(result, {c: router.category_name(c) for c in router.categories()}))
    return result


def test_category_accuracy_on_requests_is_at_least_90_percent(report: Report) -> None:
    assert report.category.total > 0
    assert report.category.value >= 0.90, report.confusions.most_common(10)


def test_every_urgent_message_is_flagged(report: Report) -> None:
    assert report.urgent_recall.value == 1.0, [m.text for m in report.mistakes if m.field == "urgent"]


def test_urgent_flags_are_right_at_least_70_percent_of_the_time(report: Report) -> None:
    # Urgency is tuned for recall (issue 8: when in doubt, urgent), so precision is the price:
    # about three urgent flags in four are right on these sets (80% when the rules decided alone).
    assert report.urgent_precision.value >= 0.70


def test_intent_accuracy_is_at_least_95_percent(report: Report) -> None:
    assert report.intent.value >= 0.95, [m.text for m in report.mistakes if m.field == "intent"]


def test_ticket_numbers_and_ratings_are_extracted_exactly(report: Report) -> None:
    assert report.ticket.value == 1.0, [m for m in report.mistakes if m.field == "ticket"]
    assert report.rating.value == 1.0, [m for m in report.mistakes if m.field == "rating"]


def test_the_report_reads_well(router: TextAnalyser) -> None:
    rows = [
        {"text": "路灯坏了", "intent": "request", "category": "facilities", "kind": "complaint", "urgent": False,
         "location": "", "ticket": None, "rating": None},
        {"text": "楼下着火了", "intent": "request", "category": "parking", "kind": "help", "urgent": True,
         "location": "", "ticket": None, "rating": None},
        {"text": "催办 12", "intent": "urge", "category": "", "kind": "", "urgent": False, "location": "",
         "ticket": 12, "rating": None},
    ]
    report = score(rows, router)
    assert (report.category.hits, report.category.total) == (1, 2)
    assert report.confusions[("parking", "safety")] == 1
    assert report.intent.value == 1.0
    assert report.ticket.value == 1.0
    text = format_report(report, {"parking": "停车交通"}, mistakes=True)
    assert "category accuracy (requests):  50.0% (1/2)" in text
    assert "parking -> safety" in text
    assert "停车交通" in text
