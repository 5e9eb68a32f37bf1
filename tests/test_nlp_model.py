"""The served model: predict and explain read the weights as the table says, and save writes them back."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from nlp import model as model_module
from nlp.model import Head, Model


def _model() -> Model:
    return Model.build({
        "intent": (Head(["request", "thanks"], [0.5, -0.5]),
                   {"t:谢谢": [(1, 2.0)], "b:谢谢": [(1, 0.5), (0, -0.25)]}),
        "category": (Head(["parking", "noise", "other"], [0.0, 0.1, 0.2]),
                     {"t:停车": [(0, 1.5), (0, 0.5)], "b:谢谢": [(2, 0.25)], "t:吵": [(1, 1.0)]}),
    }, {"urgent": 0.4}, {"note": "test"})


def _softmax(raw: list[float]) -> list[float]:
    top = max(raw)
    exps = [math.exp(x - top) for x in raw]
    return [e / sum(exps) for e in exps]


def test_predict_adds_each_weight_times_the_feature_value_to_its_own_head_and_class() -> None:
    model = _model()
    out = model.predict({"t:谢谢": 0.6, "b:谢谢": 0.8, "t:停车": 0.0, "unknown": 1.0})
    intent = _softmax([0.5 + -0.25 * 0.8, -0.5 + 2.0 * 0.6 + 0.5 * 0.8])
    category = _softmax([0.0, 0.1, 0.2 + 0.25 * 0.8])
    assert list(out) == ["intent", "category"]
    assert list(out["intent"].values()) == intent
    assert list(out["category"].values()) == category
    assert list(out["category"]) == ["parking", "noise", "other"]


def test_a_feature_with_two_weights_for_one_class_counts_both_in_predict_and_explain() -> None:
    model = _model()
    scores = model.predict({"t:停车": 1.0})["category"]
    assert scores == dict(zip(["parking", "noise", "other"], _softmax([2.0, 0.1, 0.2]), strict=True))
    assert model.explain({"t:停车": 1.0, "t:吵": 1.0}, "category", "parking") == ["t:停车", "t:停车"]


def test_explain_lists_the_positive_pushes_strongest_first_and_at_most_n() -> None:
    model = _model()
    features = {"t:谢谢": 0.5, "b:谢谢": 1.0, "t:吵": 1.0}
    assert model.explain(features, "intent", "thanks") == ["t:谢谢", "b:谢谢"]
    assert model.explain(features, "intent", "thanks", 1) == ["t:谢谢"]
    assert model.explain(features, "intent", "request") == []  # its only weight pushes away
    assert model.explain(features, "category", "noise") == ["t:吵"]


def test_table_and_save_give_back_the_weights_as_built(tmp_path: Path) -> None:
    model = _model()
    assert model.table["b:谢谢"] == ((0, 1, 0.5), (0, 0, -0.25), (1, 2, 0.25))
    assert model.table["t:停车"] == ((1, 0, 1.5), (1, 0, 0.5))
    path = tmp_path / "weights.json"
    model.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["heads"]["category"]["weights"]["t:停车"] == [[0, 1.5], [0, 0.5]]
    assert data["heads"]["intent"]["weights"]["b:谢谢"] == [[1, 0.5], [0, -0.25]]
    again = Model.load(path)
    assert again is not None and again.table == model.table and again.thresholds == {"urgent": 0.4}


def test_a_second_load_reads_the_compact_copy_and_gives_the_same_model(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIANXIN_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "weights.json"
    _model().save(path)
    first = model_module._load_cached(path)  # parses the JSON, keeps the compact copy
    copies = list((tmp_path / "cache").glob("lianxin-model-*.cache"))
    assert len(copies) == 1
    monkeypatch.setattr(model_module, "_parse", lambda text: pytest.fail("the JSON was parsed again"))
    second = model_module._load_cached(path)
    assert second == first and second.table == first.table and second.meta == {"note": "test"}
    features = {"t:谢谢": 0.6, "b:谢谢": 0.8, "t:停车": 1.0}
    assert second.predict(features) == first.predict(features)


def test_a_broken_compact_copy_is_replaced_from_the_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIANXIN_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "weights.json"
    _model().save(path)
    model_module._load_cached(path)
    (copy,) = (tmp_path / "cache").glob("lianxin-model-*.cache")
    copy.write_bytes(b"\x00 not marshal")
    assert model_module._load_cached(path).table == _model().table
    assert copy.read_bytes() != b"\x00 not marshal"
