"""The scoring loop, on Faust's stream (``engine=faust``) or on a direct consumer.

Both engines run the same :class:`~.pipeline.ScoringPipeline` per batch and share its delivery rule,
which is what makes them at-least-once: a batch's input offsets are acknowledged (Faust) or
committed (direct) only after every output of the batch was acknowledged by the broker
(``acks=all``). Offsets are therefore never past an unwritten output.

- ``faust``: an agent (``concurrency=1``; a second concurrent instance could ack events out
  of order) reading ``stream.take_events``, which acknowledges a batch's events only when
  the agent asks for the next batch.
- ``direct``: a Faust task that owns an aiokafka consumer (own group, manual commits) and
  polls batches with ``getmany``. Same guarantees; faster, because it skips Faust's
  per-event machinery (event objects, queues, per-event acks), which costs about as much as
  validating and scoring a record; and it commits offsets only together with the drift
  counts of the records below them (see :mod:`scorestream.streams.drift_outputs`).

Both report to :class:`~.metrics.WorkerMetrics` once per batch (size, the two stages'
seconds) and per poll (lag): a few dictionary updates against milliseconds of scoring.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust

from scorestream.consumer_groups import scoring_group
from scorestream.observability.lag import aiokafka_lags
from scorestream.retry import Backoff, retry_async
from scorestream.settings import Settings
from scorestream.streams.app import WorkerOptions
from scorestream.streams.faust_lag import FaustLag
from scorestream.streams.metrics import WorkerMetrics
from scorestream.streams.pipeline import ScoringPipeline
from scorestream.streams.scoring import OutputMessage, RawRecord
from scorestream.streams.serving import ModelFollower

log = logging.getLogger(__name__)

Send = Callable[[str, bytes, bytes], Awaitable[Awaitable[Any]]]


async def publish(
    send: Send, messages: list[tuple[str, OutputMessage]], max_backoff_s: float = 30.0
) -> None:
    """Produce every message and wait until the broker acknowledged all of them.

    A failed delivery is retried, the whole batch again, with exponential backoff and
    without limit: the batch's input offsets stay unacknowledged meanwhile, so a broker
    outage stalls the worker instead of losing outputs. Retried messages may appear twice
    on their topic; every output is keyed by record id and the sink keeps one row per id.
    """

    async def send_all() -> None:
        pending = [await send(topic, message.key, message.value) for topic, message in messages]
        if pending:
            await asyncio.gather(*pending)

    await retry_async(
        send_all,
        what=f"publishing {len(messages)} outputs",
        # 0.4 s, 0.8 s ... up to max_backoff_s; any exception retries: never drop outputs.
        policy=Backoff(initial_s=0.4, max_s=max_backoff_s),
        log=log,
    )


def attach_scoring_agent(
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
                    value=event.message.value,
                    topic=event.message.topic,
                    partition=event.message.partition,
                    offset=event.message.offset,
                    timestamp_ms=int(event.message.timestamp * 1000),
                )
                for event in events
            ]
            lag.started(events)
            began = time.perf_counter()
            outputs = pipeline.outputs(batch)
            scored = time.perf_counter()
            await publish(send, outputs)
            metrics.batch(len(batch), scored - began, time.perf_counter() - scored)
            lag.finished()

    @app.timer(1.0)
    async def refresh_lag() -> None:
        # take_events yields nothing while the topic is idle: lag and readiness still move.
        lag.refresh()


def attach_direct_scoring(
    app: faust.App,
    settings: Settings,
    options: WorkerOptions,
    pipeline: ScoringPipeline,
    metrics: WorkerMetrics,
) -> None:
    """The ``direct`` engine: a task polling batches, committing after outputs and counts."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
    from aiokafka.errors import CommitFailedError

    from scorestream.contract.rejections import REJECTED_MAX_MESSAGE_BYTES

    @app.task
    async def score_records_directly() -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            # Not the Faust app's group: that one runs Faust's own assignor.
            group_id=scoring_group(settings.topic_prefix),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            check_crcs=False,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=3_000,
        )
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=1024 * 1024,
            max_request_size=REJECTED_MAX_MESSAGE_BYTES,
        )

        async def send(topic: str, key: bytes, value: bytes) -> Awaitable[Any]:
            return await producer.send(topic, value, key=key)

        # Offsets are committed only together with the drift counts of the records below
        # them, every `drift_flush_s`, before partitions are given away in a rebalance, and
        # on shutdown: so a crash can re-count only what it published just before dying.
        pending: dict[Any, int] = {}
        flushed_at = time.monotonic()
        lock = asyncio.Lock()

        async def flush_and_commit() -> None:
            nonlocal pending, flushed_at
            if pending:
                # Every version's counts, a replaced one's too, before the offsets.
                await publish(send, pipeline.drift_messages())
                try:
                    await consumer.commit(pending)
                except CommitFailedError as exc:
                    # The group moved on without us: the partitions' new owner replays
                    # (scores again, counts again) the records since the last commit.
                    log.warning("commit after a rebalance failed (%r)", exc)
            pending = {}
            flushed_at = time.monotonic()

        class FlushOnRevoke(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked: Any) -> None:
                async with lock:
                    await flush_and_commit()

            async def on_partitions_assigned(self, assigned: Any) -> None:
                pass

        health = metrics.health
        consumer.subscribe([settings.topics.records], listener=FlushOnRevoke())
        await consumer.start()
        await producer.start()
        try:
            while not app.should_stop:
                polled = await consumer.getmany(
                    timeout_ms=int(options.batch_within_s * 1000), max_records=options.batch_size
                )
                # The polled records count as waiting until their outputs are acknowledged.
                in_flight = {tp: rs[0].offset for tp, rs in polled.items() if rs}
                health.observe(*await aiokafka_lags(consumer, in_flight))
                async with lock:
                    batch = [
                        RawRecord(
                            value=r.value,
                            topic=r.topic,
                            partition=r.partition,
                            offset=r.offset,
                            timestamp_ms=r.timestamp,
                        )
                        for records in polled.values()
                        for r in records
                    ]
                    if batch:
                        began = time.perf_counter()
                        outputs = pipeline.outputs(batch)
                        scored = time.perf_counter()
                        await publish(send, outputs)
                        metrics.batch(len(batch), scored - began, time.perf_counter() - scored)
                        health.progressed()
                        health.observe(*await aiokafka_lags(consumer, {}))
                        pending.update({tp: rs[-1].offset + 1 for tp, rs in polled.items()})
                    if time.monotonic() - flushed_at >= options.drift_flush_s:
                        await flush_and_commit()
            async with lock:
                await flush_and_commit()
        finally:
            await producer.stop()
            await consumer.stop()


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
