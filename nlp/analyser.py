"""The one entry point: ``TextAnalyser.analyse(text)`` turns a resident's message into an Analysis.

Per message: normalise (same length), fix listed typos, segment once with
jieba, find every rules word in one trie walk, then score categories with
clause scopes (negation, contrast, passing mentions), decide kind and urgency,
find the place, and recognise non-request intents before any of it becomes a
ticket.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from nlp import features, sounds, tokenizer
from nlp.intents import IntentDetector, IntentResult
from nlp.matcher import Found, Match, Matcher
from nlp.model import DEFAULT_WEIGHTS, Model, readable
from nlp.places import NO_PLACE, PlaceFinder
from nlp.results import Analysis, Command, Place
from nlp.rules import OTHER, Rules, load
from nlp.text import Clauses, normalise

log = logging.getLogger(__name__)

MAX_CHARS = 5000  # longer messages are analysed on their first MAX_CHARS characters
ASYNC_INLINE_CHARS = 200  # longer texts are analysed in a worker thread by analyse_async
SOUND_CHARS = 300  # misspelt keywords are looked for by sound in messages up to this long ...
SOUND_BELOW = 0.5  # ... when the topic is not already clear
_EXTRA_FACTOR = 0.3  # each repeat of a keyword adds this share of its weight ...
_EXTRA_MAX = 2  # ... at most this many times
_STRENGTH = 2.5  # score at which confidence reaches 1 - 1/e before competition


INTENT_SURE = 0.5  # a non-request intent the rules did not see needs this probability
TIME_FLAGS = frozenset(("past", "present", "hedge", "resolved"))

# a position's weight factor and whether it lies in a negated stretch
Factor = Callable[[int], tuple[float, bool]]


@dataclass
class _Scored:
    scores: dict[str, float] = field(default_factory=dict)
    first: dict[str, int] = field(default_factory=dict)  # category -> where it is first mentioned
    evidence: dict[str, dict[str, float]] = field(default_factory=dict)  # category -> word -> contribution
    negated: set[str] = field(default_factory=set)
    factor: Factor | None = None  # only when the message has negation, contrast or passing mentions


@dataclass
class _Reading:
    original: str
    norm: str
    tokens: list[str]
    found: Found
    clauses: Clauses
    scored: _Scored
    category: str  # the rules' own choice
    confidence: float
    place: Place
    intent: IntentResult | None  # None: the rules read a request
    urgent: bool
    urgent_words: list[str]
    fixes: list[tuple[str, str]]


class _Compiled:
    """Everything built from one set of rules; swapped as a whole by ``TextAnalyser.load``."""

    def __init__(self, rules: Rules, defaults: Rules | None = None) -> None:
        self.rules = rules
        # The categories a community's override file changed are decided by its rules (the
        # weights know only the default rules).
        self.edited: frozenset[str] = frozenset()
        if defaults is not None:
            self.edited = frozenset(code for code, c in rules.categories.items()
                                    if code not in defaults.categories
                                    or c.keywords != defaults.categories[code].keywords)
        self.matcher = Matcher(rules)
        self.intents = IntentDetector(rules, self.matcher)
        typos = {normalise(k): normalise(v) for k, v in rules.typos.items()}
        self.typos = typos
        alternatives = "|".join(re.escape(k) for k in sorted(typos, key=len, reverse=True))
        self.typo_re = re.compile(alternatives) if typos else None
        self.names = {code: c.name for code, c in rules.categories.items()}
        self.by_name = {normalise(c.name): code for code, c in rules.categories.items()}
        vocabulary = self.matcher.terms

        def is_vocabulary(word: str) -> bool:
            term = vocabulary.get(word)
            return term is not None and bool(term.categories or term.flags or term.kinds)

        self.places = PlaceFinder(rules.places, is_vocabulary)
        # per-message lookups, made once
        self.kind_order = {k: i for i, k in enumerate(rules.kind_order)}
        self.past_suffix = tuple(rules.past_suffix)
        self.negated_before = tuple(rules.negated_before)
        self.urgent_combo_words = [frozenset(w for group in combo for w in group) for combo in rules.urgent_combos]
        self.negated_share = float(rules.scope.get("negated_category", 0.3))


class TextAnalyser:
    """Keyword routing of residents' messages (see the module docstring)."""

    def __init__(self, rules_override: Path | None = None, threshold: float | None = None,
                 place_names: Iterable[str] = (), weights: Path | None = DEFAULT_WEIGHTS) -> None:
        tokenizer.initialise()
        sounds.initialise()
        self._model = Model.load(weights) if weights is not None else None
        self._threshold_override = threshold
        self._place_names: list[str] = list(place_names)
        self._c: _Compiled
        self.load(rules_override)

    # ------------------------------------------------------------- set-up
    def load(self, override_path: Path | None = None) -> None:
        """(Re)load the default rules with a community's override file merged in."""
        compiled = _Compiled(load(override_path), load(None) if override_path is not None else None)
        if self._place_names:
            compiled.places.set_place_names(self._place_names)
        self._c = compiled

    @property
    def model(self) -> Model | None:
        return self._model

    def use_model(self, model: Model | None) -> None:
        """Read with these fitted weights from now on (None: the keyword rules alone)."""
        self._model = model

    def set_place_names(self, names: Iterable[str]) -> None:
        """The roster's compound, street and landmark names, recognised from now on."""
        self._place_names = list(names)
        self._c.places.set_place_names(self._place_names)

    @property
    def threshold(self) -> float:
        """Below this confidence a request is category ``other`` (staff triage)."""
        return self._threshold_override if self._threshold_override is not None else self._c.rules.threshold

    def categories(self) -> list[str]:
        """The category codes, in the order of the rules (``other`` last)."""
        codes = [c for c in self._c.names if c != OTHER]
        return [*codes, OTHER]

    def commands(self) -> dict[str, list[str]]:
        """The command words of the rules: command name -> its words (the first is the usual one)."""
        return {name: list(words) for name, words in self._c.rules.commands.items()}

    def bare_commands(self) -> list[str]:
        """The commands that take nothing after the word (待办, 统计 ...)."""
        return list(self._c.rules.bare_commands)

    def category_name(self, code: str) -> str:
        """The Chinese display name of a category code (the code itself when unknown)."""
        return self._c.names.get(code, code)

    def category_code(self, text: str) -> str | None:
        """A category code from a code, a display name ("停车交通"), a short name ("停车") or a keyword."""
        c = self._c
        word = normalise(text).strip()
        if not word:
            return None
        if word in c.names:
            return word
        if word in c.by_name:
            return c.by_name[word]
        starts = [code for name, code in c.by_name.items() if name.startswith(word) or word.startswith(name)]
        if len(starts) == 1:
            return starts[0]
        term = c.matcher.terms.get(word)
        if term is not None and term.categories:
            best = max(term.categories.items(), key=lambda kv: kv[1])
            if best[1] > 0:
                return best[0]
        return None

    # ------------------------------------------------------------ helpers
    def tokens(self, text: str) -> list[str]:
        """The segmentation of ``text`` (whitespace dropped), e.g. for duplicate-ticket similarity."""
        norm, _ = self._prepare(text)
        return [t for t in tokenizer.cut(norm) if t.strip()]

    def parse_place(self, text: str) -> Place:
        """The place named in ``text``."""
        try:
            norm, _ = self._prepare(text)
            return self._c.places.find(norm, _tokens(norm), _clip(_as_str(text)))
        except Exception:  # a bad message must never take the bot down
            log.exception("parse_place failed")
            return Place("")

    def parse_command(self, text: str) -> Command | None:
        """A volunteer's or staff member's command (接单 123, 办结 123 已修好 ...), or None."""
        try:
            return self._c.intents.parse_command(_clip(_as_str(text)), self.category_code)
        except Exception:  # a bad message must never take the bot down
            log.exception("parse_command failed on %r", text[:100] if isinstance(text, str) else text)
            return None

    # ------------------------------------------------------------ analyse
    async def analyse_async(self, text: str) -> Analysis:
        """``analyse`` that never blocks the event loop: long texts go to a worker thread."""
        if isinstance(text, str) and len(text) > ASYNC_INLINE_CHARS:
            return await asyncio.to_thread(self.analyse, text)
        return self.analyse(text)

    def analyse(self, text: str) -> Analysis:
        """What the message is. Never raises."""
        text = _as_str(text)
        try:
            return self._analyse(text)
        except Exception:  # a bad message must never take the bot down
            log.exception("analyse failed on %r", text[:100])
            return Analysis(text, "request", OTHER, self._c.rules.kind_default, False, NO_PLACE, 0.0, ())

    def _prepare(self, text: str) -> tuple[str, list[tuple[str, str]]]:
        """Normalised text with listed typos fixed, and the fixes made."""
        norm = normalise(_clip(_as_str(text)))
        c = self._c
        fixes: list[tuple[str, str]] = []
        if c.typo_re is not None:
            def fix(m: re.Match[str]) -> str:
                right = c.typos[m.group()]
                fixes.append((m.group(), right))
                return right
            norm = c.typo_re.sub(fix, norm)
        return norm, fixes

    def _read(self, text: str) -> _Reading:
        """What the keyword rules read in ``text``: the evidence the fitted weights weigh."""
        c = self._c
        original = _clip(text)
        norm, fixes = self._prepare(original)
        tokens = _tokens(norm)
        found = c.matcher.scan(norm, tokens)
        clauses = Clauses(norm)
        scored = self._score(norm, found, clauses)
        category, confidence = self._decide(scored)
        place = c.places.find(norm, tokens, original)
        intent = c.intents.detect(norm, found, clauses, category != OTHER, place)
        if intent is None and confidence < SOUND_BELOW and len(norm) <= SOUND_CHARS:
            heard = c.matcher.by_sound(norm, tokens, found)
            if heard:
                for m in heard:
                    found.add(m)
                scored = self._score(norm, found, clauses)
                category, confidence = self._decide(scored)
        urgent, urgent_words = self._urgency(norm, found, clauses)
        return _Reading(original, norm, tokens, found, clauses, scored, category, confidence, place, intent,
                        urgent, urgent_words, fixes)

    def features(self, text: str) -> dict[str, float]:
        """The feature vector the fitted weights read (training uses this too)."""
        return self._features(self._read(_as_str(text)))

    def _features(self, r: _Reading) -> dict[str, float]:
        timing = r.found.timing
        keywords = [m.term.text for m in r.found.topical] + [m.term.text for m in timing if m.term.urgent]
        flags = [flag for m in timing for flag in m.term.flags & TIME_FLAGS]
        kind, _ = self._kind(r.found, r.urgent, r.scored.factor)
        return features.extract(r.norm, r.tokens, r.scored.scores, keywords,
                                r.intent.intent if r.intent else None, r.urgent,
                                any(m.term.urgent or "urgent_part" in m.term.flags for m in timing),
                                self._c.intents.count_numbers(r.norm), flags, kind)

    def _analyse(self, text: str) -> Analysis:
        r = self._read(text)
        if self._model is None:
            return self._by_rules(text, r)
        model = self._model
        f = self._features(r)
        predicted = model.predict(f)
        intents = predicted["intent"]
        intent = max(intents, key=intents.__getitem__)
        if intent != "request" and r.intent is None and intents[intent] < INTENT_SURE:
            intent = "request"  # unsure, and the rules read a request: never drop a resident's request
        if intent != "request":
            found = r.intent if r.intent is not None and r.intent.intent == intent else \
                self._c.intents.arguments(r.norm, r.found, intent)
            place = r.place
            if found.ticket is not None and place.building is None and place.room == str(found.ticket):
                place = NO_PLACE  # the number was the ticket's
            explained = [readable(x) for x in model.explain(f, "intent", intent)]
            why = tuple(dict.fromkeys(w for w in [*found.matched, *explained] if w))
            return Analysis(text, intent, "", "", False, place, round(intents[intent], 3), why,
                            found.ticket, found.rating, found.invite_code)
        categories = predicted["category"]
        category = max(categories, key=categories.__getitem__)
        confidence = categories[category]
        edited = self._c.edited
        if edited and (category in edited or r.category in edited):
            category, confidence = r.category, r.confidence  # the community's own rules decide
        elif confidence < self.threshold:
            category = OTHER
        urgent_p = predicted["urgent"].get("1", 0.0)
        # when in doubt, urgent: the fitted detector (tuned for recall), or a live danger cue of the
        # rules unless the detector finds it very unlikely (a cue word in a long story of the past)
        urgent = urgent_p >= model.thresholds.get("urgent", 0.5) or \
            (r.urgent and urgent_p >= model.thresholds.get("urgent_cue", 0.0))
        kinds = predicted["kind"]
        kind = max(kinds, key=kinds.__getitem__)
        matched = [f"{wrong}→{right}" for wrong, right in r.fixes]
        if category != OTHER:
            evidence = r.scored.evidence.get(category, {})
            matched += sorted((w for w, v in evidence.items() if v > 0), key=evidence.__getitem__, reverse=True)
            if category in model.heads["category"].classes:
                matched += [readable(x) for x in model.explain(f, "category", category, 4)]
        if urgent:
            matched += r.urgent_words or [readable(x) for x in model.explain(f, "urgent", "1", 3)]
        return Analysis(text, "request", category, kind, urgent, r.place, round(confidence, 3),
                        tuple(dict.fromkeys(w for w in matched if w)))

    def _by_rules(self, text: str, r: _Reading) -> Analysis:
        """The keyword rules alone (no weights file, or a community that turned them off)."""
        place = r.place
        if r.intent is not None:
            if r.intent.ticket is not None and place.building is None and place.room == str(r.intent.ticket):
                place = NO_PLACE  # the number was the ticket's
            return Analysis(text, r.intent.intent, "", "", False, place, round(r.intent.confidence, 3),
                            tuple(dict.fromkeys(r.intent.matched)), r.intent.ticket, r.intent.rating,
                            r.intent.invite_code)
        kind, kind_words = self._kind(r.found, r.urgent, r.scored.factor)
        matched = [f"{wrong}→{right}" for wrong, right in r.fixes] if r.fixes else []
        if r.category != OTHER:
            evidence = r.scored.evidence[r.category]
            matched += sorted((w for w, v in evidence.items() if v > 0), key=evidence.__getitem__, reverse=True)
        matched += r.urgent_words + kind_words
        return Analysis(text, "request", r.category, kind, r.urgent, place, round(r.confidence, 3),
                        tuple(dict.fromkeys(matched)))

    # ------------------------------------------------------------ scoring
    def _scopes(self, norm: str, found: Found, clauses: Clauses) -> Factor | None:
        """Weight factor of each position: negation, contrast, main ask and passing mentions."""
        if not found.scope:
            return None
        scope = self._c.rules.scope
        negations: list[tuple[int, int]] = []
        mains: list[tuple[int, int]] = []
        passing_from = len(norm) + 1
        negated_clauses: set[int] = set()
        contrast_clauses: set[int] = set()
        objects = scope.get("negation_objects", [])
        by_clause: dict[int, list[Match]] = {}
        for m in found.scope:
            if m.primary:  # not inside a longer word: 说不是, 是不是
                by_clause.setdefault(clauses.of(m.start), []).append(m)
        if not by_clause:
            return None
        for ci, ms in sorted(by_clause.items()):
            cs, ce = clauses.spans[ci]
            for m in ms:
                flags = m.term.flags
                if "neg_before" in flags:
                    stop = next((x.start for x in ms if x.start >= m.end and "contrast_start" in x.term.flags), ce)
                    tail = norm[m.end:stop]
                    next_contrast = any(
                        x.start == clauses.spans[ci + 1][0] and "contrast_start" in x.term.flags
                        for x in by_clause.get(ci + 1, [])
                    ) if ci + 1 < len(clauses) else False
                    if stop < ce or next_contrast or any(word in tail for word in objects):
                        negations.append((m.end, stop))
                        negated_clauses.add(ci)
                elif "neg_after" in flags:
                    negations.append((cs, m.start))
                    negated_clauses.add(ci)
                elif "main" in flags:
                    mains.append((m.start, ce))
                elif "passing" in flags:
                    passing_from = min(passing_from, m.start)
            for m in ms:
                if "contrast_start" in m.term.flags and m.start == cs and ci - 1 in negated_clauses:
                    contrast_clauses.add(ci)
        if not (negations or mains or contrast_clauses or passing_from <= len(norm)):
            return None
        main_f = float(scope.get("main_factor", 1.6))
        passing_f = float(scope.get("passing_factor", 0.5))
        contrast_f = float(scope.get("contrast_factor", 1.5))
        negated_f = float(scope.get("negated", 0.0))

        def factor(pos: int) -> tuple[float, bool]:
            for a, b in negations:
                if a <= pos < b:
                    return negated_f, True
            f = 1.0
            if any(a <= pos < b for a, b in mains):
                f = main_f
            elif pos >= passing_from:
                f = passing_f
            if contrast_clauses and clauses.of(pos) in contrast_clauses:
                f *= contrast_f
            return f, False

        return factor

    def _score(self, norm: str, found: Found, clauses: Clauses) -> _Scored:
        c = self._c
        out = _Scored()
        factor = self._scopes(norm, found, clauses)
        out.factor = factor
        sound = c.rules.homophone_factor
        best: dict[tuple[str, str], float] = {}
        repeats: dict[tuple[str, str], int] = {}
        parts: dict[int, dict[str, int]] = {}
        for m in found.parts:
            parts.setdefault(clauses.of(m.start), {}).setdefault(m.term.text, m.start)
        for m in found.topical:
            term = m.term
            f, negated = factor(m.start) if factor else (1.0, False)
            if m.typed is not None:
                f *= sound
            label = term.text if m.typed is None else f"{m.typed}→{term.text}"
            for code, weight in term.categories.items():
                if negated and weight > 0:
                    out.negated.add(code)
                if weight > 0 and code not in out.first:
                    out.first[code] = m.start
                key = (code, label)
                value = weight * f
                if key in best:
                    if weight > 0 and repeats.get(key, 0) < _EXTRA_MAX:
                        repeats[key] = repeats.get(key, 0) + 1
                        best[key] += weight * _EXTRA_FACTOR * max(f, 0.0)
                    continue
                best[key] = value
        combos = c.matcher.combos_by_part
        candidates = {id(x): x for ps in parts.values() for p in ps for x in combos.get(p, ())}
        for combo in candidates.values():
            for clause_parts in parts.values():
                hits = [next((clause_parts[a] for a in part if a in clause_parts), None) for part in combo.parts]
                if None not in hits:
                    pos = min(h for h in hits if h is not None)
                    f, negated = factor(pos) if factor else (1.0, False)
                    if negated:
                        out.negated.add(combo.category)
                    key = (combo.category, combo.label)
                    best[key] = max(best.get(key, 0.0), combo.weight * f)
                    break
        for (code, label), value in best.items():
            out.scores[code] = out.scores.get(code, 0.0) + value
            out.evidence.setdefault(code, {})[label] = value
        share = c.negated_share
        for code in out.negated:
            if code in out.scores:
                out.scores[code] *= share
        return out

    def _decide(self, scored: _Scored) -> tuple[str, float]:
        # best score first; on a tie the topic mentioned first
        ranked = sorted((-s, scored.first.get(code, 0), code) for code, s in scored.scores.items()
                        if code != OTHER and s > 0)
        if not ranked:
            return OTHER, 0.0
        s1 = -ranked[0][0]
        s2 = -ranked[1][0] if len(ranked) > 1 else 0.0
        confidence = (1.0 - math.exp(-s1 / _STRENGTH)) * math.sqrt(s1 / (s1 + s2))
        if confidence < self.threshold:
            return OTHER, confidence
        return ranked[0][2], confidence

    # ------------------------------------------------------------ urgency
    def _urgency(self, norm: str, found: Found, clauses: Clauses) -> tuple[bool, list[str]]:
        c = self._c  # read once: load() may swap the compiled rules meanwhile
        rules = c.rules
        past: set[int] = set()
        present: set[int] = set()
        hedged: set[int] = set()
        cues: list[Match] = []
        parts: dict[str, list[Match]] = {}
        neutral: list[tuple[int, int]] = []
        for m in found.timing:
            flags = m.term.flags
            if "neutral" in flags:
                neutral.append((m.start, m.end))
            if "resolved" in flags:
                return False, []
            if "urgent_part" in flags:
                parts.setdefault(m.term.text, []).append(m)
            if flags:
                ci = clauses.of(m.start)
                if "past" in flags:
                    past.add(ci)
                if "present" in flags:
                    present.add(ci)
                if "hedge" in flags:
                    hedged.add(ci)
            if m.term.urgent:
                cues.append(m)
        suffixes = c.past_suffix
        denials = c.negated_before

        def live(pos: int, end: int) -> bool:
            ci = clauses.of(pos)
            if ci in hedged or (ci in past and ci not in present):
                return False
            if denials and norm.endswith(denials, max(0, pos - 6), pos):
                return False  # "没有闻到煤气味": the resident says it is not there
            return not (suffixes and norm.startswith(suffixes, end))

        for m in cues:
            if any(a <= m.start and m.end <= b and (a, b) != (m.start, m.end) for a, b in neutral):
                continue  # part of a word that is not a cue: 打不着火, 救命稻草
            if live(m.start, m.end):
                return True, [m.term.text if m.typed is None else f"{m.typed}→{m.term.text}"]
        if parts:
            for combo, combo_words in zip(rules.urgent_combos, c.urgent_combo_words, strict=True):
                if combo and combo_words.isdisjoint(parts):
                    continue  # none of its words is in the message
                hits: list[str] = []
                for group in combo:
                    hit = next((w for w in group if any(live(m.start, m.end) for m in parts.get(w, ()))), None)
                    if hit is None:
                        break
                    hits.append(hit)
                else:
                    return True, ["+".join(hits)]
        return False, []

    # --------------------------------------------------------------- kind
    def _kind(self, found: Found, urgent: bool, factor: Factor | None = None) -> tuple[str, list[str]]:
        c = self._c  # read once: load() may swap the compiled rules meanwhile
        rules = c.rules
        scores: dict[str, float] = {}
        words: dict[str, list[str]] = {}
        for m in found.kinds:
            lead = rules.kind_lead_bonus if m.start < rules.kind_lead_chars else 1.0
            if factor is not None:
                lead *= min(factor(m.start)[0], 1.0)  # cues in a passing mention count less
            for kind, weight in m.term.kinds.items():
                scores[kind] = scores.get(kind, 0.0) + weight * lead
                words.setdefault(kind, []).append(m.term.text)
        if urgent:
            scores["help"] = scores.get("help", 0.0) + rules.kind_urgent_help
        default = rules.kind_default
        scores[default] = max(scores.get(default, 0.0), rules.kind_default_score)
        order = c.kind_order
        kind = min(scores, key=lambda k: (-scores[k], order.get(k, 99)))
        return kind, words.get(kind, [])


def _tokens(text: str) -> list[str]:
    """The segmentation of ``text``; its tokens always spell ``text`` exactly."""
    tokens = tokenizer.cut(text)
    if sum(map(len, tokens)) != len(text):  # never seen; the matcher relies on it
        return list(text)
    return tokens


def _as_str(text: object) -> str:
    if isinstance(text, str):
        return text
    if text is None:
        return ""
    if isinstance(text, bytes):
        return text.decode("utf-8", "replace")
    return str(text)


def _clip(text: str) -> str:
    return text[:MAX_CHARS]
