"""One batch of ``records`` in, every message to produce out: champion, challengers, drift.

:class:`ScoringPipeline` is what both engines (:mod:`.agents`) run per batch. It holds the
champion's and each challenger's :class:`~.serving.ModelFollower` and applies a built new
version at the start of a batch, so a batch is scored by one version of each model.

Drift counts are kept per champion version (each against its own reference profile): when
a version is replaced, its publisher is kept until its counts went out with the next
:meth:`ScoringPipeline.drift_messages`, under its own name and version. The agent engine
commits offsets only after those messages are acknowledged, so offsets never pass a
record whose counts are unpublished, across a swap too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Literal

from scorestream.settings import Settings
from scorestream.streams.challengers import ChallengerScorer
from scorestream.streams.drift_outputs import DriftStatsPublisher
from scorestream.streams.metrics import WorkerMetrics
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.recent_ids import RecentIds
from scorestream.streams.scoring import BatchScorer, InputRecord, OutputMessage
from scorestream.streams.serving import ModelFollower
from scorestream.streams.validation import RecordValidator

log = logging.getLogger(__name__)

Outputs = list[tuple[str, OutputMessage]]


@dataclass
class Champion:
    """One champion version, ready to serve: its scorer and its drift publisher."""

    model: LoadedModel
    scorer: BatchScorer
    drift: DriftStatsPublisher | None


class ChampionBuilder:
    """Builds a :class:`Champion` per version; all versions share one :class:`RecentIds`.

    Sharing the ids seen lately keeps duplicate detection across a swap, and a record
    replayed at the same offset after a swap is still a replay, not a duplicate.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        out_of_range: Literal["reject", "clip"] = "reject",
        max_record_bytes: int = 65_536,
        drift: bool = True,
        drift_per_partition: bool = True,
    ) -> None:
        self.settings = settings
        self.out_of_range = out_of_range
        self.max_record_bytes = max_record_bytes
        self.drift = drift
        # The agent engine's partials are per input partition (see DriftStatsPublisher).
        self.drift_per_partition = drift_per_partition
        self.recent_ids = RecentIds()

    def __call__(self, model: LoadedModel) -> Champion:
        validator = RecordValidator(
            model.schema, out_of_range=self.out_of_range, max_record_bytes=self.max_record_bytes
        )
        return Champion(
            model=model,
            scorer=BatchScorer(model, validator, self.recent_ids),
            drift=DriftStatsPublisher(model, self.settings, per_partition=self.drift_per_partition)
            if self.drift
            else None,
        )


class ScoringPipeline:
    """One batch of ``records`` in, every message to produce out, with a throughput log."""

    def __init__(
        self,
        settings: Settings,
        champion: ModelFollower[Champion],
        challengers: Sequence[ModelFollower[ChallengerScorer]] = (),
        *,
        drift_every_batch: bool = True,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.topics = settings.topics
        self.champion = champion
        self.challengers = list(challengers)
        # The faust engine cannot hold back its commits, so it publishes counts per batch.
        self.drift_every_batch = drift_every_batch
        # Publishers of replaced versions whose counts are not published yet.
        self._retired: list[DriftStatsPublisher] = []
        self._scored = 0
        self._rejected = 0
        self._since = time.monotonic()
        self.metrics = metrics
        self._show_serving()

    def outputs(self, batch: Sequence[InputRecord]) -> Outputs:
        self._switch()
        champion = self.champion.current
        result = champion.scorer.score(batch)
        # zip with repeat: built in C, where a comprehension cost µs per record.
        outputs = list(zip(repeat(self.topics.scores), result.scores))
        outputs += zip(repeat(self.topics.rejected), result.rejected)
        for follower in self.challengers:
            topic = self.topics.challenger_scores
            outputs += zip(repeat(topic), follower.current.score(champion.model, result))
        if champion.drift is not None:
            champion.drift.add(result)
            if self.drift_every_batch:
                outputs += self.drift_messages()
        self._report(len(result.scores), len(result.rejected))
        if self.metrics is not None:
            resent = int(result.resent.sum()) if result.resent is not None else 0
            self.metrics.outcomes(len(result.scores), result.rejection_reasons, resent)
        return outputs

    def drift_messages(self, segments: Mapping[int, int] | None = None) -> Outputs:
        """Every count not published yet: replaced versions' first, each under its own name.

        ``segments``: each input partition's start offset since the last commit (see
        :meth:`DriftStatsPublisher.flush`).
        """
        out: Outputs = []
        for publisher in self._retired:
            out += publisher.flush(segments)
        # A flush of some partitions may leave a replaced version's counts of others.
        self._retired = [publisher for publisher in self._retired if publisher.holds_counts]
        if self.champion.current.drift is not None:
            out += self.champion.current.drift.flush(segments)
        return out

    def discard_drift(self, partitions: Collection[int] | None = None) -> None:
        """Forget the counts not published yet (of those input partitions): the records
        will be replayed."""
        for publisher in self._retired:
            publisher.discard(partitions)
        self._retired = [publisher for publisher in self._retired if publisher.holds_counts]
        if self.champion.current.drift is not None:
            self.champion.current.drift.discard(partitions)

    def _switch(self) -> None:
        old = self.champion.take_next()
        swapped = old is not None
        if old is not None and old.drift is not None:
            self._retired.append(old.drift)
        for follower in self.challengers:
            swapped = follower.take_next() is not None or swapped
        if swapped:
            self._show_serving()

    def _show_serving(self) -> None:
        if self.metrics is not None:
            self.metrics.serving(0, "champion", self.champion.current.model)
            for slot, follower in enumerate(self.challengers, 1):
                self.metrics.serving(slot, "challenger", follower.current.model)

    def _report(self, scored: int, rejected: int) -> None:
        self._scored += scored
        self._rejected += rejected
        elapsed = time.monotonic() - self._since
        if elapsed >= 10:
            log.info(
                "scored %d, rejected %d in %.1f s (%.0f records/s)",
                self._scored,
                self._rejected,
                elapsed,
                (self._scored + self._rejected) / elapsed,
            )
            self._scored = self._rejected = 0
            self._since = time.monotonic()
