"""Binary pieces and metrics against scikit-learn, on real models and generated scores.

Exact metrics (log loss, Brier, base rate, accuracy, precision, recall, F1, the calibration
curve) must equal scikit-learn's to 1e-9; ROC AUC and PR AUC must lie within the binning
bound computed with them.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn import calibration, metrics

from scorestream.streams.performance import (
    BinaryPieces,
    binary_metrics,
    calibration_curve,
)
from tests.streams.performance.pieces_equality import assert_binary_equal
from tests.streams.performance.predictions import cancer

EXACT = 1e-9
# Round-off of the bound's own arithmetic (sums of ~10^3 terms).
SLACK = 1e-12


def assert_matches_sklearn(scores: np.ndarray, y: np.ndarray, threshold: float = 0.5) -> None:
    m = binary_metrics(BinaryPieces.from_arrays(scores, y, threshold=threshold))
    predicted = scores >= threshold
    assert m.n == len(y)
    assert m.base_rate == pytest.approx(y.mean(), abs=EXACT)
    assert m.log_loss == pytest.approx(metrics.log_loss(y, scores, labels=[0, 1]), abs=EXACT)
    assert m.brier == pytest.approx(metrics.brier_score_loss(y, scores, pos_label=1), abs=EXACT)
    assert m.accuracy == pytest.approx(metrics.accuracy_score(y, predicted), abs=EXACT)
    for name, fn in (
        ("precision", metrics.precision_score),
        ("recall", metrics.recall_score),
        ("f1", metrics.f1_score),
    ):
        want = fn(y, predicted, zero_division=np.nan)
        got = getattr(m, name)
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, abs=EXACT), name
    if y.all() or not y.any():
        assert math.isnan(m.roc_auc) and math.isnan(m.pr_auc)
        return
    auc = metrics.roc_auc_score(y, scores)
    ap = metrics.average_precision_score(y, scores)
    assert abs(m.roc_auc - auc) <= m.auc_binning_error + SLACK
    assert abs(m.pr_auc - ap) <= m.pr_auc_binning_error + SLACK


@pytest.mark.parametrize("model", ["logistic", "forest"])
def test_cancer_models_match_sklearn(model: str) -> None:
    scores, y = cancer(model)
    assert_matches_sklearn(scores, y)
    for threshold in (0.3, 0.8):
        assert_matches_sklearn(scores, y, threshold)


def test_binning_error_is_small_on_real_scores_and_reported() -> None:
    # The bound is what a reader is told; on continuous scores of a real model it is far
    # below any difference worth alerting on.
    scores, y = cancer("logistic")
    m = binary_metrics(BinaryPieces.from_arrays(scores, y))
    assert 0 <= m.auc_binning_error < 1e-3
    assert 0 <= m.pr_auc_binning_error < 1e-2
    # Whatever the bound, the realised gap is within it; here, binning changed little.
    assert abs(m.roc_auc - metrics.roc_auc_score(y, scores)) < 1e-3


def test_bounds_are_attained_when_one_bin_holds_every_record() -> None:
    # Positives just above negatives, all in bin 0: the true AUC and AP are 1, the binned
    # ones 0.5; the bound says exactly 0.5, so it is tight, not a loose guess.
    scores = np.array([0.0001, 0.0002, 0.0008, 0.0009])
    y = np.array([False, False, True, True])
    m = binary_metrics(BinaryPieces.from_arrays(scores, y))
    assert metrics.roc_auc_score(y, scores) == 1.0
    assert m.roc_auc == 0.5
    assert m.auc_binning_error == 0.5
    assert metrics.average_precision_score(y, scores) == 1.0
    assert m.pr_auc == 0.5
    assert abs(m.pr_auc - 1.0) <= m.pr_auc_binning_error


def test_exact_when_scores_are_bin_edges() -> None:
    # Scores that are multiples of 1/1000 each fill one bin alone: every tie in a bin is a
    # true tie, so the binned AUC is scikit-learn's exactly.
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 1000, 2_000) / 1000
    y = rng.random(2_000) < scores
    m = binary_metrics(BinaryPieces.from_arrays(scores, y))
    assert m.roc_auc == pytest.approx(metrics.roc_auc_score(y, scores), abs=EXACT)
    assert m.pr_auc == pytest.approx(metrics.average_precision_score(y, scores), abs=EXACT)


@pytest.mark.parametrize("model", ["logistic"])
def test_calibration_curve_matches_sklearn(model: str) -> None:
    scores, y = cancer(model)
    # sklearn's bins are right-closed, ours left-closed: the comparison holds when no score
    # is exactly on an edge, which the continuous scores guarantee (checked, not assumed).
    assert off_edges(scores)
    curve = calibration_curve(BinaryPieces.from_arrays(scores, y), n_bins=10)
    observed, predicted = calibration.calibration_curve(y, scores, n_bins=10)
    filled = curve.counts > 0
    assert curve.observed[filled] == pytest.approx(observed, abs=EXACT)
    assert curve.mean_predicted[filled] == pytest.approx(predicted, abs=EXACT)
    assert np.all(np.isnan(curve.observed[~filled]))
    assert curve.counts.sum() == len(y)


def test_calibration_edge_convention() -> None:
    # A score of exactly 0.1 is in the second bin [0.1, 0.2) here.
    curve = calibration_curve(BinaryPieces.from_arrays([0.1], [True]), n_bins=10)
    assert curve.counts.tolist() == [0, 1, 0, 0, 0, 0, 0, 0, 0, 0]


def test_empty_and_one_class_give_nan_never_raise() -> None:
    empty = binary_metrics(BinaryPieces())
    assert empty.n == 0
    for name, value in empty.to_dict().items():
        if name != "n":
            assert math.isnan(value), name
    only_positive = binary_metrics(BinaryPieces.from_arrays([0.9, 0.2], [True, True]))
    assert math.isnan(only_positive.roc_auc) and math.isnan(only_positive.pr_auc)
    assert only_positive.recall == 0.5 and only_positive.accuracy == 0.5
    only_negative = binary_metrics(BinaryPieces.from_arrays([0.1, 0.2], [False, False]))
    assert math.isnan(only_negative.recall) and math.isnan(only_negative.precision)
    assert math.isnan(only_negative.f1) and only_negative.accuracy == 1.0
    curve = calibration_curve(BinaryPieces())
    assert np.all(np.isnan(curve.observed)) and curve.counts.sum() == 0


def test_non_finite_scores_are_left_out() -> None:
    pieces = BinaryPieces.from_arrays([0.2, np.nan, np.inf, 0.7], [False, True, True, True])
    assert pieces.n == 2 and sum(pieces.positives) == 1


def test_layouts_do_not_merge() -> None:
    with pytest.raises(ValueError, match="layouts"):
        BinaryPieces(threshold=0.5) + BinaryPieces.empty(threshold=0.3)
    with pytest.raises(ValueError, match="entries"):
        BinaryPieces(positives=(1, 2))


def test_dict_round_trip_through_json() -> None:
    scores, y = cancer("forest")
    pieces = BinaryPieces.from_arrays(scores, y, threshold=0.4)
    assert BinaryPieces.from_dict(json.loads(json.dumps(pieces.to_dict()))) == pieces
    # Sparse: only the occupied bins travel.
    assert len(pieces.to_dict()["bins"]) == len(np.unique(np.floor(scores * 1000)))


probabilities = st.one_of(
    st.floats(0.0, 1.0),
    # Ties and edge values: exact 0 and 1, bin edges, a few repeated scores.
    st.sampled_from([0.0, 1.0, 0.5, 0.25, 0.001, 0.9995, 0.0004]),
)
score_arrays = hnp.arrays(np.float64, st.integers(0, 300), elements=probabilities)


@settings(max_examples=150, deadline=None)
@given(score_arrays, st.data(), st.sampled_from([0.5, 0.2, 0.9]))
def test_generated_scores_match_sklearn(scores: np.ndarray, data: st.DataObject, t: float) -> None:
    y = data.draw(hnp.arrays(np.bool_, len(scores)))
    if len(scores) == 0:
        assert math.isnan(binary_metrics(BinaryPieces.from_arrays(scores, y)).log_loss)
        return
    assert_matches_sklearn(scores, y, t)


INTERIOR_EDGES = np.arange(1, 10) / 10


def off_edges(scores: np.ndarray) -> bool:
    """No score within float rounding of an interior coarse edge (where conventions differ)."""
    return bool(np.all(np.abs(scores[:, None] - INTERIOR_EDGES[None, :]) > 1e-9))


off_edge_scores = hnp.arrays(
    np.float64,
    st.integers(1, 300),
    elements=st.one_of(
        st.floats(0.0, 1.0).filter(lambda v: off_edges(np.array([v]))),
        st.sampled_from([0.0, 1.0, 0.001, 0.9995, 0.0004, 0.25, 0.55]),
    ),
)


@settings(max_examples=100, deadline=None)
@given(off_edge_scores, st.data())
def test_generated_calibration_matches_sklearn(scores: np.ndarray, data: st.DataObject) -> None:
    y = data.draw(hnp.arrays(np.bool_, len(scores)))
    curve = calibration_curve(BinaryPieces.from_arrays(scores, y), n_bins=10)
    observed, predicted = calibration.calibration_curve(y, scores, n_bins=10)
    filled = curve.counts > 0
    assert curve.observed[filled] == pytest.approx(observed, abs=EXACT)
    assert curve.mean_predicted[filled] == pytest.approx(predicted, abs=EXACT)


@settings(max_examples=150, deadline=None)
@given(score_arrays, st.data())
def test_merged_halves_equal_the_whole(scores: np.ndarray, data: st.DataObject) -> None:
    y = data.draw(hnp.arrays(np.bool_, len(scores)))
    cut = data.draw(st.integers(0, len(scores)))
    whole = BinaryPieces.from_arrays(scores, y)
    halves = BinaryPieces.from_arrays(scores[:cut], y[:cut]) + BinaryPieces.from_arrays(
        scores[cut:], y[cut:]
    )
    assert_binary_equal(halves, whole)
    # Merging is commutative and the empty piece is neutral.
    assert_binary_equal(BinaryPieces() + whole, whole)
    merged_other_way = BinaryPieces.from_arrays(scores[cut:], y[cut:]) + BinaryPieces.from_arrays(
        scores[:cut], y[:cut]
    )
    assert_binary_equal(merged_other_way, whole)
