"""Tests that see past the folded outer bins: the share beyond the reference range, the mean.

PSI and Jensen-Shannon fold the under/overflow into the outer quantile bins, and the binned
KS test only sees how much mass crossed an edge, so a tail moved far beyond the reference
maximum looks like nothing. These two tests grade how many values left the reference range
and how far the mean went, each with its own p-value (see :func:`.decision.decide`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from scorestream.streams.drift.numeric_profile import NumericFeatureProfile

__all__ = ["mean_test", "out_of_range_test"]


def out_of_range_test(
    n_ref: float, n_present: float, n_beyond: float, rejected: int
) -> tuple[float, float | None]:
    """Share of current values beyond the reference range and its one-sided p-value.

    For i.i.d. continuous data the mass beyond the min and max of ``N`` reference values
    is Beta(2, N - 1) (two spacings), so the count beyond them among ``n`` current values
    is beta-binomial(n, 2, N - 1); ties (a point mass at the minimum) only make it smaller,
    so the test stays conservative. Rejected records count as beyond.
    """
    n = n_present + rejected
    if n <= 0:
        return math.nan, None
    k = n_beyond + rejected
    if n_ref < 2:
        return k / n, None
    # Mass beyond the min and max of N i.i.d. values is Beta(2, N - 1) (two spacings).
    p = float(sps.betabinom.sf(k - 1, int(n), 2, n_ref - 1)) if k > 0 else 1.0
    return k / n, float(np.clip(p, 0.0, 1.0))


def mean_test(
    feature: NumericFeatureProfile,
    n_ref: float,
    n_cur: float,
    cur_mean: float | None,
    cur_std: float | None,
) -> tuple[float | None, float | None]:
    """``|delta mean| / ref_std`` and the two-sided (Welch) z-test p-value of the difference.

    Each side's own variance (Welch), not the reference's alone: a sparse feature (a pixel
    that is almost always 0) has a tiny reference sd, and a current sample that happened to
    draw a few more non-zero values would otherwise look thousands of errors away.
    """
    if cur_mean is None or not math.isfinite(cur_mean) or not feature.std > 0:
        return None, None
    if n_ref <= 0 or n_cur <= 0:
        return None, None
    shift = abs(cur_mean - feature.mean) / feature.std
    cur_var = feature.std**2 if cur_std is None or not math.isfinite(cur_std) else cur_std**2
    se = math.sqrt(feature.std**2 / n_ref + cur_var / n_cur)
    return float(shift), float(2 * sps.norm.sf(abs(cur_mean - feature.mean) / se))
