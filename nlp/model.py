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
    """The heads and one table of all their weights: ``feature -> ((head, class, weight), ...)``."""

    heads: dict[str, Head]
    table: dict[str, tuple[tuple[int, int, float], ...]]
    thresholds: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    # Derived at construction for serving: the heads' classes laid end to end in one score vector,
    # each feature's weights as (position in that vector, weight), and for ``explain`` each
    # (head, class) -> feature -> its weights. Same weights, same order of additions as the table.
    _intercepts: list[float] = field(init=False, repr=False, compare=False)
    _flat: dict[str, tuple[tuple[int, float], ...]] = field(init=False, repr=False, compare=False)
    _spans: list[tuple[str, list[str], int, int]] = field(init=False, repr=False, compare=False)
    _by_class: dict[tuple[str, str], dict[str, tuple[float, ...]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        offsets: list[int] = []
        self._intercepts, self._spans = [], []
        for name, head in self.heads.items():
            offsets.append(len(self._intercepts))
            self._spans.append((name, head.classes, len(self._intercepts), len(self._intercepts) + len(head.classes)))
            self._intercepts.extend(head.intercept)
        self._flat = {feature: tuple((offsets[h] + i, w) for h, i, w in row) for feature, row in self.table.items()}
        names = list(self.heads)
        by_index: dict[tuple[int, int], dict[str, list[float]]] = {}
        for feature, row in self.table.items():
            for h, i, w in row:
                by_index.setdefault((h, i), {}).setdefault(feature, []).append(w)
        self._by_class = {(names[h], self.heads[names[h]].classes[i]): {f: tuple(ws) for f, ws in table.items()}
                          for (h, i), table in by_index.items()
                          if 0 <= h < len(names) and 0 <= i < len(self.heads[names[h]].classes)}

    def predict(self, features: Mapping[str, float]) -> dict[str, dict[str, float]]:
        """Every head's class probabilities for one feature vector."""
        scores = self._intercepts.copy()
        flat = self._flat
        for name, value in features.items():
            row = flat.get(name)
            if row is not None:
                for k, w in row:
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
        if head not in self.heads or label not in self.heads[head].classes:
            raise ValueError(f"{head!r} has no class {label!r}")  # as list.index did
        weights = self._by_class.get((head, label))
        if not weights:
            return []
        get = weights.get
        pushes = []
        for name, value in features.items():
            ws = get(name)
            if ws is not None:
                for w in ws:
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
        table: dict[str, list[tuple[int, int, float]]] = {}
        for h, (_, weights) in enumerate(heads.values()):
            for feature, row in weights.items():
                table.setdefault(feature, []).extend((h, int(i), float(w)) for i, w in row)
        return cls({name: head for name, (head, _) in heads.items()}, {k: tuple(v) for k, v in table.items()},
                   dict(thresholds or {}), dict(meta or {}))

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


def readable(feature: str) -> str:
    """A feature as staff read it in ``matched``: the word, not its namespace."""
    kind, _, rest = feature.partition(":")
    if kind in ("r", "ri", "ru", "rk", "tm", "len", "num") or not rest:
        return ""
    return rest
