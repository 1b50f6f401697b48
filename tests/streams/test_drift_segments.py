"""Drift partials that a replay publishes again under the same id, over the same records.

The agent engine's feed publishes each input partition's counts since its last commit as a
partial named by where it starts, and commits in two steps, the first saying where the
partial ends (``streams/drift_segments.py``). A worker that dies between publishing and
committing leaves a partial whose records its successor replays: the successor must publish
a partial with the same id over exactly the same records, so that the sink keeps one of the
two (``drift_stats`` is a ReplacingMergeTree keyed by feature, minute and batch id) and every
record is counted once.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scorestream.consumer_groups import scoring_group
from scorestream.settings import Settings
from scorestream.streams.agents import BatchFeed
from scorestream.streams.app import WorkerOptions
from scorestream.streams.drift_segments import DriftSegments, intended_end, intent
from scorestream.streams.metrics import WorkerMetrics
from scorestream.streams.publishing import Delivery, Outputs
from scorestream.streams.scoring import InputRecord, OutputMessage
from scorestream.topics import ensure_topics
from tests.kafka_io import produce_raw

RECORDS = 60
Partial = tuple[tuple[int, int] | None, list[int]]


class _Offset:
    def __init__(self, offset: int, metadata: str = "") -> None:
        self.offset, self.metadata = offset, metadata


class _Record:
    def __init__(self, offset: int) -> None:
        self.offset = offset


@given(
    start=st.integers(0, 1000),
    length=st.integers(0, 50),
    end_after=st.integers(1, 60),
    gaps=st.lists(st.booleans(), min_size=50, max_size=50),
)
def test_a_replay_keeps_exactly_the_records_below_the_intended_end(
    start: int, length: int, end_after: int, gaps: list[bool]
) -> None:
    """Whatever the polled offsets (with gaps, as compaction leaves), the cut keeps those
    below the end, and reports the end once the poll reached it."""
    end = start + end_after
    offsets = [start + i for i in range(length) if not gaps[i]]
    segments = DriftSegments()
    segments.open({"p": _Offset(start, intent(end))}, {"p": offsets[0] if offsets else start})
    polled: dict[str, list[_Record]] = {"p": [_Record(o) for o in offsets]}
    reached = segments.cut(polled)
    assert [r.offset for r in polled["p"]] == [o for o in offsets if o < end]
    assert reached == ({"p": end} if offsets and offsets[-1] + 1 >= end else {})
    assert segments.starts(["p"]) == {"p": start}


def test_only_our_own_metadata_is_an_intent() -> None:
    assert intended_end(intent(42)) == 42
    for other in ("", "42", "scorestream-drift-until:", "scorestream-drift-until:x", "faust"):
        assert intended_end(other) is None
    segments = DriftSegments()
    # Somebody else's metadata, an intent behind the committed offset, none at all.
    segments.open(
        {"a": _Offset(5, "hello"), "b": _Offset(9, intent(9)), "c": None},
        {"a": 5, "b": 9, "c": 3},
    )
    polled = {tp: [_Record(o) for o in range(0, 20)] for tp in "abc"}
    assert segments.cut(polled) == {}
    assert segments.starts(["a", "b", "c"]) == {"a": 5, "b": 9, "c": 3}


class _Crash(Exception):
    """The worker dying between publishing its counts and committing (kill -9)."""


class _CountingPipeline:
    """What the feed calls of the scoring pipeline, counting the offsets each partial covers
    the way ``DriftStatsPublisher`` counts records into per-partition partials."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self._open: dict[int, list[int]] = defaultdict(list)
        self.partials: list[Partial] = []

    def count(self, batch: Sequence[InputRecord]) -> None:
        for record in batch:
            self._open[record.partition].append(record.offset)

    def drift_messages(self, segments: dict[int, int] | None = None) -> Outputs:
        out: Outputs = []
        for partition, offsets in sorted(self._open.items()):
            key = (partition, segments[partition]) if segments and partition in segments else None
            self.partials.append((key, sorted(offsets)))
            out.append((self.topic, OutputMessage(b"%d" % partition, b"counts")))
        self._open.clear()
        return out

    def discard_drift(self) -> None:
        self._open.clear()


async def _feed(
    settings: Settings,
    pipeline: _CountingPipeline,
    *,
    batch_size: int,
    stop_after: int | None = None,
    crash_at_commit: int | None = None,
) -> None:
    """Run one feed until it counted ``stop_after`` records, or until its commit number
    ``crash_at_commit`` (the crash: nothing after it runs but the consumer's close)."""
    options = WorkerOptions(batch_size=batch_size, drift_flush_s=0.0, session_timeout_s=6.0)
    feed = BatchFeed(settings, options, pipeline, WorkerMetrics(settings))  # type: ignore[arg-type]
    counted = 0

    async def score(batch: Sequence[InputRecord]) -> Delivery:
        nonlocal counted
        pipeline.count(batch)
        counted += len(batch)
        outputs = [(settings.topics.scores, OutputMessage(b"%d" % r.offset, b"")) for r in batch]
        return await feed.publisher.send(outputs)

    run = asyncio.ensure_future(
        feed.run(score, lambda: stop_after is not None and counted >= stop_after)
    )
    if crash_at_commit is not None:
        while feed._consumer is None:
            await asyncio.sleep(0.01)
        consumer: Any = feed._consumer
        commit, commits = consumer.commit, 0

        async def crashing_commit(offsets: Any) -> None:
            nonlocal commits
            commits += 1
            if commits == crash_at_commit:
                raise _Crash
            await commit(offsets)

        consumer.commit = crashing_commit
    await asyncio.wait_for(run, 120)


def _committed(settings: Settings) -> int:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        group = scoring_group(settings.topic_prefix)
        return sum(meta.offset for meta in admin.list_group_offsets(group)[group].values())
    finally:
        admin.close()


@pytest.mark.integration
def test_a_worker_killed_between_publishing_and_committing_is_replayed_into_the_same_partials(
    settings: Settings,
) -> None:
    ensure_topics(settings)
    produce_raw(settings, [(b"%d" % i, b'{"id": "%d"}' % i) for i in range(RECORDS)])
    first = _CountingPipeline(settings.topics.drift_stats)
    # Batches of 5 and a flush after each; the crash is the third flush's second commit,
    # after its counts went out.
    with pytest.raises(_Crash):
        asyncio.run(_feed(settings, first, batch_size=5, crash_at_commit=6))
    committed = _committed(settings)
    assert len(first.partials) >= 3 and committed < RECORDS
    second = _CountingPipeline(settings.topics.drift_stats)
    # Larger batches: the replay's first poll reaches past where the first worker's last
    # partial ended, and must stop there.
    asyncio.run(_feed(settings, second, batch_size=50, stop_after=RECORDS - committed))

    # What drift_stats keeps: one partial per id, the latest published.
    kept: dict[tuple[int, int], list[int]] = {}
    for key, offsets in [*first.partials, *second.partials]:
        assert key is not None, "a partial without a (partition, start offset) id"
        kept[key] = offsets
    by_partition: dict[int, list[int]] = defaultdict(list)
    for (partition, start), offsets in kept.items():
        assert min(offsets) >= start
        by_partition[partition] += offsets
    counted = sorted((p, o) for p, offsets in by_partition.items() for o in offsets)
    assert len(counted) == len(set(counted)), "a record counted twice"
    assert len(counted) == RECORDS, "a record not counted"
    # The first worker's last partial was published again, over the same records.
    replaced = [key for key, _ in first.partials if key in dict(second.partials)]
    assert replaced, "the replay published none of the first worker's partials again"
    for key in replaced:
        assert dict(first.partials)[key] == dict(second.partials)[key]
