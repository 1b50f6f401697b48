"""Two count vectors in one bin layout, checked once for every binned statistic."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def count_pair(ref: ArrayLike, cur: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``ref`` and ``cur`` as float arrays: 1-d, the same length, finite, non-negative.

    >>> count_pair([1, 2], [3, 4])
    (array([1., 2.]), array([3., 4.]))
    """
    r = np.asarray(ref, dtype=np.float64)
    c = np.asarray(cur, dtype=np.float64)
    if r.ndim != 1 or r.shape != c.shape:
        raise ValueError(f"ref and cur must be 1-d of the same length, got {r.shape}, {c.shape}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(c))):
        raise ValueError("counts must be finite")
    if np.any(r < 0) or np.any(c < 0):
        raise ValueError("counts must be non-negative")
    return r, c
