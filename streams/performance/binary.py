"""A binary classifier's labelled records as counts that add up: :class:`BinaryPieces`.

A day's (or a version's, or a window's) realised performance is computed from these pieces
alone, so the cost of a metric does not grow with the number of labelled records, and two
days, two workers or two halves of a table are merged by adding their pieces.

What is kept, and how exact each metric is:

- counts per (score bin x true class) on :data:`BINARY_BINS` equal-width bins of
  ``[0, 1]`` (bin ``b`` holds ``b / n_bins <= score < (b + 1) / n_bins``, the score 1.0 the
  last bin; scores outside ``[0, 1]`` fall in the end bins), and the sum of the scores of
  each bin. ROC AUC and PR AUC are computed from the bins and are off by at most a bound
  computed alongside (:mod:`.ranking`); the calibration curve is exact (per coarse bin, the
  mean predicted score is the summed scores over the count).
- the sums of each record's log loss (``-log p`` of the true outcome, clipped as
  scikit-learn clips) and of its Brier term ``(p - y)^2``, computed per record at count time:
  sums add up, so the log loss and Brier score are exact (up to float summation order).
- the confusion counts at the model's threshold (positive when ``score >= threshold``, as
  :meth:`LoadedModel.predict_labels` decides): the threshold is fixed, so accuracy,
  precision, recall and F1 are exact.

Why 1,000 equal-width bins: the bin of a score is ``floor(score * 1000)`` in SQL and numpy
alike (the same IEEE multiplication), needs no reference profile (a piece of any version or
day merges with any other), and the AUC error is at most half the share of (positive,
negative) pairs whose scores share a bin of width 0.001: 0.00005 for a logistic model on
breast cancer, 0.0013 for a random forest whose scores crowd near 0 and 1 (realised gaps
0.0000 and 0.0004). That is below the sampling error of a day's AUC (about 0.005 at 10^4
records), and it is reported with every figure, never assumed. A piece is ``2 x 1,000``
counts and 1,000 sums: small enough to keep per model and day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from scorestream.streams.performance.ratios import clipped_log_loss

__all__ = ["BINARY_BINS", "DEFAULT_THRESHOLD", "BinaryPieces", "score_bins"]

#: Equal-width score bins on [0, 1]; see the module docstring for the choice.
BINARY_BINS = 1_000
#: The threshold of a binary model's class (``LoadedModel.predict_labels``'s default).
DEFAULT_THRESHOLD = 0.5


def score_bins(scores: npt.ArrayLike, n_bins: int = BINARY_BINS) -> npt.NDArray[np.int64]:
    """The bin of each (finite) score: ``floor(score * n_bins)``, clamped to the end bins.

    >>> score_bins([0.0, 0.0004, 0.001, 0.5, 0.9999, 1.0, 1.2, -0.1]).tolist()
    [0, 0, 1, 500, 999, 999, 999, 0]
    """
    values = np.asarray(scores, dtype=np.float64)
    return np.clip(np.floor(values * n_bins), 0, n_bins - 1).astype(np.int64)


def _zeros(n: int) -> tuple[int, ...]:
    return (0,) * n


@dataclass(frozen=True)
class BinaryPieces:
    """Mergeable counts of a binary classifier's labelled records.

    Build one with :meth:`from_arrays` (or from SQL, ``consumers/performance/queries.py``),
    add pieces with ``+`` (or :meth:`merge`), and read metrics with
    :func:`~scorestream.streams.performance.binary_metrics.binary_metrics`.

    Attributes
    ----------
    positives, negatives
        Records per score bin whose true class is the positive / negative one.
    score_sums
        Sum of the scores of each bin (both classes).
    log_loss_sum, brier_sum
        Sums over records of the clipped log loss and of ``(score - y)^2``.
    tp, fp, tn, fn
        Confusion counts at ``threshold``.
    threshold, n_bins
        The layout; only pieces of the same layout merge.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> y = rng.random(1_000) < 0.3
    >>> scores = np.clip(0.3 + 0.4 * (y - 0.3) + rng.normal(0, 0.15, 1_000), 0, 1)
    >>> whole = BinaryPieces.from_arrays(scores, y)
    >>> halves = BinaryPieces.from_arrays(scores[:400], y[:400]) + BinaryPieces.from_arrays(
    ...     scores[400:], y[400:])
    >>> halves.n, halves.tp == whole.tp, halves.positives == whole.positives
    (1000, True, True)
    >>> BinaryPieces.from_dict(whole.to_dict()) == whole
    True
    """

    positives: tuple[int, ...] = field(default_factory=lambda: _zeros(BINARY_BINS))
    negatives: tuple[int, ...] = field(default_factory=lambda: _zeros(BINARY_BINS))
    score_sums: tuple[float, ...] = field(default_factory=lambda: (0.0,) * BINARY_BINS)
    log_loss_sum: float = 0.0
    brier_sum: float = 0.0
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    threshold: float = DEFAULT_THRESHOLD
    n_bins: int = BINARY_BINS

    def __post_init__(self) -> None:
        sizes = {len(self.positives), len(self.negatives), len(self.score_sums)}
        if sizes != {self.n_bins}:
            raise ValueError(f"bin arrays must have {self.n_bins} entries, got sizes {sizes}")

    @classmethod
    def empty(cls, threshold: float = DEFAULT_THRESHOLD, n_bins: int = BINARY_BINS) -> BinaryPieces:
        """No records, in the given layout."""
        return cls(
            _zeros(n_bins), _zeros(n_bins), (0.0,) * n_bins, threshold=threshold, n_bins=n_bins
        )

    @classmethod
    def from_arrays(
        cls,
        scores: npt.ArrayLike,
        positive: npt.ArrayLike,
        threshold: float = DEFAULT_THRESHOLD,
        n_bins: int = BINARY_BINS,
    ) -> BinaryPieces:
        """Count records: ``scores`` (positive-class probabilities), ``positive`` (truth).

        Records with a non-finite score are left out (as the SQL leaves them out).
        """
        s = np.asarray(scores, dtype=np.float64).ravel()
        y = np.asarray(positive, dtype=bool).ravel()
        if s.shape != y.shape:
            raise ValueError(f"scores and labels differ in length: {s.shape} vs {y.shape}")
        keep = np.isfinite(s)
        s, y = s[keep], y[keep]
        bins = score_bins(s, n_bins)
        predicted = s >= threshold
        # The truth's probability, as scikit-learn's log_loss sees it: p, or 1 - p.
        truth_probability = np.where(y, s, 1.0 - s)
        return cls(
            positives=_ints(np.bincount(bins[y], minlength=n_bins)),
            negatives=_ints(np.bincount(bins[~y], minlength=n_bins)),
            score_sums=tuple(float(v) for v in np.bincount(bins, weights=s, minlength=n_bins)),
            log_loss_sum=float(clipped_log_loss(truth_probability).sum()),
            brier_sum=float(np.sum((s - y) ** 2)),
            tp=int(np.sum(predicted & y)),
            fp=int(np.sum(predicted & ~y)),
            tn=int(np.sum(~predicted & ~y)),
            fn=int(np.sum(~predicted & y)),
            threshold=float(threshold),
            n_bins=n_bins,
        )

    @property
    def n(self) -> int:
        """Labelled records counted."""
        return self.tp + self.fp + self.tn + self.fn

    def merge(self, other: BinaryPieces) -> BinaryPieces:
        """The pieces of both sets of records (same threshold and bins, else ValueError)."""
        if (self.threshold, self.n_bins) != (other.threshold, other.n_bins):
            raise ValueError(
                "cannot merge pieces of different layouts: "
                f"threshold {self.threshold} / {other.threshold}, "
                f"bins {self.n_bins} / {other.n_bins}"
            )
        return BinaryPieces(
            positives=tuple(a + b for a, b in zip(self.positives, other.positives, strict=True)),
            negatives=tuple(a + b for a, b in zip(self.negatives, other.negatives, strict=True)),
            score_sums=tuple(a + b for a, b in zip(self.score_sums, other.score_sums, strict=True)),
            log_loss_sum=self.log_loss_sum + other.log_loss_sum,
            brier_sum=self.brier_sum + other.brier_sum,
            tp=self.tp + other.tp,
            fp=self.fp + other.fp,
            tn=self.tn + other.tn,
            fn=self.fn + other.fn,
            threshold=self.threshold,
            n_bins=self.n_bins,
        )

    def __add__(self, other: BinaryPieces) -> BinaryPieces:
        return self.merge(other)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, sparse: only non-empty bins, as ``[bin, positives, negatives, sum]``."""
        occupied = [
            [b, p, q, s]
            for b, (p, q, s) in enumerate(
                zip(self.positives, self.negatives, self.score_sums, strict=True)
            )
            if p or q
        ]
        return {
            "kind": "binary",
            "n_bins": self.n_bins,
            "threshold": self.threshold,
            "bins": occupied,
            "log_loss_sum": self.log_loss_sum,
            "brier_sum": self.brier_sum,
            "tp": self.tp,
            "fp": self.fp,
            "tn": self.tn,
            "fn": self.fn,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BinaryPieces:
        """The inverse of :meth:`to_dict`."""
        n_bins = int(data["n_bins"])
        positives, negatives, sums = [0] * n_bins, [0] * n_bins, [0.0] * n_bins
        for b, p, q, s in data["bins"]:
            positives[int(b)], negatives[int(b)], sums[int(b)] = int(p), int(q), float(s)
        return cls(
            positives=tuple(positives),
            negatives=tuple(negatives),
            score_sums=tuple(sums),
            log_loss_sum=float(data["log_loss_sum"]),
            brier_sum=float(data["brier_sum"]),
            tp=int(data["tp"]),
            fp=int(data["fp"]),
            tn=int(data["tn"]),
            fn=int(data["fn"]),
            threshold=float(data["threshold"]),
            n_bins=n_bins,
        )

    def bin_arrays(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """``positives`` and ``negatives`` as numpy arrays (for the metrics)."""
        return np.asarray(self.positives, dtype=np.int64), np.asarray(
            self.negatives, dtype=np.int64
        )


def _ints(values: npt.NDArray[Any]) -> tuple[int, ...]:
    return tuple(int(v) for v in values)
