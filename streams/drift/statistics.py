"""Drift statistics on binned data: current counts against reference counts.

Every function takes two count vectors in the same bin layout (see
:mod:`.profile`), so the cost of a check depends on the number of bins, never
on the number of records. Functions that only need distributions (PSI, Jensen-Shannon,
Wasserstein) also accept proportions; tests (KS, chi-square) need counts, because their
p-values depend on the sample sizes.

An empty side has no distribution: statistics are then ``nan`` and p-values ``1.0``, which
a caller can feed to a multiple-testing correction without special cases.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special
from scipy import stats as sps

from scorestream.streams.drift.count_pair import count_pair
from scorestream.streams.drift.pooled_chi_square import pooled_chi_square
from scorestream.streams.drift.profile import (
    CategoricalFeatureProfile,
    FeatureProfile,
    NumericFeatureProfile,
)
from scorestream.streams.drift.tail_tests import (
    mean_test,
    out_of_range_test,
    share_growth_test,
    unseen_test,
)
from scorestream.streams.drift.wasserstein_binned import (
    wasserstein_binned,
    wasserstein_binned_bound,
)
from scorestream.streams.drift.wasserstein_estimate import wasserstein_estimate

__all__ = [
    "PSI_EPS",
    "FeatureDrift",
    "chi_square",
    "compare",
    "jensen_shannon",
    "ks_binned",
    "psi",
    "wasserstein_binned",
    "wasserstein_binned_bound",
]

#: Floor on bin proportions in PSI, so that a bin empty on one side gives a large but
#: finite contribution (a 1 % bin against an empty one adds about 0.046).
PSI_EPS = 1e-4


def psi(ref: ArrayLike, cur: ArrayLike, eps: float = PSI_EPS) -> float:
    r"""Population stability index.

    .. math:: \mathrm{PSI} = \sum_i (q_i - p_i) \ln(q_i / p_i)

    with :math:`p` the reference and :math:`q` the current proportions. Bins empty on both
    sides are dropped; the others are floored at ``eps`` and renormalised, so that a bin
    empty on one side counts as rare rather than impossible. PSI is the symmetrised
    Kullback-Leibler divergence; by convention < 0.1 is stable, 0.1-0.2 a moderate shift,
    > 0.2 a major one.

    Parameters
    ----------
    ref, cur
        Reference and current counts (or proportions) in the same bin layout.
    eps
        Floor on the proportions.

    Returns
    -------
    float
        PSI (>= 0), ``nan`` if a side is empty.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.multinomial(10_000, [0.25] * 4)
    >>> round(psi(ref, rng.multinomial(10_000, [0.25] * 4)), 4)
    0.0003
    >>> round(psi(ref, rng.multinomial(10_000, [0.4, 0.3, 0.2, 0.1])), 2)
    0.23

    """
    r, c = count_pair(ref, cur)
    nr, nc = r.sum(), c.sum()
    if nr == 0 or nc == 0:
        return math.nan
    keep = (r > 0) | (c > 0)
    p = np.maximum(r[keep] / nr, eps)
    q = np.maximum(c[keep] / nc, eps)
    p /= p.sum()
    q /= q.sum()
    return float(np.sum((q - p) * np.log(q / p)))


def jensen_shannon(ref: ArrayLike, cur: ArrayLike) -> float:
    r"""Jensen-Shannon distance in base 2, in :math:`[0, 1]`.

    The square root of the Jensen-Shannon divergence
    :math:`\tfrac12 \mathrm{KL}(p \| m) + \tfrac12 \mathrm{KL}(q \| m)`, :math:`m = (p+q)/2`,
    in bits; the same as ``scipy.spatial.distance.jensenshannon(ref, cur, base=2)``. Unlike
    PSI it needs no smoothing, and for small shifts it is close to the share of mass that
    moved (a 0.5-std shift of a normal on 10 quantile bins gives about 0.2).

    Parameters
    ----------
    ref, cur
        Reference and current counts (or proportions) in the same bin layout.

    Returns
    -------
    float
        Distance in ``[0, 1]``, ``nan`` if a side is empty.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.multinomial(10_000, [0.25] * 4)
    >>> round(jensen_shannon(ref, rng.multinomial(10_000, [0.4, 0.3, 0.2, 0.1])), 2)
    0.19
    >>> jensen_shannon([1, 0], [0, 1])
    1.0

    """
    r, c = count_pair(ref, cur)
    nr, nc = r.sum(), c.sum()
    if nr == 0 or nc == 0:
        return math.nan
    p, q = r / nr, c / nc
    m = (p + q) / 2
    divergence = (special.rel_entr(p, m).sum() + special.rel_entr(q, m).sum()) / (2 * math.log(2))
    return float(min(math.sqrt(max(divergence, 0.0)), 1.0))


def ks_binned(ref: ArrayLike, cur: ArrayLike) -> tuple[float, float]:
    r"""Two-sample Kolmogorov-Smirnov test on binned data.

    The statistic is the largest gap between the two cumulative proportions at the bin
    edges. The raw-data statistic can only be larger, by at most the largest bin mass on
    either side (inside a bin each CDF moves by at most that bin's mass), so the test is
    conservative. The p-value is that of ``scipy.stats.ks_2samp(method="asymp")``: the
    distribution of the one-sample statistic with the effective sample size
    :math:`nm/(n+m)`, rounded (``scipy.stats.kstwo``); above
    :data:`KS_ASYMPTOTIC_FROM` it is Kolmogorov's limit ``kstwobign.sf(D * sqrt(n))``,
    because ``kstwo`` falls back to an exact computation that costs ~40 ms per call at
    large n, while the two agree to about 1e-3 there.

    Parameters
    ----------
    ref, cur
        Reference and current counts of the ordered bins (numeric features, without the
        missing bin).

    Returns
    -------
    statistic, pvalue : float
        ``(nan, 1.0)`` if a side is empty.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.multinomial(50_000, [0.1] * 10)
    >>> d, p = ks_binned(ref, rng.multinomial(100_000, [0.1] * 10))
    >>> round(d, 4), p > 0.01
    (0.0026, True)
    >>> d, p = ks_binned(ref, rng.multinomial(100_000, [0.12] * 5 + [0.08] * 5))
    >>> round(d, 2), p < 1e-10
    (0.1, True)

    """
    r, c = count_pair(ref, cur)
    nr, nc = r.sum(), c.sum()
    if nr == 0 or nc == 0:
        return math.nan, 1.0
    statistic = float(np.max(np.abs(np.cumsum(r / nr - c / nc))))
    effective = max(round(nr * nc / (nr + nc)), 1)
    return statistic, ks_pvalue(statistic, effective)


#: Effective sample size from which :func:`ks_binned` uses the asymptotic distribution.
KS_ASYMPTOTIC_FROM = 10_000


def ks_pvalue(statistic: float, effective_n: int) -> float:
    """P-value of a two-sample KS statistic with effective sample size ``effective_n``.

    >>> round(ks_pvalue(0.01, 50_000), 4) == round(float(sps.kstwo.sf(0.01, 50_000)), 4)
    True
    """
    if effective_n >= KS_ASYMPTOTIC_FROM:
        p = sps.kstwobign.sf(statistic * math.sqrt(effective_n))
    else:
        p = sps.kstwo.sf(statistic, effective_n)
    return float(np.clip(p, 0.0, 1.0))


def chi_square(ref: ArrayLike, cur: ArrayLike) -> tuple[float, float]:
    r"""Pearson's chi-square test of homogeneity on the 2 x k table ``[ref; cur]``.

    Bins empty on both sides are dropped (they carry no information and would divide by
    zero); there is no continuity correction, so the result equals
    ``scipy.stats.chi2_contingency(table, correction=False)``.

    Parameters
    ----------
    ref, cur
        Reference and current counts in the same layout (categories, other, missing).

    Returns
    -------
    statistic, pvalue : float
        ``(nan, 1.0)`` if a side is empty, ``(0.0, 1.0)`` with fewer than two bins left.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.multinomial(50_000, [0.5, 0.3, 0.2, 0.0])
    >>> stat, p = chi_square(ref, rng.multinomial(100_000, [0.5, 0.3, 0.2, 0.0]))
    >>> p > 0.01
    True
    >>> stat, p = chi_square(ref, rng.multinomial(100_000, [0.3, 0.5, 0.2, 0.0]))
    >>> p < 1e-10
    True

    """
    r, c = count_pair(ref, cur)
    nr, nc = r.sum(), c.sum()
    if nr == 0 or nc == 0:
        return math.nan, 1.0
    keep = (r > 0) | (c > 0)
    if keep.sum() < 2:
        return 0.0, 1.0
    observed = np.vstack([r[keep], c[keep]])
    expected = np.outer([nr, nc], observed.sum(axis=0)) / (nr + nc)
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    pvalue = float(sps.chi2.sf(statistic, observed.shape[1] - 1))
    return statistic, pvalue


@dataclass(frozen=True)
class FeatureDrift:
    """Drift statistics of one feature, current window against the reference.

    Attributes
    ----------
    feature, kind
        Feature name and ``"numeric"`` or ``"categorical"``.
    test
        The significance test: ``"ks"`` (numeric) or ``"chi2"`` (categorical).
    statistic, pvalue
        Its statistic and (uncorrected) p-value.
    psi, js
        Population stability index and Jensen-Shannon distance (base 2).
    wasserstein
        Wasserstein-1 distance in reference stds (numeric only, else ``None``).
    ref_count, cur_count
        Records in the reference and in the current window, missing included.
    ref_missing_rate, cur_missing_rate
        Share of missing values.
    missing_pvalue
        Chi-square p-value of the missing rates (numeric only: for categoricals *missing*
        is a category of the main test).
    cur_out_of_range_rate
        Share of current non-missing values outside the reference range (numeric), the
        records rejected as beyond the allowed range included; against a stream baseline,
        how much that share grew over the baseline's.
    out_of_range_pvalue, mean_pvalue, mean_shift
        P-values of that share and of the mean difference, and ``|cur_mean - ref_mean| /
        ref_std`` (numeric; :mod:`.tail_tests`).
    rejected_out_of_range
        Current records rejected before binning as beyond the allowed range.
    unseen_growth, unseen_pvalue
        Categorical profiles with an *unseen* bin: the share of current values the
        reference never had, minus what an i.i.d. day holds (Good-Turing; against a stream
        baseline, minus the baseline's share), and its one-sided p-value
        (:func:`.tail_tests.unseen_test`).
    """

    feature: str
    kind: str
    test: str
    statistic: float
    pvalue: float
    psi: float
    js: float
    wasserstein: float | None
    ref_count: int
    cur_count: int
    ref_missing_rate: float
    cur_missing_rate: float
    missing_pvalue: float | None = None
    cur_out_of_range_rate: float | None = None
    ref_mean: float | None = None
    cur_mean: float | None = None
    ref_std: float | None = None
    cur_std: float | None = None
    out_of_range_pvalue: float | None = None
    rejected_out_of_range: int = 0
    mean_pvalue: float | None = None
    mean_shift: float | None = None
    unseen_growth: float | None = None
    unseen_pvalue: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``nan`` becomes ``None``."""
        return {
            key: None if isinstance(value, float) and math.isnan(value) else value
            for key, value in asdict(self).items()
        }


def _fold_tails(counts: NDArray[np.float64]) -> NDArray[np.float64]:
    # [underflow, interior..., overflow] -> interior bins with open outer ends.
    if counts.size < 4:
        return counts
    folded = counts[1:-1].copy()
    folded[0] += counts[0]
    folded[-1] += counts[-1]
    return folded


def _unseen(
    feature: CategoricalFeatureProfile,
    ref: NDArray[np.float64],
    cur: NDArray[np.float64],
    reference_rejected: int | None,
) -> tuple[float | None, float | None, NDArray[np.float64], NDArray[np.float64]]:
    """The *unseen* side test, and both count vectors with *unseen* folded into *other*.

    The training reference has no unseen value by construction, so *unseen* would make the
    distribution tests explode on any day; they see it as *other*, and the side test grades
    how many new values there are.
    """
    index = feature.unseen_index
    if index is None:
        return None, None, ref, cur
    n_cur, k_cur = float(cur.sum()), float(cur[index])
    if reference_rejected is None:
        growth, p = unseen_test(
            float(ref.sum()), feature.singletons, feature.doubletons, n_cur, k_cur
        )
    else:  # a stream baseline holds new values too: two samples
        growth, p = share_growth_test(float(ref.sum()), float(ref[index]), n_cur, k_cur)
    folded = []
    for counts in (ref, cur):
        merged = np.delete(counts, index)
        merged[feature.other_index] += counts[index]
        folded.append(merged)
    return growth, p, folded[0], folded[1]


def compare(
    feature: FeatureProfile,
    current_counts: ArrayLike,
    *,
    value_sum: float | None = None,
    value_sumsq: float | None = None,
    rejected_out_of_range: int = 0,
    reference_rejected: int | None = None,
    eps: float = PSI_EPS,
) -> FeatureDrift:
    """Compute every statistic that suits the feature's kind.

    Numeric features: KS test and Wasserstein on the non-missing bins, a chi-square test of
    the missing rate, and PSI and Jensen-Shannon on the quantile bins with open outer ends
    (the usual convention: underflow folded into the first bin, overflow into the last).
    The reference has no values outside its own range, so keeping those bins apart would
    make PSI explode (through its ``eps`` floor) as soon as a small shift pushes a few
    percent past the reference maximum; :mod:`.tail_tests` grade the tails instead.
    Categorical features: chi-square test (sparse categories pooled, see
    :func:`.pooled_chi_square.pooled_chi_square`), PSI and Jensen-Shannon on all bins,
    *missing* being one category.

    Parameters
    ----------
    feature
        The feature's reference profile.
    current_counts
        Current counts in the feature's layout (e.g. summed over the minutes of a day).
    value_sum, value_sumsq
        Sum and sum of squares of the current non-missing values (numeric), to report the
        current mean and standard deviation.
    rejected_out_of_range
        Current records rejected as beyond the feature's allowed range (numeric): never
        binned, but beyond the reference range, so they count as out of range.
    reference_rejected
        ``None`` when ``feature`` is the training reference (whose range defines the
        edges and whose values define *unseen*, so it has nothing beyond either). An
        integer when its counts are a baseline summed from the stream (see
        ``consumers/drift_check/baseline.py``): that baseline's own rejections; the shares
        beyond the range and of unseen values are then tested against the baseline's
        shares, with a two-sample test.
    eps
        PSI floor, see :func:`psi`.

    Examples
    --------
    >>> import numpy as np
    >>> from scorestream.streams.drift.profile import NumericFeatureProfile
    >>> rng = np.random.default_rng(0)
    >>> feature = NumericFeatureProfile.from_values("x", rng.normal(size=50_000))
    >>> current = rng.normal(0.5, 1.0, size=100_000)
    >>> counts = np.bincount(feature.assign(current), minlength=feature.n_bins)
    >>> drift = compare(feature, counts, value_sum=current.sum())
    >>> drift.test, drift.pvalue < 1e-10, round(drift.psi, 2), round(drift.cur_mean, 1)
    ('ks', True, 0.24, 0.5)

    """
    cur = np.asarray(current_counts, dtype=np.float64)
    ref = feature.reference_counts.astype(np.float64)
    if cur.shape != ref.shape:
        raise ValueError(f"{feature.name}: expected {ref.size} counts, got {cur.shape}")
    cur_count = int(cur.sum())
    cur_missing_rate = float(cur[-1] / cur_count) if cur_count else math.nan

    if not isinstance(feature, NumericFeatureProfile):
        unseen_growth, unseen_pvalue, ref, cur = _unseen(feature, ref, cur, reference_rejected)
        # Pooled: sparse categories (and the ones a small reference picked by luck) would
        # make Pearson's chi-square cry wolf, see :mod:`.pooled_chi_square`.
        statistic, pvalue = pooled_chi_square(ref, cur, pool=feature.other_index)
        return FeatureDrift(
            feature=feature.name,
            kind=feature.kind,
            test="chi2",
            statistic=statistic,
            pvalue=pvalue,
            psi=psi(ref, cur, eps),
            js=jensen_shannon(ref, cur),
            wasserstein=None,
            ref_count=int(feature.count),
            cur_count=cur_count,
            ref_missing_rate=feature.missing_rate,
            cur_missing_rate=cur_missing_rate,
            unseen_growth=unseen_growth,
            unseen_pvalue=unseen_pvalue,
        )

    # Missingness is tested on its own so that, e.g., a broken upstream field shows up as
    # "missing rate 0 % -> 30 %" rather than as a blurred change of the distribution.
    ref_present, cur_present = ref[:-1], cur[:-1]
    n_present = float(cur_present.sum())
    rejected, n_ref = max(int(rejected_out_of_range), 0), float(ref_present.sum())
    beyond = float(cur_present[0] + cur_present[-1])
    n_ref_all, ref_beyond = n_ref, None
    if reference_rejected is not None:
        n_ref_all += max(int(reference_rejected), 0)
        ref_beyond = float(ref_present[0] + ref_present[-1]) + max(int(reference_rejected), 0)
    out_of_range, out_of_range_pvalue = out_of_range_test(
        n_ref_all, n_present, beyond, rejected, ref_beyond
    )
    statistic, pvalue = ks_binned(ref_present, cur_present)
    _, missing_pvalue = pooled_chi_square(
        [ref_present.sum(), ref[-1]], [cur_present.sum(), cur[-1]]
    )
    cur_mean = cur_std = None
    if value_sum is not None and n_present > 0:
        cur_mean = float(value_sum) / n_present
        if value_sumsq is not None:
            # Raw power sums lose precision when |mean| >> std; good enough for reporting.
            cur_std = math.sqrt(max(float(value_sumsq) / n_present - cur_mean**2, 0.0))
    mean_shift, mean_pvalue = mean_test(feature, n_ref, n_present, cur_mean, cur_std)
    return FeatureDrift(
        feature=feature.name,
        kind=feature.kind,
        test="ks",
        statistic=statistic,
        pvalue=pvalue,
        psi=psi(_fold_tails(ref_present), _fold_tails(cur_present), eps),
        js=jensen_shannon(_fold_tails(ref_present), _fold_tails(cur_present)),
        wasserstein=wasserstein_estimate(
            wasserstein_binned(
                ref_present, cur_present, feature.edges, feature.std, feature.positions()
            ),
            feature.mean,
            cur_mean,
            feature.std,
        ),
        ref_count=int(feature.count),
        cur_count=cur_count,
        ref_missing_rate=feature.missing_rate,
        cur_missing_rate=cur_missing_rate,
        missing_pvalue=missing_pvalue,
        cur_out_of_range_rate=out_of_range,
        ref_mean=feature.mean,
        cur_mean=cur_mean,
        ref_std=feature.std,
        cur_std=cur_std,
        out_of_range_pvalue=out_of_range_pvalue,
        rejected_out_of_range=rejected,
        mean_pvalue=mean_pvalue,
        mean_shift=mean_shift,
    )
