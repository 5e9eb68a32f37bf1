"""The features the fitted weights read: what the keyword rules found, the
jieba tokens, character bigrams, and the words of a long message's main ask.
(Trigrams were measured: no better out of fold, and a third more to look up.)

Training (nlp.training) and serving (nlp.analyser) call the same function,
so a feature means the same thing in both. A feature is a name and a value;
the vector is scaled to unit length, so a long message does not outvote a
short one by its number of words.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable, Mapping
from itertools import repeat

# Clauses that carry the ask in a long message; their words count again as "main ask" words.
ASK_MARKERS = ("希望", "请求", "要求", "恳请", "恳求", "请", "建议", "盼", "能否", "能不能", "可不可以", "麻烦")
NEGATIONS = ("没有", "没", "不是", "不", "无", "未", "别")
LONG_CHARS = 60  # from this length a message's title and ask clauses are marked
_WORD = re.compile(r"[^\W_]", re.UNICODE)
_SPACE = re.compile(r"\s+")
_SPLIT = re.compile(r"[。！？!?；;\n]+")


def _length_bucket(n: int) -> str:
    for limit, name in ((4, "xs"), (12, "s"), (30, "m"), (80, "l"), (250, "xl")):
        if n <= limit:
            return name
    return "xxl"


def extract(norm: str, tokens: Iterable[str], rule_scores: Mapping[str, float], keywords: Iterable[str],
            rule_intent: str | None, rule_urgent: bool, urgent_cue: bool, numbers: int,
            timing: Iterable[str] = (), rule_kind: str = "") -> dict[str, float]:
    """The feature vector of one message (unit length).

    ``norm`` is the normalised text, ``tokens`` its jieba segmentation,
    ``rule_scores`` the keyword rules' category scores, ``keywords`` the rule
    words found, ``rule_intent`` what the intent rules read (None: a request),
    ``rule_urgent`` and ``urgent_cue`` whether the urgency rules fired and
    whether any danger word was present at all, ``numbers`` how many
    ticket-like numbers the text has, ``timing`` the time markers found
    (past, present, hedge, resolved), also paired with the danger cue, and
    ``rule_kind`` the kind the kind cues read.
    """
    f: dict[str, float] = {}
    tokens = list(tokens)
    # t.isalnum(): every character a letter or digit, so _WORD finds one (the usual token, quicker)
    words = [t.lower() for t in tokens if t.isalnum() or _WORD.search(t)]
    f.update(dict.fromkeys(["t:" + t for t in words], 1.0))
    compact = _SPACE.sub("", norm.lower())
    f.update(dict.fromkeys(["b:" + compact[i:i + 2] for i in range(len(compact) - 1)], 1.0))
    previous = ""
    for t in words:
        if previous in NEGATIONS:
            f["n:" + t] = 1.0
        previous = t
    if len(compact) >= LONG_CHARS:
        for t in _main_ask_words(norm, tokens):
            f["m:" + t] = 1.0
    for code, score in rule_scores.items():
        if score > 0:
            f["r:" + code] = 1.0 + math.log1p(score)
    for word in keywords:
        f["k:" + word] = 1.0
    f["ri:" + (rule_intent or "request")] = 2.0
    if rule_urgent:
        f["ru:live"] = 2.0
    if urgent_cue:
        f["ru:cue"] = 1.0
    for flag in set(timing):
        f["tm:" + flag] = 1.0
        if urgent_cue:
            f["tm:cue&" + flag] = 1.0
    if rule_kind:
        f["rk:" + rule_kind] = 1.0
    f["len:" + _length_bucket(len(compact))] = 1.0
    if numbers:
        f["num:" + ("1" if numbers == 1 else "n")] = 1.0
    if "?" in norm or "？" in norm or norm.rstrip().endswith(("吗", "呢", "么")):
        f["q"] = 1.0
    values = list(f.values())
    scale = math.sqrt(sum(map(operator.mul, values, values))) or 1.0
    return dict(zip(f, map(operator.truediv, values, repeat(scale, len(values))), strict=True))


def _main_ask_words(norm: str, tokens: list[str]) -> list[str]:
    """The words of the first sentence (a long message's title) and of the
    sentences that carry an ask (希望/请求/要求 ...)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SPLIT.finditer(norm + "。"):
        sentence = norm[start:m.start()]
        if sentence.strip() and (not spans or any(marker in sentence for marker in ASK_MARKERS)):
            spans.append((start, m.start()))
        start = m.end()
    out: list[str] = []
    pos = 0
    for t in tokens:
        if _WORD.search(t) and any(a <= pos < b for a, b in spans):
            out.append(t.lower())
        pos += len(t)
    return out
