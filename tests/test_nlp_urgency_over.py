"""A danger the resident says is already over is not urgent (the router's
`resolved` cues); the same danger still going on is."""

from __future__ import annotations

import pytest

from nlp import TextAnalyser


@pytest.fixture(scope="module")
def router() -> TextAnalyser:
    return TextAnalyser()


@pytest.mark.parametrize(("text", "urgent"), [
    ("厨房着火了", True),
    ("闻到煤气味，快来人", True),
    ("闻到煤气味，物业来看过没事了", False),
])
def test_a_danger_said_to_be_over_is_not_urgent(router: TextAnalyser, text: str, urgent: bool) -> None:
    assert router.analyse(text).urgent is urgent, text
