"""The Wasserstein-1 distance between two binned distributions, and its bound.

Split from :mod:`.statistics` (which re-exports both); see
:mod:`.wasserstein_estimate` for what is reported when bins are too coarse.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scorestream.streams.drift.count_pair import count_pair


def _positions(edges: NDArray[np.float64], positions: ArrayLike | None) -> NDArray[np.float64]:
    if positions is not None:
        x = np.asarray(positions, dtype=np.float64)
    elif edges.size == 1:
        x = np.repeat(edges, 3)
    else:
        midpoints = (edges[:-1] + edges[1:]) / 2
        x = np.concatenate(([edges[0]], midpoints, [edges[-1]]))
    if np.any(np.diff(x) < 0):
        raise ValueError("bin positions must be non-decreasing")
    return x


def _check_wasserstein(
    ref: ArrayLike, cur: ArrayLike, edges: ArrayLike, positions: ArrayLike | None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    r, c = count_pair(ref, cur)
    e = np.asarray(edges, dtype=np.float64)
    n_interior = max(e.size - 1, 1)
    if e.ndim != 1 or e.size == 0 or r.size != n_interior + 2:
        raise ValueError(
            "expected counts [underflow, interior..., overflow] for the given edges "
            f"({n_interior + 2} bins), got {r.size}"
        )
    x = _positions(e, positions)
    if x.size != r.size:
        raise ValueError(f"expected {r.size} positions, got {x.size}")
    return r, c, e, x


def wasserstein_binned(
    ref: ArrayLike,
    cur: ArrayLike,
    edges: ArrayLike,
    ref_std: float,
    positions: ArrayLike | None = None,
) -> float:
    r"""Wasserstein-1 (earth mover's) distance between binned samples, in reference stds.

    Each bin's mass is put at one position and the distance between the two discrete
    distributions is computed exactly, :math:`\sum_j |P_j - Q_j| (x_{j+1} - x_j)` with
    :math:`P, Q` the cumulative proportions, then divided by ``ref_std``. For a pure shift
    of the mean by :math:`\delta` standard deviations the raw-data value is :math:`\delta`.

    Positions: by default interior bins sit at their midpoint, underflow at ``edges[0]``
    and overflow at ``edges[-1]``. :func:`compare` passes
    :meth:`.profile.NumericFeatureProfile.positions` instead, the reference
    mean inside each bin, which is much closer for the wide outer quantile bins (the
    midpoint of ``[min, q_0.1]`` of a normal is about 1 std too far out). A caller that
    knows the observed mean of a tail may pass it as that tail's position.

    Error bound. Moving every observation to its bin's position moves each distribution by
    at most the mean distance of its observations to their positions, so by the triangle
    inequality

    .. math:: |\hat W - W| \le \frac{1}{\sigma}\Big(\sum_{i\ \mathrm{interior}}
              (p_i + q_i)\, r_i + T\Big), \quad r_i = \max(x_i - e_{i-1},\ e_i - x_i)

    where :math:`W` is ``scipy.stats.wasserstein_distance`` on the raw data divided by
    :math:`\sigma`, the sum is :func:`wasserstein_binned_bound`, and :math:`T` is the
    mass-weighted mean distance of the observations beyond the reference min and max
    from their tail position (zero when the tails are empty; unknown from bins alone).
    That worst case is loose (1.3-1.5 std for a normal on 10 quantile bins, more for
    skewed data, because the outer bins are wide), but both distributions are collapsed
    onto the same positions, so most of the error cancels. Measured on 100,000 against
    100,000 draws with reference-mean positions (the tests): mean shifts of 0 to 0.5 std
    of a normal or log-normal are within 0.03 std of the raw value (a few percent low),
    but not of other shapes (uniform, bimodal, capped: up to 0.18 std low; t(2): 0.12
    high), which is why :func:`compare` reports
    :func:`.wasserstein_estimate.wasserstein_estimate` (this value or the exact mean
    difference, whichever is larger; its module states the bounds that hold),
    while changes of scale are underestimated by up to a third (normal, 1.5 x scale:
    0.26 instead of 0.40), because they move mass inside the wide outer bins. Midpoint
    positions are worse: 0.66 for a 0.5-std normal shift, twice the raw value for a
    log-normal.

    Parameters
    ----------
    ref, cur
        Counts ``[underflow, interior_1, ..., interior_k, overflow]`` (no missing bin).
    edges
        The ``k + 1`` bin edges (one edge for a constant reference, with one interior bin).
    ref_std
        Reference standard deviation, the unit of the result.
    positions
        Optional position per bin, non-decreasing.

    Returns
    -------
    float
        Distance in reference standard deviations; ``nan`` if a side is empty or
        ``ref_std`` is not positive.

    Examples
    --------
    >>> import numpy as np
    >>> edges = np.array([-1.0, 0.0, 1.0])
    >>> wasserstein_binned([0, 10, 0, 0], [0, 0, 10, 0], edges, ref_std=1.0)
    1.0
    >>> from scorestream.streams.drift.profile import NumericFeatureProfile
    >>> rng = np.random.default_rng(0)
    >>> feature = NumericFeatureProfile.from_values("x", rng.normal(size=50_000))
    >>> cur = np.bincount(feature.assign(rng.normal(0.5, 1.0, 100_000)), minlength=13)[:-1]
    >>> ref = feature.reference_counts[:-1]
    >>> round(wasserstein_binned(ref, cur, feature.edges, feature.std), 2)  # midpoints
    0.69
    >>> round(wasserstein_binned(ref, cur, feature.edges, feature.std, feature.positions()), 2)
    0.47

    """
    r, c, _, x = _check_wasserstein(ref, cur, edges, positions)
    nr, nc = r.sum(), c.sum()
    if nr == 0 or nc == 0 or not ref_std > 0:
        return math.nan
    gap = np.cumsum(r / nr - c / nc)[:-1]
    return float(np.sum(np.abs(gap) * np.diff(x)) / ref_std)


def wasserstein_binned_bound(
    ref: ArrayLike,
    cur: ArrayLike,
    edges: ArrayLike,
    ref_std: float,
    positions: ArrayLike | None = None,
) -> float:
    r"""Worst-case error of :func:`wasserstein_binned` from the interior bins.

    :math:`\sum_i (p_i + q_i) \max(x_i - e_{i-1}, e_i - x_i) / \sigma` over the interior
    bins; add the tail term :math:`T/\sigma` described in :func:`wasserstein_binned` when
    under/overflow bins are not empty.

    Examples
    --------
    >>> import numpy as np
    >>> wasserstein_binned_bound([0, 5, 5, 0], [0, 5, 5, 0], np.array([0.0, 1.0, 2.0]), 1.0)
    1.0

    """
    r, c, e, x = _check_wasserstein(ref, cur, edges, positions)
    nr, nc = r.sum(), c.sum()
    if nr == 0 or nc == 0 or not ref_std > 0:
        return math.nan
    lo, hi = (e[:-1], e[1:]) if e.size > 1 else (e, e)
    inner = x[1:-1]
    reach = np.maximum(np.abs(inner - lo), np.abs(hi - inner))
    mass = r[1:-1] / nr + c[1:-1] / nc
    return float(np.sum(mass * reach) / ref_std)
