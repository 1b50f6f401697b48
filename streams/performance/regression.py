r"""A regression model's labelled records as sums that add up, and its metrics.

:class:`RegressionPieces` keeps, with error :math:`e = \hat y - y` (prediction minus truth):
the count, :math:`\sum e`, :math:`\sum |e|`, :math:`\sum e^2`, the mean of :math:`y` and
:math:`M_2 = \sum (y - \bar y)^2`. MAE, RMSE, the mean error (bias: positive when the model
over-predicts) and :math:`R^2 = 1 - \sum e^2 / M_2` follow exactly.

Why the mean and :math:`M_2` of ``y`` rather than :math:`\sum y` and :math:`\sum y^2`: both
merge exactly (Chan et al.'s update, :math:`M_2 = M_{2a} + M_{2b} + \delta^2 n_a n_b / n`),
but :math:`\sum y^2 - (\sum y)^2 / n` cancels catastrophically when the mean is large
against the spread (prices around 10^6 that vary by units lose every digit). ClickHouse
computes the same pair per group (``avg``, ``varPopStable`` times the count).

:math:`R^2` is NaN when :math:`M_2 = 0` (all true values equal), where scikit-learn returns
1.0 or 0.0 by convention (``force_finite``); and with fewer than two records.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scorestream.streams.performance.ratios import ratio

__all__ = ["RegressionMetrics", "RegressionPieces", "regression_metrics"]


@dataclass(frozen=True)
class RegressionPieces:
    """Mergeable sums of a regression model's labelled records.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(2)
    >>> y = rng.normal(1e6, 3.0, 1_000)
    >>> predicted = y + rng.normal(0.5, 1.0, 1_000)
    >>> whole = RegressionPieces.from_arrays(predicted, y)
    >>> halves = (RegressionPieces.from_arrays(predicted[:300], y[:300])
    ...           + RegressionPieces.from_arrays(predicted[300:], y[300:]))
    >>> from sklearn.metrics import r2_score
    >>> bool(abs(regression_metrics(halves).r2 - r2_score(y, predicted)) < 1e-9)
    True
    >>> RegressionPieces.from_dict(whole.to_dict()) == whole
    True
    """

    n: int = 0
    sum_error: float = 0.0
    sum_abs_error: float = 0.0
    sum_squared_error: float = 0.0
    mean_y: float = 0.0
    m2_y: float = 0.0

    @classmethod
    def from_arrays(cls, predicted: npt.ArrayLike, y_true: npt.ArrayLike) -> RegressionPieces:
        """Sum records; pairs with a non-finite prediction or truth are left out (as in SQL)."""
        pred = np.asarray(predicted, dtype=np.float64).ravel()
        y = np.asarray(y_true, dtype=np.float64).ravel()
        if pred.shape != y.shape:
            raise ValueError(f"predictions and truths differ in length: {pred.shape}, {y.shape}")
        keep = np.isfinite(pred) & np.isfinite(y)
        pred, y = pred[keep], y[keep]
        if len(y) == 0:
            return cls()
        error = pred - y
        mean = float(y.mean())
        return cls(
            n=len(y),
            sum_error=float(error.sum()),
            sum_abs_error=float(np.abs(error).sum()),
            sum_squared_error=float(np.sum(error * error)),
            mean_y=mean,
            m2_y=float(np.sum((y - mean) ** 2)),
        )

    def merge(self, other: RegressionPieces) -> RegressionPieces:
        """The sums of both sets of records."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean_y - self.mean_y
        return RegressionPieces(
            n=n,
            sum_error=self.sum_error + other.sum_error,
            sum_abs_error=self.sum_abs_error + other.sum_abs_error,
            sum_squared_error=self.sum_squared_error + other.sum_squared_error,
            mean_y=self.mean_y + delta * other.n / n,
            m2_y=self.m2_y + other.m2_y + delta * delta * self.n * other.n / n,
        )

    def __add__(self, other: RegressionPieces) -> RegressionPieces:
        return self.merge(other)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"kind": "regression", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegressionPieces:
        """The inverse of :meth:`to_dict`."""
        return cls(
            n=int(data["n"]),
            sum_error=float(data["sum_error"]),
            sum_abs_error=float(data["sum_abs_error"]),
            sum_squared_error=float(data["sum_squared_error"]),
            mean_y=float(data["mean_y"]),
            m2_y=float(data["m2_y"]),
        )


@dataclass(frozen=True)
class RegressionMetrics:
    """Realised metrics of a regression model (NaN where undefined)."""

    n: int
    mae: float
    rmse: float
    r2: float
    mean_error: float

    def to_dict(self) -> dict[str, float]:
        """Name -> value."""
        return asdict(self)


def regression_metrics(pieces: RegressionPieces) -> RegressionMetrics:
    """MAE, RMSE, R² and mean error (bias) of ``pieces``.

    >>> m = regression_metrics(RegressionPieces.from_arrays([1.0, 2.0, 4.0], [1.0, 3.0, 3.0]))
    >>> m.mae, round(m.rmse, 4), m.r2, m.mean_error
    (0.6666666666666666, 0.8165, 0.25, 0.0)
    >>> math.isnan(regression_metrics(RegressionPieces()).rmse)
    True
    """
    n = pieces.n
    mse = ratio(pieces.sum_squared_error, n)
    r2 = math.nan
    if n >= 2 and pieces.m2_y > 0:
        r2 = 1.0 - pieces.sum_squared_error / pieces.m2_y
    return RegressionMetrics(
        n=n,
        mae=ratio(pieces.sum_abs_error, n),
        rmse=math.sqrt(mse) if not math.isnan(mse) else math.nan,
        r2=r2,
        mean_error=ratio(pieces.sum_error, n),
    )
