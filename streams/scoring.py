"""Turn a batch of raw ``records`` messages into ``scores`` and ``records.rejected`` messages.

No Kafka here: :class:`BatchScorer` is the whole per-batch computation of the worker, so the
agent only moves bytes and the computation can be tested and benchmarked on its own.

Every input gives exactly one output, a score or a rejection, and :meth:`BatchScorer.score`
never raises: a batch whose handling raises is bisected until the records that raise are
alone, and each of those becomes its own ``internal_error`` rejection. An exception would
otherwise leave the batch uncommitted, and a restarted worker would meet the same record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import attrgetter
from typing import Any, NamedTuple, Protocol

import numpy as np
import pandas as pd

from scorestream.contract import RejectionMessage
from scorestream.contract.scores import ScoreColumns, encode_scores
from scorestream.contract.tables import UINT32_MAX
from scorestream.streams.model.registry import LoadedModel, Predictions
from scorestream.streams.native_scores import AVAILABLE as NATIVE_SCORES
from scorestream.streams.native_scores import encode_score_values
from scorestream.streams.recent_ids import RecentIds
from scorestream.streams.validation import RecordValidator, Rejection

log = logging.getLogger(__name__)

# Read in C by map(): a comprehension's attribute access per record cost µs per batch row.
_VALUE = attrgetter("value")
_TIMESTAMP = attrgetter("timestamp")
_PARTITION = attrgetter("partition")
_OFFSET = attrgetter("offset")


class InputRecord(Protocol):
    """What the scorer reads of one consumed ``records`` message.

    aiokafka's ``ConsumerRecord`` has exactly these attributes, so the agent engine scores
    the records it polled as they are: wrapping each in another object cost about as much
    as decoding it (README, *Benchmarks*: the per-stage table).
    """

    @property
    def value(self) -> bytes | None: ...
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int:
        """The Kafka timestamp, epoch milliseconds."""
        ...


class RawRecord(NamedTuple):
    """An :class:`InputRecord` built by hand (the faust engine, tests)."""

    value: bytes | None
    topic: str
    partition: int
    offset: int
    #: The Kafka timestamp, epoch milliseconds.
    timestamp: int


class OutputMessage(NamedTuple):
    """A message to produce: key (the record id) and JSON value (one per record: a tuple)."""

    key: bytes
    value: bytes


@dataclass
class ScoredBatch:
    """What one batch produced; ``frame`` and friends feed drift statistics and challengers.

    ``frame``, ``event_time_ms``, ``score_values``, ``ids`` and ``sources`` are aligned row
    for row: the scored records only (``sources[i]`` is the input of row ``i``).
    """

    scores: list[OutputMessage] = field(default_factory=list)
    rejected: list[OutputMessage] = field(default_factory=list)
    #: The reason of each of ``rejected``, in the same order (the worker's metrics).
    rejection_reasons: list[str] = field(default_factory=list)
    frame: pd.DataFrame | None = None
    event_time_ms: np.ndarray | None = None
    score_values: np.ndarray | None = None
    ids: list[str] = field(default_factory=list)
    sources: list[InputRecord] = field(default_factory=list)
    #: The input partition of each scored row (``sources[i].partition``).
    partitions: list[int] = field(default_factory=list)
    #: Predicted class of each scored row (``_predicted_class`` of multi-class models).
    label_values: np.ndarray | None = None
    #: True for each row that is a client's re-send of a record already scored (the same id
    #: and bytes at another offset): scored again so its sender gets the score, but not
    #: counted again in drift statistics. None when the batch has none (the usual case).
    resent: np.ndarray | None = None


def rejection_message(record: InputRecord, rejection: Rejection, now_ms: int) -> OutputMessage:
    """The ``records.rejected`` message: reason, field, and the original bytes, exactly."""
    trace_id = rejection.id or f"kafka:{record.topic}:{record.partition}:{record.offset}"
    message = RejectionMessage.of(
        id=trace_id,
        reason=rejection.reason,
        field=rejection.field,
        message=rejection.message,
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        ingested_at_ms=record.timestamp,
        rejected_at_ms=now_ms,
        payload=record.value or b"",
    )
    return OutputMessage(key=trace_id.encode(), value=message.encode())


class BatchScorer:
    """Validate a batch, score its valid part with one ``predict_proba``, build outputs."""

    def __init__(
        self, model: LoadedModel, validator: RecordValidator, recent_ids: RecentIds | None = None
    ) -> None:
        self.model = model
        self.validator = validator
        self.recent_ids = recent_ids if recent_ids is not None else RecentIds()

    def score(self, records: Sequence[InputRecord]) -> ScoredBatch:
        """One score or one rejection per record, in no particular order; never raises."""
        try:
            return self._score(records)
        except Exception as error:  # a bug met by some record: isolate it, keep the rest
            if len(records) == 1:
                return self._internal_error(records[0], error)
            # Halves are scored again from scratch; ids the failed attempt noted in
            # recent_ids come back at the same offsets, which is a replay, not a duplicate.
            middle = len(records) // 2
            return _merged(self.score(records[:middle]), self.score(records[middle:]))

    def _internal_error(self, record: InputRecord, error: Exception) -> ScoredBatch:
        try:
            detail = str(error)[:500]
        except Exception:  # str() of a broken exception can raise too
            detail = ""
        name = type(error).__name__
        log.error(
            "record %s[%d]@%d refused as internal_error: %s",
            record.topic,
            record.partition,
            record.offset,
            name,
            exc_info=error,
        )
        rejection = Rejection(
            id=None,
            reason="internal_error",
            field=None,
            message=f"{name}: {detail}" if detail else name,
            payload=record.value or b"",
        )
        now_ms = int(time.time() * 1000)
        return ScoredBatch(
            rejected=[rejection_message(record, rejection, now_ms)],
            rejection_reasons=[rejection.reason],
        )

    def _score(self, records: Sequence[InputRecord]) -> ScoredBatch:
        now_ms = int(time.time() * 1000)
        payloads = list(map(_VALUE, records))
        if None in payloads:
            payloads = [payload if payload is not None else b"" for payload in payloads]
        validated = self.validator.validate_batch(payloads, list(map(_TIMESTAMP, records)))
        out = ScoredBatch()
        for position, rejection in validated.rejections:
            out.rejected.append(rejection_message(records[position], rejection, now_ms))
            out.rejection_reasons.append(rejection.reason)

        ids = validated.ids
        sources = _gather(records, validated.positions)
        partitions = list(map(_PARTITION, sources))
        duplicates, resent = self.recent_ids.classify_batch(
            ids,
            partitions,
            list(map(_OFFSET, sources)),
            [payloads[position] for position in validated.positions],
        )
        for row in duplicates:
            position = validated.positions[row]
            duplicate = Rejection(
                id=ids[row],
                reason="duplicate_id",
                field="id",
                message="this id was already seen at another offset with other content",
                payload=payloads[position],
            )
            out.rejected.append(rejection_message(records[position], duplicate, now_ms))
            out.rejection_reasons.append(duplicate.reason)
        if len(duplicates) == len(ids):
            return out

        frame = validated.frame
        event_ms = np.asarray(validated.event_time_ms, dtype=np.int64)
        event_text = validated.event_time_text
        if resent:
            flags = np.zeros(len(ids), dtype=bool)
            flags[resent] = True
        if duplicates:
            keep = np.ones(len(ids), dtype=bool)
            keep[duplicates] = False
            rows = np.flatnonzero(keep)
            frame = frame.iloc[rows].reset_index(drop=True)
            event_ms = event_ms[rows]
            kept = keep.tolist()
            ids = list(compress(ids, kept))
            sources = list(compress(sources, kept))
            partitions = list(compress(partitions, kept))
            if event_text is not None:
                event_text = list(compress(event_text, kept))
            if resent:
                flags = flags[rows]
        # The validator's own frame, for this model's schema: no checks needed.
        predictions = self.model.predict(frame, validated=True)
        out.scores = score_messages(
            self.model,
            predictions,
            ids,
            sources,
            event_ms,
            event_time_text=event_text,
            partitions=partitions,
        )
        out.frame = frame
        out.event_time_ms = event_ms
        out.score_values = predictions.scores
        out.label_values = predictions.labels
        out.ids = ids
        out.sources = sources
        out.partitions = partitions
        if resent:
            out.resent = flags
        return out


def score_messages(
    model: LoadedModel,
    predictions: Predictions,
    ids: Sequence[str],
    sources: Sequence[InputRecord],
    event_ms: np.ndarray,
    role: str = "champion",
    event_time_text: Sequence[str] | None = None,
    partitions: Sequence[int] | None = None,
) -> list[OutputMessage]:
    """One ``scores`` (or ``scores.challenger``) message per scored row, keyed by its id.

    ``event_time_text``: ``event_ms`` as the messages write it, if the caller has it (the
    records' own text, when they wrote it so: see :class:`ValidatedBatch`); formatting it
    cost 0.7 µs per record, a twentieth of the scoring. ``partitions``: each source's
    partition, if the caller has them (the scorer does: read once per record, not twice).

    Columns first (numpy, then plain lists), one loop last: it runs once per record.
    """
    scored_at_ms = int(time.time() * 1000)
    # timezone="UTC" writes the Z itself: appending it with np.char cost twice the formatting.
    iso_times = (
        event_time_text
        if event_time_text is not None
        else np.datetime_as_string(
            event_ms.astype("datetime64[ms]"), unit="ms", timezone="UTC"
        ).tolist()
    )
    rows = len(sources)
    ingested = np.fromiter(map(_TIMESTAMP, sources), dtype=np.int64, count=rows)
    # UInt32 in ClickHouse: clamped at about 49.7 days rather than overflowing.
    latencies = np.clip(scored_at_ms - ingested, 0, UINT32_MAX)
    shared: dict[str, Any] = dict(
        scored_at_ms=scored_at_ms,
        model_name=model.name,
        model_version=model.version,
        model_kind=model.kind,
        class_labels=predictions.class_labels,
        role=role,
    )
    labels = predictions.labels.tolist()
    values = None
    if NATIVE_SCORES:
        values = encode_score_values(
            ids,
            iso_times,
            event_ms,
            predictions.scores,
            labels,
            latencies,
            (
                np.asarray(partitions, dtype=np.int64)
                if partitions is not None
                else np.fromiter(map(_PARTITION, sources), dtype=np.int64, count=rows)
            ),
            np.fromiter(map(_OFFSET, sources), dtype=np.int64, count=rows),
            predictions.probabilities,
            **shared,
        )
    if values is None:  # no extension, or a label of a type only msgspec writes
        probabilities = (
            predictions.probabilities.tolist()
            if predictions.probabilities is not None
            else [[]] * len(ids)
        )
        columns = ScoreColumns(
            ids,
            iso_times,
            event_ms.tolist(),
            predictions.scores.tolist(),
            labels,
            latencies.tolist(),
            partitions if partitions is not None else map(_PARTITION, sources),
            map(_OFFSET, sources),
            probabilities,
        )
        values = encode_scores(columns, **shared)
    # tuple.__new__ builds each OutputMessage in C: its generated __new__ is a Python call.
    return list(
        map(tuple.__new__, repeat(OutputMessage), zip(map(str.encode, ids), values, strict=True))
    )


def _gather(records: Sequence[InputRecord], positions: list[int]) -> list[InputRecord]:
    """``records[p]`` for every p of ``positions`` (all of them, in order, most of the time)."""
    if len(positions) == len(records):  # positions are increasing: then they are all
        return list(records)
    return [records[position] for position in positions]


def _merged(first: ScoredBatch, second: ScoredBatch) -> ScoredBatch:
    """Two batches' outputs as one; the drift inputs stay aligned row for row."""
    parts = [part for part in (first, second) if part.frame is not None]
    merged = ScoredBatch(
        scores=first.scores + second.scores,
        rejected=first.rejected + second.rejected,
        rejection_reasons=first.rejection_reasons + second.rejection_reasons,
    )
    if len(parts) == 1:
        merged.frame, merged.event_time_ms, merged.score_values, merged.label_values = (
            parts[0].frame,
            parts[0].event_time_ms,
            parts[0].score_values,
            parts[0].label_values,
        )
        merged.ids, merged.sources = parts[0].ids, parts[0].sources
        merged.resent = parts[0].resent
    elif parts:
        merged.frame = pd.concat([p.frame for p in parts], ignore_index=True)
        merged.event_time_ms = np.concatenate([p.event_time_ms for p in parts])
        merged.score_values = np.concatenate([p.score_values for p in parts])
        merged.ids = [i for p in parts for i in p.ids]
        merged.sources = [r for p in parts for r in p.sources]
        merged.label_values = np.concatenate([p.label_values for p in parts])
        if any(p.resent is not None for p in parts):
            merged.resent = np.concatenate(
                [p.resent if p.resent is not None else np.zeros(len(p.ids), bool) for p in parts]
            )
    return merged
