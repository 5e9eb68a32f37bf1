"""Fitting the weights: regularised logistic regression (scikit-learn, a
training-only extra) over nlp.features, one head per question, written to the
weights file the analyser loads at start-up.

The corpus is nlp/corpus/*.jsonl, one file per writer. The writers listed in
HELD_OUT never reach ``fit``: they are the test split whose figure we report.
Leave-one-writer-out (``cross_validate``) trains on all writers but one and
scores the one left out, for every writer in turn; its out-of-fold
probabilities also set the urgent threshold (tuned for recall).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.evaluation import read_jsonl
from nlp.model import Head, Model

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
HELD_OUT = ("mixed_residents",)
HEADS = ("intent", "category", "urgent", "kind")
C = {"intent": 4.0, "category": 4.0, "urgent": 32.0, "kind": 2.0}  # inverse regularisation per head (LOWO-measured)
# Feature namespaces each head reads (see nlp.features); None reads them all. Measured:
# urgency restricted to words and the rules' cues did worse out of fold than on everything.
READS: dict[str, tuple[str, ...] | None] = {"intent": None, "category": None, "kind": None, "urgent": None}
PRUNE = 0.15  # weights smaller than this are dropped from the file
MIN_MESSAGES = 2  # a word or n-gram seen in fewer training messages is noise, not evidence
URGENT_RECALL = 0.98  # the out-of-fold urgent recall the threshold is set for (when in doubt, urgent)
CUE_STEPS = tuple(i / 20 for i in range(11))  # candidate floors for the rules' danger cue: 0, 0.05 ... 0.5
CORRECTION_WEIGHT = 3.0  # a staff correction counts as this many corpus messages


@dataclass
class Example:
    text: str
    writer: str
    intent: str
    category: str | None = None
    kind: str | None = None
    urgent: bool = False
    weight: float = 1.0
    features: dict[str, float] = field(default_factory=dict)

    def label(self, head: str) -> str | None:
        if head == "intent":
            return self.intent
        if self.intent != "request":
            return None
        if head == "urgent":
            return "1" if self.urgent else "0"
        return self.category if head == "category" else self.kind


def load_corpus(directory: Path = CORPUS_DIR, held_out: bool = False) -> list[dict[str, Any]]:
    """The labelled rows: the development writers, or (held_out=True) only the held-out ones."""
    rows: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.jsonl")):
        if (path.stem in HELD_OUT) == held_out:
            rows += read_jsonl(path)
    return rows


def examples(rows: Iterable[Mapping[str, Any]], featurise: Callable[[str], dict[str, float]],
             weight: float = 1.0) -> list[Example]:
    out = []
    for row in rows:
        e = Example(str(row["text"]), str(row.get("writer", "")), str(row.get("intent", "request")),
                    row.get("category"), row.get("kind"), bool(row.get("urgent")), weight)
        e.features = featurise(e.text)
        out.append(e)
    return out


def only(features: Mapping[str, float], namespaces: tuple[str, ...] | None) -> Mapping[str, float]:
    """The features of the given namespaces (all when None)."""
    if namespaces is None:
        return features
    return {k: v for k, v in features.items() if k.partition(":")[0] in namespaces}


def _fit_head(head: str, train: Sequence[Example]) -> tuple[Head, dict[str, list[tuple[int, float]]]] | None:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    labelled = [(e, e.label(head)) for e in train]
    data = [(e, y) for e, y in labelled if y is not None]
    classes = sorted({y for _, y in data})
    if len(classes) < 2:
        return None
    seen: Counter[str] = Counter(k for e, _ in data for k in e.features)
    vectoriser = DictVectorizer()
    x = vectoriser.fit_transform([{k: v for k, v in only(e.features, READS[head]).items() if seen[k] >= MIN_MESSAGES}
                                  for e, _ in data])
    y = [label for _, label in data]
    fitted = LogisticRegression(C=C[head], max_iter=3000, class_weight="balanced" if head == "urgent" else None)
    fitted.fit(x, y, sample_weight=[e.weight for e, _ in data])
    names = vectoriser.get_feature_names_out()
    coef = fitted.coef_
    if len(fitted.classes_) == 2:  # one row of weights for the second class
        rows = {1: coef[0]}
        intercept = [0.0, float(fitted.intercept_[0])]
    else:
        rows = dict(enumerate(coef))
        intercept = [float(b) for b in fitted.intercept_]
    weights: dict[str, list[tuple[int, float]]] = {}
    for i, row in rows.items():
        for j in row.nonzero()[0]:
            w = float(row[j])
            if abs(w) >= PRUNE:
                weights.setdefault(str(names[j]), []).append((i, w))
    return Head([str(c) for c in fitted.classes_], intercept), weights


def fit(train: Sequence[Example], thresholds: Mapping[str, float] | None = None,
        meta: Mapping[str, Any] | None = None, heads: Sequence[str] = HEADS) -> Model:
    fitted = {}
    for name in heads:
        head = _fit_head(name, train)
        if head is not None:
            fitted[name] = head
    return Model.build(fitted, thresholds, meta)


@dataclass
class Fold:
    writer: str
    rows: list[Example]
    predictions: list[dict[str, dict[str, float]]]  # per row: head -> class -> probability


def cross_validate(data: Sequence[Example], heads: Sequence[str] = ("urgent",)) -> list[Fold]:
    """Leave one writer out: train ``heads`` (those the thresholds need) on the
    others, predict the one left out."""
    folds = []
    for writer in sorted({e.writer for e in data}):
        train = [e for e in data if e.writer != writer]
        test = [e for e in data if e.writer == writer]
        model = fit(train, heads=heads)
        folds.append(Fold(writer, test, [model.predict(e.features) for e in test]))
    return folds


def tune_thresholds(folds: Sequence[Fold]) -> dict[str, float]:
    """Out of fold: the urgent threshold that keeps URGENT_RECALL of the urgent
    requests, and ``urgent_cue``, the least probability at which the rules' live
    danger cue still makes a message urgent: the highest step of CUE_STEPS that
    catches as many urgent requests as the detector with the cue at any probability
    would. Only recall decides it (false alarms are left out on purpose: when in
    doubt, urgent); one urgent request the cue alone caught pins it that low.
    (The confidence below which a request goes to staff as ``other`` is a
    product choice, [nlp] confidence_threshold, not tuned here.)"""
    scored = [(p["urgent"]["1"], "ru:live" in e.features, e.urgent) for f in folds
              for e, p in zip(f.rows, f.predictions, strict=True) if e.intent == "request"]
    urgent_p = sorted(p for p, _, urgent in scored if urgent)
    threshold = round(min(urgent_p[int(len(urgent_p) * (1 - URGENT_RECALL))] if urgent_p else 0.5, 0.5), 4)

    def caught(floor: float) -> int:
        return sum(1 for p, live, urgent in scored if urgent and (p >= threshold or (live and p >= floor)))

    most = caught(0.0)
    cue = max(step for step in CUE_STEPS if step <= threshold and caught(step) == most)
    return {"urgent": threshold, "urgent_cue": cue}


def train(analyser: Any, rows: Sequence[Mapping[str, Any]], corrections: Sequence[Mapping[str, Any]] = (),
          thresholds: Mapping[str, float] | None = None) -> Model:
    """The shipped model: the urgent threshold tuned by leave-one-writer-out (unless given),
    then weights fitted on every development row plus staff's corrections (each weighing
    CORRECTION_WEIGHT)."""
    data = examples(rows, analyser.features)
    if thresholds is None:
        thresholds = tune_thresholds(cross_validate(data))
    fixes = examples(corrections, analyser.features, CORRECTION_WEIGHT)
    writers = sorted({e.writer for e in data})
    return fit([*data, *fixes], thresholds, {"examples": len(data) + len(fixes), "writers": writers,
                                            "held_out": list(HELD_OUT), "corrections": len(fixes)})


def leave_one_writer_out(analyser: Any, rows: Sequence[Mapping[str, Any]]) -> tuple[Any, dict[str, str]]:
    """Scores of each writer's rows by a model fitted (and tuned) without that writer: the
    whole report, and a line of figures per writer."""
    from nlp.evaluation import score

    data = examples(rows, analyser.features)
    saved = analyser.model
    analyses: dict[str, Any] = {}
    per_writer: dict[str, str] = {}
    try:
        for writer in sorted({e.writer for e in data}):
            train_rows = [e for e in data if e.writer != writer]
            thresholds = tune_thresholds(cross_validate(train_rows)) if TUNE_IN_FOLDS else None
            analyser.use_model(fit(train_rows, thresholds or (saved.thresholds if saved else {})))
            mine = [r for r in rows if r.get("writer") == writer]
            found = {str(r["text"]): analyser.analyse(str(r["text"])) for r in mine}
            analyses.update(found)
            one = score(mine, _Fixed(found))
            per_writer[writer] = (f"category {one.category}  intent {one.intent}  urgent recall "
                                  f"{one.urgent_recall}  precision {one.urgent_precision}  place {one.place}")
    finally:
        analyser.use_model(saved)
    return score(rows, _Fixed(analyses)), per_writer


TUNE_IN_FOLDS = True  # thresholds tuned inside each fold too, so the left-out writer never sets them


class _Fixed:
    """An analyser that answers from analyses made already."""

    def __init__(self, analyses: Mapping[str, Any]) -> None:
        self._analyses = analyses

    def analyse(self, text: str) -> Any:
        return self._analyses[text]
