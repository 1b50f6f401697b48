"""Multiple-testing correction for one drift check over many features."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["benjamini_hochberg"]


def benjamini_hochberg(pvalues: ArrayLike) -> NDArray[np.float64]:
    r"""Benjamini-Hochberg adjusted p-values (q-values).

    With the p-values sorted ascending, :math:`q_{(i)} = \min_{j \ge i} \min(1, m\,p_{(j)}/j)`.
    Rejecting every hypothesis with :math:`q < \alpha` controls the false discovery rate at
    :math:`\alpha` for independent or positively dependent tests; when no feature has
    drifted at all, that is also the probability of any false alarm. The result is
    monotone in the p-values and equals ``scipy.stats.false_discovery_control(p)``.

    Parameters
    ----------
    pvalues
        P-values in ``[0, 1]``, any shape.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, same shape and order as the input.

    Raises
    ------
    ValueError
        If a p-value is outside ``[0, 1]`` or NaN.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03, 0.5])
    array([0.04      , 0.05333333, 0.05333333, 0.5       ])
    >>> benjamini_hochberg([])
    array([], dtype=float64)

    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.size == 0:
        return p.copy()
    if np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must be in [0, 1]")
    flat = p.ravel()
    m = flat.size
    order = np.argsort(flat, kind="stable")
    scaled = flat[order] * m / np.arange(1, m + 1)
    # The running minimum from the largest p-value down makes q monotone in p.
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m, dtype=np.float64)
    q[order] = np.minimum(adjusted, 1.0)
    return q.reshape(p.shape)
