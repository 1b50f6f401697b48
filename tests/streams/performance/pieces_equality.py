"""Equality of two pieces: counts exactly, float sums to 1e-9 (summation order differs)."""

from __future__ import annotations

import pytest

from scorestream.streams.performance import BinaryPieces, MulticlassPieces, RegressionPieces

REL = 1e-9


def assert_binary_equal(got: BinaryPieces, want: BinaryPieces) -> None:
    assert (got.threshold, got.n_bins) == (want.threshold, want.n_bins)
    assert got.positives == want.positives
    assert got.negatives == want.negatives
    assert (got.tp, got.fp, got.tn, got.fn) == (want.tp, want.fp, want.tn, want.fn)
    assert got.score_sums == pytest.approx(want.score_sums, rel=REL, abs=1e-12)
    assert got.log_loss_sum == pytest.approx(want.log_loss_sum, rel=REL, abs=1e-12)
    assert got.brier_sum == pytest.approx(want.brier_sum, rel=REL, abs=1e-12)


def assert_multiclass_equal(got: MulticlassPieces, want: MulticlassPieces) -> None:
    assert got.classes == want.classes
    assert got.confusion == want.confusion
    assert got.log_loss_n == want.log_loss_n
    assert got.log_loss_sum == pytest.approx(want.log_loss_sum, rel=REL, abs=1e-12)


def assert_regression_equal(got: RegressionPieces, want: RegressionPieces) -> None:
    assert got.n == want.n
    for name in ("sum_error", "sum_abs_error", "sum_squared_error", "mean_y", "m2_y"):
        assert getattr(got, name) == pytest.approx(getattr(want, name), rel=REL, abs=1e-9), name
