"""The agent engine's feed in the middle of a rebalance: it stops at once, and it stays in.

A rebalance runs the feed's revoke listener, which waits for the batch being scored, then
publishes the drift counts and commits. A worker told to stop at that moment (SIGTERM cancels
the feed) used to close its producer first: the listener then published on a closed producer,
retried for ever, and ``consumer.stop()`` waited for the listener, so the worker never exited
(seen in ``test_scale_out`` on a loaded machine: SIGTERM, then 60 s without exit). And the
broker used to wait for the listener only as long as the session timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Literal

import pytest

from scorestream.consumer_groups import scoring_group
from scorestream.settings import Settings
from scorestream.streams.agents import BatchFeed
from scorestream.streams.app import WorkerOptions
from scorestream.streams.metrics import WorkerMetrics
from scorestream.streams.publishing import Delivery, Outputs
from scorestream.streams.scoring import InputRecord, OutputMessage
from scorestream.topics import ensure_topics
from tests.kafka_io import produce_raw

pytestmark = pytest.mark.integration

FIRST_BATCH = 5
#: The broker's minimum: the shortest wait a slow batch must outlast.
SESSION_TIMEOUT_S = 6.0


class _WatchedLock(asyncio.Lock):
    """The feed's lock, telling when someone (the revoke listener) waits for it."""

    def __init__(self) -> None:
        super().__init__()
        self.contended = asyncio.Event()

    async def acquire(self) -> Literal[True]:
        if self.locked():
            self.contended.set()
        return await super().acquire()


class _DriftCounts:
    """The one part of the scoring pipeline the feed calls itself: the drift counts."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.flushes = 0
        self.discarded = False

    def drift_messages(self, segments: dict[int, int] | None = None) -> Outputs:
        self.flushes += 1
        return [(self.topic, OutputMessage(b"counts", b"%d" % self.flushes))]

    def discard_drift(self) -> None:
        self.discarded = True


async def _until(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(poll(), timeout_s)
    except TimeoutError:
        raise AssertionError(f"not within {timeout_s:.0f} s: {what}") from None


async def _mid_rebalance(
    settings: Settings,
    counts: _DriftCounts,
    *,
    batch_takes_s: float | None,
    metrics: WorkerMetrics | None = None,
) -> dict[int, int]:
    """Score one batch, hold the second while a member joins; the committed offsets after.

    ``batch_takes_s``: the held batch finishes this long after the revoke listener began
    waiting for it, and the feed stops by itself; None: the feed is cancelled meanwhile.
    """
    from aiokafka import AIOKafkaConsumer
    from kafka import KafkaAdminClient

    options = WorkerOptions(
        batch_size=FIRST_BATCH, drift_flush_s=3600.0, session_timeout_s=SESSION_TIMEOUT_S
    )
    metrics = metrics or WorkerMetrics(settings)
    feed = BatchFeed(settings, options, counts, metrics)  # type: ignore[arg-type]
    lock = feed._lock = _WatchedLock()
    slow_batch = asyncio.Event()
    batches = 0
    stop = False

    async def score(batch: Sequence[InputRecord]) -> Delivery:
        nonlocal batches, stop
        batches += 1
        if batches == 2:
            await slow_batch.wait()
            stop = True
        outputs = [(settings.topics.scores, OutputMessage(b"%d" % r.offset, b"")) for r in batch]
        return await feed.publisher.send(outputs)

    run = asyncio.ensure_future(feed.run(score, lambda: stop))
    joining = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=scoring_group(settings.topic_prefix),
        session_timeout_ms=int(SESSION_TIMEOUT_S * 1000),
        heartbeat_interval_ms=2_000,
        enable_auto_commit=False,
    )
    try:
        await _until(lambda: batches >= 2, "the feed scoring its second batch")
        # A second member (start() would wait for its assignment, after the rebalance).
        await joining.start()
        joining.subscribe([settings.topics.records])
        await _until(lock.contended.is_set, "the revoke listener waiting for the batch")
        if batch_takes_s is None:
            run.cancel()  # what SIGTERM does to the worker's feed task
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(run, 30)
        else:
            await asyncio.sleep(batch_takes_s)
            slow_batch.set()
            await asyncio.wait_for(run, 30)
    finally:
        run.cancel()
        await joining.stop()
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        group = scoring_group(settings.topic_prefix)
        committed = admin.list_group_offsets(group)[group]
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in committed.items()}


def test_a_feed_stopped_while_a_rebalance_waits_for_it_flushes_and_ends(
    settings: Settings,
) -> None:
    ensure_topics(settings)
    produce_raw(settings, [(b"%d" % i, b'{"id": "%d"}' % i) for i in range(40)])
    counts = _DriftCounts(settings.topics.drift_stats)
    committed: Any = asyncio.run(_mid_rebalance(settings, counts, batch_takes_s=None))
    # The listener published the first batch's counts, then committed exactly that batch.
    assert counts.flushes == 1
    assert sum(committed.values()) == FIRST_BATCH, committed


def test_a_batch_longer_than_the_session_keeps_the_feed_in_the_rebalance(
    settings: Settings,
) -> None:
    """The broker waits for the listener: its commit of both batches is accepted.

    With aiokafka's default rebalance timeout (the session timeout) the broker finished the
    rebalance without the feed, whose commit then failed (UnknownMemberId): the group
    rebalanced again and both batches were scored a second time by their next owner.
    """
    ensure_topics(settings)
    produce_raw(settings, [(b"%d" % i, b'{"id": "%d"}' % i) for i in range(40)])
    counts = _DriftCounts(settings.topics.drift_stats)
    held = SESSION_TIMEOUT_S + 3
    committed: Any = asyncio.run(_mid_rebalance(settings, counts, batch_takes_s=held))
    assert counts.flushes == 1
    assert sum(committed.values()) == 2 * FIRST_BATCH, committed


def test_a_feed_dropped_from_the_rebalance_publishes_no_counts_and_says_how_many_it_lost(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fault above, put back on purpose (the broker waits for the feed only as long as the
    session): the group refuses the feed's first commit of the flush, the one that says where
    its counts end (see ``drift_segments``), so the feed publishes no drift counts (the old
    code published them, and the records' next owner counted them a second time), and the
    records it could not commit are counted in ``records_commit_refused_total`` (both
    batches)."""
    import scorestream.streams.agents as agents

    monkeypatch.setattr(agents, "REBALANCE_TIMEOUT_MS", int(SESSION_TIMEOUT_S * 1000))
    ensure_topics(settings)
    produce_raw(settings, [(b"%d" % i, b'{"id": "%d"}' % i) for i in range(40)])
    counts = _DriftCounts(settings.topics.drift_stats)
    metrics = WorkerMetrics(settings)
    held = SESSION_TIMEOUT_S + 3
    committed: Any = asyncio.run(
        _mid_rebalance(settings, counts, batch_takes_s=held, metrics=metrics)
    )
    assert (counts.flushes, counts.discarded) == (0, True)
    assert sum(committed.values()) == 0, committed
    refused = metrics.registry.get_sample_value("scorestream_worker_records_commit_refused_total")
    assert refused == 2 * FIRST_BATCH
