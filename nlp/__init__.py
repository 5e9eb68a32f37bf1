"""Keyword routing of residents' messages: taxonomy labels, place, intent and commands.

    from nlp import TextAnalyser, initialise
    initialise()                      # at start-up: loads jieba once
    router = TextAnalyser()                 # default rules (nlp/data/*.toml)
    router.analyse("楼道灯坏了好几天了")  # -> Analysis(category="facilities", ...)
"""

from __future__ import annotations

from nlp import sounds, tokenizer
from nlp.analyser import TextAnalyser
from nlp.results import Analysis, Command, Place
from nlp.rules import RulesError

__all__ = ["Analysis", "Command", "Place", "RulesError", "TextAnalyser", "initialise", "parse_place"]

_default_analyser: TextAnalyser | None = None


def initialise() -> None:
    """Load jieba's dictionary, the user dictionary and the pinyin table once, at start-up.

    Idempotent and thread-safe; ``TextAnalyser()`` calls it too.
    """
    tokenizer.initialise()
    sounds.initialise()


def parse_place(text: str) -> Place:
    """The place named in ``text``, with the default rules and no roster names."""
    global _default_analyser
    if _default_analyser is None:
        _default_analyser = TextAnalyser()
    return _default_analyser.parse_place(text)
