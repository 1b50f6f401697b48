"""The ``labels`` message: the true outcome of a scored record, sent whenever it is known.

Labels arrive late (days after the score) and out of order, from ``scorestream produce
--labels``, from ``POST /v1/labels`` on the bridge, or from any Kafka client as plain JSON:

.. code-block:: json

    {"id": "007", "label": 1, "label_time": "2024-05-03T09:00:00Z",
     "model_name": "cancer", "model_version": "3f2a..."}

``id`` (string) and ``label`` are required; ``label_time`` (ISO-8601, naive means UTC, or
epoch milliseconds) defaults to when the label reached Kafka; ``model_name`` and
``model_version`` are optional notes (a label is the truth about a record, whichever model
scored it). Unknown members are ignored, so that a newer producer does not get every label
refused by an older sink.

How a label is stored (table :data:`~.tables.LABELS`)
------------------------------------------------------
``label`` keeps the label as text by the rule ``scores.label`` uses for predicted classes
(Python's ``str`` of the JSON value: ``1`` -> ``"1"``, ``true`` -> ``"True"``, ``"yes"`` ->
``"yes"``), so that a label and a prediction of the same class compare equal. ``value`` is
the label as a number, for regression: a JSON number as it is, ``true``/``false`` as 1/0, a
string that is a plain decimal number (``"3.5"``) as that number, and NaN for any other
string (a class name).

One row per id: the table is a ``ReplacingMergeTree`` whose version is ``received_at_ms``,
the label message's Kafka timestamp (when the producer sent it, or the broker appended it).
So "later" means *sent later*, not "later ``label_time``": a correction sent after a wrong
label replaces it even when both carry the same ``label_time``, and a replay of the same
message (same timestamp) replaces itself. Read with ``FINAL`` (or ``argMax(..., received_at_ms)``).

Refusals
--------
The decoder refuses what cannot be a label, with a reason that lands in
``rejected_records``: ``invalid_json``, ``not_an_object``, ``missing_id`` (absent, null,
empty, not a string, or longer than :data:`MAX_ID_LENGTH`), ``missing_field`` (no
``label``), ``wrong_type`` (a label that is not a string, number or boolean, an empty or
too long label, a model name that is not a string), ``not_finite`` and
``invalid_label_time`` (unparseable, or outside what ``DateTime`` stores). Whether a label
fits the model that scored its record, or any record was scored at all, is judged later by
the daily labels check (``scorestream.consumers.labels.check``), because a label may well
arrive before its score.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import orjson

from scorestream.contract.codec import MAX_ID_LENGTH, Row, id_problem
from scorestream.contract.codec import json_type as _json_type
from scorestream.contract.times import MAX_STORABLE_MS, MIN_STORABLE_MS, storable_epoch_ms
from scorestream.exceptions import DecodeError

#: The longest id and label text accepted (as the worker's ids).
MAX_LABEL_LENGTH = 256
#: ``label_time`` must be storable in ``DateTime``: [MIN, MAX) in epoch milliseconds.
MIN_LABEL_TIME_MS = MIN_STORABLE_MS
MAX_LABEL_TIME_MS = MAX_STORABLE_MS

#: The machine-readable reasons the decoder gives (``DecodeError.reason``).
LabelReason = Literal[
    "invalid_json",
    "not_an_object",
    "missing_id",
    "missing_field",
    "wrong_type",
    "not_finite",
    "invalid_label_time",
]
LABEL_REASONS: tuple[LabelReason, ...] = get_args(LabelReason)

# A decimal number as JSON writes one: "3.5" is a value, " 3.5", "1_000", "nan" are names.
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")


@dataclass(slots=True)
class LabelMessage:
    """One true label (topic ``labels``, table ``labels``)."""

    id: str = field(metadata={"description": "The id of the scored record (a string)"})
    label: str | int | float | bool = field(
        metadata={
            "description": "The true class (classifiers) or value (regression): a JSON "
            "string, number or boolean"
        }
    )
    label_time: str | int | None = field(
        default=None,
        metadata={
            "description": "When the outcome was known: ISO-8601 (naive means UTC) or "
            "epoch milliseconds; default: when the label reached Kafka"
        },
    )
    model_name: str | None = field(
        default=None, metadata={"description": "Optional: the model the label is meant for"}
    )
    model_version: str | None = field(
        default=None, metadata={"description": "Optional: the version the label is meant for"}
    )

    def encode(self) -> bytes:
        """The message value; absent optional members are left out."""
        return orjson.dumps({k: v for k, v in _items(self) if v is not None})


def _items(message: LabelMessage) -> list[tuple[str, Any]]:
    return [
        ("id", message.id),
        ("label", message.label),
        ("label_time", message.label_time),
        ("model_name", message.model_name),
        ("model_version", message.model_version),
    ]


def label_text(label: Any) -> str:
    """The stored text of a label: the rule ``scores.label`` uses (``str`` of the value).

    >>> label_text(1), label_text(True), label_text("yes"), label_text(0.5)
    ('1', 'True', 'yes', '0.5')
    """
    return str(label)


def label_value(label: Any) -> float:
    """The stored number of a label: NaN for a string that is not a plain decimal number.

    >>> label_value(2), label_value(False), label_value("3.5"), label_value("cat")
    (2.0, 0.0, 3.5, nan)
    """
    if type(label) is str:
        if _DECIMAL.match(label):
            number = float(label)
            return number if math.isfinite(number) else math.nan
        return math.nan
    return float(label)


#: Epoch milliseconds of a ``label_time`` value (the same rule as a record's ``event_time``).
label_time_ms = storable_epoch_ms


def decode_label_row(value: bytes | None, received_at_ms: int) -> Row:
    """A ``labels`` message value and its Kafka timestamp -> its row of :data:`~.tables.LABELS`.

    ``received_at_ms`` is the version of the row (a label sent later replaces an earlier
    one); it is clamped into what ``DateTime`` stores, so that no timestamp a producer sets
    makes the label unstorable.

    Raises
    ------
    DecodeError
        With ``reason`` one of :data:`LABEL_REASONS` and ``field`` the culprit; never
        anything else, whatever the bytes.

    >>> decode_label_row(b'{"id": "007", "label": 1}', 1714564800000)
    ('007', '1', 1.0, 1714564800, 1714564800000, 1714564800, 1714564800000, '', '')
    """
    if not value:
        raise DecodeError("empty message", reason="invalid_json")
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"invalid JSON: {exc}"[:300], reason="invalid_json") from None
    if type(doc) is not dict:
        raise DecodeError(
            f"expected a JSON object, got {type(doc).__name__}", reason="not_an_object"
        )
    record_id = doc.get("id")
    if type(record_id) is not str or not record_id or len(record_id) > MAX_ID_LENGTH:
        raise DecodeError(id_problem(record_id, "label"), "id", "missing_id")
    label = doc.get("label")
    if label is None:
        raise DecodeError(
            "the label has no value (label missing or null)", "label", "missing_field"
        )
    kind = type(label)
    if kind is str:
        if not label or len(label) > MAX_LABEL_LENGTH:
            raise DecodeError(
                f"label must be 1 to {MAX_LABEL_LENGTH} characters, got {len(label)}",
                "label",
                "wrong_type",
            )
    elif kind is float:
        if not math.isfinite(label):
            raise DecodeError(f"label must be finite, got {label}", "label", "not_finite")
    elif kind is not int and kind is not bool:
        raise DecodeError(
            f"label must be a string, number or boolean, got {_json_type(label)}",
            "label",
            "wrong_type",
        )
    received_ms = min(max(int(received_at_ms), MIN_LABEL_TIME_MS), MAX_LABEL_TIME_MS - 1)
    raw_time = doc.get("label_time")
    if raw_time is None:
        time_ms = received_ms
    else:
        parsed = label_time_ms(raw_time)
        if parsed is None:
            raise DecodeError(
                f"label_time must be ISO-8601 or epoch milliseconds between 1970 and 2106, "
                f"got {str(raw_time)[:64]!r}",
                "label_time",
                "invalid_label_time",
            )
        time_ms = parsed
    model_name = _optional_text(doc, "model_name")
    model_version = _optional_text(doc, "model_version")
    try:
        number = label_value(label)
    except OverflowError:  # an integer beyond a float's range (orjson caps at 64 bits)
        raise DecodeError("label is too large a number", "label", "not_finite") from None
    return (
        record_id,
        label_text(label),
        number,
        time_ms // 1000,
        time_ms,
        received_ms // 1000,
        received_ms,
        model_name,
        model_version,
    )


def _optional_text(doc: dict[str, Any], name: str) -> str:
    value = doc.get(name)
    if value is None:
        return ""
    if type(value) is not str or len(value) > MAX_ID_LENGTH:
        raise DecodeError(
            f"{name} must be a string of at most {MAX_ID_LENGTH} characters, "
            f"got {_json_type(value)}",
            name,
            "wrong_type",
        )
    return value
