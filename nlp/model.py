"""The fitted weights, served without scikit-learn: one linear head per
question (intent, category, kind, urgent) over the features of nlp.features.

The weights file (nlp/data/weights.json) is written by ``python -m bot
train`` and read once at start-up. A head keeps only the weights that
matter, as ``feature -> [[class index, weight], ...]``, so a message costs a
handful of dictionary look-ups per feature.

Parsing that JSON takes about 25 MB for a moment and leaves the process 16 MB
bigger for good (the heap does not shrink back), so the model as served is
also kept in the cache directory (``nlp.tokenizer.cache_dir``) in a compact
binary form, keyed by the weights file's content, and read from there.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import math
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.tokenizer import cache_dir, keep_cached

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "data" / "weights.json"
CACHE_VERSION = 1

# A feature's weights: the positions in the score vector they add to (bytes while
# every position is under 256) and the weights, in the order of the heads and of
# the weights file; read from a few contiguous blocks per feature.
Row = tuple["bytes | array[int]", "array[float]"]


@dataclass
class Head:
    """One question's classes and intercepts; its weights live in the model's shared table."""

    classes: list[str]
    intercept: list[float]


@dataclass
class Model:
    """The heads and one table of all their weights.

    Served as one score vector of every head's classes laid end to end:
    ``rows`` holds each feature's weights as a ``Row``. ``table``
    (``feature -> ((head, class, weight), ...)``) is derived from it when asked
    for. A feature may have two weights for one class; both count.
    """

    heads: dict[str, Head]
    rows: dict[str, Row]
    thresholds: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    _intercepts: list[float] = field(init=False, repr=False, compare=False)
    _spans: list[tuple[str, list[str], int, int]] = field(init=False, repr=False, compare=False)
    _positions: list[tuple[int, int]] = field(init=False, repr=False, compare=False)  # -> (head, class)

    def __post_init__(self) -> None:
        self._intercepts, self._spans, self._positions = [], [], []
        for h, (name, head) in enumerate(self.heads.items()):
            start = len(self._intercepts)
            self._spans.append((name, head.classes, start, start + len(head.classes)))
            self._intercepts.extend(head.intercept)
            self._positions.extend((h, i) for i in range(len(head.classes)))

    @property
    def table(self) -> dict[str, tuple[tuple[int, int, float], ...]]:
        """Every weight: ``feature -> ((head, class, weight), ...)``."""
        positions = self._positions
        return {feature: tuple((*positions[k], w) for k, w in zip(*row, strict=True))
                for feature, row in self.rows.items()}

    def predict(self, features: Mapping[str, float]) -> dict[str, dict[str, float]]:
        """Every head's class probabilities for one feature vector."""
        scores = self._intercepts.copy()
        rows = self.rows
        for name, value in features.items():
            row = rows.get(name)
            if row is None:
                continue
            for k, w in zip(*row, strict=True):
                scores[k] += w * value
        out = {}
        exp = math.exp
        for name, classes, a, b in self._spans:
            raw = scores[a:b]
            top = max(raw)
            exps = [exp(x - top) for x in raw]
            total = sum(exps)
            out[name] = {c: e / total for c, e in zip(classes, exps, strict=True)}
        return out

    def explain(self, features: Mapping[str, float], head: str, label: str, n: int = 6) -> list[str]:
        """The features that pushed ``head`` most towards ``label``, strongest first."""
        h = list(self.heads).index(head)
        k = self._spans[h][2] + self.heads[head].classes.index(label)
        rows = self.rows
        pushes = []
        for name, value in features.items():
            row = rows.get(name)
            if row is None or k not in row[0]:
                continue
            for position, w in zip(*row, strict=True):
                if position == k:
                    push = w * value
                    if push > 0:
                        pushes.append((push, name))
        pushes.sort(reverse=True)
        return [name for _, name in pushes[:n]]

    def save(self, path: Path) -> None:
        names = list(self.heads)
        weights: dict[str, dict[str, list[list[float]]]] = {name: {} for name in names}
        for feature, row in sorted(self.table.items()):
            for h, i, w in row:
                weights[names[h]].setdefault(feature, []).append([i, round(w, 4)])
        data = {"meta": self.meta, "thresholds": self.thresholds,
                "heads": {name: {"classes": head.classes, "intercept": [round(x, 5) for x in head.intercept],
                                 "weights": weights[name]} for name, head in self.heads.items()}}
        path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")

    @classmethod
    def build(cls, heads: Mapping[str, tuple[Head, Mapping[str, list[tuple[int, float]]]]],
              thresholds: Mapping[str, float] | None = None, meta: Mapping[str, Any] | None = None) -> Model:
        """A model from each head and its weights (``feature -> [(class, weight), ...]``)."""
        entries: dict[str, list[tuple[int, float]]] = {}
        start = 0
        for head, weights in heads.values():
            for feature, row in weights.items():
                entries.setdefault(feature, []).extend((start + int(i), float(w)) for i, w in row)
            start += len(head.classes)
        return cls({name: head for name, (head, _) in heads.items()},
                   {feature: _pack(row) for feature, row in entries.items()},
                   dict(thresholds or {}), dict(meta or {}))

    @classmethod
    def load(cls, path: Path = DEFAULT_WEIGHTS) -> Model | None:
        """The model in ``path``, or None when there is none (the rules then decide alone).
        Loaded once per file and shared: every analyser of a process reads the same table."""
        if not path.is_file():
            return None
        key = (str(path.resolve()), path.stat().st_mtime_ns)
        if key not in _loaded:
            _loaded.clear()
            _loaded[key] = _load_cached(path)
        return _loaded[key]


_loaded: dict[tuple[str, int], Model] = {}


def _pack(entries: list[tuple[int, float]]) -> Row:
    """A row's positions and weights as two arrays (the same numbers, in the same order)."""
    positions = [k for k, _ in entries]
    packed_positions = bytes(positions) if max(positions, default=0) < 256 else array("q", positions)
    return packed_positions, array("d", [w for _, w in entries])


def _parse(text: str) -> Model:
    data = json.loads(text)
    return Model.build(
        {name: (Head(list(h["classes"]), [float(x) for x in h["intercept"]]), h["weights"])
         for name, h in data["heads"].items()},
        {k: float(v) for k, v in data.get("thresholds", {}).items()}, dict(data.get("meta", {})))


def _load_cached(path: Path) -> Model:
    """The model in ``path``, from its compact copy in the cache directory when there is one."""
    raw = path.read_bytes()
    cache = cache_dir() / f"lianxin-model-{hashlib.sha1(raw + bytes([CACHE_VERSION])).hexdigest()[:16]}.cache"
    try:
        heads, rows, thresholds, meta = marshal.loads(cache.read_bytes())
        return Model({name: Head(classes, intercept) for name, classes, intercept in heads},
                     {feature: (positions if isinstance(positions, bytes) else array("q", positions),
                                _floats(weights)) for feature, (positions, weights) in rows.items()},
                     thresholds, meta)
    except (OSError, ValueError, EOFError, TypeError, AttributeError):  # none yet, or not ours
        pass
    model = _parse(raw.decode("utf-8"))
    _keep(cache, model)
    return model


def _floats(data: bytes) -> array[float]:
    out = array("d")
    out.frombytes(data)
    return out


def _keep(cache: Path, model: Model) -> None:
    """Write the compact copy, dropping copies made from other weights files."""
    compact = ([(name, head.classes, head.intercept) for name, head in model.heads.items()],
               {feature: (positions if isinstance(positions, bytes) else list(positions), weights.tobytes())
                for feature, (positions, weights) in model.rows.items()},
               model.thresholds, model.meta)
    keep_cached(cache, "lianxin-model-", compact)


def readable(feature: str) -> str:
    """A feature as staff read it in ``matched``: the word, not its namespace."""
    kind, _, rest = feature.partition(":")
    if kind in ("r", "ri", "ru", "rk", "tm", "len", "num") or not rest:
        return ""
    return rest
