"""Raw feature values to arrays: the conversions every profile counts through."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

__all__ = ["RawValues", "as_float_array", "as_series", "fmt", "readonly"]

#: Raw feature values as they come: arrays, Series, or plain lists that may hold ``None``.
RawValues = ArrayLike | pd.Series | Sequence[Any]


def as_float_array(values: RawValues) -> NDArray[np.float64]:
    """Convert raw values to float64, with anything that is not a number as NaN.

    Numeric numpy arrays are converted without a per-value loop; other inputs (object
    arrays, lists with ``None``, nullable pandas dtypes) go through :func:`pandas.to_numeric`.

    Examples
    --------
    >>> as_float_array([1, None, "2.5", "x"])
    array([1. , nan, 2.5, nan])

    """
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values.astype(np.float64, copy=False)
    series = as_series(values)
    if not pd.api.types.is_numeric_dtype(series.dtype):
        series = pd.to_numeric(series, errors="coerce")
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def as_series(values: RawValues) -> pd.Series:
    if isinstance(values, pd.Series):
        return values
    return pd.Series(np.asarray(values, dtype=object))


def readonly(array: NDArray[Any]) -> NDArray[Any]:
    # Profiles are shared by every batch of a worker: an accidental in-place edit would
    # silently shift all later counts, so arrays are frozen.
    array = np.array(array, copy=True)
    array.setflags(write=False)
    return array


def fmt(value: float) -> str:
    return f"{value:.6g}"
