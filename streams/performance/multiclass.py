"""A multi-class classifier's labelled records as counts that add up, and its metrics.

:class:`MulticlassPieces` keeps the confusion matrix (true class x predicted class) and the
sum of each record's clipped log loss (``-log`` of the probability the model gave the true
class). Accuracy, macro F1 and per-class recall are functions of the matrix, the log loss of
the sum: all exact. A record whose true class is not one the model knows (no probability for
it) counts in the matrix but not in the log loss, whose mean is over ``log_loss_n``.

Classes are kept as text, sorted, and only those seen as a true or a predicted class: two
pieces of the same records are then equal whatever classes each knew about, and macro F1
averages over the same classes as scikit-learn's default (``unique_labels``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from scorestream.streams.performance.ratios import clipped_log_loss, ratio

__all__ = ["MulticlassMetrics", "MulticlassPieces", "multiclass_metrics"]


@dataclass(frozen=True)
class MulticlassPieces:
    """Mergeable counts of a multi-class classifier's labelled records.

    Attributes
    ----------
    classes
        Class names (text), sorted; only classes seen as true or predicted.
    confusion
        ``confusion[i][j]``: records of true class ``classes[i]`` predicted ``classes[j]``.
    log_loss_sum, log_loss_n
        Sum of the clipped log loss, and the records it covers.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(5)
    >>> p = rng.dirichlet([1, 1, 1], size=300)
    >>> classes = ["a", "b", "c"]
    >>> truth = [classes[i] for i in rng.integers(0, 3, 300)]
    >>> whole = MulticlassPieces.from_arrays(truth, p, classes)
    >>> halves = (MulticlassPieces.from_arrays(truth[:100], p[:100], classes)
    ...           + MulticlassPieces.from_arrays(truth[100:], p[100:], classes))
    >>> halves.confusion == whole.confusion, whole.n
    (True, 300)
    >>> MulticlassPieces.from_dict(whole.to_dict()) == whole
    True
    """

    classes: tuple[str, ...] = ()
    confusion: tuple[tuple[int, ...], ...] = ()
    log_loss_sum: float = 0.0
    log_loss_n: int = 0
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if list(self.classes) != sorted(set(self.classes)):
            raise ValueError(f"classes must be sorted and distinct: {self.classes}")
        k = len(self.classes)
        if len(self.confusion) != k or any(len(row) != k for row in self.confusion):
            raise ValueError(f"confusion must be {k} x {k}")
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(self.classes)})

    @classmethod
    def from_arrays(
        cls,
        y_true: Sequence[Any],
        probabilities: npt.ArrayLike,
        class_labels: Sequence[Any],
    ) -> MulticlassPieces:
        """Count records from the model's class probabilities (columns: ``class_labels``).

        The predicted class is the most probable one (the first on a tie, as ``argmax``).
        """
        p = np.asarray(probabilities, dtype=np.float64)
        labels = [str(c) for c in class_labels]
        if p.ndim != 2 or p.shape[1] != len(labels) or p.shape[0] != len(y_true):
            raise ValueError(f"probabilities {p.shape} do not match {len(y_true)} x {len(labels)}")
        predicted = [labels[i] for i in p.argmax(axis=1)] if len(p) else []
        return cls.from_predictions(y_true, predicted, p, labels)

    @classmethod
    def from_predictions(
        cls,
        y_true: Sequence[Any],
        y_pred: Sequence[Any],
        probabilities: npt.ArrayLike | None = None,
        class_labels: Sequence[Any] = (),
    ) -> MulticlassPieces:
        """Count records from true and predicted classes (and, if given, probabilities)."""
        truth = [str(v) for v in y_true]
        predicted = [str(v) for v in y_pred]
        if len(truth) != len(predicted):
            raise ValueError(f"{len(truth)} true classes but {len(predicted)} predictions")
        classes = tuple(sorted(set(truth) | set(predicted)))
        index = {c: i for i, c in enumerate(classes)}
        matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
        if truth:
            np.add.at(matrix, ([index[c] for c in truth], [index[c] for c in predicted]), 1)
        loss_sum, loss_n = 0.0, 0
        if probabilities is not None and truth:
            p = np.asarray(probabilities, dtype=np.float64)
            column = {str(c): i for i, c in enumerate(class_labels)}
            rows = [r for r, c in enumerate(truth) if c in column]
            if rows:
                cols = [column[truth[r]] for r in rows]
                loss_sum = float(clipped_log_loss(p[rows, cols]).sum())
                loss_n = len(rows)
        return cls(classes, _tuples(matrix), loss_sum, loss_n)

    @property
    def n(self) -> int:
        """Labelled records counted."""
        return sum(sum(row) for row in self.confusion)

    def matrix(self) -> npt.NDArray[np.int64]:
        """The confusion matrix as a numpy array (rows: true class)."""
        k = len(self.classes)
        return np.asarray(self.confusion, dtype=np.int64).reshape(k, k)

    def merge(self, other: MulticlassPieces) -> MulticlassPieces:
        """The pieces of both sets of records (classes: the union)."""
        classes = tuple(sorted(set(self.classes) | set(other.classes)))
        index = {c: i for i, c in enumerate(classes)}
        matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
        for piece in (self, other):
            at = [index[c] for c in piece.classes]
            matrix[np.ix_(at, at)] += piece.matrix()
        return MulticlassPieces(
            classes,
            _tuples(matrix),
            self.log_loss_sum + other.log_loss_sum,
            self.log_loss_n + other.log_loss_n,
        )

    def __add__(self, other: MulticlassPieces) -> MulticlassPieces:
        return self.merge(other)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "kind": "multiclass",
            "classes": list(self.classes),
            "confusion": [list(row) for row in self.confusion],
            "log_loss_sum": self.log_loss_sum,
            "log_loss_n": self.log_loss_n,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MulticlassPieces:
        """The inverse of :meth:`to_dict`."""
        return cls(
            tuple(str(c) for c in data["classes"]),
            tuple(tuple(int(v) for v in row) for row in data["confusion"]),
            float(data["log_loss_sum"]),
            int(data["log_loss_n"]),
        )

    @classmethod
    def from_cells(
        cls, cells: dict[tuple[str, str], int], log_loss_sum: float, log_loss_n: int
    ) -> MulticlassPieces:
        """From ``(true, predicted) -> count`` cells (what a GROUP BY returns)."""
        classes = tuple(sorted({c for cell in cells for c in cell}))
        index = {c: i for i, c in enumerate(classes)}
        matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
        for (true, predicted), count in cells.items():
            matrix[index[true], index[predicted]] += count
        return cls(classes, _tuples(matrix), log_loss_sum, log_loss_n)


def _tuples(matrix: npt.NDArray[np.int64]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(v) for v in row) for row in matrix)


@dataclass(frozen=True)
class MulticlassMetrics:
    """Realised metrics of a multi-class classifier (NaN where undefined).

    Attributes
    ----------
    n
        Labelled records.
    accuracy, macro_f1, log_loss
        Over all records (log loss: over the records whose class the model knows).
    recall
        Per class: the share of its records predicted as it (NaN if it has none).
    support
        Per class: its true records.
    """

    n: int
    accuracy: float
    macro_f1: float
    log_loss: float
    recall: dict[str, float]
    support: dict[str, int]


def multiclass_metrics(pieces: MulticlassPieces) -> MulticlassMetrics:
    """Accuracy, macro F1, log loss and per-class recall of ``pieces``.

    >>> m = multiclass_metrics(MulticlassPieces.from_predictions(list("aabc"), list("abbc")))
    >>> m.accuracy, round(m.macro_f1, 4), m.recall
    (0.75, 0.7778, {'a': 0.5, 'b': 1.0, 'c': 1.0})
    >>> import math
    >>> math.isnan(multiclass_metrics(MulticlassPieces()).accuracy)
    True
    """
    matrix = pieces.matrix()
    tp = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    n = int(matrix.sum())
    # Per class F1 = 2TP / (2TP + FP + FN) = 2TP / (support + predicted): every kept class
    # was seen, so the denominator is positive.
    f1 = [ratio(2 * t, s + p) for t, s, p in zip(tp, support, predicted, strict=True)]
    return MulticlassMetrics(
        n=n,
        accuracy=ratio(float(tp.sum()), n),
        macro_f1=float(np.mean(f1)) if f1 else math.nan,
        log_loss=ratio(pieces.log_loss_sum, pieces.log_loss_n),
        recall={
            c: ratio(float(t), int(s)) for c, t, s in zip(pieces.classes, tp, support, strict=True)
        },
        support={c: int(s) for c, s in zip(pieces.classes, support, strict=True)},
    )
