"""Realised model performance from mergeable pieces: counts and sums that add up.

The pure-math part (no ClickHouse): per model kind, a frozen *pieces* dataclass holds what
a set of labelled records contributes (:class:`BinaryPieces`, :class:`MulticlassPieces`,
:class:`RegressionPieces`); pieces of days, versions or table halves merge with ``+``; the
metrics are functions of the pieces alone, so their cost does not grow with the records.
``consumers/performance/queries.py`` computes the same pieces in ClickHouse.
"""

from scorestream.streams.performance.binary import (
    BINARY_BINS,
    DEFAULT_THRESHOLD,
    BinaryPieces,
    score_bins,
)
from scorestream.streams.performance.binary_metrics import BinaryMetrics, binary_metrics
from scorestream.streams.performance.calibration import (
    CALIBRATION_BINS,
    CalibrationCurve,
    calibration_curve,
)
from scorestream.streams.performance.multiclass import (
    MulticlassMetrics,
    MulticlassPieces,
    multiclass_metrics,
)
from scorestream.streams.performance.ranking import binned_average_precision, binned_roc_auc
from scorestream.streams.performance.ratios import LOG_LOSS_EPS
from scorestream.streams.performance.regression import (
    RegressionMetrics,
    RegressionPieces,
    regression_metrics,
)

__all__ = [
    "BINARY_BINS",
    "CALIBRATION_BINS",
    "DEFAULT_THRESHOLD",
    "LOG_LOSS_EPS",
    "BinaryMetrics",
    "BinaryPieces",
    "CalibrationCurve",
    "MulticlassMetrics",
    "MulticlassPieces",
    "RegressionMetrics",
    "RegressionPieces",
    "binary_metrics",
    "binned_average_precision",
    "binned_roc_auc",
    "calibration_curve",
    "multiclass_metrics",
    "regression_metrics",
    "score_bins",
]
