r"""ROC AUC and PR AUC (average precision) from binned counts, with their binning error bound.

Binning keeps the order of scores in different bins (a higher bin holds only higher
scores), so only records that share a bin can be ranked wrongly; the bound counts what
they can change.

**ROC AUC.** The AUC is the probability that a positive outscores a negative, ties
counting one half: :math:`\sum_{i \in +, j \in -} [s_i > s_j] + \tfrac12 [s_i = s_j]`
over :math:`P N`. The binned AUC treats the records of a bin as tied: every
(positive, negative) pair of one bin counts one half, whatever their true order. A pair
across bins counts exactly. So

.. math:: |\mathrm{AUC}_{binned} - \mathrm{AUC}| \le \frac{1}{2} \sum_b \frac{p_b n_b}{P N}.

**Average precision** (scikit-learn's ``average_precision_score``) is
:math:`\frac1P \sum_{i \in +} \mathrm{Prec}(s_i)`, the precision at each positive's score
(records scoring at least as high). With :math:`A, F` the positives and negatives in higher
bins, a positive of bin :math:`b` sees a precision :math:`(A + k) / (A + k + F + j)` for
some :math:`1 \le k \le p_b`, :math:`0 \le j \le n_b`: between
:math:`\underline{\pi}_b = (A + 1) / (A + 1 + F + n_b)` and
:math:`\overline{\pi}_b = (A + p_b) / (A + p_b + F)`. The binned value gives every positive
of the bin the precision of the whole bin, :math:`\pi_b = (A + p_b) / (A + p_b + F + n_b)`,
itself in that range, so

.. math:: |\mathrm{AP}_{binned} - \mathrm{AP}| \le \sum_b \frac{p_b}{P}
          \max(\overline{\pi}_b - \pi_b,\ \pi_b - \underline{\pi}_b).

Both bounds are zero when no bin holds both classes (then the binned value is exact), and
both are computed from the same counts as the metric.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["binned_average_precision", "binned_roc_auc"]


def _counts(
    positives: npt.ArrayLike, negatives: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    pos = np.asarray(positives, dtype=np.float64)
    neg = np.asarray(negatives, dtype=np.float64)
    if pos.shape != neg.shape or pos.ndim != 1:
        raise ValueError(
            f"positives and negatives must be 1-D of one length: {pos.shape}, {neg.shape}"
        )
    return pos, neg


def binned_roc_auc(positives: npt.ArrayLike, negatives: npt.ArrayLike) -> tuple[float, float]:
    """ROC AUC from counts per score bin (bins in increasing score order), and its bound.

    Returns
    -------
    auc, binning_error : float
        The AUC with each bin's records tied, and the bound on its distance from the AUC of
        the unbinned scores. ``(nan, nan)`` without positives or without negatives.

    Examples
    --------
    >>> binned_roc_auc([0, 1, 3], [2, 1, 0])  # one tied pair in the middle bin
    (0.9583333333333334, 0.041666666666666664)
    >>> binned_roc_auc([0, 0, 3], [2, 1, 0])  # no bin holds both classes: exact
    (1.0, 0.0)
    >>> binned_roc_auc([1, 2], [0, 0])
    (nan, nan)
    """
    pos, neg = _counts(positives, negatives)
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        return math.nan, math.nan
    negatives_below = np.cumsum(neg) - neg
    pairs = n_pos * n_neg
    auc = float(np.sum(pos * (negatives_below + 0.5 * neg)) / pairs)
    bound = float(0.5 * np.sum(pos * neg) / pairs)
    return auc, bound


def binned_average_precision(
    positives: npt.ArrayLike, negatives: npt.ArrayLike
) -> tuple[float, float]:
    """Average precision (PR AUC) from counts per score bin (increasing), and its bound.

    Returns
    -------
    average_precision, binning_error : float
        ``(nan, nan)`` without positives or without negatives (with one class there is no
        ranking to measure; scikit-learn says 1.0 with positives only).

    Examples
    --------
    >>> ap, bound = binned_average_precision([0, 1, 3], [2, 1, 0])
    >>> round(ap, 4), round(bound, 4)
    (0.95, 0.05)
    >>> binned_average_precision([0, 0, 3], [2, 1, 0])
    (1.0, 0.0)
    """
    pos, neg = _counts(positives, negatives)
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        return math.nan, math.nan
    # From the highest bin down: A, F are the positives, negatives of the higher bins.
    p, q = pos[::-1], neg[::-1]
    above_pos = np.cumsum(p) - p
    above_neg = np.cumsum(q) - q
    hit = p > 0
    a, f, p, q = above_pos[hit], above_neg[hit], p[hit], q[hit]
    whole_bin = (a + p) / (a + p + f + q)
    highest = (a + p) / (a + p + f)
    lowest = (a + 1) / (a + 1 + f + q)
    ap = float(np.sum(p * whole_bin) / n_pos)
    spread = np.maximum(highest - whole_bin, whole_bin - lowest)
    bound = float(np.sum(p * spread) / n_pos)
    return ap, bound
