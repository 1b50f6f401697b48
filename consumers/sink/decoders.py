"""Which decoder of the contract each of the sink's topics gets."""

from __future__ import annotations

from collections.abc import Callable

from scorestream.contract import (
    CHALLENGER_SCORES,
    REJECTED_RECORDS,
    SCORES,
    Row,
    TableSpec,
    decode_drift_rows,
    decode_rejection_row,
    decode_score_row,
)
from scorestream.settings import Settings

#: A message value -> the table its rows go to, and the rows.
Decoded = tuple[TableSpec, list[Row]]
Decoder = Callable[[bytes | None], Decoded]


def decode_score(value: bytes | None) -> Decoded:
    """A ``scores`` message -> one ``scores`` row."""
    return SCORES, [decode_score_row(value)]


def decode_challenger_score(value: bytes | None) -> Decoded:
    """A ``scores.challenger`` message -> one ``challenger_scores`` row (same columns)."""
    return CHALLENGER_SCORES, [decode_score_row(value)]


def decode_rejected(value: bytes | None) -> Decoded:
    """A ``records.rejected`` message -> one ``rejected_records`` row."""
    return REJECTED_RECORDS, [decode_rejection_row(value)]


def topic_decoders(settings: Settings) -> dict[str, Decoder]:
    """The sink's topics and how each is decoded."""
    topics = settings.topics
    return {
        topics.scores: decode_score,
        topics.challenger_scores: decode_challenger_score,
        topics.rejected: decode_rejected,
        topics.drift_stats: decode_drift_rows,
    }
