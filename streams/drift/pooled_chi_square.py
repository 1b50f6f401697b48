"""Two-sample chi-square test that pools sparse cells, so it holds at any sample size.

Pearson's chi-square is an asymptotic test: with expected cell counts of one or less its
statistic is far from the chi-square distribution, and on a 2 x k table of a 50,000-row
reference against a 100-record day, 40 categories of 0.025 % each made 22 % of
in-distribution days "significant" at 1 %. A sparse cell also holds the reference's
*selection* error: the categories of a profile are the ones the reference happened to
contain (its most frequent ones), so a rare category seen once in a 1,000-row reference
sits in the reference at several times its true share, and a large day exposes that as a
"change" (the unpooled test flagged 80 % of small Zipf-like references on days of 10^6).

Pooling is decided from the column totals of the table only (reference + current). Under
the null hypothesis the two rows are samples from one distribution, the column totals are
ancillary, and given them the table is multivariate hypergeometric; pooled columns are
again such a table, so the test keeps its level whatever the totals decide. On a large
day the totals are the current data's, which does not depend on which rare categories the
reference happened to pick: the categories whose selection was luck are pooled.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps

__all__ = ["EXACT_BELOW", "MIN_EXPECTED", "MONTE_CARLO_DRAWS", "pooled_chi_square"]

#: Smallest expected count a cell may have (the textbook rule for Pearson's chi-square).
MIN_EXPECTED = 5.0

#: Below this many records on the smaller side the p-value is a Monte-Carlo one: the
#: chi-square limit is still a little liberal there (1.1-1.25 % at 1 % on 100-record days).
EXACT_BELOW = 1_000

#: Tables drawn for a Monte-Carlo p-value (its resolution is 1 / 2,000).
MONTE_CARLO_DRAWS = 1_999


def _total(column: tuple[float, float, float]) -> float:
    return column[0]


def pooled_chi_square(
    ref: ArrayLike, cur: ArrayLike, min_expected: float = MIN_EXPECTED, pool: int | None = None
) -> tuple[float, float]:
    r"""Chi-square test of homogeneity of ``[ref; cur]`` after pooling sparse columns.

    Columns empty on both sides are dropped. While more than two columns are left and the
    smallest expected count of a column, :math:`\min(n_r, n_c)\, t_j / N`, is below
    ``min_expected``, the two columns with the smallest totals are merged. The result is
    Pearson's statistic on the pooled table with (columns - 1) degrees of freedom; when
    only two columns are left and one is still sparse (e.g. a 1 % missing rate on a day of
    100 records), the p-value is Fisher's exact test on that 2 x 2 table instead, and the
    statistic is Pearson's on it. With fewer than :data:`EXACT_BELOW` records on the smaller
    side, the p-value of a larger table is a Monte-Carlo one from tables drawn with the
    same column totals (exact in expectation, seeded); above, the chi-square limit.
    ``pool`` names a column that sparse columns join first (:func:`.statistics.compare`
    passes a categorical profile's *other*: the rare categories a reference kept by luck
    and the ones it left out then share one cell, whose reference count is unbiased).

    Parameters
    ----------
    ref, cur
        Reference and current counts in the same layout (categories, other, missing).
    min_expected
        Smallest expected count of a pooled cell.

    Returns
    -------
    statistic, pvalue : float
        ``(nan, 1.0)`` if a side is empty, ``(0.0, 1.0)`` with fewer than two columns.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> probs = np.r_[[0.5, 0.3, 0.19], np.full(40, 0.01 / 40)]
    >>> ref = rng.multinomial(50_000, probs)
    >>> days = [pooled_chi_square(ref, rng.multinomial(100, probs))[1] for _ in range(200)]
    >>> sum(p < 0.01 for p in days) <= 2
    True
    >>> moved = np.r_[[0.2, 0.6, 0.19], probs[3:]]
    >>> pooled_chi_square(ref, rng.multinomial(100, moved))[1]  # the smallest Monte-Carlo p
    0.0005

    """
    r = np.asarray(ref, dtype=np.float64)
    c = np.asarray(cur, dtype=np.float64)
    if r.ndim != 1 or r.shape != c.shape:
        raise ValueError(f"ref and cur must be 1-d of the same length, got {r.shape}, {c.shape}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(c))):
        raise ValueError("counts must be finite")
    if np.any(r < 0) or np.any(c < 0):
        raise ValueError("counts must be non-negative")
    nr, nc = float(r.sum()), float(c.sum())
    if nr == 0 or nc == 0:
        return math.nan, 1.0
    totals = r + c
    if pool is not None and not -r.size <= pool < r.size:
        raise ValueError(f"pool index {pool} out of range for {r.size} columns")
    # Stable sort by total alone, so that ties never look at how a total splits.
    order = [int(i) for i in np.argsort(totals, kind="stable") if totals[i] > 0]
    columns = [(float(totals[i]), float(r[i]), float(c[i])) for i in order]
    sink = (0.0, 0.0, 0.0)
    if pool is not None:
        # The pool column (a profile's *other*) starts the sink, wherever its total ranks.
        pool_at = pool % r.size
        sink = (float(totals[pool_at]), float(r[pool_at]), float(c[pool_at]))
        columns = [col for i, col in zip(order, columns, strict=True) if i != pool_at]
    if len(columns) + (sink[0] > 0) < 2:
        return 0.0, 1.0
    # Expected count of a column's smaller cell, relative to its total.
    scale = min(nr, nc) / (nr + nc)
    # Sparse columns join the sink (the pool column, or each other) until the sink and
    # every column left are large enough, or only two columns are left.
    while columns and (columns[0][0] * scale < min_expected or 0 < sink[0] * scale < min_expected):
        if len(columns) + (sink[0] > 0) <= 2:
            break
        t, rr, cc = columns.pop(0)
        sink = (sink[0] + t, sink[1] + rr, sink[2] + cc)
    columns = sorted([*columns, sink] if sink[0] > 0 else columns, key=_total)
    observed = np.array([[col[1] for col in columns], [col[2] for col in columns]])
    expected = np.outer([nr, nc], observed.sum(axis=0)) / (nr + nc)
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    if columns[0][0] * scale < min_expected:
        # Two columns left, one sparse: the chi-square limit is no good, the exact test is.
        table = np.rint(observed).astype(np.int64)
        return statistic, float(sps.fisher_exact(table).pvalue)
    if min(nr, nc) < EXACT_BELOW:
        return statistic, _monte_carlo_pvalue(observed, statistic, expected)
    return statistic, float(sps.chi2.sf(statistic, observed.shape[1] - 1))


def _monte_carlo_pvalue(
    observed: NDArray[np.float64], statistic: float, expected: NDArray[np.float64]
) -> float:
    # Given the column totals the current row is multivariate hypergeometric under the
    # null: draw it, and count draws at least as extreme. (1 + k) / (1 + B) is a valid
    # p-value for any B; a fixed seed makes the same table give the same answer.
    rng = np.random.default_rng(0)
    totals = np.rint(observed.sum(axis=0)).astype(np.int64)
    n_cur = int(np.rint(observed[1].sum()))
    cur = rng.multivariate_hypergeometric(totals, n_cur, size=MONTE_CARLO_DRAWS)
    draws = np.stack([totals - cur, cur], axis=1).astype(np.float64)
    simulated = np.sum((draws - expected) ** 2 / expected, axis=(1, 2))
    extreme = int(np.sum(simulated >= statistic * (1 - 1e-12)))
    return (1 + extreme) / (1 + MONTE_CARLO_DRAWS)
