"""Validate a batch of raw input records against the model's feature schema.

This is the first step of the scoring worker's hot path, so the work per record is kept
to decoding and a few dict and set operations; the type, null, finiteness and range
checks run column by column over the whole batch (:mod:`.field_checks`). What a refused
record is told is shaped in :mod:`.validation_outcome`; this module decodes the records,
checks what concerns a whole record (size, shape, id, field names) and assembles the batch.

With the compiled extension installed, the whole batch goes first to
:mod:`.native_columns` (Rust: decoding and every check of a valid record in one call, and it
can only accept); what it refuses is validated as follows and put back in input order.
Without it, or for what it refuses, payloads are decoded in chunks of 256. A chunk goes
first to :mod:`.typed_columns` (msgspec decodes and type-checks it into columns in C, and
can only accept); a chunk it refuses, or whose values the column checks refuse, is decoded
here in general, which words every problem. All give the same batch (property tests hold
them equal).

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
from itertools import compress
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd

from scorestream.contract.codec import MAX_ID_LENGTH as MAX_ID_LENGTH
from scorestream.contract.codec import id_problem, json_type
from scorestream.contract.rejections import VALIDATOR_REASONS, ValidatorReason
from scorestream.contract.rejections import RejectionReason as RejectionReason
from scorestream.streams.field_checks import (
    BOOL_TYPES,
    NUMBER_TYPES,
    NumericCheck,
    categorical_column,
    columns_of,
    event_times,
    numeric_column,
)
from scorestream.streams.input_decoding import EVENT_TIME_RANGE as EVENT_TIME_RANGE
from scorestream.streams.input_decoding import MAX_EVENT_TIME_MS as MAX_EVENT_TIME_MS
from scorestream.streams.input_decoding import MIN_EVENT_TIME_MS as MIN_EVENT_TIME_MS
from scorestream.streams.input_decoding import UNDECODABLE, decode_leniently, not_json
from scorestream.streams.input_decoding import loads_json as loads_json
from scorestream.streams.model.schema import EVENT_TIME_COLUMN, ID_COLUMN, FeatureSchema
from scorestream.streams.native_columns import AVAILABLE as NATIVE_AVAILABLE
from scorestream.streams.native_columns import NativeColumnDecoder, NativeColumns
from scorestream.streams.typed_columns import TypedColumnDecoder
from scorestream.streams.validation_outcome import Rejection as Rejection
from scorestream.streams.validation_outcome import ValidatedBatch as ValidatedBatch
from scorestream.streams.validation_outcome import Violation as Violation
from scorestream.streams.validation_outcome import (
    _reject,
    _rejection,
)

#: The reasons this validator gives, in the order they are checked.
REASONS: tuple[ValidatorReason, ...] = VALIDATOR_REASONS

#: Payloads per chunk of the typed path: one refused payload sends its chunk, not its whole
#: batch, down the general path.
_CHUNK = 256


#: What the general path makes of a chunk: see :meth:`RecordValidator._decode`.
_Decoded = tuple[
    list[dict[str, Any]],
    list[str],
    list[int],
    list[tuple[int, Rejection]],
    dict[int, list[Violation]],
]


class _Checked(NamedTuple):
    """A checked batch, or (None) the typed chunks whose records the checks refused."""

    batch: ValidatedBatch | None
    refused_typed_chunks: list[int]


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
    native : bool
        Use the compiled decoder (:mod:`.native_columns`) when it is installed; the results
        are the same either way.

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
        native: bool = True,
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
        self._fields = [*schema.names, EVENT_TIME_COLUMN]
        self._typed = TypedColumnDecoder(schema, ignored_fields, max_record_bytes)
        self._native = (
            NativeColumnDecoder(
                schema, ignored_fields, max_record_bytes, clip=out_of_range == "clip"
            )
            if native and NATIVE_AVAILABLE
            else None
        )
        self._required_in_order = [spec.name for spec in schema.features if not spec.nullable]
        self._numeric = {
            spec.name: NumericCheck(
                name=spec.name,
                accepted_types=BOOL_TYPES if spec.dtype == "bool" else NUMBER_TYPES,
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
        if self._native is not None:
            decoded = self._native.decode(payloads, ingest_time_ms)
            if decoded is not None:
                return self._completed(decoded, payloads, ingest_time_ms)
        return self._validate_in_python(payloads, ingest_time_ms)

    def _completed(
        self, native: NativeColumns, payloads: Sequence[bytes], ingest_time_ms: Sequence[int]
    ) -> ValidatedBatch:
        """The compiled decoder's batch, with what it refused validated in Python and put
        back in input order."""
        refused = native.refused
        if not refused:
            return self._batch(
                native.ids,
                native.event_time_ms,
                native.columns,
                native.positions,
                [],
                native.event_time_text,
            )
        rest = self._validate_in_python(
            [payloads[position] for position in refused],
            [ingest_time_ms[position] for position in refused],
        )
        rejections = [(refused[at], rejection) for at, rejection in rest.rejections]
        if not rest.ids:
            columns, ids, positions = native.columns, native.ids, native.positions
            times, text = native.event_time_ms, native.event_time_text
        else:
            positions = native.positions + [refused[at] for at in rest.positions]
            order = np.argsort(np.asarray(positions), kind="stable")
            rows = order.tolist()
            positions = [positions[row] for row in rows]
            both_ids = native.ids + rest.ids
            ids = [both_ids[row] for row in rows]
            times = np.concatenate([native.event_time_ms, rest.event_time_ms])[order]
            columns = {
                name: np.concatenate([values, rest.frame[name].to_numpy()])[order]
                for name, values in native.columns.items()
            }
            text = None
            if native.event_time_text is not None and rest.event_time_text is not None:
                both = native.event_time_text + rest.event_time_text
                text = [both[row] for row in rows]
        return self._batch(ids, times, columns, positions, rejections, text)

    def _batch(
        self,
        ids: list[str],
        times: npt.NDArray[np.int64],
        columns: dict[str, npt.NDArray[Any]],
        positions: list[int],
        rejections: list[tuple[int, Rejection]],
        text: list[str] | None,
    ) -> ValidatedBatch:
        """The batch of the checked columns; the model's frame holds them without a copy."""
        frame = pd.DataFrame(
            {
                name: pd.Series(values, dtype=values.dtype, copy=False)
                for name, values in columns.items()
            },
            columns=self.schema.names,
        )
        return ValidatedBatch(
            ids=ids,
            event_time_ms=times,
            frame=frame,
            positions=positions,
            rejections=rejections,
            event_time_text=text,
        )

    def _validate_in_python(
        self, payloads: Sequence[bytes], ingest_time_ms: Sequence[int]
    ) -> ValidatedBatch:
        """``validate_batch`` without the compiled decoder: msgspec, then orjson."""
        starts = range(0, len(payloads), _CHUNK)
        typed = [self._typed.decode(payloads[start : start + _CHUNK]) for start in starts]
        general: dict[int, _Decoded] = {}  # chunk -> what the general path made of it
        checked = self._check(payloads, ingest_time_ms, typed, general)
        while checked.batch is None:
            # A value the typed path decoded is refused by the column checks: the general
            # path decodes those chunks again, so that its rejection's words are the same
            # whichever path decoded it first (msgspec reads 5 as 5.0, orjson as 5). Each
            # round leaves fewer typed chunks, so this ends.
            for chunk in checked.refused_typed_chunks:
                typed[chunk] = None
            checked = self._check(payloads, ingest_time_ms, typed, general)
        return checked.batch

    def _check(
        self,
        payloads: Sequence[bytes],
        ingest_time_ms: Sequence[int],
        typed: list[dict[str, list[Any]] | None],
        general: dict[int, _Decoded],
    ) -> _Checked:
        """Decode each chunk (typed if ``typed`` has its columns, else in general, kept in
        ``general`` for another round), then check the batch's columns in one go."""
        ids: list[str] = []
        positions: list[int] = []
        rejections: list[tuple[int, Rejection]] = []
        failed: dict[int, list[Violation]] = {}
        fields: dict[str, list[Any]] = {name: [] for name in self._fields}
        typed_spans: list[tuple[int, int, int]] = []  # chunk, its first and end record
        for chunk, start in enumerate(range(0, len(payloads), _CHUNK)):
            first = len(ids)
            decoded = typed[chunk]
            if decoded is not None:
                ids += decoded[ID_COLUMN]
                positions.extend(range(start, start + len(decoded[ID_COLUMN])))
                typed_spans.append((chunk, first, len(ids)))
            else:
                if chunk not in general:
                    general[chunk] = self._decode(payloads[start : start + _CHUNK])
                records, chunk_ids, chunk_positions, chunk_rejections, chunk_failed = general[chunk]
                # The column checks add to a record's violations: a copy for each round.
                chunk_failed = {index: list(found) for index, found in chunk_failed.items()}
                ids += chunk_ids
                positions += [start + position for position in chunk_positions]
                rejections += [(start + at, rejection) for at, rejection in chunk_rejections]
                failed.update((first + index, found) for index, found in chunk_failed.items())
                decoded = columns_of(records, self._fields)
            for name in self._fields:
                fields[name] += decoded[name]
        columns: dict[str, npt.NDArray[Any]] = {}
        for spec in self.schema.features:
            values = fields[spec.name]
            if spec.kind == "numeric":
                check = self._numeric[spec.name]
                columns[spec.name] = numeric_column(check, values, failed, self.out_of_range)
            else:
                columns[spec.name] = categorical_column(spec.name, spec.nullable, values, failed)
        times, as_written = event_times(
            fields[EVENT_TIME_COLUMN], positions, ingest_time_ms, failed
        )
        text: list[str] | None = fields[EVENT_TIME_COLUMN] if as_written else None
        refused_typed = [
            chunk
            for chunk, low, high in typed_spans
            if any(low <= index < high for index in failed)
        ]
        if refused_typed:
            return _Checked(None, refused_typed)

        if failed:
            keep = np.ones(len(ids), dtype=bool)
            keep[list(failed)] = False
            rejections.extend(
                (positions[index], _rejection(payloads[positions[index]], ids[index], found))
                for index, found in failed.items()
            )
            rejections.sort(key=lambda item: item[0])
            ids = list(compress(ids, keep))
            positions = list(compress(positions, keep))
            times = times[keep]
            if text is not None:
                text = list(compress(text, keep))
            columns = {name: values[keep] for name, values in columns.items()}
        return _Checked(self._batch(ids, times, columns, positions, rejections, text), [])

    # -- per-record pass -------------------------------------------------------------

    def _decode(self, payloads: Sequence[bytes]) -> _Decoded:
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
                message = f"a record must be a JSON object, got {json_type(record)}"
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
            found.append(Violation("missing_id", ID_COLUMN, id_problem(record_id)))
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
