"""Tails and values beyond the reference range: the share out of range and the mean test."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray

from scorestream.streams.drift.decision import DriftThresholds, FeatureDecision, decide
from scorestream.streams.drift.profile import NumericFeatureProfile
from scorestream.streams.drift.statistics import compare

Draw = Callable[[np.random.Generator, int], NDArray[np.float64]]
SHAPES: dict[str, Draw] = {
    "normal": lambda rng, n: rng.normal(size=n),
    "lognormal": lambda rng, n: rng.lognormal(3.0, 1.0, size=n),
    "zero_inflated": lambda rng, n: np.where(
        rng.random(n) < 0.4, 0.0, rng.exponential(50.0, size=n)
    ),
}


def _decide(
    feature: NumericFeatureProfile, current: NDArray[np.float64], rejected: int = 0
) -> FeatureDecision:
    counts = np.bincount(feature.assign(current), minlength=feature.n_bins)
    drift = compare(
        feature,
        counts,
        value_sum=float(current.sum()),
        value_sumsq=float((current**2).sum()),
        rejected_out_of_range=rejected,
    )
    return decide([drift])[0]


def _top_moved(x: NDArray[np.float64], move: Callable[[NDArray[np.float64]], NDArray[np.float64]]):  # type: ignore[no-untyped-def]
    cut = np.quantile(x, 0.95)
    return np.where(x > cut, move(x), x)


@pytest.mark.parametrize("records", [200, 10_000])
def test_top_five_percent_times_100_is_a_drift_named_by_range_and_mean(records: int) -> None:
    """On a small day the binned KS test cannot see it (D = 0.05); the range share can."""
    rng = np.random.default_rng(1)
    feature = NumericFeatureProfile.from_values("x", rng.normal(size=50_000))
    current = _top_moved(rng.normal(size=records), lambda v: v * 100)
    decision = _decide(feature, current)
    assert decision.level == "drift"
    text = " ".join(decision.reasons)
    assert "share beyond the reference range" in text
    if records >= 10_000:
        assert "mean z-test q=" in text and "mean shift (sd)" in text


@pytest.mark.parametrize("seed", range(20))
def test_top_five_percent_plus_three_sd_is_flagged_on_a_10k_day(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    feature = NumericFeatureProfile.from_values("x", rng.normal(size=50_000))
    current = _top_moved(rng.normal(size=10_000), lambda v: v + 3 * feature.std)
    decision = _decide(feature, current)
    assert decision.level == "drift", decision.reasons


def test_iid_days_raise_at_most_one_percent_false_alarms() -> None:
    """300 seeded i.i.d. days of three shapes: at most 1 % of days get any warning or drift."""
    rng = np.random.default_rng(7)
    features = {
        name: NumericFeatureProfile.from_values(name, draw(rng, 50_000))
        for name, draw in SHAPES.items()
    }
    days = 300
    alarms = 0
    for _ in range(days):
        results = []
        for name, draw in SHAPES.items():
            current = draw(rng, 10_000)
            counts = np.bincount(features[name].assign(current), minlength=features[name].n_bins)
            results.append(compare(features[name], counts, value_sum=float(current.sum())))
        alarms += any(d.level != "ok" for d in decide(results))
    assert alarms <= days * 0.01


def test_a_one_percent_tail_beyond_the_range_alone_is_a_warning() -> None:
    """The threshold scale: 0.7 % beyond the reference maximum, mean barely moved."""
    rng = np.random.default_rng(3)
    feature = NumericFeatureProfile.from_values("x", rng.normal(size=50_000))
    current = rng.normal(size=10_000)
    current[:70] = feature.edges[-1] + 0.01
    decision = _decide(feature, current)
    assert decision.level == "warning", decision.reasons
    assert decision.drift is not None and decision.drift.out_of_range_pvalue is not None


def test_rejections_beyond_the_allowed_range_count_as_out_of_range() -> None:
    rng = np.random.default_rng(4)
    feature = NumericFeatureProfile.from_values("amount", rng.lognormal(3.0, 1.0, 50_000))
    current = rng.lognormal(3.0, 1.0, 9_000)
    assert _decide(feature, current).level == "ok"
    decision = _decide(feature, current, rejected=1_001)
    assert decision.level == "drift"
    assert "1001 records beyond the allowed range were rejected" in " ".join(decision.reasons)
    assert decision.drift is not None
    assert decision.drift.cur_out_of_range_rate == pytest.approx(1_001 / 10_001, abs=1e-3)


def test_new_thresholds_are_validated() -> None:
    with pytest.raises(ValueError, match="out_of_range"):
        DriftThresholds(out_of_range_warn=0.1, out_of_range_alert=0.05)
    with pytest.raises(ValueError, match="mean_shift"):
        DriftThresholds(mean_shift_warn=-1.0)
