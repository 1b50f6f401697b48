"""Reference data nobody here wrote: few decimal values, point masses, empty columns, new
categories (issue 11)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scorestream.consumers.drift_check.check import PeriodCounts, evaluate
from scorestream.streams.drift.decision import DriftThresholds
from scorestream.streams.drift.profile import (
    CategoricalFeatureProfile,
    NumericFeatureProfile,
    ReferenceProfile,
)
from scorestream.streams.drift.statistics import compare


def _period(counts: np.ndarray) -> PeriodCounts:
    return PeriodCounts(np.asarray(counts, dtype=np.int64), int(counts.sum()), 0, 0.0, 0.0)


def _verdicts(profile: ReferenceProfile, current: pd.DataFrame) -> dict[str, object]:
    counts = {name: _period(c) for name, c in profile.count(current).items()}
    decisions, _ = evaluate(profile, counts, DriftThresholds())
    return {d.feature: d for d in decisions}


def test_few_distinct_decimal_values_compare_against_themselves() -> None:
    feature = NumericFeatureProfile.from_values("x", [0.1] * 10 + [0.7] * 10)
    drift = compare(feature, feature.reference_counts)
    assert drift.psi == 0.0
    assert drift.wasserstein == 0.0


def test_bin_positions_stay_inside_their_bins_for_random_decimal_features() -> None:
    rng = np.random.default_rng(11)
    for _ in range(300):
        distinct = np.round(rng.uniform(-5, 5, size=rng.integers(2, 11)), 2)
        values = rng.choice(distinct, size=rng.integers(5, 200))
        feature = NumericFeatureProfile.from_values("x", values)
        positions = feature.positions()
        assert np.all(np.diff(positions) >= 0), values
        inner = positions[1:-1]
        assert np.all(inner >= feature.edges[0]) and np.all(inner <= feature.edges[-1])
        compare(feature, feature.reference_counts)


def test_point_mass_gets_its_own_bin_and_losing_it_is_drift() -> None:
    rng = np.random.default_rng(2)
    n = 20_000
    reference = np.where(rng.random(n) < 0.92, 0.0, rng.exponential(5.0, n))
    current = rng.exponential(5.0, n)  # no zeros at all any more
    feature = NumericFeatureProfile.from_values("spend", reference)
    zero_bin = int(feature.assign([0.0])[0])
    # The zero bin holds the zeros and nothing else, and the positive values keep bins.
    assert feature.reference_counts[zero_bin] == int((reference == 0).sum())
    assert feature.n_interior >= 5
    counts = np.bincount(feature.assign(current), minlength=feature.n_bins)
    drift = compare(feature, counts)
    assert drift.statistic > 0.9
    frame = ReferenceProfile((feature,))
    verdict = _verdicts(frame, pd.DataFrame({"spend": current}))["spend"]
    assert verdict.level == "drift"


def test_point_mass_at_the_maximum_is_isolated_too() -> None:
    rng = np.random.default_rng(3)
    reference = np.where(rng.random(5000) < 0.5, 100.0, rng.uniform(0, 99, 5000))
    feature = NumericFeatureProfile.from_values("capped", reference)
    top = int(feature.assign([100.0])[0])
    assert feature.reference_counts[top] == int((reference == 100.0).sum())


def test_all_missing_reference_column_tracks_only_the_missing_share() -> None:
    reference = pd.DataFrame({"empty": [None] * 1000, "x": np.arange(1000.0)})
    profile = ReferenceProfile.from_frame(reference, ["empty", "x"], [])
    empty = profile["empty"]
    assert isinstance(empty, CategoricalFeatureProfile)
    assert empty.categories == ()
    assert "missing" in empty.note
    same = _verdicts(profile, pd.DataFrame({"empty": [None] * 5000, "x": np.arange(5000.0) / 5}))
    assert same["empty"].level == "ok"
    filled = pd.DataFrame({"empty": np.arange(5000.0), "x": np.arange(5000.0) / 5})
    assert _verdicts(profile, filled)["empty"].level == "drift"
    assert ReferenceProfile.from_dict(profile.to_dict())["empty"].note == empty.note


def test_new_category_at_ten_percent_of_a_high_cardinality_feature_is_drift() -> None:
    rng = np.random.default_rng(5)
    names = np.array([f"shop{i:04d}" for i in range(1000)], dtype=object)
    zipf = 1 / np.arange(1, 1001) ** 1.1  # long tail: the 50 kept shops hold 69 %
    zipf /= zipf.sum()
    reference = pd.DataFrame({"shop": rng.choice(names, 50_000, p=zipf)})
    profile = ReferenceProfile.from_frame(reference, [], ["shop"], max_categories=50)
    current = rng.choice(names, 100_000, p=zipf)
    current[rng.random(current.size) < 0.10] = "brand-new-shop"
    verdict = _verdicts(profile, pd.DataFrame({"shop": current}))["shop"]
    assert verdict.level == "drift", verdict.reasons
    assert any("unseen in the reference 0.1" in reason for reason in verdict.reasons), (
        verdict.reasons
    )
    # The same data without the new shop stays quiet.
    calm = _verdicts(profile, pd.DataFrame({"shop": rng.choice(names, 100_000, p=zipf)}))
    assert calm["shop"].level == "ok", calm["shop"].reasons


def test_a_flat_high_cardinality_feature_stays_quiet() -> None:
    """The kept categories are picked on the reference's noise: no false alarm from that."""
    rng = np.random.default_rng(6)
    names = [f"shop{i:03d}" for i in range(200)]
    reference = pd.DataFrame({"shop": rng.choice(names, 50_000)})
    profile = ReferenceProfile.from_frame(reference, [], ["shop"], max_categories=50)
    for _ in range(5):
        calm = _verdicts(profile, pd.DataFrame({"shop": rng.choice(names, 100_000)}))["shop"]
        assert calm.level == "ok", calm.reasons
