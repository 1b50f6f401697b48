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

__all__ = ["mean_test", "out_of_range_test", "share_growth_test", "unseen_test"]


def share_growth_test(
    n_ref: float, k_ref: float, n_cur: float, k_cur: float
) -> tuple[float, float | None]:
    """Growth of a share between two samples and its one-sided (Fisher exact) p-value.

    ``k`` of ``n`` records on each side have the property (beyond a range, unseen); the
    effect size is ``k_cur / n_cur - k_ref / n_ref`` and the test asks whether the current
    share is larger. For a reference that is itself a sample of the stream (a time-of-day
    baseline), whose share is estimated with its own error.
    """
    if n_cur <= 0:
        return math.nan, None
    growth = k_cur / n_cur - (k_ref / n_ref if n_ref > 0 else 0.0)
    if n_ref <= 0:
        return growth, None
    table = np.rint([[k_cur, n_cur - k_cur], [k_ref, n_ref - k_ref]]).astype(np.int64)
    return growth, float(sps.fisher_exact(table, alternative="greater").pvalue)


def out_of_range_test(
    n_ref: float,
    n_present: float,
    n_beyond: float,
    rejected: int,
    ref_beyond: float | None = None,
) -> tuple[float, float | None]:
    """Share of current values beyond the reference range and its one-sided p-value.

    Against the training reference (``ref_beyond`` ``None``): for i.i.d. continuous data
    the mass beyond the min and max of its ``N`` values is Beta(2, N - 1) (two spacings),
    so the count beyond them among ``n`` current values is beta-binomial(n, 2, N - 1);
    ties (a point mass at the minimum) only make it smaller, so the test stays
    conservative. Rejected records count as beyond. Against a stream baseline (values
    beyond the training range, its rejections included, ``ref_beyond`` of them): the
    growth of the share and :func:`share_growth_test`.
    """
    n = n_present + rejected
    if n <= 0:
        return math.nan, None
    k = n_beyond + rejected
    if ref_beyond is not None:
        return share_growth_test(n_ref, ref_beyond, n, k)
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
    """``|delta mean| / ref_std`` and the two-sided z-test p-value of the difference.

    The current side's variance is the larger of its own and the reference's. Its own
    (Welch): a sparse feature (a pixel that is almost always 0) has a tiny reference sd,
    and a current sample that happened to draw a few more non-zero values would otherwise
    look thousands of errors away. Never less than the reference's, which is the variance
    under the null hypothesis: a 100-record day of a 92 %-zero amount that drew no non-zero
    value has sd 0, and its own variance made its mean look 45 errors away (2.7 % of such
    days flagged).
    """
    if cur_mean is None or not math.isfinite(cur_mean) or not feature.std > 0:
        return None, None
    if n_ref <= 0 or n_cur <= 0:
        return None, None
    shift = abs(cur_mean - feature.mean) / feature.std
    own = 0.0 if cur_std is None or not math.isfinite(cur_std) else cur_std**2
    cur_var = max(feature.std**2, own)
    se = math.sqrt(feature.std**2 / n_ref + cur_var / n_cur)
    return float(shift), float(2 * sps.norm.sf(abs(cur_mean - feature.mean) / se))


def unseen_test(
    n_ref: float, singletons: int, doubletons: int, n_cur: float, k_unseen: float
) -> tuple[float, float | None]:
    """Growth of the share of values the reference never had, and its one-sided p-value.

    An i.i.d. day holds new values too, in the share of the probability mass the
    reference missed. Good-Turing estimates it as ``singletons / N`` (values seen once in
    the ``N`` reference rows), and Esty (1983) gives the variance of that estimate's error,
    ``(f1 (1 - f1 / N) + 2 f2) / N^2``. The missing mass is modelled as a beta distribution
    with that mean and variance (one pseudo-count added to each, so a reference without
    singletons still expects ~1/N, like Beta(1, N)), and the day's unseen count as
    beta-binomial: the test accounts for the reference's own sampling error, and the
    effect size is the day's share minus the estimate.
    """
    if n_cur <= 0:
        return math.nan, None
    if n_ref < 1:
        return k_unseen / n_cur, None
    mean = (singletons + 1) / (n_ref + 1)
    variance = (singletons * max(1 - singletons / n_ref, 0.0) + 2 * doubletons + 1) / n_ref**2
    growth = k_unseen / n_cur - mean
    common = mean * (1 - mean) / variance - 1
    if not common > 0 or not 0 < mean < 1:
        return growth, None
    a, b = mean * common, (1 - mean) * common
    p = float(sps.betabinom.sf(k_unseen - 1, int(n_cur), a, b)) if k_unseen > 0 else 1.0
    return growth, float(np.clip(p, 0.0, 1.0))
