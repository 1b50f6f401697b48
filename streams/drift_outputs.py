"""What the worker publishes to ``drift.stats``: bin counts of scored records, and changes.

Bin counts go out before the input offsets of the records they count are acknowledged or
committed: a crash can then replay (and so re-count) the records of at most the
uncommitted batches, but never lose counts. The ``faust`` engine publishes a partial with
every batch; the ``direct`` engine adds batches up and
publishes a partial every few seconds, committing its offsets right after (:meth:`add`,
:meth:`flush`), which keeps the number of rows per minute bounded whatever the traffic and
the count exact unless it crashes between the two. Holding counts until a minute closes would
lose them, because Faust commits the offsets of acknowledged records meanwhile. The sink
keeps one row per (feature, minute, ``batch_id``), so the sink's own replays do not count
twice, and readers sum the partial rows of a minute (see README, "Drift statistics"). The
agent engine's partials are per input partition, and their ``batch_id`` names where they
start, so that a worker's replay publishes the same ones again
(:mod:`~scorestream.streams.drift_segments`); the faust engine's carry fresh ids.

Change detectors (river) need whole minutes: the per-minute totals are kept here (a few
numbers per feature and open minute) and a minute is fed to the detectors once it is
``grace_ms`` older than the newest event time seen.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping

import numpy as np

from scorestream.contract.drift import (
    MINUTE_MS,
    DriftChangeMessage,
    MinuteFeatureStats,
    split_bins,
)
from scorestream.settings import Settings
from scorestream.streams.drift.accumulator import MinuteBinAccumulator
from scorestream.streams.drift.detectors import StreamChangeDetectors
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.scoring import OutputMessage, ScoredBatch


class DriftStatsPublisher:
    """Turns each scored batch into ``drift.stats`` messages (bins and change events)."""

    def __init__(
        self,
        model: LoadedModel,
        settings: Settings,
        *,
        grace_ms: int = 30_000,
        detector: str = "page_hinkley",
        per_partition: bool = False,
    ) -> None:
        self.topic = settings.topics.drift_stats
        self.records_topic = settings.topics.records
        #: Keep each input partition's counts apart, for :meth:`flush` with ``segments``.
        self.per_partition = per_partition
        self.model_name = model.name
        self.model_version = model.version
        self.grace_ms = grace_ms
        self._accumulator = MinuteBinAccumulator(model.profile)
        self._detectors = StreamChangeDetectors.from_profile(model.profile, detector)  # type: ignore[arg-type]
        # (minute, feature) -> [count, missing, sum] of the minute so far, for the detectors.
        self._minutes: dict[tuple[int, str], list[float]] = defaultdict(lambda: [0, 0, 0.0])
        self._watermark_ms = 0

    def add(self, batch: ScoredBatch) -> None:
        """Count ``batch`` into the open partials (nothing is published yet)."""
        if batch.frame is None or batch.event_time_ms is None or batch.score_values is None:
            return
        frame, event_ms, scores, labels = (
            batch.frame,
            batch.event_time_ms,
            batch.score_values,
            batch.label_values,
        )
        if batch.resent is not None:
            # A client's re-send was counted with its first copy: the counts are of records,
            # as the sink's rows are (one per id), not of deliveries.
            counted = ~batch.resent
            if not counted.any():
                return
            frame = frame[counted].reset_index(drop=True)
            event_ms, scores = event_ms[counted], scores[counted]
            labels = labels[counted] if labels is not None else None
        partitions = None
        if self.per_partition:
            partitions = np.asarray(batch.partitions, dtype=np.int64)
            if batch.resent is not None:
                partitions = partitions[counted]
        self._accumulator.add(event_ms, frame, scores, labels, partitions)

    def flush(self, segments: Mapping[int, int] | None = None) -> list[tuple[str, OutputMessage]]:
        """The messages of everything counted since the last flush.

        ``segments``: the offset each input partition's counts start at (its last committed
        offset), for those partitions only (the others' counts wait for a later flush). Each
        partition's counts are then a partial of their own, identified by (records topic,
        partition, start offset): the counts of the same records, published again after a
        replay from that offset, carry the same ``batch_id`` and replace the first ones in
        ``drift_stats`` instead of adding to them. Without it, every count, each partition's
        under a fresh id.
        """
        by_partition = self._accumulator.flush_partitions(segments)
        if not by_partition:
            return []
        now_ms = int(time.time() * 1000)
        out: list[tuple[str, OutputMessage]] = []
        every: list[MinuteFeatureStats] = []
        # A fresh id for a partition without a start: never the same id for two partitions'
        # rows, which would replace each other (one row per feature, minute and id).
        segments = segments or {}
        parts = [
            (
                f"{self.records_topic}/{partition}/{segments[partition]}"
                if partition in segments
                else uuid.uuid4().hex,
                rows,
            )
            for partition, rows in by_partition.items()
        ]
        for batch_id, rows in parts:
            # Records spread over many minutes (a backfill) make many rows: the contract
            # splits them into messages far below the broker's size limit, all under one id.
            out += [
                (self.topic, OutputMessage(batch_id.encode(), message.encode()))
                for message in split_bins(
                    batch_id, self.model_version, now_ms, rows, self.model_name
                )
            ]
            every += rows
        out += [(self.topic, change) for change in self._changes(every, now_ms)]
        return out

    @property
    def holds_counts(self) -> bool:
        """Whether anything was counted since the last flush."""
        return self._accumulator.holds_counts

    def discard(self, partitions: Collection[int] | None = None) -> None:
        """Forget the counts not published yet (of those input partitions): their records
        will be replayed."""
        self._accumulator.discard(partitions)

    def _changes(self, rows: list[MinuteFeatureStats], now_ms: int) -> list[OutputMessage]:
        for row in rows:
            totals = self._minutes[(row.minute_ms, row.feature)]
            totals[0] += row.count
            totals[1] += row.missing
            totals[2] += row.sum
            self._watermark_ms = max(self._watermark_ms, row.minute_ms + MINUTE_MS)
        closed = sorted(
            key for key in self._minutes if key[0] + MINUTE_MS + self.grace_ms <= self._watermark_ms
        )
        events: list[OutputMessage] = []
        for minute_ms, feature in closed:
            count, missing, total = self._minutes.pop((minute_ms, feature))
            present = count - missing
            if present <= 0 or feature not in self._detectors.features:
                continue
            change = self._detectors.update(feature, total / present, time_ms=minute_ms)
            if change is None:
                continue
            event_id = uuid.uuid4().hex
            change_message = DriftChangeMessage(
                event_id=event_id,
                detector=change.detector,
                feature=feature,
                minute_ms=minute_ms,
                value=change.value,
                detected_at_ms=now_ms,
                model_version=self.model_version,
                model_name=self.model_name,
            )
            events.append(OutputMessage(key=event_id.encode(), value=change_message.encode()))
        return events
