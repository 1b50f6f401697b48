"""Whether a day is complete enough to be checked: no verdict on a day still arriving.

A daily check reads the drift counts the worker wrote and the sink stored. While either
lags, the day's counts are a fraction of the day (40,345 of 100,000 scores stored, 25,635
counted, in issue 15), and a verdict on them is wrong and, once written, final: the
scheduler never checks a checked day again. So a day is checked only when it is
**complete**:

(a) **ended**: the day plus ``grace_s`` is over (records of 23:59 still arriving);
(b) **no consumer lag**: the scoring workers' group has committed, on every partition of
    the records topic, the end offset seen at the first look (so everything produced until
    then is scored; its outputs are in Kafka before the commit, at-least-once), and then
    the sink's group has committed the end offsets of the scores and drift-stats topics
    seen after that. End offsets, not Kafka timestamps: a replay of an old day is produced
    today. Under live traffic the targets are fixed at the first look, so they are reached
    within a flush interval;
(c) **counts match**: per model version, the ``_score`` counts stored for the day in
    ``drift_stats`` are at least the distinct scores stored for the day (``scores FINAL``,
    by event time). At least, not equal: a worker killed between publishing its counts and
    committing re-counts that batch (the documented duplicate window of at-least-once), so
    counts may exceed the scores, never fall short once complete.

A consumer group with no committed offset on a topic ("no such group": tests that write
rows by hand, a deployment without that process) adds no lag: the day is then judged by
(a) and (c) alone. The worker has two possible groups (the ``direct`` engine's and the
Faust app's); per partition the furthest committed offset counts, so the group of an
engine no longer used does not hold every day back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from scorestream.consumer_groups import sink_group, worker_groups
from scorestream.consumers.clickhouse import Executor, check_identifier
from scorestream.exceptions import ScorestreamError
from scorestream.settings import Settings
from scorestream.streams.drift.profile import SCORE_FEATURE

#: Default seconds after the end of a day before it may be checked (late records).
GRACE_S = 300.0
#: Default seconds ``drift-check --date D`` waits for an incomplete day to complete.
WAIT_COMPLETE_S = 60.0

#: Partition -> offset, per topic.
Offsets = dict[tuple[str, int], int]


@dataclass(frozen=True)
class Completeness:
    """What is known of a day's completeness; :attr:`complete` says whether to check it."""

    day: date
    ended: bool
    scored: int
    counted: int
    worker_lag: int
    sink_lag: int
    short: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def lag(self) -> int:
        return self.worker_lag + self.sink_lag

    @property
    def complete(self) -> bool:
        return self.ended and self.lag == 0 and not self.short

    def summary(self) -> str:
        """One line for a human: ``incomplete: 25,635 of 40,345 scores counted, lag 59,655``."""
        if self.complete:
            return f"complete: {self.counted:,} of {self.scored:,} scores counted, lag 0"
        why = "" if self.ended else " (the day has not ended plus its grace period)"
        short = "".join(
            f"; {version}: {counted:,} of {scored:,}"
            for version, (counted, scored) in sorted(self.short.items())
        )
        return (
            f"incomplete: {self.counted:,} of {self.scored:,} scores counted, lag {self.lag:,} "
            f"(worker {self.worker_lag:,}, sink {self.sink_lag:,}){short}{why}"
        )


def scored_and_counted(
    client: Executor, database: str, day: date
) -> tuple[dict[str, int], dict[str, int]]:
    """Distinct scores stored and ``_score`` counts stored for ``day``, per model version."""
    db = check_identifier(database)
    start = datetime(day.year, day.month, day.day)
    bounds = {"start": start, "end": start + timedelta(days=1), "feature": SCORE_FEATURE}
    scored = client.execute(
        f"SELECT model_version, count() FROM {db}.scores FINAL "  # noqa: S608
        "WHERE event_time >= %(start)s AND event_time < %(end)s GROUP BY model_version",
        bounds,
    )
    counted = client.execute(
        f"SELECT model_version, sum(count) FROM {db}.drift_stats FINAL "  # noqa: S608
        "WHERE feature = %(feature)s AND minute >= %(start)s AND minute < %(end)s "
        "GROUP BY model_version",
        bounds,
    )
    return {str(v): int(n) for v, n in scored}, {str(v): int(n) for v, n in counted}


class KafkaOffsets:
    """End offsets of topics and committed offsets of groups, from the broker."""

    def __init__(self, bootstrap_servers: str) -> None:
        from kafka import KafkaAdminClient, KafkaConsumer
        from kafka.errors import KafkaError

        try:
            self.admin = KafkaAdminClient(
                bootstrap_servers=bootstrap_servers, client_id="scorestream-completeness"
            )
        except KafkaError as error:  # without the broker, no day can be known complete
            raise ScorestreamError(
                f"Kafka at {bootstrap_servers}: {error}; cannot tell whether the day is complete"
            ) from error
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers, client_id="scorestream-completeness"
        )

    def close(self) -> None:
        self.admin.close()
        self.consumer.close()

    def end_offsets(self, topics: Iterable[str]) -> Offsets:
        """Each partition's end offset; a topic that does not exist has none."""
        from kafka import TopicPartition

        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(self.consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return {}
        ends = self.consumer.end_offsets(partitions)
        return {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}

    def _group_offsets(self, group: str) -> Mapping[Any, Any]:
        """TopicPartition -> OffsetAndMetadata of ``group`` (empty: no such group)."""
        if hasattr(self.admin, "list_group_offsets"):  # kafka-python 3
            return dict(self.admin.list_group_offsets({group: None}).get(group) or {})
        return dict(self.admin.list_consumer_group_offsets(group))  # kafka-python 2

    def committed(self, groups: Iterable[str], topics: Iterable[str]) -> Offsets:
        """Per partition of ``topics``, the furthest offset any of ``groups`` committed."""
        wanted = set(topics)
        furthest: Offsets = {}
        for group in groups:
            offsets = self._group_offsets(group)
            for tp, meta in offsets.items():
                if tp.topic in wanted and meta.offset >= 0:
                    key = (tp.topic, tp.partition)
                    furthest[key] = max(furthest.get(key, 0), int(meta.offset))
        return furthest


def lag(target: Offsets, committed: Offsets) -> int:
    """Records below ``target`` not committed; a topic without any commit counts none.

    >>> lag({("s", 0): 10, ("s", 1): 5, ("d", 0): 7}, {("s", 0): 4})
    11
    >>> lag({("s", 0): 10}, {})
    0
    """
    known = {topic for topic, _ in committed}
    return sum(
        max(0, end - committed.get((topic, p), 0))
        for (topic, p), end in target.items()
        if topic in known
    )


def assess(
    settings: Settings,
    client: Executor,
    day: date,
    *,
    wait_s: float = 0.0,
    grace_s: float = GRACE_S,
    poll_s: float = 1.0,
    now: Callable[[], datetime] | None = None,
) -> Completeness:
    """Whether ``day`` is complete (module docstring), waiting up to ``wait_s`` for it.

    The worker's and the sink's targets are fixed at the first look (see (b)); the counts
    are read again at every look, every ``poll_s`` seconds.
    """
    clock = now or (lambda: datetime.now(UTC))
    topics = settings.topics
    prefix = settings.topic_prefix
    end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    deadline = time.monotonic() + wait_s
    kafka = KafkaOffsets(settings.kafka_bootstrap_servers)
    try:
        worker_target = kafka.end_offsets([topics.records])
        workers = worker_groups(prefix)
        sink_topics = [topics.scores, topics.drift_stats]
        sink_target: Offsets | None = None
        while True:
            ended = clock() >= end + timedelta(seconds=grace_s)
            worker_lag = lag(worker_target, kafka.committed(workers, [topics.records]))
            sink_lag = 0
            if worker_lag == 0:
                # Only now: everything the worker scored so far is in the sink's topics.
                sink_target = sink_target or kafka.end_offsets(sink_topics)
                sink_lag = lag(sink_target, kafka.committed([sink_group(prefix)], sink_topics))
            scored, counted = scored_and_counted(client, settings.clickhouse.database, day)
            short = {v: (counted.get(v, 0), n) for v, n in scored.items() if counted.get(v, 0) < n}
            state = Completeness(
                day,
                ended,
                sum(scored.values()),
                sum(counted.values()),
                worker_lag,
                sink_lag,
                short,
            )
            # A day not yet over (plus grace) will not end within the wait: say so now.
            hopeless = not ended and end + timedelta(seconds=grace_s) > clock() + timedelta(
                seconds=max(0.0, deadline - time.monotonic())
            )
            if state.complete or hopeless or time.monotonic() >= deadline:
                return state
            time.sleep(poll_s)
    finally:
        kafka.close()
