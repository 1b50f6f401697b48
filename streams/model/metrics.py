"""Quality of a model on held-out (or reference) rows, one set of metrics per model kind.

- binary: ROC AUC, log loss, accuracy (positive-class scores, threshold 0.5);
- multiclass: accuracy, macro F1, log loss;
- regression: MAE, RMSE, R².

Each set is stored as ``metrics`` in ``metadata.json`` (with ``n_train`` and ``n_test``) and
printed by :meth:`summary`; :data:`MAIN_METRIC` names the one ``scorestream models list``
shows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

#: The metric shown for each kind in ``scorestream models list`` (and whether higher is better).
MAIN_METRIC: dict[str, str] = {"binary": "roc_auc", "multiclass": "macro_f1", "regression": "rmse"}


class _StoredMetrics:
    """What every kind's metrics share: their plain-dict form."""

    def as_dict(self) -> dict[str, float | int]:
        """Plain-dict form, as stored in ``metadata.json``."""
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class HoldoutMetrics(_StoredMetrics):
    """Quality of a binary model on the held-out rows (positive-class scores, threshold 0.5)."""

    roc_auc: float
    log_loss: float
    accuracy: float
    n_train: int
    n_test: int

    def summary(self) -> str:
        """One line for people."""
        return (
            f"ROC AUC {self.roc_auc:.3f}, log loss {self.log_loss:.3f}, "
            f"accuracy {self.accuracy:.3f}{_rows(self.n_train, self.n_test)}"
        )


@dataclass(frozen=True)
class MulticlassMetrics(_StoredMetrics):
    """Quality of a multi-class model: accuracy, macro-averaged F1 and log loss."""

    accuracy: float
    macro_f1: float
    log_loss: float
    n_train: int
    n_test: int

    def summary(self) -> str:
        """One line for people."""
        return (
            f"accuracy {self.accuracy:.3f}, macro F1 {self.macro_f1:.3f}, "
            f"log loss {self.log_loss:.3f}{_rows(self.n_train, self.n_test)}"
        )


@dataclass(frozen=True)
class RegressionMetrics(_StoredMetrics):
    """Quality of a regression model: mean absolute error, root mean squared error, R²."""

    mae: float
    rmse: float
    r2: float
    n_train: int
    n_test: int

    def summary(self) -> str:
        """One line for people."""
        return (
            f"MAE {self.mae:,.4g}, RMSE {self.rmse:,.4g}, R² {self.r2:.3f}"
            f"{_rows(self.n_train, self.n_test)}"
        )


Metrics = HoldoutMetrics | MulticlassMetrics | RegressionMetrics


def binary_metrics(
    positive: npt.ArrayLike, scores: npt.ArrayLike, *, n_train: int
) -> HoldoutMetrics:
    """Metrics of positive-class probabilities ``scores`` against 0/1 truth ``positive``.

    ROC AUC is NaN when the rows hold one class only (it is undefined then).
    """
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    truth = np.asarray(positive, dtype=np.int64)
    p = np.asarray(scores, dtype=np.float64)
    auc = float(roc_auc_score(truth, p)) if np.unique(truth).size == 2 else float("nan")
    return HoldoutMetrics(
        roc_auc=auc,
        log_loss=float(log_loss(truth, p, labels=[0, 1])),
        accuracy=float(accuracy_score(truth, (p >= 0.5).astype(np.int64))),
        n_train=n_train,
        n_test=len(truth),
    )


def multiclass_metrics(
    truth: npt.ArrayLike,
    probabilities: npt.ArrayLike,
    classes: list[Any],
    *,
    n_train: int,
) -> MulticlassMetrics:
    """Metrics of ``(rows, classes)`` probabilities against the true class values.

    The predicted class is the most probable one (as :meth:`LoadedModel.predict` does).
    """
    from sklearn.metrics import accuracy_score, f1_score, log_loss

    p = np.asarray(probabilities, dtype=np.float64)
    expected = np.asarray(truth, dtype=object)
    lookup = np.asarray(classes, dtype=object)
    predicted = lookup[p.argmax(axis=1)]
    # Compared as text: a class read back from JSON (1) and from a CSV (1) may differ in type.
    expected_text = np.asarray([str(v) for v in expected], dtype=object)
    predicted_text = np.asarray([str(v) for v in predicted], dtype=object)
    class_text = [str(c) for c in classes]
    return MulticlassMetrics(
        accuracy=float(accuracy_score(expected_text, predicted_text)),
        macro_f1=float(
            f1_score(
                expected_text, predicted_text, labels=class_text, average="macro", zero_division=0
            )
        ),
        log_loss=float(log_loss(expected_text, p, labels=class_text)),
        n_train=n_train,
        n_test=len(expected),
    )


def regression_metrics(
    truth: npt.ArrayLike, predictions: npt.ArrayLike, *, n_train: int
) -> RegressionMetrics:
    """MAE, RMSE and R² of ``predictions`` against ``truth``."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y = np.asarray(truth, dtype=np.float64)
    f = np.asarray(predictions, dtype=np.float64)
    return RegressionMetrics(
        mae=float(mean_absolute_error(y, f)),
        rmse=float(np.sqrt(mean_squared_error(y, f))),
        r2=float(r2_score(y, f)) if len(y) > 1 else float("nan"),
        n_train=n_train,
        n_test=len(y),
    )


def main_metric(kind: str, metrics: dict[str, Any]) -> str:
    """``"roc_auc 0.912"``: the headline metric of a version's stored metrics, or ``""``."""
    key = MAIN_METRIC.get(kind, "")
    value = metrics.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return ""
    return f"{key} {value:,.4g}" if kind == "regression" else f"{key} {value:.3f}"


def _rows(n_train: int, n_test: int) -> str:
    if n_train:
        return f" ({n_train:,} train / {n_test:,} test rows)"
    return f" (on {n_test:,} reference rows)"
