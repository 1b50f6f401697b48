"""Regression pieces and metrics against scikit-learn (all exact, to 1e-9)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn import metrics

from scorestream.streams.performance import RegressionPieces, regression_metrics
from tests.streams.performance.pieces_equality import assert_regression_equal
from tests.streams.performance.predictions import diabetes

EXACT = 1e-9


def assert_matches_sklearn(predicted: np.ndarray, y: np.ndarray) -> None:
    m = regression_metrics(RegressionPieces.from_arrays(predicted, y))
    scale = max(1.0, float(np.max(np.abs(y))), float(np.max(np.abs(predicted))))
    assert m.n == len(y)
    assert m.mae == pytest.approx(
        metrics.mean_absolute_error(y, predicted), rel=EXACT, abs=EXACT * scale
    )
    assert m.rmse == pytest.approx(
        metrics.root_mean_squared_error(y, predicted), rel=EXACT, abs=EXACT * scale
    )
    assert m.mean_error == pytest.approx(
        float(np.mean(predicted - y)), rel=EXACT, abs=EXACT * scale
    )
    if len(y) >= 2 and np.var(y) > 0:
        assert m.r2 == pytest.approx(metrics.r2_score(y, predicted), rel=EXACT, abs=EXACT)
    else:
        assert math.isnan(m.r2)


def test_diabetes_model_matches_sklearn() -> None:
    predicted, y = diabetes()
    m = regression_metrics(RegressionPieces.from_arrays(predicted, y))
    assert 0.2 < m.r2 < 0.8  # a real, imperfect model
    assert_matches_sklearn(predicted, y)


def test_r2_survives_a_large_mean() -> None:
    # Values around 10^10 that vary by units: sum(y^2) - sum(y)^2 / n would lose every digit.
    predicted, y = diabetes()
    offset = 1e10
    merged = RegressionPieces.from_arrays(predicted[:100] + offset, y[:100] + offset)
    merged += RegressionPieces.from_arrays(predicted[100:] + offset, y[100:] + offset)
    want = metrics.r2_score(y, predicted)
    assert regression_metrics(merged).r2 == pytest.approx(want, abs=1e-6)
    naive_sst = np.sum((y + offset) ** 2) - np.sum(y + offset) ** 2 / len(y)
    assert abs(naive_sst - merged.m2_y) > 0.01 * merged.m2_y  # the naive form is far off


def test_empty_and_constant_truth_give_nan_never_raise() -> None:
    empty = regression_metrics(RegressionPieces())
    assert empty.n == 0
    assert all(math.isnan(v) for k, v in empty.to_dict().items() if k != "n")
    constant = regression_metrics(RegressionPieces.from_arrays([1.0, 2.0], [3.0, 3.0]))
    assert math.isnan(constant.r2) and constant.mae == 1.5
    one = regression_metrics(RegressionPieces.from_arrays([1.0], [2.0]))
    assert math.isnan(one.r2) and one.mean_error == -1.0


def test_non_finite_pairs_are_left_out() -> None:
    pieces = RegressionPieces.from_arrays([1.0, np.nan, 2.0], [1.0, 1.0, np.inf])
    assert pieces.n == 1


def test_dict_round_trip_through_json() -> None:
    predicted, y = diabetes()
    pieces = RegressionPieces.from_arrays(predicted, y)
    assert RegressionPieces.from_dict(json.loads(json.dumps(pieces.to_dict()))) == pieces


values = st.floats(-1e6, 1e6, allow_nan=False)


@st.composite
def pairs(draw: st.DrawFn, min_size: int = 0) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(min_size, 200))
    predicted = draw(hnp.arrays(np.float64, n, elements=values))
    y = draw(hnp.arrays(np.float64, n, elements=values))
    return predicted, y


@settings(max_examples=200, deadline=None)
@given(pairs(min_size=1))
def test_generated_values_match_sklearn(data: tuple[np.ndarray, np.ndarray]) -> None:
    assert_matches_sklearn(*data)


@settings(max_examples=200, deadline=None)
@given(pairs(), st.data())
def test_merged_halves_equal_the_whole(
    data: tuple[np.ndarray, np.ndarray], draw: st.DataObject
) -> None:
    predicted, y = data
    cut = draw.draw(st.integers(0, len(y)))
    whole = RegressionPieces.from_arrays(predicted, y)
    first = RegressionPieces.from_arrays(predicted[:cut], y[:cut])
    second = RegressionPieces.from_arrays(predicted[cut:], y[cut:])
    assert_regression_equal(first + second, whole)
    assert_regression_equal(second + first, whole)
