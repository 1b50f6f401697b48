"""A binary classifier's calibration curve, from the fine bins of its :class:`BinaryPieces`.

The fine bins are grouped into ``n_bins`` equal-width coarse bins (``n_bins`` must divide
the fine count). Per coarse bin, the mean predicted score is the bin's summed scores over
its count and the observed rate its positives over its count: both exact, no bin-centre
approximation. scikit-learn's ``calibration_curve(strategy="uniform")`` returns the same
numbers for its non-empty bins, except that its bins are closed on the right (a score of
exactly 0.1 is in its first bin, in our second): only scores on an interior coarse edge, or
within float rounding of one (``floor(0.3 * 1000)`` is 300), are placed differently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scorestream.streams.performance.binary import BinaryPieces

__all__ = ["CALIBRATION_BINS", "CalibrationCurve", "calibration_curve"]

#: Coarse bins of the curve: 10 bins of width 0.1, as scikit-learn's default.
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class CalibrationCurve:
    """Per coarse bin ``[k / n_bins, (k + 1) / n_bins)``; NaN where a bin is empty.

    Attributes
    ----------
    lower_edges
        The left edge of each bin.
    mean_predicted, observed
        Mean score and share of positives of the bin's records.
    counts
        Records in the bin.
    """

    lower_edges: npt.NDArray[np.float64]
    mean_predicted: npt.NDArray[np.float64]
    observed: npt.NDArray[np.float64]
    counts: npt.NDArray[np.int64]


def calibration_curve(pieces: BinaryPieces, n_bins: int = CALIBRATION_BINS) -> CalibrationCurve:
    """The calibration curve of ``pieces`` on ``n_bins`` equal-width bins.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(11)
    >>> scores = rng.random(20_000)
    >>> y = rng.random(20_000) < scores  # calibrated by construction
    >>> curve = calibration_curve(BinaryPieces.from_arrays(scores, y), n_bins=5)
    >>> bool(np.all(np.abs(curve.observed - curve.mean_predicted) < 0.03))  # 4 standard errors
    True
    >>> int(curve.counts.sum())
    20000
    """
    if n_bins < 1 or pieces.n_bins % n_bins:
        raise ValueError(f"{n_bins} coarse bins do not divide {pieces.n_bins} fine bins")
    width = pieces.n_bins // n_bins
    positives, negatives = pieces.bin_arrays()
    pos = positives.reshape(n_bins, width).sum(axis=1)
    counts = pos + negatives.reshape(n_bins, width).sum(axis=1)
    sums = np.asarray(pieces.score_sums, dtype=np.float64).reshape(n_bins, width).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_predicted = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        observed = np.where(counts > 0, pos / np.maximum(counts, 1), np.nan)
    return CalibrationCurve(
        lower_edges=np.arange(n_bins, dtype=np.float64) / n_bins,
        mean_predicted=mean_predicted,
        observed=observed,
        counts=counts.astype(np.int64),
    )
