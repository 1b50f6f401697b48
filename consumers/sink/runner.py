"""The sink's consumer loop and checkpoint: flush a topic, then commit its offsets.

A failed flush commits nothing: the partitions are rewound to the first offset of the
dropped batch and the whole consumer is paused (back-pressure) for a backoff
(:class:`scorestream.retry.Backoff`), after which the rows are read from Kafka again. So the
buffer never grows past one batch per topic, however long ClickHouse is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from aiokafka import ConsumerRebalanceListener

from scorestream.consumer_groups import sink_group
from scorestream.consumers.clickhouse import (
    applied_migrations,
    apply_migrations,
    make_client,
    server_version,
)
from scorestream.consumers.sink.batch import SinkBatch
from scorestream.consumers.sink.decoders import Decoder, topic_decoders
from scorestream.consumers.sink.errors import SCHEMA_CODES
from scorestream.consumers.sink.metrics import SinkMetrics
from scorestream.consumers.sink.options import SinkOptions, SinkStats
from scorestream.consumers.sink.sink import ClickHouseSink
from scorestream.contract.tables import check_identifier
from scorestream.exceptions import MigrationError, SinkBackpressureError
from scorestream.membership import REBALANCE_TIMEOUT_MS, heartbeat_interval_ms
from scorestream.observability.lag import aiokafka_lags
from scorestream.retry import Backoff, retry_async

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from scorestream.settings import Settings

log = logging.getLogger(__name__)

DEDUP_TOKEN_MIN_VERSION = (22, 8)
DEDUP_MIGRATION = "0006"


class SinkRunner:
    """Consume the sink's topics as one consumer group; flush, then commit.

    Never exits on a ClickHouse outage; stops on :meth:`request_stop` (SIGTERM/SIGINT in
    the CLI) after flushing and committing what it holds, or, with ``once``, when it has
    caught up with the end offsets it saw.
    """

    def __init__(
        self,
        settings: Settings,
        options: SinkOptions | None = None,
        metrics: SinkMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.options = options or SinkOptions()
        self.metrics = metrics or SinkMetrics(settings)
        self.group_id = self.options.group_id or sink_group(settings.topic_prefix)
        self.database = check_identifier(settings.clickhouse.database)
        self.stats = SinkStats()
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self._failures = 0
        self._backoff = Backoff(self.options.backoff_initial_s, self.options.backoff_max_s)
        self._retry_at: float | None = None
        self._need_migrations = False
        self._consumer: AIOKafkaConsumer | None = None
        self._sink: ClickHouseSink | None = None
        self._end_offsets: dict[TopicPartition, int] | None = None
        # End offsets asked of the broker while paused (nothing is fetched then).
        self._paused_ends: dict[TopicPartition, int] = {}
        self._paused_ends_at = 0.0

    def request_stop(self) -> None:
        """Ask the loop to flush, commit and return."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def run(self) -> SinkStats:
        """Run until stopped (or drained, with ``once``); returns the counters."""
        decoders = topic_decoders(self.settings)
        self.metrics.prepare(list(decoders))
        heartbeat = asyncio.create_task(self.metrics.health.heartbeat(self._stop.is_set))
        try:
            return await self._run(decoders)
        finally:
            heartbeat.cancel()

    async def _run(self, decoders: dict[str, Decoder]) -> SinkStats:
        from aiokafka import AIOKafkaConsumer

        from scorestream.topics import ensure_topics

        if not await self._retry_until_ok(
            "create topics", lambda: ensure_topics(self.settings, list(decoders))
        ):
            return self.stats
        client = make_client(self.settings.clickhouse)
        self._sink = ClickHouseSink(client, self.database, decoders, columnar=self.options.columnar)
        if not await self._retry_until_ok("apply migrations", self._migrate):
            return self.stats
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=self.group_id,
            group_instance_id=self.options.instance_id,
            session_timeout_ms=int(self.options.session_timeout_s * 1000),
            heartbeat_interval_ms=heartbeat_interval_ms(self.options.session_timeout_s),
            rebalance_timeout_ms=REBALANCE_TIMEOUT_MS,
            client_id=f"{self.group_id}-{self.options.instance_id or 'member'}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            max_poll_records=self.options.batch_size,
        )
        self._consumer = consumer
        await consumer.start()
        try:
            consumer.subscribe(list(decoders), listener=_Rebalance(self))
            await self._loop()
            await self._shutdown()
        finally:
            await consumer.stop()
            client.disconnect()
        return self.stats

    async def _loop(self) -> None:
        consumer, sink = self._consumer, self._sink
        assert consumer is not None and sink is not None
        options = self.options
        started = time.monotonic()
        while not self._stop.is_set():
            if self._retry_at is not None:
                await self._backpressure()
                if self._retry_at is not None:
                    await self._observe()
                    continue
            timeout = 0.05 if sink.pending() else min(options.flush_interval_s, 0.5)
            fetched = await consumer.getmany(
                timeout_ms=int(timeout * 1000), max_records=options.batch_size
            )
            for tp, records in fetched.items():
                if self.stats.first_message_at is None:
                    self.stats.first_message_at = time.perf_counter()
                self.stats.messages += len(records)
                self.metrics.consumed.labels(tp.topic).inc(len(records))
                sink.add(tp.topic, tp.partition, records)
            now = time.monotonic()
            for topic, batch in sink.pending().items():
                if self._retry_at is not None:
                    break
                if (
                    batch.rows >= options.batch_size
                    or now - batch.started >= options.flush_interval_s
                ):
                    await self._checkpoint(topic)
            if options.once and not fetched and await self._caught_up(started):
                if not sink.pending():
                    break
                # Caught up: store the tail now instead of waiting for the flush interval.
                for topic in list(sink.pending()):
                    if self._retry_at is not None or not await self._checkpoint(topic):
                        break
            await self._observe()

    async def _observe(self) -> None:
        """Lag per partition for the metrics and /readyz: buffered rows count as waiting."""
        consumer, sink = self._consumer, self._sink
        assert consumer is not None and sink is not None
        in_flight = {
            _tp(topic, partition): span[0]
            for topic, batch in sink.pending().items()
            for partition, span in batch.offsets.items()
        }
        ends = None
        if self._retry_at is not None:
            # Paused: the lag must still grow with what arrives meanwhile (once a second).
            if time.monotonic() - self._paused_ends_at >= 1.0:
                self._paused_ends_at = time.monotonic()
                with contextlib.suppress(Exception):  # Kafka may be away too: keep the last
                    self._paused_ends = await asyncio.wait_for(
                        consumer.end_offsets(list(consumer.assignment())), 2.0
                    )
            ends = self._paused_ends
        self.metrics.health.observe(*await aiokafka_lags(consumer, in_flight, ends))

    async def _checkpoint(self, topic: str) -> bool:
        """Flush one topic, then commit its offsets; False when the flush failed."""
        consumer, sink = self._consumer, self._sink
        assert consumer is not None and sink is not None
        async with self._lock:
            batch = sink.pending().get(topic)
            if batch is None:
                return True
            began = time.perf_counter()
            try:
                result = await asyncio.to_thread(sink.flush, topic)
            except SinkBackpressureError as exc:
                self.stats.failed_flushes += 1
                self.metrics.flush_failures.labels(topic).inc()
                self._rewind(batch)
                self._enter_backoff(exc)
                return False
            if result is None:
                return True
            self._failures = 0
            offsets = {_tp(topic, p): last + 1 for p, (_, last) in result.offsets.items()}
            committed = await self._commit(offsets)
            elapsed_ms = (time.perf_counter() - began) * 1000
            self.metrics.flushed(
                topic, result.rows, result.rejected, result.lost, elapsed_ms / 1000
            )
            self.stats.flushes += 1
            self.stats.rejected += result.rejected
            self.stats.lost += result.lost
            for table, count in result.rows.items():
                self.stats.rows[table] = self.stats.rows.get(table, 0) + count
            self.stats.last_flush_at = time.perf_counter()
            tables = ", ".join(f"{t} {n}" for t, n in sorted(result.rows.items()))
            log.info(
                "flush %s [%s]: %d rows (%s), %d rejected, %.0f ms%s",
                topic,
                result.offset_ranges,
                sum(result.rows.values()),
                tables,
                result.rejected,
                elapsed_ms,
                "" if committed else ", NOT committed",
            )
            return True

    async def _commit(self, offsets: dict[TopicPartition, int]) -> bool:
        from aiokafka.errors import KafkaError

        consumer = self._consumer
        assert consumer is not None
        try:
            await consumer.commit(offsets)
            return True
        except KafkaError as exc:
            self.metrics.commit_failures.inc()
            # The rows are in ClickHouse; the next owner of these partitions replays them
            # and FINAL (and the dedup token, where supported) hides the replay.
            log.warning(
                "offset commit failed after insert (%s); the batch will be "
                "replayed and deduplicated",
                exc,
            )
            return False

    def _rewind(self, batch: SinkBatch) -> None:
        """Seek the batch's partitions back to its first offsets (nothing was committed)."""
        from aiokafka.errors import IllegalStateError

        consumer = self._consumer
        assert consumer is not None
        assigned = consumer.assignment()
        for partition, (first, _, _) in batch.offsets.items():
            tp = _tp(batch.topic, partition)
            if tp in assigned:
                with contextlib.suppress(IllegalStateError):
                    consumer.seek(tp, first)

    def _enter_backoff(self, exc: BaseException) -> None:
        consumer = self._consumer
        assert consumer is not None
        self._failures += 1
        delay = self._backoff.delay(self._failures)
        self._retry_at = time.monotonic() + delay
        self.metrics.retries.inc()
        self.metrics.backing_off.set(1)
        if isinstance(exc.__cause__, Exception) and _schema_missing(exc.__cause__):
            self._need_migrations = True
        consumer.pause(*consumer.assignment())
        log.warning(
            "ClickHouse cannot take inserts (%s); consumer paused, uncommitted "
            "batch rewound, retry %d in %.1f s",
            exc,
            self._failures,
            delay,
        )

    async def _backpressure(self) -> None:
        """While backing off: keep polling (group membership), probe, then resume."""
        consumer, sink = self._consumer, self._sink
        assert consumer is not None and sink is not None and self._retry_at is not None
        # Newly assigned partitions arrive unpaused; nothing is fetched during backoff.
        consumer.pause(*consumer.assignment())
        wait = max(0.0, min(self._retry_at - time.monotonic(), 0.5))
        await consumer.getmany(timeout_ms=int(wait * 1000))
        if self._stop.is_set() or time.monotonic() < self._retry_at:
            return
        try:
            await asyncio.to_thread(sink.client.execute, "SELECT 1")
            if self._need_migrations:
                await asyncio.to_thread(self._migrate)
                self._need_migrations = False
        except MigrationError:
            raise
        except Exception as exc:
            self._enter_backoff(SinkBackpressureError(f"{type(exc).__name__}: {exc}"))
            return
        self._retry_at = None
        self.metrics.backing_off.set(0)
        consumer.resume(*consumer.paused())
        log.info("ClickHouse answers again; consumer resumed")

    async def _caught_up(self, started: float) -> bool:
        """True when every assigned partition has been read up to the end offsets seen."""
        consumer = self._consumer
        assert consumer is not None
        if self._retry_at is not None:
            return False
        assignment = consumer.assignment()
        if not assignment:
            if time.monotonic() - started > self.options.assignment_timeout_s:
                log.warning(
                    "no partitions assigned within %.0f s; nothing to drain",
                    self.options.assignment_timeout_s,
                )
                return True
            return False
        if self._end_offsets is None or set(self._end_offsets) != assignment:
            self._end_offsets = await consumer.end_offsets(list(assignment))
        for tp in assignment:
            if await consumer.position(tp) < self._end_offsets[tp]:
                return False
        return True

    async def _shutdown(self) -> None:
        sink = self._sink
        assert sink is not None
        if self._retry_at is not None:
            return  # the rewound batches are uncommitted and will be read again
        for topic in list(sink.pending()):
            await self._checkpoint(topic)

    async def on_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        """Before a rebalance: store and commit what we hold, or drop it for a re-read."""
        sink = self._sink
        if sink is None:
            return
        if self._retry_at is None:
            for topic in list(sink.pending()):
                if not await self._checkpoint(topic):
                    break
        async with self._lock:
            for topic in list(sink.pending()):
                sink.drop(topic)
        self._end_offsets = None

    def _migrate(self) -> None:
        sink = self._sink
        assert sink is not None
        apply_migrations(sink.client, self.database, cluster=self.settings.clickhouse.cluster)
        version = server_version(sink.client)
        sink.dedup_tokens = (
            version >= DEDUP_TOKEN_MIN_VERSION
            and applied_migrations(sink.client, self.database).get(DEDUP_MIGRATION) == "applied"
        )
        log.info(
            "ClickHouse %s, database %s ready; insert deduplication tokens %s",
            ".".join(map(str, version)),
            self.database,
            "on" if sink.dedup_tokens else "off (server too old)",
        )

    async def _retry_until_ok(self, what: str, action: Callable[[], object]) -> bool:
        """Run a blocking start-up step until it succeeds; False if stopped first."""

        async def attempt() -> bool:
            await asyncio.to_thread(action)
            return True

        done = await retry_async(
            attempt,
            what=what,
            policy=self._backoff,
            log=log,
            give_up=(MigrationError,),
            stop=self._stop,
        )
        return bool(done)


def _schema_missing(exc: Exception) -> bool:
    return getattr(exc, "code", None) in SCHEMA_CODES


def _tp(topic: str, partition: int) -> TopicPartition:
    from aiokafka import TopicPartition

    return TopicPartition(topic, partition)


class _Rebalance(ConsumerRebalanceListener):
    """aiokafka rebalance listener that checkpoints before partitions move."""

    def __init__(self, runner: SinkRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self.runner.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        log.info(
            "assigned %s",
            ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(assigned)) or "nothing",
        )
