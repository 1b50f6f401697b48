"""Prometheus series of the scoring worker, updated once per batch (never per record).

Names, all prefixed ``scorestream_worker_``:

- ``records_scored_total``, ``records_rejected_total{reason}``: the champion's outputs,
  counted once the broker acknowledged them (a batch being retried is not counted yet);
- ``records_resent_total``: of the scored, the clients' re-sends (an id and bytes already
  seen at another offset), scored again but not counted again in drift statistics;
- ``records_commit_refused_total``: records whose offsets the group refused to commit (this
  worker had been dropped from the group's generation): they are scored again when replayed,
  and counted once in the drift statistics all the same (see
  :mod:`scorestream.streams.drift_segments`);
- ``batch_size`` (histogram of records per batch) and ``batch_duration_seconds{stage}``
  (``score``: validate, predict, challengers and drift counts; ``publish``: until the broker
  acknowledged every output of the batch);
- ``model_info{role,name,version,kind}``: 1 for each model version serving now;
- ``consumer_lag{topic,partition}``, ``assigned_partitions``, ``ready``, ``live``,
  ``seconds_since_progress``: see :class:`scorestream.observability.ConsumerHealth`.
- ``process_resident_memory_bytes`` and the rest of ``process_*``,
  ``python_allocated_blocks``: see :mod:`scorestream.observability.memory`.

Each :class:`WorkerMetrics` has its own registry (like the bridge's), so several in one
process (tests) do not share counters.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Sequence
from typing import Protocol, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from scorestream.observability import ConsumerHealth
from scorestream.observability.buckets import SECONDS_BUCKETS
from scorestream.observability.memory import register_memory_series
from scorestream.settings import Settings
from scorestream.streams.validation import RejectionReason

PREFIX = "scorestream_worker"
# From one record to a few default batches (2,000) and the largest sensible ones.
BATCH_SIZE_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000, 20000)
BATCH_SECONDS_BUCKETS = SECONDS_BUCKETS
STAGES = ("score", "publish")


class ModelVersion(Protocol):
    """What ``model_info`` shows of a model (a ``LoadedModel``)."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def kind(self) -> str: ...


class WorkerMetrics:
    """The worker's series and its consumer's health; ``registry`` is what ``/metrics`` shows."""

    def __init__(
        self, settings: Settings | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        settings = settings or Settings()
        self.registry = CollectorRegistry(auto_describe=True)
        self.scored = Counter(
            f"{PREFIX}_records_scored",
            "Records scored by the champion",
            registry=self.registry,
        )
        self.rejected = Counter(
            f"{PREFIX}_records_rejected",
            "Records rejected to records.rejected, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.resent = Counter(
            f"{PREFIX}_records_resent",
            "Records scored again because a client re-sent them (same id and bytes at "
            "another offset); also in records_scored, not counted again in drift statistics",
            registry=self.registry,
        )
        self.commit_refused = Counter(
            f"{PREFIX}_records_commit_refused",
            "Records whose offsets the group refused to commit, the worker having been "
            "dropped from it: scored again when replayed (their drift counts stay counted once)",
            registry=self.registry,
        )
        # Every reason from the start: rate() over a series that appears late misses its
        # first increase, and a dashboard shows 0 instead of nothing.
        self._rejected_by_reason = {
            reason: self.rejected.labels(reason) for reason in get_args(RejectionReason)
        }
        self.batch_size = Histogram(
            f"{PREFIX}_batch_size",
            "Records per batch",
            buckets=BATCH_SIZE_BUCKETS,
            registry=self.registry,
        )
        batch_seconds = Histogram(
            f"{PREFIX}_batch_duration_seconds",
            "Seconds per batch by stage: score (validate, predict, challengers, drift "
            "counts), publish (until the broker acknowledged every output)",
            ["stage"],
            buckets=BATCH_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self._score_seconds, self._publish_seconds = (batch_seconds.labels(s) for s in STAGES)
        self.model_info = Gauge(
            f"{PREFIX}_model_info",
            "1 for each model version serving (role champion or challenger)",
            ["role", "name", "version", "kind"],
            registry=self.registry,
        )
        self._serving: dict[int, tuple[str, str, str, str]] = {}
        self._outcomes: tuple[int, Sequence[str], int] = (0, (), 0)
        self.health = ConsumerHealth(
            self.registry,
            PREFIX,
            stall_s=settings.ready_stall_s,
            live_timeout_s=settings.live_timeout_s,
            clock=clock,
        )
        register_memory_series(self.registry, PREFIX)

    def outcomes(self, scored: int, reasons: Sequence[str], resent: int = 0) -> None:
        """A batch's champion outputs: ``scored`` scores (``resent`` of them re-sends) and
        one reason per rejection.

        Counted by the next :meth:`batch`, which the engines call once they are published.
        """
        self._outcomes = (scored, reasons, resent)

    def batch(self, size: int, score_s: float, publish_s: float) -> None:
        """One batch published: its outcomes, its size and the seconds of its two stages."""
        self.batch_size.observe(size)
        self._score_seconds.observe(score_s)
        self._publish_seconds.observe(publish_s)
        (scored, reasons, resent), self._outcomes = self._outcomes, (0, (), 0)
        if scored:
            self.scored.inc(scored)
        if resent:
            self.resent.inc(resent)
        if reasons:
            for reason, count in Tally(reasons).items():
                child = self._rejected_by_reason.get(reason)
                if child is None:  # a reason added without a metric: counted all the same
                    child = self._rejected_by_reason[reason] = self.rejected.labels(reason)
                child.inc(count)

    def serving(self, slot: int, role: str, model: ModelVersion) -> None:
        """``model`` serves in ``slot`` (0 the champion, 1... the challengers) from now on."""
        labels = (role, model.name, model.version, model.kind)
        old = self._serving.get(slot)
        if old == labels:
            return
        if old is not None and old not in {v for k, v in self._serving.items() if k != slot}:
            self.model_info.remove(*old)
        self._serving[slot] = labels
        self.model_info.labels(*labels).set(1)
