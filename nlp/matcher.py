"""Compiles every word of the rules into one character trie and finds them in a message.

One pass over one segmentation: the trie is walked from each jieba token
start, so a keyword is found whether jieba kept it whole or split it, but
never from the middle of a word ("下车位置" does not hold 车位). A single
character only counts as a whole token (unless it is only ever part of an
"A+B" keyword). Keywords typed with a wrong character
of the same sound ("垃级", "暖器") are found by their pinyin (nlp.sounds) in
the stretches jieba could not make known words of.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from nlp import sounds, tokenizer
from nlp.rules import Rules
from nlp.text import normalise

# Distinct tokens remembered per matcher before the memo starts again: a long-running server
# meets new tokens for ever; 20,000 hold every token of a day's messages in a few MB (200,000
# grew a process by tens of MB and read no quicker).
TOKEN_MEMO_MAX = 20_000
_END = ""  # trie key of a complete word (no character is the empty string)
_SCOPE_FLAGS = frozenset({"neg_before", "neg_after", "main", "passing", "contrast_start"})
_TIMING_FLAGS = frozenset({"past", "present", "hedge", "resolved", "urgent_part", "neutral"})
_CJK = re.compile(r"[\u4e00-\u9fff]+")


class Term:
    """A word of the rules and every role it plays."""

    __slots__ = ("categories", "combo_parts", "flags", "intentish", "intents", "kinds", "rating", "scope", "text",
                 "timing", "topic", "urgent", "whole")

    def __init__(self, text: str) -> None:
        self.text = text
        self.categories: dict[str, float] = {}
        self.kinds: dict[str, float] = {}
        self.flags: set[str] = set()
        self.intents: dict[str, str] = {}  # intent -> "strong" | "cue"
        self.rating: int | None = None
        self.urgent = False
        self.combo_parts = False
        # 1: a single character, only as a whole token; 2: a latin word, not inside a longer one
        self.whole = 1 if len(text) == 1 else 2 if text.isascii() else 0
        # what the scoring passes look at, set when compiled
        self.topic = False  # a category keyword or a neutral word
        self.scope = False  # negation, contrast, main ask or passing mention
        self.timing = False  # past, present, hedge, resolved, urgent cue or part of an urgent combination
        self.intentish = False  # an intent cue, rating or reference to an earlier report

    def __repr__(self) -> str:
        return f"Term({self.text!r})"


TokenEntry = tuple[tuple[tuple[int, Term], ...], dict | None, tuple[tuple[int, tuple[tuple[int, Term], ...]], ...],
                   tuple[int, ...]]


@dataclass(slots=True)
class Match:
    start: int
    end: int
    term: Term
    primary: bool  # the longest word at a position not inside an earlier primary word
    typed: str | None = None  # the characters as typed, when found by sound
    topical: bool = False  # likewise among category keywords


class Found:
    """The matches of one message, and the same sorted by the role the scoring passes need."""

    __slots__ = ("all", "intentish", "kinds", "parts", "scope", "timing", "topical")

    def __init__(self) -> None:
        self.all: list[Match] = []
        self.topical: list[Match] = []  # topical category keywords
        self.parts: list[Match] = []  # parts of "A+B" keywords
        self.kinds: list[Match] = []  # primary kind cues
        self.timing: list[Match] = []  # urgency cues and time markers
        self.intentish: list[Match] = []  # intent cues, ratings, references
        self.scope: list[Match] = []  # negation, contrast, main ask, passing mention

    def add(self, m: Match) -> None:
        self.all.append(m)
        term = m.term
        if term.categories and m.topical:
            self.topical.append(m)
        if term.combo_parts:
            self.parts.append(m)
        if term.kinds and m.primary:
            self.kinds.append(m)
        if term.timing:
            self.timing.append(m)
        if term.intentish:
            self.intentish.append(m)
        if term.scope:
            self.scope.append(m)


@dataclass(frozen=True)
class Combo:
    """A keyword made of parts that must all be in one clause; a part may have alternatives."""

    category: str
    parts: tuple[tuple[str, ...], ...]
    weight: float
    label: str


class Matcher:
    """The compiled word trie, the combination rules and the homophone index."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.terms: dict[str, Term] = {}
        self.combos: list[Combo] = []
        self.combos_by_part: dict[str, list[Combo]] = {}
        self._root: dict[str, dict] = {}
        self._sound: dict[tuple[str, ...], Term | None] = {}
        self._sound_prefixes: set[tuple[str, ...]] = set()
        self._token_info: dict[str, TokenEntry] = {}  # per distinct token, see scan
        self._sound_skip = set(rules.sound_skip)  # pronouns, particles: never part of a misspelt keyword
        self._sound_max = 0
        self._compile(rules)

    # ------------------------------------------------------------ compile
    def term(self, word: str) -> Term:
        word = normalise(word).strip()
        found = self.terms.get(word)
        if found is None:
            found = self.terms[word] = Term(word)
        return found

    def _compile(self, rules: Rules) -> None:
        for code, category in rules.categories.items():
            for word, weight in category.keywords.items():
                if "+" in word.strip("+"):
                    parts = tuple(
                        tuple(normalise(alt).strip() for alt in part.split("|") if alt.strip())
                        for part in word.split("+") if part.strip()
                    )
                    combo = Combo(code, parts, weight, word)
                    self.combos.append(combo)
                    for alternative in parts[0]:
                        self.combos_by_part.setdefault(alternative, []).append(combo)
                    for part in parts:
                        for alternative in part:
                            self.term(alternative).combo_parts = True
                else:
                    self.term(word).categories[code] = weight
        for kind, cues in rules.kind_cues.items():
            for word, weight in cues.items():
                self.term(word).kinds[kind] = weight
        for word in rules.urgent_cues:
            self.term(word).urgent = True
        for urgent_combo in rules.urgent_combos:
            for group in urgent_combo:
                for word in group:
                    self.term(word).flags.add("urgent_part")
        for flag, words in (
            ("past", rules.past), ("present", rules.present), ("hedge", rules.hedge),
            ("resolved", rules.resolved), ("neutral", rules.neutral),
            ("neg_before", rules.scope.get("negation_before", [])),
            ("neg_after", rules.scope.get("negation_after", [])),
            ("contrast_start", rules.scope.get("contrast_start", [])),
            ("main", rules.scope.get("main", [])), ("passing", rules.scope.get("passing", [])),
            ("reference", rules.reference),
        ):
            for word in words:
                if isinstance(word, str) and word.strip():
                    self.term(word).flags.add(flag)
        for name, intent_cues in rules.intents.items():
            for word in intent_cues.cues:
                self.term(word).intents.setdefault(name, "cue")
            for word in intent_cues.strong:
                self.term(word).intents[name] = "strong"
        for word, score in rules.ratings.items():
            self.term(word).rating = score
        for word, term in self.terms.items():
            if not word:
                continue
            term.topic = bool(term.categories) or "neutral" in term.flags
            if term.combo_parts and not (term.categories or term.kinds or term.flags or term.intents):
                term.whole = 0  # "车" of "车+堵" also begins 车位, 车库 ...
            term.scope = bool(term.flags & _SCOPE_FLAGS)
            term.timing = term.urgent or bool(term.flags & _TIMING_FLAGS)
            term.intentish = bool(term.intents) or term.rating is not None or "reference" in term.flags
            node = self._root
            for ch in word:
                node = node.setdefault(ch, {})
            node[_END] = term  # type: ignore[assignment]
        self.terms.pop("", None)
        if rules.homophones:
            self._compile_sounds()

    def _compile_sounds(self) -> None:
        for word, term in self.terms.items():
            if len(word) < 2 or not (term.categories or term.urgent) or not _CJK.fullmatch(word):
                continue
            for key in sounds.keys(word):
                other = self._sound.get(key, term)
                self._sound[key] = term if other is term else None  # same sound, two words: ambiguous
                for i in range(1, len(key) + 1):
                    self._sound_prefixes.add(key[:i])
            self._sound_max = max(self._sound_max, len(word))

    # --------------------------------------------------------------- scan
    def scan(self, text: str, tokens: list[str]) -> Found:
        """Every rules word found at a token start of ``text`` (normalised; ``tokens`` spell it).

        Inside a rare word ("王奶奶") the walk also starts at every character,
        and inside a longer known word ("非常感谢") at every character for a
        word that ends with it. A match is ``primary`` when it is the longest
        word at its start and not inside an earlier primary match, and
        ``topical`` likewise among the category keywords (and neutral words),
        so that an urgency cue like 水管爆 does not hide the keyword 水管.

        What a token holds is worked out once per distinct token (see
        ``_token_entry``); only a word that runs on into the next tokens is
        walked character by character.
        """
        n = len(text)
        root = self._root
        cache = self._token_info
        out = Found()
        every, topical_list, parts, kinds, timing, intentish, scope = (
            out.all, out.topical, out.parts, out.kinds, out.timing, out.intentish, out.scope)
        ends = [0, 0]  # where the last primary and the last topical match end

        def emit(s: int, found: list[tuple[int, Term]]) -> None:
            longest = found[-1][0]
            topical = 0
            for end, term in found:
                if term.topic:
                    topical = end
            first_primary = s >= ends[0]
            first_topical = s >= ends[1]
            for end, term in found:
                primary = first_primary and end == longest
                m = Match(s, end, term, primary, None, first_topical and end == topical)
                every.append(m)
                if term.categories and m.topical:
                    topical_list.append(m)
                if term.combo_parts:
                    parts.append(m)
                if term.kinds and primary:
                    kinds.append(m)
                if term.timing:
                    timing.append(m)
                if term.intentish:
                    intentish.append(m)
                if term.scope:
                    scope.append(m)
            if first_primary:
                ends[0] = longest
            if topical and first_topical:
                ends[1] = topical

        def walk_on(node: dict, j: int, found: list[tuple[int, Term]]) -> None:
            # a word running on past the end of a token
            while j < n:
                node = node.get(text[j])  # type: ignore[assignment]
                if node is None:
                    return
                j += 1
                term = node.get(_END)
                if term is not None and (term.whole != 2 or j == n or not text[j].isascii()
                                         or not text[j].isalnum()):
                    found.append((j, term))

        pos = 0
        for tok in tokens:
            nxt = pos + len(tok)
            entry = cache.get(tok)
            if entry is None:
                entry = self._token_entry(tok)
            hits, tail, inner, rare = entry
            if hits or tail is not None:
                found = [(pos + end, term) for end, term in hits]
                if tail is not None and nxt < n and text[nxt] in tail:
                    walk_on(tail, nxt, found)
                if found:
                    emit(pos, found)
            for offset, inner_hits in inner:
                emit(pos + offset, [(pos + end, term) for end, term in inner_hits])
            for offset in rare:
                start = pos + offset
                found = []
                walk_on(root, start, found)
                found = [(end, term) for end, term in found if not term.whole]
                if found:
                    emit(start, found)
            pos = nxt
        return out

    def _token_entry(self, tok: str) -> TokenEntry:
        """What one token holds: the words from its start that end inside it, the trie node at its
        end (None when no word goes on), words from inside a known long word that end with it, and
        the starts inside a rare word (walked live: their words may go on into the next token)."""
        root = self._root
        size = len(tok)
        hits: list[tuple[int, Term]] = []
        node = root.get(tok[0])
        j = 1
        while node is not None:
            term = node.get(_END)
            if term is not None and (not term.whole or j == size):
                hits.append((j, term))
            if j == size:
                break
            node = node.get(tok[j])
            j += 1
        tail = node  # alive only when the walk reached the end of the token
        inner: list[tuple[int, tuple[tuple[int, Term], ...]]] = []
        rare: tuple[int, ...] = ()
        if size >= 2 and "\u4e00" <= tok[0] <= "\u9fff":
            if tokenizer.word_freq(tok) < self.rules.real_word_freq:
                rare = tuple(i for i in range(1, size) if tok[i] in root)
            elif size >= 3:
                for i in range(1, size - 1):
                    node = root.get(tok[i])
                    for ch in tok[i + 1:]:
                        if node is None:
                            break
                        node = node.get(ch)
                    term = node.get(_END) if node is not None else None
                    if term is not None and not term.whole:
                        inner.append((i, ((size, term),)))
        entry: TokenEntry = (tuple(hits), tail, tuple(inner), rare)
        if len(self._token_info) > TOKEN_MEMO_MAX:
            self._token_info.clear()
        self._token_info[tok] = entry
        return entry

    # ------------------------------------------------------------ by sound
    def by_sound(self, text: str, tokens: list[str], found: Found) -> list[Match]:
        """Keywords typed with a same-sounding wrong character, in stretches of unknown words."""
        if not self._sound:
            return []
        covered: set[int] = set()
        for m in found.all:
            if m.primary or m.topical:
                covered.update(range(m.start, m.end))
        freq = tokenizer.dictionary().count
        real = self.rules.real_word_freq
        out: list[Match] = []
        run_start = run_end = -1
        s = 0
        for tok in tokens:
            if ("\u4e00" <= tok[0] <= "\u9fff" and (len(tok) == 1 or freq(tok) < real)
                    and s not in covered):
                if s != run_end:
                    if run_end - run_start >= 2:
                        out.extend(self._sound_windows(text, run_start, run_end, covered, freq))
                    run_start = s
                run_end = s + len(tok)
            s += len(tok)
        if run_end - run_start >= 2:
            out.extend(self._sound_windows(text, run_start, run_end, covered, freq))
        return out

    def _sound_windows(self, text: str, a: int, b: int, covered: set[int], freq: Callable[[str], int]
                       ) -> list[Match]:
        # the characters as typed are read by their usual reading; the keywords by any of theirs
        prefixes = self._sound_prefixes
        reading = sounds.usual_reading
        skip = self._sound_skip
        real = self.rules.real_word_freq
        out: list[Match] = []
        i = a
        while i < b - 1:
            key: tuple[str, ...] = (reading(text[i]),)
            hit: Match | None = None
            j = i + 1
            if not skip.intersection(text[i:i + self._sound_max]):
                while key in prefixes and j < b and j - i < self._sound_max:
                    key = (*key, reading(text[j]))
                    j += 1
                    term = self._sound.get(key)
                    window = text[i:j]
                    if (term is not None and window not in self.terms and freq(window) < real
                            and not any(p in covered for p in range(i, j))):
                        hit = Match(i, j, term, True, window, True)
                        break
            if hit is not None:
                out.append(hit)
                i = hit.end
            else:
                i += 1
        return out
