"""A binary classifier's realised metrics, read from its :class:`BinaryPieces`.

Every metric is a function of the pieces only (no record is needed), NaN where undefined:
all of them on an empty piece; ROC AUC and PR AUC with one class only; precision without a
predicted positive; recall without a positive. scikit-learn agrees where it is defined
(with ``zero_division=nan``); the tests compare each figure with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from scorestream.streams.performance.binary import BinaryPieces
from scorestream.streams.performance.ranking import binned_average_precision, binned_roc_auc
from scorestream.streams.performance.ratios import ratio

__all__ = ["BinaryMetrics", "binary_metrics"]


@dataclass(frozen=True)
class BinaryMetrics:
    """Realised metrics of a binary classifier.

    Attributes
    ----------
    n
        Labelled records.
    base_rate
        Share of positives.
    roc_auc, auc_binning_error
        ROC AUC from the score bins, and the bound on its distance from the exact AUC.
    pr_auc, pr_auc_binning_error
        Average precision from the bins, and its bound.
    log_loss, brier
        Mean clipped log loss and mean ``(score - y)^2`` (exact).
    accuracy, precision, recall, f1
        At the pieces' threshold (exact).
    """

    n: int
    base_rate: float
    roc_auc: float
    auc_binning_error: float
    pr_auc: float
    pr_auc_binning_error: float
    log_loss: float
    brier: float
    accuracy: float
    precision: float
    recall: float
    f1: float

    def to_dict(self) -> dict[str, float]:
        """Name -> value (NaN kept: the reader decides how to show "no figure")."""
        return asdict(self)


def binary_metrics(pieces: BinaryPieces) -> BinaryMetrics:
    """All binary metrics of ``pieces``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> y = rng.random(5_000) < 0.2
    >>> scores = 1 / (1 + np.exp(-(rng.normal(0, 1, 5_000) + 2.0 * y - 1.5)))
    >>> m = binary_metrics(BinaryPieces.from_arrays(scores, y))
    >>> from sklearn.metrics import roc_auc_score, log_loss
    >>> abs(m.roc_auc - roc_auc_score(y, scores)) <= m.auc_binning_error
    True
    >>> bool(abs(m.log_loss - log_loss(y, scores)) < 1e-12), m.auc_binning_error < 1e-3
    (True, True)
    >>> import math
    >>> math.isnan(binary_metrics(BinaryPieces()).roc_auc)
    True
    """
    positives, negatives = pieces.bin_arrays()
    auc, auc_error = binned_roc_auc(positives, negatives)
    ap, ap_error = binned_average_precision(positives, negatives)
    n = pieces.n
    tp, fp, tn, fn = pieces.tp, pieces.fp, pieces.tn, pieces.fn
    return BinaryMetrics(
        n=n,
        base_rate=ratio(tp + fn, n),
        roc_auc=auc,
        auc_binning_error=auc_error,
        pr_auc=ap,
        pr_auc_binning_error=ap_error,
        log_loss=ratio(pieces.log_loss_sum, n),
        brier=ratio(pieces.brier_sum, n),
        accuracy=ratio(tp + tn, n),
        precision=ratio(tp, tp + fp),
        recall=ratio(tp, tp + fn),
        # 2TP / (2TP + FP + FN): defined (0) when precision or recall is 0 but not both
        # undefined; NaN only when there is neither a positive nor a predicted positive.
        f1=ratio(2 * tp, 2 * tp + fp + fn),
    )
