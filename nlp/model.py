"""The fitted weights, served without scikit-learn: one linear head per
question (intent, category, kind, urgent) over the features of nlp.features.

The weights file (nlp/data/weights.json) is written by ``python -m bot
train`` and read once at start-up. A head keeps only the weights that
matter, as ``feature -> [[class index, weight], ...]``, so a message costs a
handful of dictionary look-ups per feature.
"""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "data" / "weights.json"


@dataclass
class Head:
    """One question's classes and intercepts; its weights live in the model's shared table."""

    classes: list[str]
    intercept: list[float]


@dataclass
class Model:
    """The heads and one table of all their weights.

    Served as one score vector of every head's classes laid end to end: ``flat``
    holds each feature's weights as ``(position in that vector, weight)``, in
    the order of the heads and of the weights file, and ``by_position`` each
    position's ``feature -> weight`` for ``explain``. Both are made in one pass
    by ``build``; ``table`` (``feature -> ((head, class, weight), ...)``) is
    derived from them when asked for.
    """

    heads: dict[str, Head]
    flat: dict[str, list[tuple[int, float]]]
    by_position: list[dict[str, float]]
    thresholds: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    # (position, feature) -> every weight, for the rare feature with two weights for one class
    repeated: dict[tuple[int, str], list[float]] = field(default_factory=dict)
    _intercepts: list[float] = field(init=False, repr=False, compare=False)
    _spans: list[tuple[str, list[str], int, int]] = field(init=False, repr=False, compare=False)
    _positions: list[tuple[int, int]] = field(init=False, repr=False, compare=False)  # -> (head, class)
    # a feature's row of ``flat`` packed as (positions, weights) in two arrays: the weights of a
    # message's features are then read from a few contiguous blocks instead of a tuple and a float
    # object each (a tenth quicker); packed when a message first has the feature
    _packed: dict[str, tuple[bytes | array[int], array[float]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._intercepts, self._spans, self._positions, self._packed = [], [], [], {}
        for h, (name, head) in enumerate(self.heads.items()):
            start = len(self._intercepts)
            self._spans.append((name, head.classes, start, start + len(head.classes)))
            self._intercepts.extend(head.intercept)
            self._positions.extend((h, i) for i in range(len(head.classes)))

    @property
    def table(self) -> dict[str, tuple[tuple[int, int, float], ...]]:
        """Every weight: ``feature -> ((head, class, weight), ...)``."""
        positions = self._positions
        return {feature: tuple((*positions[k], w) for k, w in row) for feature, row in self.flat.items()}

    def predict(self, features: Mapping[str, float]) -> dict[str, dict[str, float]]:
        """Every head's class probabilities for one feature vector."""
        scores = self._intercepts.copy()
        packed = self._packed
        flat = self.flat
        for name, value in features.items():
            row = packed.get(name)
            if row is None:
                entries = flat.get(name)
                if entries is None:
                    continue
                row = packed[name] = _pack(entries)
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
        weights = self.by_position[k] if k < len(self.by_position) else {}
        repeated = self.repeated
        pushes = []
        for name in features.keys() & weights.keys():  # any order: the pushes are sorted
            value = features[name]
            for w in repeated[k, name] if repeated and (k, name) in repeated else (weights[name],):
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
        flat: dict[str, list[tuple[int, float]]] = {}
        by_position: list[dict[str, float]] = []
        repeated: dict[tuple[int, str], list[float]] = {}
        start = 0
        for head, weights in heads.values():
            by_position.extend({} for _ in head.classes)
            for feature, row in weights.items():
                entries = [(start + int(i), float(w)) for i, w in row]
                existing = flat.get(feature)
                if existing is None:
                    flat[feature] = entries
                else:
                    existing.extend(entries)
                for k, w in entries:
                    at = by_position[k]
                    if feature in at:
                        repeated.setdefault((k, feature), [at[feature]]).append(w)
                    else:
                        at[feature] = w
            start += len(head.classes)
        return cls({name: head for name, (head, _) in heads.items()}, flat, by_position,
                   dict(thresholds or {}), dict(meta or {}), repeated)

    @classmethod
    def load(cls, path: Path = DEFAULT_WEIGHTS) -> Model | None:
        """The model in ``path``, or None when there is none (the rules then decide alone).
        Loaded once per file and shared: every analyser of a process reads the same table."""
        if not path.is_file():
            return None
        key = (str(path.resolve()), path.stat().st_mtime_ns)
        if key not in _loaded:
            data = json.loads(path.read_text(encoding="utf-8"))
            _loaded.clear()
            _loaded[key] = cls.build(
                {name: (Head(list(h["classes"]), [float(x) for x in h["intercept"]]), h["weights"])
                 for name, h in data["heads"].items()},
                {k: float(v) for k, v in data.get("thresholds", {}).items()}, dict(data.get("meta", {})))
        return _loaded[key]


_loaded: dict[tuple[str, int], Model] = {}


def _pack(entries: list[tuple[int, float]]) -> tuple[bytes | array[int], array[float]]:
    """A row's positions and weights as two arrays (the same numbers, in the same order)."""
    positions = [k for k, _ in entries]
    packed_positions = bytes(positions) if max(positions, default=0) < 256 else array("q", positions)
    return packed_positions, array("d", [w for _, w in entries])


def readable(feature: str) -> str:
    """A feature as staff read it in ``matched``: the word, not its namespace."""
    kind, _, rest = feature.partition(":")
    if kind in ("r", "ri", "ru", "rk", "tm", "len", "num") or not rest:
        return ""
    return rest
