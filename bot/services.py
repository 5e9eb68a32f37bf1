"""The services a running Lianxin shares: config, database, text analyser, texts,
dispatcher and clock. Built once at start-up, handed to handlers via the
context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Config
from bot.db import Database
from bot.models import utcnow
from bot.texts import Texts, texts

if TYPE_CHECKING:
    from bot.chat.dispatcher import Dispatcher
    from nlp import TextAnalyser


@dataclass
class Services:
    config: Config
    db: Database
    analyser: TextAnalyser
    dispatcher: Dispatcher
    texts: Texts = field(default_factory=lambda: texts)
    now: Callable[[], datetime] = utcnow


def build(config: Config, db: Database | None = None, now: Callable[[], datetime] = utcnow) -> Services:
    """Everything the webhook and the worker need, initialised now (not on the
    first message): the database engine, jieba's dictionary, the handlers."""
    import nlp
    from handlers import build_dispatcher

    nlp.initialise()
    rules = Path(config.nlp.rules_file) if config.nlp.rules_file else None
    analyser = nlp.TextAnalyser(rules_override=rules, threshold=config.nlp.confidence_threshold)
    database = db or Database(config.database.url, config.database.pool_size)
    return Services(config=config, db=database, analyser=analyser, dispatcher=build_dispatcher(), now=now)
