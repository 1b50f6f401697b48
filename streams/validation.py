"""Validate a batch of raw input records against the model's feature schema.

This is the first step of the scoring worker's hot path, so the work per record is kept
to decoding and a few dict and set operations; the type, null, finiteness and range
checks run column by column over the whole batch.

Every payload becomes either a valid row or a :class:`Rejection` with a machine-readable
reason; the validator never raises because of what a payload contains. A record gets one
rejection listing *every* problem found in it (:attr:`Rejection.violations`), at most one
per field, in the order of :data:`REASONS` (record-level checks first, then the features in
schema order, then ``event_time``), so that a client fixes a record in one round trip. The
first violation is the rejection's ``reason``, ``field`` and ``message``, what the worker
writes to ``records.rejected``. Only a payload that is not a JSON object (too large, not
JSON, not an object) has nothing further to check.

Rules
-----
- A payload is JSON text in UTF-8 without a byte order mark (:func:`loads_json`, the one
  decoder of both doors: the bridge refuses what the worker refuses).
- A record is a JSON object with a non-empty string ``id`` (at most 256 characters), an
  optional ``event_time`` (ISO-8601 string, naive meaning UTC, or epoch milliseconds;
  default: the ingest time) and the schema's features. Event times, given or defaulted,
  must lie in what a ClickHouse ``DateTime`` stores (:data:`EVENT_TIME_RANGE`). The model's
  target field may be present and is ignored (producers may send the label for later
  evaluation).
- A nullable feature may be ``null`` or absent; a non-nullable one must be present
  (``missing_field``) and not ``null`` (``null_not_allowed``).
- Numeric features take JSON numbers, never booleans or strings; ``int`` features also
  take integral floats such as ``3.0``; ``bool`` features take ``true``/``false`` only.
  Categorical features take strings; unknown categories are accepted (the pipeline
  ignores them).
- ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON and orjson refuses them, but some
  producers (Python's ``json.dumps``) write them. Rather than calling such a record
  ``invalid_json``, a UTF-8 payload orjson refuses is decoded again with the standard
  library, which accepts these literals (and turns an overflowing number such as ``1e999``
  into infinity); the record is then rejected as ``not_finite`` with the field named. Only
  payloads orjson refuses pay for the second decode, and it is given text, never bytes, so
  it cannot fall back to UTF-16 or UTF-32 or skip a byte order mark.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from itertools import compress, repeat
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd

from scorestream.contract.rejections import VALIDATOR_REASONS, ValidatorReason
from scorestream.contract.rejections import RejectionReason as RejectionReason
from scorestream.streams.input_decoding import EVENT_TIME_RANGE as EVENT_TIME_RANGE
from scorestream.streams.input_decoding import MAX_EVENT_TIME_MS as MAX_EVENT_TIME_MS
from scorestream.streams.input_decoding import MIN_EVENT_TIME_MS as MIN_EVENT_TIME_MS
from scorestream.streams.input_decoding import (
    UNDECODABLE,
    decode_leniently,
    event_time_ms,
    not_json,
)
from scorestream.streams.input_decoding import loads_json as loads_json
from scorestream.streams.model.schema import EVENT_TIME_COLUMN, ID_COLUMN, FeatureSchema

#: The reasons this validator gives, in the order they are checked.
REASONS: tuple[ValidatorReason, ...] = VALIDATOR_REASONS

MAX_ID_LENGTH = 256
_NONE_TYPE = type(None)
_NUMBER_TYPES: frozenset[type] = frozenset({int, float, _NONE_TYPE})
_BOOL_TYPES: frozenset[type] = frozenset({bool, _NONE_TYPE})


@dataclass(frozen=True)
class Violation:
    """One problem of a record: a reason, the field to blame (if one is) and a message."""

    reason: RejectionReason
    field: str | None
    message: str


@dataclass(frozen=True)
class Rejection:
    """Why one input record was refused.

    Attributes
    ----------
    id : str or None
        The record's id, when it had a valid one.
    reason : str
        One of :data:`REASONS`: the first problem found.
    field : str or None
        The offending field, when the problem is in one field.
    message : str
        Human-readable explanation.
    payload : bytes
        The original payload, unchanged.
    further : tuple of Violation
        The record's other problems, in the order they were checked.
    """

    id: str | None
    reason: RejectionReason
    field: str | None
    message: str
    payload: bytes = dataclass_field(repr=False)
    further: tuple[Violation, ...] = ()

    @property
    def violations(self) -> tuple[Violation, ...]:
        """Every problem of the record, the first (``reason``, ``field``) included."""
        return (Violation(self.reason, self.field, self.message), *self.further)


@dataclass(frozen=True)
class ValidatedBatch:
    """The outcome of validating one batch.

    Attributes
    ----------
    ids : list of str
        Ids of the valid records, in input order.
    event_time_ms : numpy.ndarray of int64
        Event time of each valid record, epoch milliseconds.
    frame : pandas.DataFrame
        Features of the valid records in schema order: numeric columns float64 (missing:
        NaN), categorical columns object dtype holding ``str`` (missing: NaN).
    positions : list of int
        Index of each valid record in the input batch (to map back to Kafka offsets).
    rejections : list of (int, Rejection)
        Input index and rejection of every refused record, in input order.
    """

    ids: list[str]
    event_time_ms: npt.NDArray[np.int64]
    frame: pd.DataFrame
    positions: list[int]
    rejections: list[tuple[int, Rejection]]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class _NumericCheck:
    name: str
    accepted_types: frozenset[type]
    integral: bool
    nullable: bool
    low: float | None
    high: float | None
    type_message: str


class RecordValidator:
    """Validate batches of raw JSON payloads against a :class:`FeatureSchema`.

    Parameters
    ----------
    schema : FeatureSchema
        The model's feature schema.
    out_of_range : {"reject", "clip"}
        What to do with a number outside the feature's ``allowed_min``/``allowed_max``:
        reject the record, or clip the value to the bounds.
    max_record_bytes : int
        Larger payloads are rejected as ``too_large`` without being decoded.
    ignored_fields : collection of str, optional
        Fields a record may carry that are neither features nor checked. Default: the
        schema's target.

    Examples
    --------
    >>> from scorestream.streams.model.schema import FeatureSpec
    >>> schema = FeatureSchema(features=[
    ...     FeatureSpec(name="income", kind="numeric", dtype="float", nullable=False,
    ...                 allowed_min=0.0, allowed_max=1e6)])
    >>> batch = RecordValidator(schema).validate_batch(
    ...     [b'{"id": "a", "income": 5.0}', b'{"id": "b", "income": "5"}'], [0, 0])
    >>> batch.ids, batch.frame["income"].tolist()
    (['a'], [5.0])
    >>> [(position, rejection.reason) for position, rejection in batch.rejections]
    [(1, 'wrong_type')]

    Every problem of a record is reported, not only the first:

    >>> [(v.reason, v.field) for v in RecordValidator(schema).validate_batch(
    ...     [b'{"income": -1, "shoe_size": 44}'], [0]).rejections[0][1].violations]
    [('missing_id', 'id'), ('unknown_field', 'shoe_size'), ('out_of_range', 'income')]
    """

    def __init__(
        self,
        schema: FeatureSchema,
        *,
        out_of_range: Literal["reject", "clip"] = "reject",
        max_record_bytes: int = 65_536,
        ignored_fields: Collection[str] | None = None,
    ) -> None:
        if out_of_range not in ("reject", "clip"):
            raise ValueError(f"out_of_range must be 'reject' or 'clip', got {out_of_range!r}")
        if max_record_bytes < 1:
            raise ValueError(f"max_record_bytes must be positive, got {max_record_bytes}")
        self.schema = schema
        self.out_of_range = out_of_range
        self.max_record_bytes = max_record_bytes
        if ignored_fields is None:
            ignored_fields = [schema.target] if schema.target else []
        self._allowed_keys = frozenset({ID_COLUMN, EVENT_TIME_COLUMN, *schema.names}) | set(
            ignored_fields
        )
        self._required = frozenset(spec.name for spec in schema.features if not spec.nullable)
        self._required_in_order = [spec.name for spec in schema.features if not spec.nullable]
        self._numeric = {
            spec.name: _NumericCheck(
                name=spec.name,
                accepted_types=_BOOL_TYPES if spec.dtype == "bool" else _NUMBER_TYPES,
                integral=spec.dtype == "int",
                nullable=spec.nullable,
                low=spec.allowed_min,
                high=spec.allowed_max,
                type_message={
                    "bool": "true or false",
                    "int": "an integer",
                    "float": "a number",
                }.get(spec.dtype, "a number"),
            )
            for spec in schema.features
            if spec.kind == "numeric"
        }

    def validate_batch(
        self, payloads: Sequence[bytes], ingest_time_ms: Sequence[int]
    ) -> ValidatedBatch:
        """Validate ``payloads``; ``ingest_time_ms[i]`` is the default event time of record i.

        Raises
        ------
        ValueError
            Only if the two sequences differ in length (a caller bug, not bad input).
        """
        if len(payloads) != len(ingest_time_ms):
            raise ValueError(f"{len(payloads)} payloads but {len(ingest_time_ms)} ingest times")
        records, ids, positions, rejections, failed = self._decode(payloads)
        columns: dict[str, npt.NDArray[Any]] = {}
        for spec in self.schema.features:
            if spec.kind == "numeric":
                columns[spec.name] = self._numeric_column(self._numeric[spec.name], records, failed)
            else:
                columns[spec.name] = self._categorical_column(
                    spec.name, spec.nullable, records, failed
                )
        event_times = self._event_times(records, positions, ingest_time_ms, failed)

        if failed:
            keep = np.ones(len(records), dtype=bool)
            keep[list(failed)] = False
            rejections.extend(
                (positions[index], _rejection(payloads[positions[index]], ids[index], found))
                for index, found in failed.items()
            )
            rejections.sort(key=lambda item: item[0])
            ids = list(compress(ids, keep))
            positions = list(compress(positions, keep))
            event_times = event_times[keep]
            columns = {name: values[keep] for name, values in columns.items()}
        frame = pd.DataFrame(
            {
                name: pd.Series(values, dtype=values.dtype, copy=False)
                for name, values in columns.items()
            },
            columns=self.schema.names,
        )
        return ValidatedBatch(
            ids=ids,
            event_time_ms=event_times,
            frame=frame,
            positions=positions,
            rejections=rejections,
        )

    # -- per-record pass -------------------------------------------------------------

    def _decode(
        self, payloads: Sequence[bytes]
    ) -> tuple[
        list[dict[str, Any]],
        list[str],
        list[int],
        list[tuple[int, Rejection]],
        dict[int, list[Violation]],
    ]:
        """Decode payloads and check the record-level rules (size, shape, id, field names).

        Returns the objects (``""`` as the id of one without a valid id), their ids and
        positions, the rejections of the payloads that are not objects, and the violations
        found so far of each object that has any (by index into the objects): those are
        still checked field by field.
        """
        loads = orjson.loads
        max_bytes = self.max_record_bytes
        allowed = self._allowed_keys
        required = self._required
        records: list[dict[str, Any]] = []
        ids: list[str] = []
        positions: list[int] = []
        rejections: list[tuple[int, Rejection]] = []
        failed: dict[int, list[Violation]] = {}
        for position, payload in enumerate(payloads):
            try:
                size = len(payload)
            except TypeError:
                message = f"payload must be bytes, got {type(payload).__name__}"
                rejections.append((position, _reject(payload, None, "invalid_json", None, message)))
                continue
            if size > max_bytes:
                message = f"payload has {size} bytes, more than the limit of {max_bytes}"
                rejections.append((position, _reject(payload, None, "too_large", None, message)))
                continue
            try:
                record = loads(payload)
            except Exception as error:  # orjson.JSONDecodeError, or TypeError for non-bytes
                record = decode_leniently(payload)
                if record is UNDECODABLE:
                    message = not_json(payload, error)
                    rejections.append(
                        (position, _reject(payload, None, "invalid_json", None, message))
                    )
                    continue
            if type(record) is not dict:
                message = f"a record must be a JSON object, got {_json_type(record)}"
                rejections.append(
                    (position, _reject(payload, None, "not_an_object", None, message))
                )
                continue
            record_id = record.get(ID_COLUMN)
            keys = record.keys()
            if (
                type(record_id) is not str
                or not record_id
                or len(record_id) > MAX_ID_LENGTH
                or not required <= keys
                or not keys <= allowed
            ):
                # Off the hot path: only a record with a problem pays for listing them all.
                failed[len(records)] = self._record_problems(record_id, keys)
                if type(record_id) is not str or len(record_id) > MAX_ID_LENGTH:
                    record_id = ""
            records.append(record)
            ids.append(record_id)
            positions.append(position)
        return records, ids, positions, rejections, failed

    def _record_problems(self, record_id: Any, keys: Collection[str]) -> list[Violation]:
        """The record-level violations of a record: its id, missing and unknown fields."""
        found: list[Violation] = []
        if type(record_id) is not str or not record_id or len(record_id) > MAX_ID_LENGTH:
            found.append(Violation("missing_id", ID_COLUMN, _id_problem(record_id)))
        found.extend(
            Violation("missing_field", name, f"required field {name!r} is missing")
            for name in self._required_in_order
            if name not in keys
        )
        found.extend(
            Violation("unknown_field", name, f"field {name!r} is not a feature of the model")
            for name in sorted(set(keys) - self._allowed_keys)
        )
        return found

    # -- column checks ---------------------------------------------------------------

    def _numeric_column(
        self,
        check: _NumericCheck,
        records: list[dict[str, Any]],
        failed: dict[int, list[Violation]],
    ) -> npt.NDArray[np.float64]:
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
        if self.out_of_range == "clip":
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

    def _categorical_column(
        self,
        name: str,
        nullable: bool,
        records: list[dict[str, Any]],
        failed: dict[int, list[Violation]],
    ) -> npt.NDArray[np.object_]:
        values: list[Any] = _column(records, name)
        if not set(map(type, values)) <= {str}:
            for index, value in enumerate(values):
                if type(value) is str:
                    continue
                if value is None:
                    problem: tuple[RejectionReason, str] | None = (
                        None
                        if nullable
                        else ("null_not_allowed", f"field {name!r} must not be null")
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

    def _event_times(
        self,
        records: list[dict[str, Any]],
        positions: list[int],
        ingest_time_ms: Sequence[int],
        failed: dict[int, list[Violation]],
    ) -> npt.NDArray[np.int64]:
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


def _add(failed: dict[int, list[Violation]], index: int, violation: Violation) -> None:
    """Add ``violation`` to record ``index``'s unless its field has one (a wrong type or a
    missing field is not also a null)."""
    found = failed.setdefault(index, [])
    if all(earlier.field != violation.field for earlier in found):
        found.append(violation)


def _rejection(payload: Any, record_id: str, found: list[Violation]) -> Rejection:
    """The rejection of a record with the violations ``found`` (the first is its reason)."""
    first = found[0]
    return Rejection(
        id=record_id or None,
        reason=first.reason,
        field=first.field,
        message=first.message,
        payload=_as_bytes(payload),
        further=tuple(found[1:]),
    )


def _reject(
    payload: Any,
    record_id: str | None,
    reason: RejectionReason,
    field_name: str | None,
    message: str,
) -> Rejection:
    return Rejection(
        id=record_id, reason=reason, field=field_name, message=message, payload=_as_bytes(payload)
    )


def _as_bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, bytearray | memoryview):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode("utf-8", errors="replace")
    return b""


def _shown(value: Any) -> str:
    """A short, safe rendering of a JSON value for a message (no repr of deep nesting)."""
    if isinstance(value, str):
        return repr(value[:60]) + ("..." if len(value) > 60 else "")
    if isinstance(value, bool | float) or value is None:
        return _json_type(value)
    if isinstance(value, int):
        text = str(value) if value.bit_length() < 200 else "a huge integer"
        return f"the number {text}"
    return _json_type(value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _id_problem(record_id: Any) -> str:
    if record_id is None:
        return "the record has no id"
    if type(record_id) is not str:
        return f"id must be a string, got {_json_type(record_id)}"
    if not record_id:
        return "id must not be empty"
    return f"id has {len(record_id)} characters, more than {MAX_ID_LENGTH}"


def _bound(value: float | None) -> str:
    return "unbounded" if value is None else f"{value:g}"
