"""Prometheus series of the ClickHouse sink, updated per poll and per flush (never per row).

Names, all prefixed ``scorestream_sink_``:

- ``messages_consumed_total{topic}``: messages read from Kafka;
- ``rows_inserted_total{table}``: rows ClickHouse took, per table;
- ``messages_rejected_total``: messages stored in ``rejected_records`` instead (undecodable,
  or refused by ClickHouse), ``messages_lost_total``: not even that worked;
- ``flush_duration_seconds{topic}``: insert and commit of one batch;
- ``flush_failures_total{topic}``, ``retries_total`` (every retry scheduled after ClickHouse
  refused a batch or a probe), ``backing_off`` (1 while paused for one),
  ``commit_failures_total``;
- ``consumer_lag{topic,partition}``, ``assigned_partitions``, ``ready``, ``live``,
  ``seconds_since_progress``: see :class:`scorestream.observability.ConsumerHealth`.
- ``process_resident_memory_bytes`` and the rest of ``process_*``,
  ``python_allocated_blocks``: see :mod:`scorestream.observability.memory`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from scorestream.observability import ConsumerHealth
from scorestream.observability.memory import register_memory_series
from scorestream.settings import Settings

PREFIX = "scorestream_sink"
# A small batch on a local server (milliseconds) to 20,000 rows on a busy one.
FLUSH_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class SinkMetrics:
    """The sink's series and its consumer's health; ``registry`` is what ``/metrics`` shows."""

    def __init__(
        self, settings: Settings | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        settings = settings or Settings()
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.consumed = Counter(
            f"{PREFIX}_messages_consumed", "Messages read from Kafka", ["topic"], registry=registry
        )
        self.inserted = Counter(
            f"{PREFIX}_rows_inserted", "Rows inserted into ClickHouse", ["table"], registry=registry
        )
        self.rejected = Counter(
            f"{PREFIX}_messages_rejected",
            "Messages stored in rejected_records instead (undecodable, or refused by ClickHouse)",
            registry=registry,
        )
        self.lost = Counter(
            f"{PREFIX}_messages_lost",
            "Messages whose rejection row could not be stored either",
            registry=registry,
        )
        self.flush_seconds = Histogram(
            f"{PREFIX}_flush_duration_seconds",
            "Seconds to insert one batch and commit its offsets",
            ["topic"],
            buckets=FLUSH_SECONDS_BUCKETS,
            registry=registry,
        )
        self.flush_failures = Counter(
            f"{PREFIX}_flush_failures",
            "Batches ClickHouse could not take (rewound, read again after a backoff)",
            ["topic"],
            registry=registry,
        )
        self.retries = Counter(
            f"{PREFIX}_retries",
            "Retries scheduled after ClickHouse refused a batch or a probe",
            registry=registry,
        )
        self.backing_off = Gauge(
            f"{PREFIX}_backing_off",
            "1 while the consumer is paused, waiting to retry ClickHouse",
            registry=registry,
        )
        self.commit_failures = Counter(
            f"{PREFIX}_commit_failures",
            "Offset commits that failed after an insert (the batch is replayed, deduplicated)",
            registry=registry,
        )
        self.health = ConsumerHealth(
            registry,
            PREFIX,
            stall_s=settings.ready_stall_s,
            live_timeout_s=settings.live_timeout_s,
            clock=clock,
        )
        register_memory_series(registry, PREFIX)

    def prepare(self, topics: list[str]) -> None:
        """Series of every topic from the start, at 0: rate() then sees the first increase."""
        for topic in topics:
            self.consumed.labels(topic)
            self.flush_seconds.labels(topic)
            self.flush_failures.labels(topic)

    def flushed(
        self, topic: str, rows: Mapping[str, int], rejected: int, lost: int, seconds: float
    ) -> None:
        """One batch stored: rows per table, rejections, and the flush's seconds."""
        for table, count in rows.items():
            if count:
                self.inserted.labels(table).inc(count)
        if rejected:
            self.rejected.inc(rejected)
        if lost:
            self.lost.inc(lost)
        self.flush_seconds.labels(topic).observe(seconds)
        self.health.progressed()
