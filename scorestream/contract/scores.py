"""The ``scores`` message: what the worker computed for one record, keyed by its id.

The same message goes to ``scores.challenger`` for a challenger model (``role``
``"challenger"``), whose rows land in ``challenger_scores`` instead of ``scores``.

What ``score`` and ``label`` hold depends on ``model_kind``:

============== ============================== ========================== ======================
model_kind     score                          label                      class_*
============== ============================== ========================== ======================
``binary``     positive-class probability     predicted class (text)     empty
``multiclass`` probability of the top class   predicted class (text)     every class, in order
``regression`` the predicted value            ``""``                     empty
============== ============================== ========================== ======================
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from itertools import repeat, starmap
from typing import Any, NamedTuple

import msgspec
import orjson

from scorestream.contract.codec import Row, field_error
from scorestream.exceptions import DecodeError


# Not frozen: a frozen dataclass's __init__ costs several times more, once per record.
@dataclass(slots=True)
class ScoreMessage:
    """One scored record (topic ``scores``, table ``scores``)."""

    id: str
    #: ISO-8601 UTC with milliseconds and a ``Z``.
    event_time: str
    event_time_ms: int
    scored_at_ms: int
    model_name: str
    model_version: str
    score: float = field(
        metadata={
            "description": "binary: positive-class probability; multiclass: top-class "
            "probability; regression: the predicted value"
        }
    )
    label: Any = field(
        metadata={"description": "Predicted class (stored as text); empty for regression"}
    )
    latency_ms: int = field(metadata={"description": "From the input's Kafka timestamp"})
    partition: int = field(metadata={"description": "Partition of records the input was read from"})
    offset: int = field(metadata={"description": "Offset of the input in that partition"})
    model_kind: str = field(
        default="binary", metadata={"description": "binary, multiclass or regression"}
    )
    class_labels: list[str] = field(
        default_factory=list, metadata={"description": "multiclass: every class, as text"}
    )
    class_probabilities: list[float] = field(
        default_factory=list,
        metadata={"description": "multiclass: probability of each of class_labels"},
    )
    role: str = field(
        default="champion",
        metadata={"description": "champion (topic scores) or challenger (scores.challenger)"},
    )

    def encode(self) -> bytes:
        """The message value: its fields in order, as JSON."""
        return _ENCODE(self)


# msgspec, not orjson, writes scores: from a Struct built in C from positional values it is
# about 4x faster than orjson from a dict (the "encode" row of bench/bench_batch.py: 12.0
# against 2.9 µs per record), and the worker encodes one per record. Both writers go through
# the one encoder, so a message's bytes do not depend on which of them wrote it (floats are
# formatted by it alone).
_ENCODER = msgspec.json.Encoder()
_ENCODE, _ENCODE_LINES = _ENCODER.encode, _ENCODER.encode_lines
#: The message's fields in the message's order, untyped: only ever encoded, never decoded.
#: Untracked by the garbage collector (``gc=False``): it lives for one ``encode_lines`` call
#: and holds values and lists of values, never a reference back to itself.
_ScoreValue = msgspec.defstruct(
    "ScoreValue", [(f.name, Any) for f in fields(ScoreMessage)], gc=False
)


class ScoreColumns(NamedTuple):
    """The fields of :func:`encode_scores`' messages that differ from row to row, by column.

    ``id`` gives the number of rows; the other columns may be any iterables of that length
    (``map`` objects: no list built only to be read once)."""

    id: Sequence[str]
    event_time: Iterable[str]
    event_time_ms: Iterable[int]
    score: Iterable[float]
    label: Iterable[Any]
    latency_ms: Iterable[int]
    partition: Iterable[int]
    offset: Iterable[int]
    class_probabilities: Iterable[list[float]]


def encode_scores(
    columns: ScoreColumns,
    *,
    scored_at_ms: int,
    model_name: str,
    model_version: str,
    model_kind: str,
    class_labels: list[str],
    role: str,
) -> list[bytes]:
    """Message values of many scores of one model at once: the bytes of ``encode()``.

    Each column holds one field of every row (all of one length); the other fields are the
    same in every row. Built without a line of Python per row: a Struct per row from
    positional values (``starmap``), all of them written by one ``encode_lines`` call and
    split at the newlines, which JSON escapes inside strings, so the only raw ones are the
    separators. A test holds the bytes equal to :meth:`ScoreMessage.encode`.

    >>> columns = ScoreColumns(["a"], ["2024-05-01T12:00:00.000Z"], [1714564800000], [0.25],
    ...                        ["1"], [3], [2], [7], [[]])
    >>> shared = dict(scored_at_ms=1714564801500, model_name="m", model_version="v1",
    ...               model_kind="binary", class_labels=[], role="champion")
    >>> encode_scores(columns, **shared) == [ScoreMessage("a", "2024-05-01T12:00:00.000Z",
    ...     1714564800000, 1714564801500, "m", "v1", 0.25, "1", 3, 2, 7).encode()]
    True
    """
    rows = len(columns.id)
    values = starmap(
        _ScoreValue,
        zip(
            columns.id,
            columns.event_time,
            columns.event_time_ms,
            repeat(scored_at_ms, rows),
            repeat(model_name, rows),
            repeat(model_version, rows),
            columns.score,
            columns.label,
            columns.latency_ms,
            columns.partition,
            columns.offset,
            repeat(model_kind, rows),
            repeat(class_labels, rows),
            columns.class_probabilities,
            repeat(role, rows),
            strict=True,
        ),
    )
    return _ENCODE_LINES(list(values)).split(b"\n")[:-1]


def decode_score_row(value: bytes | None) -> Row:
    """A ``scores`` message value -> its row of :data:`~.tables.SCORES`.

    Written out flat (no helper calls): it runs once per scored record.

    >>> message = ScoreMessage("a", "2024-05-01T12:00:00.000Z", 1714564800000,
    ...     1714564801500, "m", "v1", 0.25, 1, 3, 2, 7)
    >>> decode_score_row(message.encode())  # doctest: +NORMALIZE_WHITESPACE
    ('a', 1714564800, 1714564800000, 1714564801, 1714564801500, 'm', 'v1', 0.25, '1', 3, 2, 7,
     'binary', [], [])
    """
    if value is None:
        raise DecodeError("empty message (null value)")
    try:
        doc = orjson.loads(value)
        if type(doc) is not dict:
            raise DecodeError(f"expected a JSON object, got {type(doc).__name__}")
        record_id = doc["id"]
        if type(record_id) is not str:
            raise DecodeError(f"id must be a string, got {type(record_id).__name__}", "id")
        event_ms = int(doc["event_time_ms"])
        scored_ms = int(doc["scored_at_ms"])
        # DateTime columns take epoch seconds as ints: no datetime objects on the hot path.
        return (
            record_id,
            event_ms // 1000,
            event_ms,
            scored_ms // 1000,
            scored_ms,
            str(doc["model_name"]),
            str(doc["model_version"]),
            float(doc["score"]),
            str(doc["label"]),
            int(doc["latency_ms"]),
            int(doc["partition"]),
            int(doc["offset"]),
            # Messages written before model kinds existed were binary.
            str(doc.get("model_kind", "binary")),
            [str(c) for c in doc.get("class_labels", ())],
            [float(p) for p in doc.get("class_probabilities", ())],
        )
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"invalid JSON: {exc}" if value else "empty message") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise field_error(exc) from None
