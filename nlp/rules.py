"""The router's rules as data: loads nlp/data/*.toml and merges a community's override.

An override file has the same shape as the default files. Merging rules:

- tables merge key by key; a table with ``replace = true`` replaces the default
  table wholesale (e.g. ``[categories.parking] replace = true`` with new keywords);
- a list extends the default list;
- ``remove_<key> = [...]`` removes entries from the default ``<key>`` (keywords
  of a category, cues of a list), e.g. ``remove_keywords = ["车辆"]``;
- top-level ``drop_categories = ["children"]`` drops categories (not ``other``);
- a new ``[categories.<code>]`` table with ``name`` and ``keywords`` adds a category.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_FILES = ("taxonomy.toml", "cues.toml", "intents.toml")
OTHER = "other"
KINDS = ("complaint", "help", "suggestion", "inquiry", "praise")
INTENTS = ("greeting", "thanks", "usage_help", "bind_address", "status_query", "rate", "urge", "cancel")
COMMANDS = ("accept", "progress", "resolve", "hand_back", "todo", "leave", "back", "close", "reassign",
            "recategorise", "triage_queue", "stats", "console_login",
            # door to door (联户走访)
            "campaign_open", "campaign_result", "campaign_close", "opinion", "visit", "visit_status")


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file and key."""


@dataclass
class Category:
    code: str
    name: str
    keywords: dict[str, float]


@dataclass
class IntentCues:
    strong: list[str] = field(default_factory=list)
    cues: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)


@dataclass
class Rules:
    """Validated rules, ready to be compiled by ``nlp.matcher``."""

    categories: dict[str, Category]
    threshold: float
    kind_cues: dict[str, dict[str, float]]
    kind_default: str
    kind_order: list[str]
    kind_lead_bonus: float
    kind_lead_chars: int
    kind_urgent_help: float
    kind_default_score: float
    urgent_cues: list[str]
    urgent_combos: list[list[list[str]]]
    past: list[str]
    present: list[str]
    past_suffix: list[str]
    negated_before: list[str]
    hedge: list[str]
    resolved: list[str]
    neutral: list[str]
    scope: dict[str, Any]
    typos: dict[str, str]
    homophones: bool
    homophone_factor: float
    real_word_freq: int
    sound_skip: list[str]
    places: dict[str, list[str]]
    intents: dict[str, IntentCues]
    intent_filler: list[str]
    reference: list[str]
    reference_patterns: list[str]
    ratings: dict[str, int]
    ticket_prefixes: list[str]
    ticket_suffixes: list[str]
    commands: dict[str, list[str]]
    bare_commands: list[str]


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RulesError(f"{path}: not valid TOML: {exc}") from None


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` merged in (see the module docstring); neither is changed."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key == "replace":
            continue
        if key == "drop_categories":
            for code in _strings(value, key):
                if code != OTHER:
                    out.get("categories", {}).pop(code, None)
            continue
        if key.startswith("remove_") and isinstance(value, list):
            target = out.get(key[len("remove_"):])
            for item in value:
                if isinstance(target, dict):
                    target.pop(item, None)
                elif isinstance(target, list):
                    while item in target:
                        target.remove(item)
            continue
        if isinstance(value, dict):
            if value.get("replace") is True or not isinstance(out.get(key), dict):
                out[key] = {k: copy.deepcopy(v) for k, v in value.items() if k != "replace"}
            else:
                out[key] = merge(out[key], value)
        elif isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = out[key] + [item for item in value if item not in out[key]]
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_document(override: Path | None = None) -> dict[str, Any]:
    """The default rules document, with ``override`` merged in when given."""
    doc: dict[str, Any] = {}
    for name in DEFAULT_FILES:
        doc = merge(doc, _read(DATA_DIR / name))
    if override is not None:
        try:
            doc = merge(doc, _read(Path(override)))
        except RulesError:
            raise
        except (TypeError, AttributeError) as exc:
            raise RulesError(f"{override}: unexpected shape: {exc}") from None
    return doc


def load(override: Path | None = None) -> Rules:
    """Load, merge and validate the rules."""
    doc = load_document(override)
    where = str(override) if override is not None else "default rules"
    try:
        return _validate(doc)
    except RulesError as exc:
        raise RulesError(f"{where}: {exc}") from None


def _strings(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RulesError(f"{key} must be a list of strings")
    return list(value)


def _weights(value: Any, key: str) -> dict[str, float]:
    if not isinstance(value, dict):
        raise RulesError(f"{key} must be a table of word = weight")
    out: dict[str, float] = {}
    for word, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise RulesError(f"{key}.{word} must be a number")
        if word.strip():
            out[word] = float(weight)
    return out


def _table(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise RulesError(f"[{key}] must be a table")
    return value


def _number(table: dict[str, Any], key: str, default: float, where: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RulesError(f"{where}.{key} must be a number")
    return float(value)


def _validate(doc: dict[str, Any]) -> Rules:
    categories: dict[str, Category] = {}
    for code, table in _table(doc, "categories").items():
        if not isinstance(table, dict):
            raise RulesError(f"[categories.{code}] must be a table")
        name = table.get("name", code)
        if not isinstance(name, str):
            raise RulesError(f"categories.{code}.name must be a string")
        categories[code] = Category(code, name, _weights(table.get("keywords", {}), f"categories.{code}.keywords"))
    if OTHER not in categories:
        categories[OTHER] = Category(OTHER, "其他", {})

    settings = _table(doc, "settings")
    threshold = _number(settings, "threshold", 0.35, "settings")

    kind = _table(doc, "kind")
    kind_cues = {k: _weights(v, f"kind.cues.{k}") for k, v in _table(kind, "cues").items()}
    for k in kind_cues:
        if k not in KINDS:
            raise RulesError(f"kind.cues.{k}: unknown kind (one of {', '.join(KINDS)})")
    kind_default = kind.get("default", "complaint")
    if kind_default not in KINDS:
        raise RulesError(f"kind.default must be one of {', '.join(KINDS)}")
    order = _strings(kind.get("order", list(KINDS)), "kind.order")
    order += [k for k in KINDS if k not in order]

    urgency = _table(doc, "urgency")
    combos = urgency.get("combos", [])
    if not isinstance(combos, list) or not all(
        isinstance(c, list) and c and all(isinstance(g, list) and g and all(isinstance(w, str) for w in g)
                                          for g in c) for c in combos):
        raise RulesError("urgency.combos must be a list of lists of word lists")

    scope = _table(doc, "scope")
    typos = _table(doc, "typos")
    for wrong, right in typos.items():
        if not isinstance(right, str) or len(right) != len(wrong):
            raise RulesError(f"typos.{wrong} must be a correction of the same length")

    homophones = _table(doc, "homophones")
    places = {k: _strings(v, f"places.{k}") for k, v in _table(doc, "places").items()}

    intents_doc = _table(doc, "intents")
    intents: dict[str, IntentCues] = {}
    for name in INTENTS:
        table = intents_doc.get(name, {})
        if not isinstance(table, dict):
            raise RulesError(f"[intents.{name}] must be a table")
        intents[name] = IntentCues(
            strong=_strings(table.get("strong", []), f"intents.{name}.strong"),
            cues=_strings(table.get("cues", []), f"intents.{name}.cues"),
            patterns=_strings(table.get("patterns", []), f"intents.{name}.patterns"),
        )
    ratings_doc = intents_doc.get("rate", {}).get("ratings", {})
    ratings: dict[str, int] = {}
    for word, score in _weights(ratings_doc, "intents.rate.ratings").items():
        if not 1 <= score <= 5:
            raise RulesError(f"intents.rate.ratings.{word} must be 1 to 5")
        ratings[word] = int(score)

    tickets = _table(doc, "tickets")
    commands_doc = _table(doc, "commands")
    commands = {name: _strings(commands_doc.get(name, []), f"commands.{name}") for name in COMMANDS}

    return Rules(
        categories=categories,
        threshold=threshold,
        kind_cues=kind_cues,
        kind_default=kind_default,
        kind_order=order,
        kind_lead_bonus=_number(kind, "lead_bonus", 1.0, "kind"),
        kind_lead_chars=int(_number(kind, "lead_chars", 0, "kind")),
        kind_urgent_help=_number(kind, "urgent_help", 0.0, "kind"),
        kind_default_score=_number(kind, "default_score", 1.0, "kind"),
        urgent_cues=_strings(urgency.get("cues", []), "urgency.cues"),
        urgent_combos=combos,
        past=_strings(urgency.get("past", []), "urgency.past"),
        present=_strings(urgency.get("present", []), "urgency.present"),
        past_suffix=_strings(urgency.get("past_suffix", []), "urgency.past_suffix"),
        negated_before=_strings(urgency.get("negated_before", []), "urgency.negated_before"),
        hedge=_strings(urgency.get("hedge", []), "urgency.hedge"),
        resolved=_strings(urgency.get("resolved", []), "urgency.resolved"),
        neutral=_strings(_table(doc, "neutral").get("words", []), "neutral.words"),
        scope=scope,
        typos={k: v for k, v in typos.items() if k},
        homophones=bool(homophones.get("enabled", True)),
        homophone_factor=_number(homophones, "factor", 0.8, "homophones"),
        real_word_freq=int(_number(homophones, "real_word_freq", 100, "homophones")),
        sound_skip=_strings(homophones.get("skip_chars", []), "homophones.skip_chars"),
        places=places,
        intents=intents,
        intent_filler=_strings(intents_doc.get("filler", []), "intents.filler"),
        reference=_strings(intents_doc.get("reference", {}).get("cues", []), "intents.reference.cues"),
        reference_patterns=_strings(intents_doc.get("reference", {}).get("patterns", []),
                                    "intents.reference.patterns"),
        ratings=ratings,
        ticket_prefixes=_strings(tickets.get("prefixes", []), "tickets.prefixes"),
        ticket_suffixes=_strings(tickets.get("suffixes", []), "tickets.suffixes"),
        commands=commands,
        bare_commands=_strings(commands_doc.get("bare", []), "commands.bare"),
    )
