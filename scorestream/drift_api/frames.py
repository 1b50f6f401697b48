"""DataFrames and counts into what a check reads: one :class:`PeriodCounts` per feature.

A DataFrame is counted by the worker's own code (:class:`MinuteBinAccumulator`, every row
in one minute), so the bins, sums and sums of squares are exactly what the stream would
have stored for the same records. What the stream never meets, a DataFrame can hold: a
column missing, text in a numeric column, lists in a cell. Each such column becomes that
feature's error (a reason, no verdict); the other features are still compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from scorestream.exceptions import DataError
from scorestream.streams.drift.accumulator import MinuteBinAccumulator
from scorestream.streams.drift.evaluation import PeriodCounts
from scorestream.streams.drift.profile import (
    OUTPUT_FEATURES,
    PREDICTED_CLASS_FEATURE,
    SCORE_FEATURE,
    FeatureProfile,
    NumericFeatureProfile,
    ReferenceProfile,
)

__all__ = ["checked_frame", "counts_of_frame", "counts_of_mapping", "not_numbers"]

#: Counts and per-feature errors (feature -> why it cannot be compared).
Counted = tuple[dict[str, PeriodCounts], dict[str, str]]


def checked_frame(frame: object, what: str) -> pd.DataFrame:
    """``frame`` with text column names, or a one-line error for what cannot be compared.

    Parameters
    ----------
    frame
        Should be a pandas DataFrame with at least one row and unique column names.
    what
        ``"reference"`` or ``"current"``, for the message.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"the {what} data must be a pandas DataFrame, not {type(frame).__name__}")
    if len(frame) == 0:
        raise DataError(f"the {what} data has no rows")
    names = [str(c) for c in frame.columns]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise DataError(f"the {what} data has duplicate columns {duplicated}")
    # Columns named by numbers (a frame built from an array) are named by text in profiles.
    return frame if names == list(frame.columns) else frame.set_axis(names, axis=1)


def _as_number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def not_numbers(column: pd.Series) -> tuple[int, Any] | None:
    """How many present values of ``column`` are not numbers, and the first; else ``None``.

    Text that reads as a number (``"2.5"``, from a CSV read as text) is a number, as the
    profile counts it; dates, words, lists and dictionaries are not.
    """
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_timedelta64_dtype(dtype)
    ):
        return None
    present = column.notna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        bad = present
    else:
        try:
            parsed = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
        except (TypeError, ValueError):  # cells holding lists or dicts
            parsed = np.array([_as_number(v) for v in column.to_numpy(dtype=object)])
        bad = present & np.isnan(parsed)
    if not bad.any():
        return None
    return int(bad.sum()), column[bad].iloc[0]


def _count_one(
    profile: ReferenceProfile,
    feature: FeatureProfile,
    frame: pd.DataFrame,
    scores: ArrayLike | None,
    labels: ArrayLike | None,
) -> PeriodCounts:
    # One accumulator per feature: a cell that breaks one feature's counting costs only
    # that feature its verdict.
    single = ReferenceProfile((feature,), profile.n_bins, profile.max_categories)
    accumulator = MinuteBinAccumulator(single)
    accumulator.add(np.zeros(len(frame), dtype=np.int64), frame, scores, labels)
    (row,) = accumulator.flush_all()
    return PeriodCounts(
        np.asarray(row.counts, dtype=np.int64), row.count, row.missing, row.sum, row.sumsq
    )


def counts_of_frame(
    profile: ReferenceProfile,
    frame: pd.DataFrame,
    scores: ArrayLike | None = None,
    predicted_classes: ArrayLike | None = None,
) -> Counted:
    """Count ``frame`` (already :func:`checked_frame`) into every feature's bins.

    The model's outputs are counted only when given (``scores``, ``predicted_classes``:
    one per row). A feature whose column is absent, holds values that are not numbers
    (numeric features) or cannot be counted at all gets an error instead of counts.
    """
    outputs = {SCORE_FEATURE: scores, PREDICTED_CLASS_FEATURE: predicted_classes}
    for name, given in outputs.items():
        if given is None:
            continue
        what = "scores" if name == SCORE_FEATURE else "predicted_classes"
        if name not in profile:
            raise DataError(f"{what} given, but the profile was built without them")
        if np.shape(given) != (len(frame),):
            raise DataError(
                f"{what} must have one value per row: {np.shape(given)} for {len(frame)} rows"
            )
    counts: dict[str, PeriodCounts] = {}
    errors: dict[str, str] = {}
    for feature in profile:
        name = feature.name
        if name in OUTPUT_FEATURES:
            if outputs[name] is None:
                continue
        elif name not in frame.columns:
            errors[name] = f"column {name!r} is not in the current data"
            continue
        elif isinstance(feature, NumericFeatureProfile):
            bad = not_numbers(frame[name])
            if bad is not None:
                n, example = bad
                errors[name] = (
                    f"column {name!r} holds {n:,} values that are not numbers "
                    f"(e.g. {str(example)[:40]!r})"
                )
                continue
        try:
            counts[name] = _count_one(profile, feature, frame, scores, predicted_classes)
        except Exception as exc:  # a cell nobody expected: this feature's error, not a crash
            errors[name] = f"column {name!r} cannot be counted: {type(exc).__name__}: {exc}"
    return counts, errors


def _period_counts(feature: FeatureProfile, given: object) -> PeriodCounts:
    if isinstance(given, PeriodCounts):
        return given
    bins = np.asarray(given)
    if bins.shape != (feature.n_bins,):
        raise ValueError(f"expected {feature.n_bins} counts ({feature.labels()}), got {bins.shape}")
    if not np.issubdtype(bins.dtype, np.number) or not np.all(bins >= 0):
        raise ValueError("counts must be non-negative numbers")
    if not np.all(np.mod(bins, 1) == 0):
        raise ValueError("counts must be whole numbers")
    bins = bins.astype(np.int64)
    # Bins alone: no sums of the values, so no current mean (NaN skips the mean test).
    nan = float("nan")
    return PeriodCounts(bins, int(bins.sum()), int(bins[-1]), nan, nan)


def counts_of_mapping(profile: ReferenceProfile, given: Mapping[str, object]) -> Counted:
    """Counts given per feature: :class:`PeriodCounts`, or bins in the profile's layout.

    A feature of the profile without counts gets an error (the model's outputs are simply
    not compared); counts of a feature the profile lacks are refused.
    """
    if not given:
        raise DataError("no counts given")
    unknown = sorted(str(name) for name in given if name not in profile)
    if unknown:
        raise DataError(f"counts given for features the profile does not have: {unknown}")
    counts: dict[str, PeriodCounts] = {}
    errors: dict[str, str] = {}
    for feature in profile:
        name = feature.name
        if name not in given:
            if name not in OUTPUT_FEATURES:
                errors[name] = "no counts given for this feature"
            continue
        try:
            counts[name] = _period_counts(feature, given[name])
        except (TypeError, ValueError) as exc:
            errors[name] = f"counts of {name!r} refused: {exc}"
    return counts, errors
