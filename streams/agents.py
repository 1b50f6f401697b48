"""The scoring loop: a Faust agent fed polled batches (``agent``), or Faust's stream (``faust``).

Both engines run the same :class:`~.pipeline.ScoringPipeline` per batch and share its delivery
rule, which is what makes them at-least-once: a batch's input offsets are committed (agent) or
acknowledged (faust) only after every output of the batch was acknowledged by the broker
(``acks=all``). Offsets are therefore never past an unwritten output.

- ``agent`` (default): ``score-records``, an ``@app.agent`` on an in-memory channel, scores
  and publishes one polled batch per event. A task owning an aiokafka consumer (own group,
  manual commits) polls the batches with ``getmany``, hands each to the agent and waits for
  it: offsets are committed only together with the drift counts of the records below them
  (see :mod:`scorestream.streams.drift_outputs`), in two steps that make a replay publish
  the same counts again (:mod:`scorestream.streams.drift_segments`), so counts are exact and
  drift rows are bounded by time. One event per batch, not per record: Faust's per-event machinery
  (event objects, queues, per-event acks) costs more per record than validating and
  scoring it (README, *Benchmarks*: the per-stage table).
- ``faust``: an agent reading Faust's own stream of ``records`` with ``take_events``; Faust
  acknowledges a batch's events when the agent asks for the next batch, so the drift counts
  go out with every batch (one partial row per batch).

Both report to :class:`~.metrics.WorkerMetrics` once per batch (size, the two stages'
seconds) and per poll (lag): a few dictionary updates against milliseconds of scoring.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import faust

from scorestream.consumer_groups import scoring_group
from scorestream.membership import REBALANCE_TIMEOUT_MS, heartbeat_interval_ms
from scorestream.observability.lag import aiokafka_lags
from scorestream.settings import Settings
from scorestream.streams.app import WorkerOptions
from scorestream.streams.drift_segments import DriftSegments
from scorestream.streams.faust_lag import FaustLag
from scorestream.streams.metrics import WorkerMetrics
from scorestream.streams.pipeline import ScoringPipeline
from scorestream.streams.publishing import (
    RECORDS_FETCH,
    BatchPublisher,
    Delivery,
    output_producer,
    publish_each,
)
from scorestream.streams.scoring import InputRecord, RawRecord
from scorestream.streams.serving import ModelFollower

log = logging.getLogger(__name__)


class BatchChannel(faust.Channel):
    """The agent engine's in-memory channel, which Faust's rebalances neither pause nor empty.

    The feed puts its batches in as they are (``channel.put``), not as Faust events: the
    stream skips events of an earlier generation of the Faust group and any event read while
    it rebalances (faust/streams.py, ``_py_aiter``).

    Faust's channels queue on the app's flow control (``FlowControlQueue(clear_on_resume=
    True)``): when the Faust app's own group rebalances, puts wait and the queues are emptied.
    A polled batch waiting in the channel at that moment was thrown away, its ``done`` never
    resolved, and the feed waited for it for ever: the worker stopped scoring its partitions
    without a word (seen in ``test_scale_out``). The batches belong to the feed's group, not
    to Faust's, so a Faust rebalance has nothing to clear here.
    """

    @property
    def queue(self) -> Any:
        from mode.utils.queues import FlowControlEvent, ThrowableQueue

        if self._queue is None:
            maxsize = self.maxsize
            if maxsize is None:
                maxsize = self.app.conf.stream_buffer_maxsize
            never_suspended = FlowControlEvent(initially_suspended=False)
            self._queue = ThrowableQueue(maxsize=maxsize, flow_control=never_suspended)
        return self._queue


@dataclass
class PolledBatch:
    """One poll's records, handed to the agent; ``done`` resolves once they are sent."""

    records: Sequence[InputRecord]
    done: asyncio.Future[Delivery]


def attach_stream_scoring(
    app: faust.App,
    settings: Settings,
    options: WorkerOptions,
    pipeline: ScoringPipeline,
    metrics: WorkerMetrics,
) -> None:
    """The ``faust`` engine: an agent on ``records`` batching with ``take_events``."""
    records = app.topic(settings.topics.records, value_serializer="raw", key_serializer="raw")
    lag = FaustLag(app, settings.topics.records, metrics.health)

    async def send(topic: str, key: bytes, value: bytes) -> Awaitable[Any]:
        return await app.producer.send(
            topic, key, value, partition=None, timestamp=None, headers=None
        )

    @app.agent(records, concurrency=1, name=f"{settings.topic_prefix}score-records")
    async def score_records(stream: faust.StreamT) -> None:
        # take_events, unlike take, keeps each message's partition and offset.
        take_events = stream.take_events  # type: ignore[attr-defined]
        async for events in take_events(options.batch_size, within=options.batch_within_s):
            batch = [
                RawRecord(
                    event.message.value,
                    event.message.topic,
                    event.message.partition,
                    event.message.offset,
                    int(event.message.timestamp * 1000),
                )
                for event in events
            ]
            lag.started(events)
            began = time.perf_counter()
            outputs = pipeline.outputs(batch)
            scored = time.perf_counter()
            await publish_each(send, outputs)
            metrics.batch(len(batch), scored - began, time.perf_counter() - scored)
            lag.finished()

    @app.timer(1.0)
    async def refresh_lag() -> None:
        # take_events yields nothing while the topic is idle: lag and readiness still move.
        lag.refresh()


class BatchFeed:
    """The ``agent`` engine's Kafka side: polls batches, has them scored, commits offsets.

    Offsets are committed only together with the drift counts of the records below them,
    every ``drift_flush_s``, before partitions are given away in a rebalance, and on
    shutdown: so a crash can re-count only what it published just before dying.
    """

    def __init__(
        self,
        settings: Settings,
        options: WorkerOptions,
        pipeline: ScoringPipeline,
        metrics: WorkerMetrics,
    ) -> None:
        self.settings = settings
        self.options = options
        self.pipeline = pipeline
        self.metrics = metrics
        self._pending: dict[Any, int] = {}
        # Per partition: records acknowledged since the last commit.
        self._pending_records: Counter[Any] = Counter()
        self._segments = DriftSegments()
        # Batches sent but not yet acknowledged: the offsets they will let us commit, and
        # how many records of each partition they hold.
        self._in_flight: deque[tuple[Delivery, dict[Any, int], dict[Any, int]]] = deque()
        self._flushed_at = time.monotonic()
        self._lock = asyncio.Lock()
        self._consumer: Any = None
        self._publisher: BatchPublisher | None = None

    @property
    def publisher(self) -> BatchPublisher:
        if self._publisher is None:
            raise RuntimeError("the feed has not started")
        return self._publisher

    async def run(
        self,
        score: Callable[[Sequence[InputRecord]], Awaitable[Delivery]],
        stopping: Callable[[], bool],
    ) -> None:
        """Poll until ``stopping()``; ``score`` returns once a batch's outputs are queued.

        One batch may wait for its acknowledgements while the next is scored; its offsets
        count as committable only once it is acknowledged.
        """
        from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

        settings, options, health = self.settings, self.options, self.metrics.health
        consumer = self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            # Not the Faust app's group: that one runs Faust's own assignor.
            group_id=scoring_group(settings.topic_prefix),
            **RECORDS_FETCH,
            group_instance_id=options.instance_id,
            session_timeout_ms=int(options.session_timeout_s * 1000),
            heartbeat_interval_ms=heartbeat_interval_ms(options.session_timeout_s),
            rebalance_timeout_ms=REBALANCE_TIMEOUT_MS,
        )
        producer = output_producer(settings.kafka_bootstrap_servers)
        self._publisher = BatchPublisher(producer)
        feed = self

        class FlushOnRevoke(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked: Any) -> None:
                async with feed._lock:
                    await feed._flush_and_commit(final=True)
                    feed._segments.forget()

            async def on_partitions_assigned(self, assigned: Any) -> None:
                pass

        consumer.subscribe([settings.topics.records], listener=FlushOnRevoke())
        await consumer.start()
        await producer.start()
        try:
            while not stopping():
                polled = await consumer.getmany(
                    timeout_ms=int(options.batch_within_s * 1000), max_records=options.batch_size
                )
                # The polled records count as waiting until their outputs are acknowledged.
                in_flight = {tp: rs[0].offset for tp, rs in polled.items() if rs}
                health.observe(*await aiokafka_lags(consumer, in_flight))
                async with self._lock:
                    replayed = await self._open_segments(polled)
                    # aiokafka's ConsumerRecords are InputRecords: scored as they are.
                    batch: list[InputRecord] = list(chain.from_iterable(polled.values()))
                    if batch:
                        delivery = await score(batch)
                        offsets = {tp: rs[-1].offset + 1 for tp, rs in polled.items() if rs}
                        sizes = {tp: len(rs) for tp, rs in polled.items() if rs}
                        self._in_flight.append((delivery, offsets, sizes))
                        while len(self._in_flight) > 1:
                            await self._settle_oldest()
                        health.progressed()
                        health.observe(*await aiokafka_lags(consumer, {}))
                    if replayed or time.monotonic() - self._flushed_at >= options.drift_flush_s:
                        await self._flush_and_commit()
            async with self._lock:
                await self._flush_and_commit(final=True)
        finally:
            # The consumer first: stopping it mid-rebalance runs the revoke listener, whose
            # flush publishes drift counts on the producer, which must still be open.
            await consumer.stop()
            await producer.stop()

    async def _open_segments(self, polled: dict[Any, list[Any]]) -> dict[Any, int]:
        """Open the drift segments of partitions polled for the first time since their
        assignment, and cut ``polled`` at the end of a segment being replayed; the ends
        reached (their segments are complete once this batch is acknowledged)."""
        consumer = self._consumer
        new = {tp: rs[0].offset for tp, rs in polled.items() if rs and not self._segments.knows(tp)}
        if new:
            # The committed offsets with their metadata, where an intent is: aiokafka's
            # public committed() returns the offsets alone.
            committed = await consumer._coordinator.fetch_committed_offsets(list(new))
            self._segments.open(committed, new)
        reached = self._segments.cut(polled)
        for tp, end in reached.items():
            consumer.seek(tp, end)  # what was cut off is polled again after the flush
        return reached

    async def _settle_oldest(self) -> None:
        delivery, offsets, sizes = self._in_flight[0]
        await delivery.acknowledged()
        self._in_flight.popleft()
        self._pending.update(offsets)
        self._pending_records.update(sizes)

    async def _flush_and_commit(self, final: bool = False) -> None:
        """Publish the drift counts of the acknowledged records and commit their offsets, in
        the two steps of :mod:`~scorestream.streams.drift_segments`.

        ``final``: the partitions are being given away or the feed stops, so the counts of
        a replay that has not reached its end are dropped (they are replayed again);
        otherwise they wait for a later flush.
        """
        from aiokafka.errors import CommitFailedError, IllegalStateError

        while self._in_flight:
            await self._settle_oldest()
        ends = self._pending
        for tp, end in self._segments.reached().items():  # a replay ends exactly there
            ends[tp] = max(ends.get(tp, end), end)
        self._pending = {}
        self._flushed_at = time.monotonic()
        replaying = self._segments.replaying(ends)
        if replaying and final:
            self.pipeline.discard_drift({tp.partition for tp in replaying})
        for tp in replaying:
            held = ends.pop(tp)
            if final:
                self._pending_records.pop(tp, None)
            else:
                self._pending[tp] = held
        records = sum(self._pending_records.pop(tp, 0) for tp in ends)
        if not ends:
            return
        starts = self._segments.starts(list(ends))
        try:
            await self._consumer.commit(self._segments.intents(ends))
        except (CommitFailedError, IllegalStateError) as exc:
            # Dropped from the group (or a partition taken meanwhile): publish nothing. The
            # records are replayed from the committed offsets, by their next owner or by
            # this worker, and counted then.
            self._start_over(starts, records, exc, "their drift counts are dropped unpublished")
            return
        # Every version's counts, a replaced one's too, before the offsets.
        segments = {tp.partition: start for tp, start in starts.items()}
        await self.publisher.publish(self.pipeline.drift_messages(segments))
        try:
            await self._consumer.commit(ends)
        except (CommitFailedError, IllegalStateError) as exc:
            # Dropped between the two commits: whoever replays these records stops where
            # the intent says and publishes the same partials again, replacing these ones.
            self._start_over(starts, records, exc, "their drift counts will be replaced")
            return
        self._segments.committed(ends)

    def _start_over(
        self, starts: dict[Any, int], records: int, refusal: Exception, counts: str
    ) -> None:
        """After a refused commit: forget what is not committed and replay it (the
        partitions this worker still has, from their committed offsets)."""
        starts = {**self._segments.starts(list(self._pending)), **starts}
        self._pending.clear()
        self._pending_records.clear()
        self.pipeline.discard_drift()
        assigned = self._consumer.assignment()
        for tp, start in starts.items():
            if tp in assigned:
                self._consumer.seek(tp, start)
        self._segments.forget()
        self.metrics.commit_refused.inc(records)
        log.warning(
            "the group refused to commit %d records (%r): they are scored again when "
            "replayed, and %s",
            records,
            refusal,
            counts,
        )


def attach_agent_scoring(
    app: faust.App,
    settings: Settings,
    options: WorkerOptions,
    pipeline: ScoringPipeline,
    metrics: WorkerMetrics,
) -> None:
    """The ``agent`` engine: a task polls batches, the agent scores and publishes each."""
    feed = BatchFeed(settings, options, pipeline, metrics)

    # concurrency=1: the feed hands over one batch at a time and commits in order.
    channel = BatchChannel(app)

    @app.agent(channel, concurrency=1, name=f"{settings.topic_prefix}score-records")
    async def score_records(batches: faust.StreamT[PolledBatch]) -> None:
        async for polled in batches:
            try:
                began = time.perf_counter()
                outputs = pipeline.outputs(polled.records)
                scored = time.perf_counter()
                delivery = await feed.publisher.send(outputs)
                # The publish seconds here: queueing; the acknowledgements overlap the next batch.
                metrics.batch(len(polled.records), scored - began, time.perf_counter() - scored)
            except BaseException as error:  # cancelled, or a bug: the feed re-raises it
                polled.done.set_exception(error)
                raise
            polled.done.set_result(delivery)

    async def score(batch: Sequence[InputRecord]) -> Delivery:
        polled = PolledBatch(batch, asyncio.get_running_loop().create_future())
        # Put as it is, not sent as a Faust event (``score_records.send``): Faust's stream
        # skips an event sent in an earlier generation of the Faust app's own group, or read
        # while that group rebalances, and the feed would wait for the skipped batch for ever.
        await channel.put(polled)  # type: ignore[arg-type]
        return await polled.done

    @app.task
    async def feed_records() -> None:
        await feed.run(score, lambda: bool(app.should_stop))


def attach_heartbeat(app: faust.App, metrics: WorkerMetrics) -> None:
    """A task that proves to ``/healthz`` that the event loop runs (both engines)."""

    @app.task
    async def heartbeat() -> None:
        await metrics.health.heartbeat(lambda: bool(app.should_stop))


def attach_model_watch(
    app: faust.App, followers: Sequence[ModelFollower[Any]], interval_s: float
) -> None:
    """A task that follows every model reference (both engines): see :mod:`.serving`."""

    @app.task
    async def follow_models() -> None:
        await asyncio.gather(
            *(follower.run(interval_s, lambda: bool(app.should_stop)) for follower in followers)
        )
