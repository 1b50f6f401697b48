"""The ``scores`` messages of a batch written by the compiled extension, byte for byte msgspec's.

:func:`~scorestream.contract.scores.encode_scores` builds a msgspec ``Struct`` per row and
encodes them all; ``scorestream_native.encode_scores`` (``native/src/scores.rs``) writes the
same bytes from the batch's columns with no Python object per row but the message. The JSON
between the per-row values (the keys, and the fields every row shares) is written here by
msgspec from :class:`~scorestream.contract.scores.ScoreMessage`'s fields, so the message's
shape stays defined once. ``tests/streams/test_native_scores.py`` holds every byte equal to
``encode_scores`` over arbitrary ids, floats and labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from scorestream.contract.scores import ScoreMessage
from scorestream.streams.native_columns import scorestream_native

#: Whether the compiled extension is installed.
AVAILABLE = scorestream_native is not None

#: The fields that differ from row to row, in the order the extension writes them.
ROW_FIELDS = (
    "id",
    "event_time",
    "event_time_ms",
    "score",
    "label",
    "latency_ms",
    "partition",
    "offset",
    "class_probabilities",
)
_SHARED = [f.name for f in fields(ScoreMessage) if f.name not in ROW_FIELDS]
if [f.name for f in fields(ScoreMessage) if f.name in ROW_FIELDS] != list(ROW_FIELDS):
    raise ImportError("ScoreMessage's per-row fields are not in the order the extension writes")


def segments(shared: dict[str, Any]) -> list[bytes]:
    """The JSON before each per-row value of a message, and after the last one.

    >>> pieces = segments(dict(scored_at_ms=1, model_name="m", model_version="v",
    ...     model_kind="binary", class_labels=[], role="champion"))
    >>> pieces[:3]
    [b'{"id":', b',"event_time":', b',"event_time_ms":']
    >>> pieces[3]
    b',"scored_at_ms":1,"model_name":"m","model_version":"v","score":'
    >>> pieces[-1]
    b',"role":"champion"}'
    """
    if sorted(shared) != sorted(_SHARED):
        raise ValueError(f"the shared fields are {_SHARED}, got {sorted(shared)}")
    pieces: list[bytes] = []
    current = b"{"
    for index, field in enumerate(fields(ScoreMessage)):
        key = (b"," if index else b"") + msgspec.json.encode(field.name) + b":"
        if field.name in shared:
            current += key + msgspec.json.encode(shared[field.name])
        else:
            pieces.append(current + key)
            current = b""
    pieces.append(current + b"}")
    return pieces


def encode_score_values(
    ids: Sequence[str],
    event_times: Sequence[str],
    event_ms: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float64],
    labels: list[Any],
    latencies: npt.NDArray[np.int64],
    partitions: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    probabilities: npt.NDArray[np.float64] | None,
    **shared: Any,
) -> list[bytes] | None:
    """The message values of a batch, or None if a label is of a type the extension does
    not write (then :func:`~scorestream.contract.scores.encode_scores` must)."""
    if scorestream_native is None:
        raise RuntimeError("the scorestream_native extension is not installed")
    width = 0 if probabilities is None else probabilities.shape[1]
    raw_probabilities = (
        b"" if probabilities is None else np.ascontiguousarray(probabilities, np.float64).tobytes()
    )
    return scorestream_native.encode_scores(
        segments(shared),
        ids if type(ids) is list else list(ids),
        event_times if type(event_times) is list else list(event_times),
        np.ascontiguousarray(event_ms, np.int64).tobytes(),
        np.ascontiguousarray(scores, np.float64).tobytes(),
        labels,
        np.ascontiguousarray(latencies, np.int64).tobytes(),
        np.ascontiguousarray(partitions, np.int64).tobytes(),
        np.ascontiguousarray(offsets, np.int64).tobytes(),
        raw_probabilities,
        width,
    )
