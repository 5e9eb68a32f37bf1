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
    classes: list[str]
    intercept: list[float]
    weights: dict[str, list[tuple[int, float]]]

    def scores(self, features: Mapping[str, float]) -> list[float]:
        out = list(self.intercept)
        weights = self.weights
        for name, value in features.items():
            row = weights.get(name)
            if row is not None:
                for i, w in row:
                    out[i] += w * value
        return out

    def probabilities(self, features: Mapping[str, float]) -> dict[str, float]:
        scores = self.scores(features)
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        return {c: e / total for c, e in zip(self.classes, exps, strict=True)}

    def explain(self, features: Mapping[str, float], label: str, n: int = 6) -> list[str]:
        """The features that pushed most towards ``label``, strongest first."""
        i = self.classes.index(label)
        pushes: list[tuple[float, str]] = []
        for name, value in features.items():
            for j, w in self.weights.get(name, ()):
                if j == i and w * value > 0:
                    pushes.append((w * value, name))
        pushes.sort(reverse=True)
        return [name for _, name in pushes[:n]]

    def as_json(self) -> dict[str, Any]:
        return {"classes": self.classes, "intercept": [round(x, 5) for x in self.intercept],
                "weights": {k: [[i, round(w, 5)] for i, w in v] for k, v in sorted(self.weights.items())}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Head:
        return cls(list(data["classes"]), [float(x) for x in data["intercept"]],
                   {k: [(int(i), float(w)) for i, w in v] for k, v in data["weights"].items()})


@dataclass
class Model:
    heads: dict[str, Head]
    thresholds: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    _table: dict[str, list[tuple[int, int, float]]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        # every head's weights in one table: one look-up per feature, not one per head
        for h, head in enumerate(self.heads.values()):
            for name, row in head.weights.items():
                self._table.setdefault(name, []).extend((h, i, w) for i, w in row)

    def predict(self, features: Mapping[str, float]) -> dict[str, dict[str, float]]:
        """Every head's class probabilities for one feature vector."""
        heads = list(self.heads.values())
        scores = [list(head.intercept) for head in heads]
        table = self._table
        for name, value in features.items():
            row = table.get(name)
            if row is not None:
                for h, i, w in row:
                    scores[h][i] += w * value
        out = {}
        for (name, head), raw in zip(self.heads.items(), scores, strict=True):
            top = max(raw)
            exps = [math.exp(x - top) for x in raw]
            total = sum(exps)
            out[name] = {c: e / total for c, e in zip(head.classes, exps, strict=True)}
        return out

    def save(self, path: Path) -> None:
        data = {"meta": self.meta, "thresholds": self.thresholds,
                "heads": {name: head.as_json() for name, head in self.heads.items()}}
        path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")

    @classmethod
    def load(cls, path: Path = DEFAULT_WEIGHTS) -> Model | None:
        """The model in ``path``, or None when there is none (the rules then decide alone)."""
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls({name: Head.from_json(h) for name, h in data["heads"].items()},
                   {k: float(v) for k, v in data.get("thresholds", {}).items()}, dict(data.get("meta", {})))


def readable(feature: str) -> str:
    """A feature as staff read it in ``matched``: the word, not its namespace."""
    kind, _, rest = feature.partition(":")
    if kind in ("r", "ri", "ru", "rk", "tm", "len", "num") or not rest:
        return ""
    return rest
