"""A check of several kinds of feature at once, for false-alarm and power measurements.

Four features a new user might bring: a normal ``x``, a zero-inflated ``amount`` (92 %
zeros, the rest exponential), a high-cardinality ``shop`` (2,000 values with Zipf shares,
the 50 kept holding a chosen share; every day holds values the reference never had) and a
``channel`` of 5 common and 40 rare values. Used by ``test_drift_calibration.py`` and by
``bench/compare_evidently.py`` (the same days for both tools).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from scorestream.streams.drift.decision import DriftThresholds, decide, other_share_growth
from scorestream.streams.drift.profile import (
    CategoricalFeatureProfile,
    FeatureProfile,
    NumericFeatureProfile,
)
from scorestream.streams.drift.statistics import compare

MIXED_DAY_SIZES = (100, 10_000, 1_000_000)
ZERO_SHARE = 0.92
AMOUNT_SCALE = 50.0
NEW_SHOP = "brand-new-shop"

Categories = tuple[NDArray[np.str_], NDArray[np.float64]]
Day = dict[str, NDArray[np.float64] | NDArray[np.object_]]


@cache
def high_cardinality(kept_share: float = 0.25, n: int = 2_000, kept: int = 50) -> Categories:
    """``n`` shops with Zipf shares whose ``kept`` largest hold ``kept_share`` in all."""
    ranks = np.arange(1, n + 1, dtype=np.float64)
    lo, hi = 0.0, 3.0
    for _ in range(60):  # bisection on the exponent: the top share grows with it
        s = (lo + hi) / 2
        w = ranks**-s
        lo, hi = (s, hi) if w[:kept].sum() / w.sum() < kept_share else (lo, s)
    w = ranks ** -((lo + hi) / 2)
    return np.array([f"shop{i:04d}" for i in range(n)]), w / w.sum()


def rare_channels() -> Categories:
    """Five common values and 40 rare ones of 0.025 % each."""
    probs = np.r_[[0.40, 0.25, 0.15, 0.10, 0.09], np.full(40, 0.00025)]
    return np.array([f"c{i}" for i in range(probs.size)]), probs / probs.sum()


def draw(
    rng: np.random.Generator,
    n: int,
    *,
    zero_share: float = ZERO_SHARE,
    shop: Categories | None = None,
    new_shop: float = 0.0,
    shift: float = 0.0,
) -> Day:
    """``n`` records of every feature; the keywords change one feature."""
    names, probs = shop if shop is not None else high_cardinality()
    shops = rng.choice(names, n, p=probs).astype(object)
    shops[rng.random(n) < new_shop] = NEW_SHOP
    channels, channel_probs = rare_channels()
    amount = np.where(rng.random(n) < zero_share, 0.0, rng.exponential(AMOUNT_SCALE, n))
    return {
        "x": rng.normal(shift, 1.0, n),
        "amount": amount,
        "shop": shops,
        "channel": rng.choice(channels, n, p=channel_probs).astype(object),
    }


def mixed_reference(
    rng: np.random.Generator, size: int, shop: Categories | None = None
) -> dict[str, FeatureProfile]:
    """Profiles of a reference sample of :func:`draw`, built by the production code."""
    values = draw(rng, size, shop=shop)
    return {
        "x": NumericFeatureProfile.from_values("x", values["x"]),
        "amount": NumericFeatureProfile.from_values("amount", values["amount"]),
        "shop": CategoricalFeatureProfile.from_values("shop", values["shop"]),
        "channel": CategoricalFeatureProfile.from_values("channel", values["channel"]),
    }


def check_day(
    features: dict[str, FeatureProfile],
    day: Day,
    thresholds: DriftThresholds | None = None,
) -> dict[str, str]:
    """The level of every feature on a day of raw values, as the daily check grades them."""
    counts, sums = {}, {}
    for name, feature in features.items():
        counts[name] = np.bincount(feature.assign(day[name]), minlength=feature.n_bins)
        if isinstance(feature, NumericFeatureProfile):
            x = np.asarray(day[name], dtype=np.float64)
            x = x[np.isfinite(x)]
            sums[name] = (float(x.sum()), float(x @ x))
    return grade(features, counts, sums, thresholds)


def grade(
    features: dict[str, FeatureProfile],
    counts: dict[str, NDArray[np.int64]],
    sums: dict[str, tuple[float, float]],
    thresholds: DriftThresholds | None = None,
) -> dict[str, str]:
    """Levels from bin counts and (numeric) value sums, one Benjamini-Hochberg family."""
    results, growth = [], {}
    for name, feature in features.items():
        total, total_sq = sums.get(name, (None, None))
        results.append(compare(feature, counts[name], value_sum=total, value_sumsq=total_sq))
        growth[name] = other_share_growth(feature, counts[name])
    return {d.feature: d.level for d in decide(results, thresholds, growth)}


def _numeric_bin_probs(feature: NumericFeatureProfile, name: str) -> NDArray[np.float64]:
    edges = feature.edges
    if name == "x":
        cdf = stats.norm.cdf(edges)
        probs = np.r_[cdf[0], np.diff(cdf), 1 - cdf[-1], 0.0]
    else:
        cdf = stats.expon.cdf(edges, scale=AMOUNT_SCALE)
        probs = (1 - ZERO_SHARE) * np.r_[cdf[0], np.diff(cdf), 1 - cdf[-1], 0.0]
        probs[feature.assign(np.array([0.0]))[0]] += ZERO_SHARE
    return probs


def _categorical_bin_probs(
    feature: CategoricalFeatureProfile, categories: Categories
) -> NDArray[np.float64]:
    names, probs = categories
    true = np.zeros(feature.n_bins)
    np.add.at(true, feature.assign(names), probs)
    return true


#: Mean and second moment of the numeric features, for the sums of simulated large days.
MOMENTS = {"x": (0.0, 1.0), "amount": ((1 - ZERO_SHARE) * AMOUNT_SCALE, 0.0)}
MOMENTS["amount"] = (MOMENTS["amount"][0], (1 - ZERO_SHARE) * 2 * AMOUNT_SCALE**2)


def verdict_alarm_rate(ref_size: int, day_size: int, seed: int, days: int) -> float:
    """Share of i.i.d. days on which any feature is a warning or a drift.

    Days up to 10,000 records are drawn as raw values. Larger days are drawn as
    multinomial bin counts over the features' true bin probabilities (exact for i.i.d.
    records), with numeric sums from the central limit theorem (excellent at 10^6).
    """
    rng = np.random.default_rng(seed)
    features = mixed_reference(rng, ref_size)
    flagged = 0
    if day_size <= 10_000:
        for _ in range(days):
            levels = check_day(features, draw(rng, day_size))
            flagged += any(level != "ok" for level in levels.values())
        return flagged / days
    probs = {
        "x": _numeric_bin_probs(features["x"], "x"),  # type: ignore[arg-type]
        "amount": _numeric_bin_probs(features["amount"], "amount"),  # type: ignore[arg-type]
        "shop": _categorical_bin_probs(features["shop"], high_cardinality()),  # type: ignore[arg-type]
        "channel": _categorical_bin_probs(features["channel"], rare_channels()),  # type: ignore[arg-type]
    }
    for _ in range(days):
        counts = {name: rng.multinomial(day_size, p / p.sum()) for name, p in probs.items()}
        sums = {}
        for name, (mean, second) in MOMENTS.items():
            sd = np.sqrt(second - mean**2)
            sums[name] = (
                day_size * mean + np.sqrt(day_size) * sd * rng.normal(),
                day_size * second,
            )
        levels = grade(features, counts, sums)
        flagged += any(level != "ok" for level in levels.values())
    return flagged / days
