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
from operator import itemgetter
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
    values: list[Any],
    failed: Failed,
    out_of_range: Literal["reject", "clip"],
) -> npt.NDArray[np.float64]:
    """A numeric feature as float64 (missing: NaN), clipped or checked against its range."""
    name = check.name

    def fail(index: int, reason: RejectionReason, message: str) -> None:
        _add(failed, index, Violation(reason, name, message))

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
    values: list[Any],
    failed: Failed,
) -> npt.NDArray[np.object_]:
    """A categorical feature as an object array of ``str`` (missing: NaN)."""
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
    values: list[Any],
    positions: list[int],
    ingest_time_ms: Sequence[int],
    failed: Failed,
) -> tuple[npt.NDArray[np.int64], bool]:
    """Event times, epoch ms: the records' ``event_time`` or, without one, the ingest time;
    and whether every value was written as ``2026-05-01T00:00:00.000Z`` (then ``values``
    are what the ``scores`` messages write, as they are)."""
    times = (
        np.asarray(ingest_time_ms, dtype=np.int64)[positions]
        if positions
        else (np.empty(0, dtype=np.int64))
    )

    def fail(index: int, message: str) -> None:
        _add(failed, index, Violation("invalid_event_time", EVENT_TIME_COLUMN, message))

    written = canonical_event_times(values)
    if written is not None:
        return written, True
    if values.count(None) == len(values):
        # No record has one: only the defaults' range to check, for the whole batch at once.
        outside = (times < MIN_EVENT_TIME_MS) | (times >= MAX_EVENT_TIME_MS)
        for index in np.flatnonzero(outside).tolist():
            fail(
                index,
                f"the record has no event_time and its ingest time ({int(times[index])} ms) is "
                f"outside {EVENT_TIME_RANGE}; send an event_time",
            )
        return times, False
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
    return times, False


def columns_of(records: list[dict[str, Any]], names: Sequence[str]) -> dict[str, list[Any]]:
    """The value of each field of ``names`` in every record (None where absent), by field.

    One itemgetter per record and a transposition, both in C, when every record has every
    field (the common case); else one pass per field.
    """
    if len(names) > 1 and records:
        try:
            rows = list(map(itemgetter(*names), records))
        except KeyError:
            pass
        else:
            by_field = zip(*rows, strict=True)
            return {name: list(values) for name, values in zip(names, by_field, strict=True)}
    # map over the unbound dict.get runs the loop in C, faster than a comprehension.
    return {name: list(map(dict.get, records, repeat(name))) for name in names}


#: Where the separators of ``2026-05-01T00:00:00.000Z`` are, and its digits.
_CANONICAL_LENGTH = 24
_SEPARATORS = {4: "-", 7: "-", 10: "T", 13: ":", 16: ":", 19: ".", 23: "Z"}
_DIGITS = [i for i in range(_CANONICAL_LENGTH - 1) if i not in _SEPARATORS]
_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def canonical_event_times(values: list[Any]) -> npt.NDArray[np.int64] | None:
    """Epoch ms of ``values`` if every one is a storable time written exactly as
    ``2026-05-01T00:00:00.000Z`` (what the producers and the bridge write), else None.

    The same milliseconds as :func:`~.input_decoding.event_time_ms` gives each value, read
    for the whole batch in numpy: parsing one string at a time cost about as much as
    decoding the record. Any other value (another ISO form, a number, a bad date, a time
    that cannot be stored) gives None, and the caller checks the values one by one.

    >>> canonical_event_times(["1970-01-01T00:00:00.000Z", "2024-02-29T12:00:00.250Z"])
    array([            0, 1709208000250])
    >>> canonical_event_times(["2023-02-29T12:00:00.250Z"]) is None  # no such day
    True
    """
    count = len(values)
    if not count or set(map(type, values)) != {str}:
        return None
    if set(map(len, values)) != {_CANONICAL_LENGTH}:
        return None
    try:
        text = "".join(values).encode("ascii")
    except UnicodeEncodeError:
        return None
    chars = np.frombuffer(text, dtype=np.uint8).reshape(count, _CANONICAL_LENGTH)
    for position, separator in _SEPARATORS.items():
        if not (chars[:, position] == ord(separator)).all():
            return None
    digits = chars[:, _DIGITS].astype(np.int64) - ord("0")
    if ((digits < 0) | (digits > 9)).any():
        return None
    year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    month = digits[:, 4] * 10 + digits[:, 5]
    day = digits[:, 6] * 10 + digits[:, 7]
    hour = digits[:, 8] * 10 + digits[:, 9]
    minute = digits[:, 10] * 10 + digits[:, 11]
    second = digits[:, 12] * 10 + digits[:, 13]
    milli = digits[:, 14] * 100 + digits[:, 15] * 10 + digits[:, 16]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = _MONTH_DAYS[np.clip(month, 1, 12) - 1] + ((month == 2) & leap)
    invalid = (month < 1) | (month > 12) | (day < 1) | (day > month_days)
    invalid |= (year < 1) | (hour > 23) | (minute > 59) | (second > 59)
    if invalid.any():
        return None
    # Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    shifted = year - (month <= 2)
    era = shifted // 400
    year_of_era = shifted - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    days = era * 146_097 + day_of_era - 719_468
    millis = days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + milli
    if ((millis < MIN_EVENT_TIME_MS) | (millis >= MAX_EVENT_TIME_MS)).any():
        return None
    return millis
