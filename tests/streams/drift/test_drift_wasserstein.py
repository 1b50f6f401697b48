"""The stated Wasserstein bounds hold on shapes nobody tuned the bins for (against scipy)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats

from scorestream.streams.drift.profile import NumericFeatureProfile
from scorestream.streams.drift.statistics import compare
from scorestream.streams.drift.wasserstein_estimate import (
    SCALE_RATIO_MIN,
    SHIFT_ABOVE,
    SHIFT_ABOVE_LIGHT_TAILS,
    SHIFT_BELOW,
)

N = 100_000
Sampler = Callable[[np.random.Generator], np.ndarray]

SHAPES: dict[str, Sampler] = {
    "normal": lambda r: r.normal(0, 1, N),
    "uniform": lambda r: r.uniform(0, 1, N),
    "bimodal": lambda r: np.where(r.random(N) < 0.5, r.normal(-2, 0.5, N), r.normal(2, 0.5, N)),
    "t2": lambda r: r.standard_t(2, N),
    "capped": lambda r: np.minimum(r.normal(0, 1, N), 0.5),
    "zero_inflated": lambda r: np.where(r.random(N) < 0.4, 0.0, r.exponential(1.0, N)),
    "lognormal": lambda r: r.lognormal(0, 0.75, N),
}


def _estimate_and_raw(shape: str, shift: float, scale: float) -> tuple[float, float]:
    rng = np.random.default_rng(sum(map(ord, shape)))
    ref, cur = SHAPES[shape](rng), SHAPES[shape](rng)
    sd, mean = ref.std(), ref.mean()
    cur = mean + (cur - mean) * scale + shift * sd
    feature = NumericFeatureProfile.from_values("x", ref)
    counts = np.bincount(feature.assign(cur), minlength=feature.n_bins)
    drift = compare(feature, counts, value_sum=float(cur.sum()))
    assert drift.wasserstein is not None
    return drift.wasserstein, stats.wasserstein_distance(ref, cur) / sd


@pytest.mark.parametrize("shift", [0.0, 0.25, 0.5])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_mean_shift_within_stated_bound(shape: str, shift: float) -> None:
    # Defect: the binned value alone was 0.04-0.18 sd off for these shapes (claimed 0.03).
    estimate, raw = _estimate_and_raw(shape, shift, 1.0)
    above = SHIFT_ABOVE if shape == "t2" else SHIFT_ABOVE_LIGHT_TAILS
    assert raw - SHIFT_BELOW <= estimate <= raw + above, (estimate, raw)


@pytest.mark.parametrize("scale", [0.5, 1.5, 2.0])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_scale_change_is_a_lower_bound_within_stated_ratio(shape: str, scale: float) -> None:
    estimate, raw = _estimate_and_raw(shape, 0.0, scale)
    assert SCALE_RATIO_MIN * raw <= estimate <= raw + SHIFT_BELOW, (estimate, raw)
