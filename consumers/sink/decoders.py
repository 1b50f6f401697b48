"""Which decoder of the contract each of the sink's topics gets.

A decoder gets a message's value and its Kafka timestamp (epoch ms; -1 or 0 when the
producer set none); only the labels decoder uses the timestamp (a label's version).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from scorestream.contract import (
    CHALLENGER_SCORES,
    LABELS,
    REJECTED_RECORDS,
    SCORES,
    Row,
    TableSpec,
    decode_drift_rows,
    decode_label_row,
    decode_rejection_row,
    decode_score_row,
)
from scorestream.settings import Settings

#: A message value -> the table its rows go to, and the rows.
Decoded = tuple[TableSpec, list[Row]]
Decoder = Callable[[bytes | None, int], Decoded]


def decode_score(value: bytes | None, timestamp_ms: int = -1) -> Decoded:
    """A ``scores`` message -> one ``scores`` row."""
    return SCORES, [decode_score_row(value)]


def decode_challenger_score(value: bytes | None, timestamp_ms: int = -1) -> Decoded:
    """A ``scores.challenger`` message -> one ``challenger_scores`` row (same columns)."""
    return CHALLENGER_SCORES, [decode_score_row(value)]


def decode_rejected(value: bytes | None, timestamp_ms: int = -1) -> Decoded:
    """A ``records.rejected`` message -> one ``rejected_records`` row."""
    return REJECTED_RECORDS, [decode_rejection_row(value)]


def decode_drift(value: bytes | None, timestamp_ms: int = -1) -> Decoded:
    """A ``drift.stats`` message -> its ``drift_stats`` or ``drift_events`` rows."""
    return decode_drift_rows(value)


def decode_label(value: bytes | None, timestamp_ms: int = -1) -> Decoded:
    """A ``labels`` message -> one ``labels`` row, versioned by its Kafka timestamp.

    A message without a timestamp (an old client's -1) is versioned by the time the sink
    reads it: a replay of it then replaces it with the same content.
    """
    received_ms = timestamp_ms if timestamp_ms > 0 else int(time.time() * 1000)
    return LABELS, [decode_label_row(value, received_ms)]


def topic_decoders(settings: Settings) -> dict[str, Decoder]:
    """The sink's topics and how each is decoded."""
    topics = settings.topics
    return {
        topics.scores: decode_score,
        topics.challenger_scores: decode_challenger_score,
        topics.rejected: decode_rejected,
        topics.drift_stats: decode_drift,
        topics.labels: decode_label,
    }
