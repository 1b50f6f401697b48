"""The per-field checks of a batch, column by column: numbers, categories, event times.

Each check reads one field of every decoded record, adds what is wrong to the records'
violations (at most one per field, see :func:`~.validation_outcome.add_violation`) and
returns the column the model gets. Columns are checked with numpy where they can be: a
Python step per record and field would cost more than the rest of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from scorestream.contract.rejections import RejectionReason
from scorestream.streams.input_decoding import (
    EVENT_TIME_RANGE,
    MAX_EVENT_TIME_MS,
    MIN_EVENT_TIME_MS,
    event_time_ms,
)
from scorestream.streams.model.schema import EVENT_TIME_COLUMN
from scorestream.streams.validation_outcome import Violation, _add, _bound, _json_type, _shown

_NONE_TYPE = type(None)
NUMBER_TYPES: frozenset[type] = frozenset({int, float, _NONE_TYPE})
BOOL_TYPES: frozenset[type] = frozenset({bool, _NONE_TYPE})

Failed = dict[int, list[Violation]]


@dataclass(frozen=True)
class NumericCheck:
    """What a numeric feature accepts (from its :class:`FeatureSpec`)."""

    name: str
    accepted_types: frozenset[type]
    integral: bool
    nullable: bool
    low: float | None
    high: float | None
    type_message: str


def numeric_column(
    check: NumericCheck,
    records: list[dict[str, Any]],
    failed: Failed,
    out_of_range: Literal["reject", "clip"],
) -> npt.NDArray[np.float64]:
    """A numeric feature as float64 (missing: NaN), clipped or checked against its range."""
    name = check.name

    def fail(index: int, reason: RejectionReason, message: str) -> None:
        _add(failed, index, Violation(reason, name, message))

    values = _column(records, name)
    if not set(map(type, values)) <= check.accepted_types:
        for index, value in enumerate(values):
            if type(value) not in check.accepted_types:
                fail(
                    index,
                    "wrong_type",
                    f"field {name!r} must be {check.type_message}, got {_json_type(value)}",
                )
                values[index] = None
    column = np.array(values, dtype=np.float64)
    if len(column) == 0:
        return column

    gaps = np.isnan(column)
    if gaps.any():
        for index in np.flatnonzero(gaps).tolist():
            if values[index] is not None:
                fail(index, "not_finite", f"field {name!r} is NaN; send null when unknown")
            elif not check.nullable:
                fail(index, "null_not_allowed", f"field {name!r} must not be null")
    infinite = np.isinf(column)
    if infinite.any():
        for index in np.flatnonzero(infinite).tolist():
            fail(index, "not_finite", f"field {name!r} is infinite")
        column[infinite] = np.nan
    if check.integral:
        with np.errstate(invalid="ignore"):
            fractional = np.flatnonzero(np.mod(column, 1.0) != 0.0)
        fractional = fractional[~np.isnan(column[fractional])]
        for index in fractional.tolist():
            fail(index, "wrong_type", f"field {name!r} must be an integer, got {values[index]}")

    low, high = check.low, check.high
    if low is None and high is None:
        return column
    if out_of_range == "clip":
        return np.clip(
            column,
            -np.inf if low is None else low,
            np.inf if high is None else high,
        )
    with np.errstate(invalid="ignore"):
        outside = np.zeros(len(column), dtype=bool)
        if low is not None:
            outside |= column < low
        if high is not None:
            outside |= column > high
    if outside.any():
        for index in np.flatnonzero(outside).tolist():
            fail(
                index,
                "out_of_range",
                f"field {name!r} is {values[index]}, outside the allowed range "
                f"[{_bound(low)}, {_bound(high)}]",
            )
    return column


def categorical_column(
    name: str,
    nullable: bool,
    records: list[dict[str, Any]],
    failed: Failed,
) -> npt.NDArray[np.object_]:
    """A categorical feature as an object array of ``str`` (missing: NaN)."""
    values: list[Any] = _column(records, name)
    if not set(map(type, values)) <= {str}:
        for index, value in enumerate(values):
            if type(value) is str:
                continue
            if value is None:
                problem: tuple[RejectionReason, str] | None = (
                    None if nullable else ("null_not_allowed", f"field {name!r} must not be null")
                )
            else:
                problem = (
                    "wrong_type",
                    f"field {name!r} must be a string, got {_json_type(value)}",
                )
            if problem is not None:
                _add(failed, index, Violation(problem[0], name, problem[1]))
            # NaN, not None: scikit-learn's SimpleImputer only sees NaN as missing.
            values[index] = np.nan
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


def event_times(
    records: list[dict[str, Any]],
    positions: list[int],
    ingest_time_ms: Sequence[int],
    failed: Failed,
) -> npt.NDArray[np.int64]:
    """Event times, epoch ms: the records' ``event_time`` or, without one, the ingest time."""
    times = (
        np.asarray(ingest_time_ms, dtype=np.int64)[positions]
        if positions
        else (np.empty(0, dtype=np.int64))
    )

    def fail(index: int, message: str) -> None:
        _add(failed, index, Violation("invalid_event_time", EVENT_TIME_COLUMN, message))

    values = _column(records, EVENT_TIME_COLUMN)
    for index, value in enumerate(values):
        if value is None:
            # The default, the Kafka timestamp, is the producer's to set: check it too.
            default = int(times[index])
            if not MIN_EVENT_TIME_MS <= default < MAX_EVENT_TIME_MS:
                fail(
                    index,
                    f"the record has no event_time and its ingest time ({default} ms) is "
                    f"outside {EVENT_TIME_RANGE}; send an event_time",
                )
            continue
        millis = event_time_ms(value)
        if millis is None:
            fail(
                index,
                f"event_time must be an ISO-8601 string or epoch milliseconds from "
                f"{EVENT_TIME_RANGE}, got {_shown(value)}",
            )
        else:
            times[index] = millis
    return times


def _column(records: list[dict[str, Any]], name: str) -> list[Any]:
    """The value of field ``name`` in every record (None where absent)."""
    # map over the unbound dict.get runs the loop in C, faster than a comprehension.
    return list(map(dict.get, records, repeat(name)))
