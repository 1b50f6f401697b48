"""False-alarm rate and power of the drift tests on simulated days, at any day size.

Days are simulated as bin counts: a multinomial draw over the true probabilities of the
reference's bins (exact for i.i.d. records, and cheap at 10^6 records a day). References
are real samples profiled with the production code, so their own sampling error and the
choice of categories / quantile edges on them are part of what is measured.
``python -m tests.streams.drift.test_drift_calibration`` prints the rates the README quotes.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from scorestream.streams.drift.decision import DriftThresholds, decide
from scorestream.streams.drift.pooled_chi_square import pooled_chi_square
from scorestream.streams.drift.profile import CategoricalFeatureProfile, NumericFeatureProfile
from scorestream.streams.drift.statistics import chi_square, compare
from tests.streams.drift.mixed_features import (
    MIXED_DAY_SIZES,
    check_day,
    draw,
    high_cardinality,
    mixed_reference,
    verdict_alarm_rate,
)

ALPHA = DriftThresholds().alpha
DAY_SIZES = (100, 10_000, 1_000_000)


def _rare_categories() -> tuple[np.ndarray, np.ndarray]:
    # Five common categories and 40 rare ones of 0.025 % each (1 % in all).
    probs = np.r_[[0.40, 0.25, 0.15, 0.10, 0.09], np.full(40, 0.00025)]
    return np.array([f"c{i}" for i in range(probs.size)]), probs / probs.sum()


def _zipf_categories() -> tuple[np.ndarray, np.ndarray]:
    # A long tail: 200 categories with Zipf(1.1) shares; a profile keeps the top 50.
    probs = 1 / np.arange(1, 201) ** 1.1
    return np.array([f"z{i}" for i in range(probs.size)]), probs / probs.sum()


def _bin_probs(
    feature: CategoricalFeatureProfile, names: np.ndarray, probs: np.ndarray
) -> np.ndarray:
    true = np.zeros(feature.n_bins)
    np.add.at(true, feature.assign(names), probs)
    return true


def _categorical_alarm_rate(
    ref_size: int,
    day_size: int,
    names: np.ndarray,
    probs: np.ndarray,
    seed: int,
    references: int,
    days: int,
) -> float:
    rng = np.random.default_rng(seed)
    alarms = 0
    for _ in range(references):
        feature = CategoricalFeatureProfile.from_values("c", rng.choice(names, ref_size, p=probs))
        true = _bin_probs(feature, names, probs)
        for _ in range(days):
            alarms += compare(feature, rng.multinomial(day_size, true)).pvalue < ALPHA
    return alarms / (references * days)


def _numeric_alarm_rate(ref_size: int, day_size: int, seed: int, days: int) -> float:
    rng = np.random.default_rng(seed)
    feature = NumericFeatureProfile.from_values("x", rng.normal(size=ref_size))
    cdf = stats.norm.cdf(feature.edges)
    # [underflow, interior..., overflow, missing]; no missing values.
    true = np.r_[cdf[0], np.diff(cdf), 1 - cdf[-1], 0.0]
    alarms = 0
    for _ in range(days):
        drift = compare(feature, rng.multinomial(day_size, true))
        alarms += drift.pvalue < ALPHA
    return alarms / days


def test_rare_categories_on_small_days_keep_the_false_alarm_rate() -> None:
    # Defect: Pearson's chi-square on 40 cells of expected count 0.025 flagged 22 % of days.
    names, probs = _rare_categories()
    rate = _categorical_alarm_rate(50_000, 100, names, probs, seed=4, references=1, days=400)
    assert rate <= ALPHA


@pytest.mark.parametrize("day_size", DAY_SIZES)
def test_categories_chosen_on_a_small_reference_keep_the_false_alarm_rate(day_size: int) -> None:
    # Defect: top-50 of a 1,000-row reference; the unpooled test flagged 80 % of
    # references on days of 10^6, because the rare categories it kept were the lucky ones.
    # Many references, two days each: the days of one reference share its selection error,
    # so alarms cluster by reference, and 40 x 5 days could not tell 1 % from 2.5 %.
    names, probs = _zipf_categories()
    rate = _categorical_alarm_rate(1_000, day_size, names, probs, seed=5, references=100, days=2)
    assert rate <= ALPHA


@pytest.mark.parametrize("day_size", DAY_SIZES)
@pytest.mark.parametrize("ref_size", [1_000, 50_000])
def test_numeric_iid_days_keep_the_false_alarm_rate(ref_size: int, day_size: int) -> None:
    # KS on the reference-quantile bins compares two samples (effective n = nm/(n+m)) and
    # sees the raw statistic at a subset of points only: never above alpha.
    assert _numeric_alarm_rate(ref_size, day_size, seed=6, days=200) <= ALPHA


@pytest.mark.parametrize("day_size", [1_000, 10_000, 1_000_000])
@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("shift 0.5 sd", lambda r, n: r.normal(0.5, 1, n)),
        ("scale x2", lambda r, n: r.normal(0, 2, n)),
    ],
)
def test_shift_and_scale_change_are_drift_on_day_one(name: str, make, day_size: int) -> None:
    rng = np.random.default_rng(8)
    feature = NumericFeatureProfile.from_values("x", rng.normal(size=50_000))
    day = make(rng, day_size)
    counts = np.bincount(feature.assign(day), minlength=feature.n_bins)
    [decision] = decide([compare(feature, counts, value_sum=float(day.sum()))])
    assert decision.level == "drift", (name, decision.reasons)


def test_category_move_is_drift_on_a_small_day() -> None:
    # Pooling keeps the power where it matters: 20 points moved between common categories.
    names, probs = _rare_categories()
    rng = np.random.default_rng(9)
    feature = CategoricalFeatureProfile.from_values("c", rng.choice(names, 50_000, p=probs))
    moved = probs.copy()
    moved[0] -= 0.2
    moved[1] += 0.2
    counts = rng.multinomial(1_000, _bin_probs(feature, names, moved))
    [decision] = decide([compare(feature, counts)])
    assert decision.level == "drift", decision.reasons


@pytest.mark.parametrize("day_size", MIXED_DAY_SIZES)
@pytest.mark.parametrize("ref_size", [1_000, 50_000])
def test_a_whole_check_keeps_the_false_alarm_rate(ref_size: int, day_size: int) -> None:
    # The verdict, not one p-value: every feature and side test of a check of a normal,
    # a zero-inflated amount, a high-cardinality shop (other ~75 %, unseen values on
    # every day) and a channel with 40 rare values, all i.i.d. A day counts if any
    # feature is a warning or a drift.
    days = 150
    rate = verdict_alarm_rate(ref_size, day_size, seed=11, days=days)
    assert rate <= ALPHA, f"{rate:.2%} of {days} days"


@pytest.mark.parametrize("day_size", [1_000, 100_000])
@pytest.mark.parametrize("seed", range(3))
def test_zero_share_92_to_50_percent_is_drift_on_day_one_and_only_there(
    seed: int, day_size: int
) -> None:
    rng = np.random.default_rng(30 + seed)
    features = mixed_reference(rng, 50_000)
    levels = check_day(features, draw(rng, day_size, zero_share=0.5))
    assert levels == {"x": "ok", "amount": "drift", "shop": "ok", "channel": "ok"}, levels


@pytest.mark.parametrize("kept_share", [0.69, 0.25])
@pytest.mark.parametrize("day_size", [1_000, 100_000])
@pytest.mark.parametrize("seed", range(3))
def test_new_category_at_ten_percent_is_drift_on_day_one_and_only_there(
    seed: int, day_size: int, kept_share: float
) -> None:
    # Defect: with "other" holding 75 % of the reference, a new value at 10 % grew other
    # by 2.5 points only (warning); it is now graded as the share of unseen values.
    rng = np.random.default_rng(40 + seed)
    features = mixed_reference(rng, 50_000, shop=high_cardinality(kept_share))
    day = draw(rng, day_size, shop=high_cardinality(kept_share), new_shop=0.10)
    levels = check_day(features, day)
    assert levels == {"x": "ok", "amount": "ok", "shop": "drift", "channel": "ok"}, levels


def test_pooled_chi_square_equals_pearson_when_no_cell_is_sparse() -> None:
    rng = np.random.default_rng(10)
    ref, cur = rng.multinomial(50_000, [0.5, 0.3, 0.2]), rng.multinomial(10_000, [0.5, 0.3, 0.2])
    assert pooled_chi_square(ref, cur) == pytest.approx(chi_square(ref, cur))


def test_pooled_chi_square_falls_back_to_fisher_on_a_sparse_two_by_two() -> None:
    # A 1 % missing rate on a day of 100 records: one expected count of 1.
    statistic, pvalue = pooled_chi_square([49_500, 500], [96, 4])
    assert pvalue == pytest.approx(stats.fisher_exact([[49_500, 500], [96, 4]]).pvalue)
    assert statistic == pytest.approx(chi_square([49_500, 500], [96, 4])[0])
    assert pooled_chi_square([3, 0], [5, 0]) == (0.0, 1.0)
    with pytest.raises(ValueError):
        pooled_chi_square([1, -1], [1, 1])


def main() -> None:
    """Print the measured false-alarm rates (more days than the tests, same code)."""
    names, probs = _rare_categories()
    rate = _categorical_alarm_rate(50_000, 100, names, probs, seed=1, references=1, days=2_000)
    print(f"40 rare categories, 50,000-row reference, 100-record days: {rate:.2%} of 2,000 days")
    names, probs = _zipf_categories()
    for day_size in DAY_SIZES:
        rate = _categorical_alarm_rate(
            1_000, day_size, names, probs, seed=2, references=200, days=5
        )
        print(
            f"Zipf categories, 1,000-row references, {day_size:,}-record days: {rate:.2%} of 1,000"
        )
    for ref_size in (1_000, 50_000):
        for day_size in DAY_SIZES:
            rate = _numeric_alarm_rate(ref_size, day_size, seed=3, days=1_000)
            print(
                f"normal, {ref_size:,}-row reference, {day_size:,}-record days: {rate:.2%} of 1,000"
            )
    for day_size in (100, 1_000, *DAY_SIZES[1:]):
        shift, scale = _power(day_size, 0.5, 1.0, 20), _power(day_size, 0.0, 2.0, 20)
        print(f"day one, {day_size:,} records: drift {shift:.0%} (0.5 sd), {scale:.0%} (2 x scale)")
    for ref_size in (1_000, 50_000):
        for day_size in MIXED_DAY_SIZES:
            rate = verdict_alarm_rate(ref_size, day_size, seed=12, days=1_000)
            print(
                f"whole check (4 features), {ref_size:,}-row reference, {day_size:,}-record "
                f"days: {rate:.2%} of 1,000 days with a warning or drift"
            )


def _power(day_size: int, shift: float, scale: float, seeds: int) -> float:
    flagged = 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        feature = NumericFeatureProfile.from_values("x", rng.normal(size=50_000))
        day = rng.normal(shift, scale, day_size)
        counts = np.bincount(feature.assign(day), minlength=feature.n_bins)
        [decision] = decide([compare(feature, counts, value_sum=float(day.sum()))])
        flagged += decision.level == "drift"
    return flagged / seeds


if __name__ == "__main__":
    main()
