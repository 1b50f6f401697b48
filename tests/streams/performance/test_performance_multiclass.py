"""Multi-class pieces and metrics against scikit-learn (all exact, to 1e-9)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics

from scorestream.streams.performance import MulticlassPieces, multiclass_metrics
from tests.streams.performance.pieces_equality import assert_multiclass_equal
from tests.streams.performance.predictions import wine

EXACT = 1e-9


def assert_matches_sklearn(truth: list[str], probabilities: np.ndarray, classes: list[str]) -> None:
    pieces = MulticlassPieces.from_arrays(truth, probabilities, classes)
    m = multiclass_metrics(pieces)
    predicted = [classes[i] for i in probabilities.argmax(axis=1)]
    assert m.n == len(truth)
    assert m.accuracy == pytest.approx(metrics.accuracy_score(truth, predicted), abs=EXACT)
    assert m.macro_f1 == pytest.approx(
        metrics.f1_score(truth, predicted, average="macro"), abs=EXACT
    )
    assert m.log_loss == pytest.approx(
        metrics.log_loss(truth, probabilities, labels=classes), abs=EXACT
    )
    seen = sorted(set(truth) | set(predicted))
    recall = metrics.recall_score(truth, predicted, labels=seen, average=None, zero_division=np.nan)
    assert list(m.recall) == seen
    for name, want in zip(seen, recall, strict=True):
        got = m.recall[name]
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, abs=EXACT)
    assert m.support == {c: truth.count(c) for c in seen}
    assert (
        pieces.matrix().tolist() == metrics.confusion_matrix(truth, predicted, labels=seen).tolist()
    )


def test_wine_model_matches_sklearn() -> None:
    truth, probabilities, classes = wine()
    # The model is imperfect, so every metric is exercised away from its extremes.
    assert (
        0.6
        < multiclass_metrics(MulticlassPieces.from_arrays(truth, probabilities, classes)).accuracy
        < 1
    )
    assert_matches_sklearn(truth, probabilities, classes)


def test_unknown_true_class_counts_but_has_no_log_loss() -> None:
    truth, probabilities, classes = wine()
    changed = ["nebbiolo", *truth[1:]]
    pieces = MulticlassPieces.from_arrays(changed, probabilities, classes)
    assert pieces.n == len(truth) and pieces.log_loss_n == len(truth) - 1
    want = metrics.log_loss(truth[1:], probabilities[1:], labels=classes)
    assert multiclass_metrics(pieces).log_loss == pytest.approx(want, abs=EXACT)
    # Its one record was predicted as a known class: its recall is 0, and it counts.
    assert "nebbiolo" in pieces.classes
    assert multiclass_metrics(pieces).recall["nebbiolo"] == 0.0


def test_empty_and_one_class_give_nan_never_raise() -> None:
    empty = multiclass_metrics(MulticlassPieces())
    assert empty.n == 0 and math.isnan(empty.accuracy) and math.isnan(empty.macro_f1)
    assert math.isnan(empty.log_loss) and empty.recall == {}
    no_probabilities = multiclass_metrics(MulticlassPieces.from_predictions(["a", "a"], ["a", "b"]))
    assert math.isnan(no_probabilities.log_loss) and no_probabilities.accuracy == 0.5
    # "b" was predicted but never true: its recall is undefined, not 0.
    assert math.isnan(no_probabilities.recall["b"]) and no_probabilities.recall["a"] == 0.5


def test_dict_round_trip_through_json() -> None:
    truth, probabilities, classes = wine()
    pieces = MulticlassPieces.from_arrays(truth, probabilities, classes)
    assert MulticlassPieces.from_dict(json.loads(json.dumps(pieces.to_dict()))) == pieces


def test_cells_give_the_same_pieces() -> None:
    truth, probabilities, classes = wine()
    pieces = MulticlassPieces.from_arrays(truth, probabilities, classes)
    cells = {
        (t, p): pieces.confusion[i][j]
        for i, t in enumerate(pieces.classes)
        for j, p in enumerate(pieces.classes)
        if pieces.confusion[i][j]
    }
    assert MulticlassPieces.from_cells(cells, pieces.log_loss_sum, pieces.log_loss_n) == pieces


CLASSES = ["a", "b", "c", "d"]


@st.composite
def records(draw: st.DrawFn) -> tuple[list[str], np.ndarray, list[str]]:
    k = draw(st.integers(2, 4))
    classes = CLASSES[:k]
    n = draw(st.integers(1, 120))
    truth = draw(st.lists(st.sampled_from(classes), min_size=n, max_size=n))
    weights = draw(
        st.lists(
            st.lists(st.floats(0.0, 1.0), min_size=k, max_size=k).filter(lambda r: sum(r) > 0.01),
            min_size=n,
            max_size=n,
        )
    )
    raw = np.asarray(weights)
    return truth, raw / raw.sum(axis=1, keepdims=True), classes


@settings(max_examples=150, deadline=None)
@given(records())
def test_generated_records_match_sklearn(data: tuple[list[str], np.ndarray, list[str]]) -> None:
    assert_matches_sklearn(*data)


@settings(max_examples=150, deadline=None)
@given(records(), st.data())
def test_merged_halves_equal_the_whole(
    data: tuple[list[str], np.ndarray, list[str]], draw: st.DataObject
) -> None:
    truth, probabilities, classes = data
    cut = draw.draw(st.integers(0, len(truth)))
    whole = MulticlassPieces.from_arrays(truth, probabilities, classes)
    first = MulticlassPieces.from_arrays(truth[:cut], probabilities[:cut], classes)
    second = MulticlassPieces.from_arrays(truth[cut:], probabilities[cut:], classes)
    assert_multiclass_equal(first + second, whole)
    assert_multiclass_equal(second + first, whole)
    assert_multiclass_equal(MulticlassPieces() + whole, whole)
