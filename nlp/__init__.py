"""Keyword routing of residents' messages: taxonomy labels, place, intent and commands.

    from nlp import Router, initialise
    initialise()                      # at start-up: loads jieba once
    router = Router()                 # default rules (nlp/data/*.toml)
    router.analyse("楼道灯坏了好几天了")  # -> Analysis(category="facilities", ...)
"""

from __future__ import annotations

from nlp import sounds, tokenizer
from nlp.results import Analysis, Command, Place
from nlp.router import Router
from nlp.rules import RulesError

__all__ = ["Analysis", "Command", "Place", "Router", "RulesError", "initialise", "parse_place"]

_default_router: Router | None = None


def initialise() -> None:
    """Load jieba's dictionary, the user dictionary and the pinyin table once, at start-up.

    Idempotent and thread-safe; ``Router()`` calls it too.
    """
    tokenizer.initialise()
    sounds.initialise()


def parse_place(text: str) -> Place:
    """The place named in ``text``, with the default rules and no roster names."""
    global _default_router
    if _default_router is None:
        _default_router = Router()
    return _default_router.parse_place(text)
