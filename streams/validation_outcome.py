"""What validation gives back: the outcome of a batch, a record's rejection, and the words.

Everything a client reads about a refused record is shaped here: :class:`Violation` and
:class:`Rejection` (what the worker writes to ``records.rejected`` and the bridge answers),
:class:`ValidatedBatch`, and the helpers that describe a JSON value in a message. The checks
themselves are in :mod:`.validation` (records) and :mod:`.field_checks` (fields).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from scorestream.contract.codec import json_type as _json_type
from scorestream.contract.rejections import RejectionReason


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
    event_time_text : list of str or None
        Each valid record's ``event_time`` as it came, when every record of the batch wrote
        it as ``2026-05-01T00:00:00.000Z``: the text of ``event_time_ms`` that the ``scores``
        messages carry, so nobody formats it again. None otherwise.
    """

    ids: list[str]
    event_time_ms: npt.NDArray[np.int64]
    frame: pd.DataFrame
    positions: list[int]
    rejections: list[tuple[int, Rejection]]
    event_time_text: list[str] | None = None

    def __len__(self) -> int:
        return len(self.ids)


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


def _bound(value: float | None) -> str:
    return "unbounded" if value is None else f"{value:g}"
