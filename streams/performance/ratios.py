"""Ratios and losses shared by the performance pieces: NaN where a metric is undefined.

A metric of an empty day, or a recall without positives, is undefined; returning NaN (never
raising, never a made-up 0) lets a daily check report "no figure" and go on.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["LOG_LOSS_EPS", "clipped_log_loss", "ratio"]

#: Probabilities are clipped to ``[eps, 1 - eps]`` before the log, as scikit-learn's
#: ``log_loss`` does (the machine epsilon of float64), so a confident wrong answer costs
#: ``-log(eps)`` (about 36) instead of infinity.
LOG_LOSS_EPS = float(np.finfo(np.float64).eps)


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is 0.

    >>> ratio(3, 4)
    0.75
    >>> ratio(0, 0)
    nan
    """
    if denominator == 0:
        return math.nan
    return float(numerator) / float(denominator)


def clipped_log_loss(probability_of_truth: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``-log(p)`` of the probability given to the true outcome, clipped as scikit-learn does.

    >>> clipped_log_loss([1.0, 0.5]).round(4).tolist()
    [0.0, 0.6931]
    >>> float(clipped_log_loss([0.0])[0]) == -math.log(LOG_LOSS_EPS)
    True
    """
    p = np.clip(np.asarray(probability_of_truth, dtype=np.float64), LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    return np.asarray(-np.log(p), dtype=np.float64)
