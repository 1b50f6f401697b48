"""The ClickHouse sink: ``scores``, ``records.rejected`` and ``drift.stats`` into ClickHouse.

Two parts, after quix-streams' batching sink and checkpoint:

* :class:`ClickHouseSink` buffers decoded rows per topic (:meth:`~ClickHouseSink.add`);
  :meth:`~ClickHouseSink.write` holds the only code that talks to ClickHouse, and
  :meth:`~ClickHouseSink.flush` always clears the topic's buffer, whether the write
  succeeded or not.
* :class:`SinkRunner` is the consumer loop and the checkpoint: flush a topic, then commit
  its offsets. A failed flush commits nothing: the partitions are rewound to the first
  offset of the dropped batch and the whole consumer is paused (back-pressure) for an
  exponential backoff with jitter, after which the rows are read from Kafka again. So the
  buffer never grows past one batch per topic, however long ClickHouse is down.

Delivery is at-least-once: a crash between insert and commit replays the batch. The
tables are ReplacingMergeTree keyed by record id, and the product's queries
(:mod:`scorestream.consumers.queries`) read them with ``FINAL``, so a replayed row never
shows twice.
Servers that support it (22.8+, migration 0006) also drop a retried insert outright by its
``insert_deduplication_token``.

A message the sink cannot decode, or whose row ClickHouse refuses, becomes a
``rejected_records`` row (reason ``sink_decode_error`` / ``sink_insert_error``, with the
original bytes) instead of blocking its partition.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import hashlib
import logging
import random
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from aiokafka import ConsumerRebalanceListener
from orjson import loads as _loads

from scorestream.consumers.clickhouse import (
    applied_migrations,
    apply_migrations,
    check_identifier,
    make_client,
    server_version,
)
from scorestream.exceptions import DecodeError, MigrationError, SinkBackpressureError

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
    from clickhouse_driver import Client

    from scorestream.settings import Settings

log = logging.getLogger(__name__)

Row = tuple[Any, ...]
DEDUP_TOKEN_MIN_VERSION = (22, 8)
DEDUP_MIGRATION = "0006"


@dataclass(frozen=True)
class TableSpec:
    """A table the sink writes and the columns it supplies, in insert order."""

    name: str
    columns: tuple[str, ...]

    def insert_sql(self, database: str) -> str:
        return (
            f"INSERT INTO {check_identifier(database)}.{check_identifier(self.name)} "
            f"({', '.join(self.columns)}) VALUES"
        )


SCORES = TableSpec(
    "scores",
    (
        "id",
        "event_time",
        "event_time_ms",
        "scored_at",
        "scored_at_ms",
        "model_name",
        "model_version",
        "score",
        "label",
        "latency_ms",
        "source_partition",
        "source_offset",
    ),
)
REJECTED = TableSpec(
    "rejected_records",
    (
        "id",
        "reason",
        "field",
        "message",
        "source_topic",
        "source_partition",
        "source_offset",
        "ingested_at",
        "rejected_at",
        "rejected_at_ms",
        "payload",
    ),
)
DRIFT_STATS = TableSpec(
    "drift_stats",
    (
        "minute",
        "feature",
        "kind",
        "model_version",
        "batch_id",
        "counts",
        "count",
        "missing",
        "sum",
        "sumsq",
        "emitted_at_ms",
    ),
)
DRIFT_EVENTS = TableSpec(
    "drift_events",
    (
        "detected_at",
        "detected_at_ms",
        "minute",
        "feature",
        "detector",
        "value",
        "model_version",
        "event_id",
    ),
)


# --- decoding (pure functions) -------------------------------------------------------------
Decoded = tuple[TableSpec, list[Row]]
Decoder = Callable[[bytes | None], Decoded]


def _object(value: bytes | None) -> dict[str, Any]:
    if not value:
        raise DecodeError("empty message")
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise DecodeError(f"expected a JSON object, got {type(doc).__name__}")
    return doc


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise DecodeError(f"{name} must be a string, got {type(value).__name__}", name)
    return value


def _failure(exc: Exception) -> DecodeError:
    """The DecodeError for a KeyError/TypeError/ValueError raised while reading fields."""
    if isinstance(exc, DecodeError):
        return exc
    if isinstance(exc, KeyError):
        return DecodeError(f"missing field {exc.args[0]!r}", str(exc.args[0]))
    return DecodeError(f"{type(exc).__name__}: {exc}")


def _guarded(decode: Callable[[dict[str, Any]], Decoded]) -> Decoder:
    """Parse the message, then turn field-access errors of ``decode`` into DecodeError."""

    def wrapper(value: bytes | None) -> Decoded:
        doc = _object(value)
        try:
            return decode(doc)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _failure(exc) from None

    wrapper.__name__ = decode.__name__
    wrapper.__doc__ = decode.__doc__
    return wrapper


def decode_score(value: bytes | None) -> Decoded:
    """A ``scores`` message -> one ``scores`` row.

    Written out flat (no helper calls): it runs once per scored record.

    >>> msg = (b'{"id": "a", "event_time": "2024-05-01T12:00:00Z", "event_time_ms": '
    ...        b'1714564800000, "scored_at_ms": 1714564801500, "model_name": "m", '
    ...        b'"model_version": "v1", "score": 0.25, "label": 1, "latency_ms": 3, '
    ...        b'"partition": 2, "offset": 7}')
    >>> decode_score(msg)[1]
    [('a', 1714564800, 1714564800000, 1714564801, 1714564801500, 'm', 'v1', 0.25, '1', 3,
      2, 7)]
    """
    if value is None:
        raise DecodeError("empty message (null value)")
    try:
        doc = _loads(value)
        if type(doc) is not dict:
            raise DecodeError(f"expected a JSON object, got {type(doc).__name__}")
        record_id = doc["id"]
        if type(record_id) is not str:
            raise DecodeError(f"id must be a string, got {type(record_id).__name__}", "id")
        event_ms = int(doc["event_time_ms"])
        scored_ms = int(doc["scored_at_ms"])
        # DateTime columns take epoch seconds as ints: no datetime objects on the hot path.
        return SCORES, [
            (
                record_id,
                event_ms // 1000,
                event_ms,
                scored_ms // 1000,
                scored_ms,
                str(doc["model_name"]),
                str(doc["model_version"]),
                float(doc["score"]),
                str(doc["label"]),
                int(doc["latency_ms"]),
                int(doc["partition"]),
                int(doc["offset"]),
            )
        ]
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"invalid JSON: {exc}" if value else "empty message") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _failure(exc) from None


@_guarded
def decode_rejected(doc: dict[str, Any]) -> Decoded:
    """A ``records.rejected`` message -> one ``rejected_records`` row (payload as bytes)."""
    rejected_ms = int(doc["rejected_at_ms"])
    try:
        payload = base64.b64decode(doc["payload_base64"], validate=True)
    except (ValueError, TypeError) as exc:
        raise DecodeError(f"payload_base64 is not base64: {exc}", "payload_base64") from None
    return REJECTED, [
        (
            str(doc.get("id") or ""),
            str(doc["reason"]),
            str(doc.get("field") or ""),
            str(doc.get("message") or ""),
            str(doc["source_topic"]),
            int(doc["source_partition"]),
            int(doc["source_offset"]),
            int(doc["ingested_at_ms"]) // 1000,
            rejected_ms // 1000,
            rejected_ms,
            payload,
        )
    ]


@_guarded
def decode_drift(doc: dict[str, Any]) -> Decoded:
    """A ``drift.stats`` message -> ``drift_stats`` rows (``bins``) or a ``drift_events`` row."""
    kind = doc.get("type")
    if kind == "bins":
        batch_id = str(doc["batch_id"])
        model_version = str(doc["model_version"])
        emitted_ms = int(doc["emitted_at_ms"])
        rows = [
            (
                int(r["minute_ms"]) // 1000,
                str(r["feature"]),
                str(r["kind"]),
                model_version,
                batch_id,
                [int(c) for c in r["counts"]],
                int(r["count"]),
                int(r["missing"]),
                float(r["sum"]),
                float(r["sumsq"]),
                emitted_ms,
            )
            for r in doc["rows"]
        ]
        return DRIFT_STATS, rows
    if kind == "change":
        detected_ms = int(doc["detected_at_ms"])
        return DRIFT_EVENTS, [
            (
                detected_ms // 1000,
                detected_ms,
                int(doc["minute_ms"]) // 1000,
                str(doc["feature"]),
                str(doc["detector"]),
                float(doc["value"]),
                str(doc["model_version"]),
                str(doc["event_id"]),
            )
        ]
    raise DecodeError(f"unknown drift.stats message type {kind!r}", "type")


def rejection_row(
    record: ConsumerRecord, reason: str, message: str, field: str = "", now_ms: int | None = None
) -> Row:
    """A ``rejected_records`` row for a message the sink could not store.

    Built only from values that always insert (the key as text, ints in range, the raw
    bytes), so that the rejection of a poison message cannot itself be poison.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    ingested_ms = record.timestamp if record.timestamp and record.timestamp > 0 else now_ms
    return (
        _record_id(record),
        reason,
        field,
        message[:2000],
        record.topic,
        record.partition,
        record.offset,
        ingested_ms // 1000,
        now_ms // 1000,
        now_ms,
        record.value or b"",
    )


def _record_id(record: ConsumerRecord) -> str:
    # Producers key every message by its record id.
    if record.key:
        return bytes(record.key).decode("utf-8", "replace")
    try:
        value = orjson.loads(record.value or b"")
        found = value.get("id") if isinstance(value, dict) else None
        return found.encode("utf-8", "replace").decode() if isinstance(found, str) else ""
    except (orjson.JSONDecodeError, UnicodeError):
        return ""


# --- error classification ------------------------------------------------------------------
# Server error codes that say "not now" (or "the schema is missing") rather than "not this
# row": the batch is retried later instead of being bisected into rejections.
TRANSIENT_CODES = frozenset(
    {
        3,  # UNEXPECTED_END_OF_FILE
        16,  # NO_SUCH_COLUMN_IN_TABLE (schema being migrated)
        60,  # UNKNOWN_TABLE
        81,  # UNKNOWN_DATABASE
        159,  # TIMEOUT_EXCEEDED
        164,  # READONLY
        173,  # CANNOT_ALLOCATE_MEMORY
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        203,  # NO_FREE_CONNECTION
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY
        243,  # NOT_ENOUGH_SPACE
        252,  # TOO_MANY_PARTS
        285,  # TOO_FEW_LIVE_REPLICAS
        319,  # UNKNOWN_STATUS_OF_INSERT
        394,  # QUERY_WAS_CANCELLED
        425,  # SYSTEM_ERROR
        439,  # CANNOT_SCHEDULE_TASK
        497,  # ACCESS_DENIED
        516,  # AUTHENTICATION_FAILED
        999,  # KEEPER_EXCEPTION
    }
)
SCHEMA_CODES = frozenset({16, 60, 81})


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` says ClickHouse cannot take the batch now (retry), False when it
    refuses the data itself (isolate the poison rows).

    Errors of unknown kinds count as transient: blocking and logging is safer than
    turning a whole batch into rejections because of a bug.
    """
    from clickhouse_driver import errors

    if isinstance(exc, errors.ServerException):
        if exc.code == 252 and "partitions for single INSERT block" in str(exc):
            return False  # a backfill spanning many days: smaller inserts will pass
        return exc.code in TRANSIENT_CODES
    # A value the client could not serialise means that row is poison; anything else
    # (NetworkError, SocketTimeoutError, EOFError, OSError, unknown kinds) is transient.
    return not isinstance(
        exc, (errors.TypeMismatchError, TypeError, ValueError, OverflowError, struct.error)
    )


# --- the batching sink ---------------------------------------------------------------------
@dataclass
class TableRows:
    """Rows for one table and, for each, the index of the message it came from."""

    spec: TableSpec
    rows: list[Row] = field(default_factory=list)
    origin: list[int] = field(default_factory=list)


class SinkBatch:
    """What one topic delivered since its last flush."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.records: list[ConsumerRecord] = []
        self.tables: dict[str, TableRows] = {}
        # partition -> [first offset, last offset, timestamp of the first message]
        self.offsets: dict[int, list[int]] = {}
        self.started = time.monotonic()
        self.rows = 0
        self.decode_errors = 0

    def table(self, spec: TableSpec) -> TableRows:
        rows = self.tables.get(spec.name)
        if rows is None:
            rows = self.tables[spec.name] = TableRows(spec)
        return rows

    def offset_ranges(self) -> str:
        """``p0 120-4119, p3 7-2006`` for the flush log line."""
        return ", ".join(
            f"p{p} {first}-{last}" for p, (first, last, _) in sorted(self.offsets.items())
        )

    def dedup_token(self, spec: TableSpec, part: str = "") -> str:
        """An insert deduplication token: the same messages give the same token.

        The first message's timestamp tells a recreated topic's offsets from the old ones.
        """
        ranges = ",".join(f"{p}:{a}-{b}@{ts}" for p, (a, b, ts) in sorted(self.offsets.items()))
        text = f"{self.topic}|{spec.name}|{ranges}|{part}"
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class FlushResult:
    """What a successful write stored."""

    topic: str
    rows: dict[str, int]
    rejected: int
    offsets: dict[int, tuple[int, int]]
    offset_ranges: str
    inserts: int
    lost: int = 0


class ClickHouseSink:
    """Batching sink: ``add`` buffers per topic, ``write`` talks to ClickHouse, ``flush``
    always clears.

    Parameters
    ----------
    client
        clickhouse-driver client (any database; tables are qualified).
    database
        Database holding the tables (a plain identifier).
    decoders
        Topic name -> decoder of its messages.
    columnar
        Insert column-wise (the default) or row-wise (for comparison in the benchmark).
    dedup_tokens
        Send ``insert_deduplication_token`` (servers 22.8+ with migration 0006).
    """

    def __init__(
        self,
        client: Client,
        database: str,
        decoders: dict[str, Decoder],
        *,
        columnar: bool = True,
        dedup_tokens: bool = False,
    ) -> None:
        self.client = client
        self.database = check_identifier(database)
        self.decoders = decoders
        self.columnar = columnar
        self.dedup_tokens = dedup_tokens
        self._batches: dict[str, SinkBatch] = {}

    def __repr__(self) -> str:
        return f"<ClickHouseSink {self.database} topics={sorted(self.decoders)}>"

    # buffering
    def add(self, topic: str, partition: int, records: Sequence[ConsumerRecord]) -> int:
        """Decode ``records`` (one partition, in offset order) into the topic's batch.

        Returns the number of rows the batch grew by.
        """
        if not records:
            return 0
        batch = self._batches.get(topic)
        if batch is None:
            batch = self._batches[topic] = SinkBatch(topic)
        decode = self.decoders[topic]
        before = batch.rows
        base = len(batch.records)
        batch.records.extend(records)
        current_spec: TableSpec | None = None
        target: TableRows | None = None
        for index, record in enumerate(records, base):
            try:
                spec, rows = decode(record.value)
            except DecodeError as exc:
                rejected = batch.table(REJECTED)
                rejected.rows.append(
                    rejection_row(record, "sink_decode_error", str(exc), exc.field)
                )
                rejected.origin.append(index)
                batch.rows += 1
                batch.decode_errors += 1
                continue
            if spec is not current_spec:
                current_spec, target = spec, batch.table(spec)
            assert target is not None
            if len(rows) == 1:
                target.rows.append(rows[0])
                target.origin.append(index)
            else:
                target.rows.extend(rows)
                target.origin.extend([index] * len(rows))
            batch.rows += len(rows)
        span = batch.offsets.get(partition)
        if span is None:
            batch.offsets[partition] = [records[0].offset, records[-1].offset, records[0].timestamp]
        else:
            span[1] = records[-1].offset
        return batch.rows - before

    def pending(self) -> dict[str, SinkBatch]:
        """The batches being filled, by topic (a copy of the mapping)."""
        return dict(self._batches)

    def drop(self, topic: str) -> SinkBatch | None:
        """Forget a topic's batch without writing it."""
        return self._batches.pop(topic, None)

    def flush(self, topic: str) -> FlushResult | None:
        """Write the topic's batch; the batch is gone afterwards, written or not."""
        batch = self._batches.pop(topic, None)
        if batch is None or not batch.records:
            return None
        return self.write(batch)

    # the only code that talks to ClickHouse
    def write(self, batch: SinkBatch) -> FlushResult:
        """Insert a batch; isolate poison rows into ``rejected_records``.

        Raises
        ------
        SinkBackpressureError
            ClickHouse cannot take the batch now; nothing of it should be committed.
        """
        inserts = 0
        stored: dict[str, int] = {}
        poison: dict[int, str] = {}
        for name, table in batch.tables.items():
            if name == REJECTED.name or not table.rows:
                continue
            failed, count = self._insert_isolating(batch, table.spec, table.rows, table.origin, 0)
            inserts += count
            for index, error in failed:
                poison.setdefault(index, error)
            stored[name] = len(table.rows) - len(failed)

        rejected = batch.tables.get(REJECTED.name) or TableRows(REJECTED)
        rows, origin = list(rejected.rows), list(rejected.origin)
        now_ms = int(time.time() * 1000)
        for index, error in sorted(poison.items()):
            rows.append(
                rejection_row(batch.records[index], "sink_insert_error", error, now_ms=now_ms)
            )
            origin.append(index)
        lost = 0
        if rows:
            failed, count = self._insert_isolating(batch, REJECTED, rows, origin, 0)
            inserts += count
            if failed:
                # Rows of the records.rejected topic that ClickHouse refuses get a plain
                # rejection of their own; a sink rejection that fails is beyond help.
                retry = [
                    rejection_row(batch.records[i], "sink_insert_error", error, now_ms=now_ms)
                    for i, error in failed
                ]
                again, count = self._insert_isolating(
                    batch, REJECTED, retry, [i for i, _ in failed], 1
                )
                inserts += count
                for index, error in again:
                    record = batch.records[index]
                    log.error(
                        "dropping message %s[%d]@%d: not even its rejection row "
                        "could be stored: %s",
                        record.topic,
                        record.partition,
                        record.offset,
                        error,
                    )
                lost = len(again)
                poison.update((i, e) for i, e in failed if i not in poison)
            stored[REJECTED.name] = len(rows) - lost
        return FlushResult(
            topic=batch.topic,
            rows=stored,
            rejected=batch.decode_errors + len(poison),
            inserts=inserts,
            lost=lost,
            offsets={p: (a, b) for p, (a, b, _) in batch.offsets.items()},
            offset_ranges=batch.offset_ranges(),
        )

    def _insert_isolating(
        self, batch: SinkBatch, spec: TableSpec, rows: list[Row], origin: list[int], attempt: int
    ) -> tuple[list[tuple[int, str]], int]:
        """Insert ``rows``; on a data error, bisect to the rows ClickHouse refuses.

        Returns the refused rows as ``(message index, error)`` and the number of inserts.
        """
        failed: list[tuple[int, str]] = []
        inserts = 0
        stack = [(0, len(rows))]
        while stack:
            lo, hi = stack.pop()
            part = f"{attempt}:{lo}-{hi}"
            try:
                inserts += 1
                self._insert(spec, rows[lo:hi], batch.dedup_token(spec, part))
            except Exception as exc:
                if is_transient(exc):
                    raise SinkBackpressureError(f"{type(exc).__name__}: {exc}") from exc
                if hi - lo == 1:
                    failed.append((origin[lo], f"{type(exc).__name__}: {exc}"))
                else:
                    mid = (lo + hi) // 2
                    stack.extend([(mid, hi), (lo, mid)])
        return failed, inserts

    def _insert(self, spec: TableSpec, rows: Sequence[Row], token: str) -> None:
        settings = {"insert_deduplication_token": token} if self.dedup_tokens else None
        sql = spec.insert_sql(self.database)
        if self.columnar:
            # One comprehension per column beats zip(*rows) on 20k-row batches, and the
            # driver wants a mutable list per column.
            columns = [[row[i] for row in rows] for i in range(len(spec.columns))]
            self.client.execute(sql, columns, columnar=True, settings=settings)
        else:
            self.client.execute(sql, list(rows), settings=settings)


# --- the consumer loop and checkpoint ------------------------------------------------------
@dataclass(frozen=True)
class SinkOptions:
    """Tuning of :class:`SinkRunner` (CLI flags of ``scorestream sink``)."""

    batch_size: int = 20_000
    flush_interval_s: float = 1.0
    once: bool = False
    group_id: str | None = None
    instance_id: str | None = None
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    columnar: bool = True
    # --once: give up waiting for a partition assignment after this long.
    assignment_timeout_s: float = 60.0


@dataclass
class SinkStats:
    """Counters of one run."""

    messages: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    lost: int = 0
    flushes: int = 0
    failed_flushes: int = 0
    first_message_at: float | None = None
    last_flush_at: float | None = None

    def rows_per_second(self) -> float:
        if self.first_message_at is None or self.last_flush_at is None:
            return 0.0
        elapsed = self.last_flush_at - self.first_message_at
        return sum(self.rows.values()) / elapsed if elapsed > 0 else 0.0


def topic_decoders(settings: Settings) -> dict[str, Decoder]:
    """The sink's topics and how each is decoded."""
    topics = settings.topics
    return {
        topics.scores: decode_score,
        topics.rejected: decode_rejected,
        topics.drift_stats: decode_drift,
    }


class SinkRunner:
    """Consume the sink's topics as one consumer group; flush, then commit.

    Never exits on a ClickHouse outage; stops on :meth:`request_stop` (SIGTERM/SIGINT in
    the CLI) after flushing and committing what it holds, or, with ``once``, when it has
    caught up with the end offsets it saw.
    """

    def __init__(self, settings: Settings, options: SinkOptions | None = None) -> None:
        self.settings = settings
        self.options = options or SinkOptions()
        self.group_id = self.options.group_id or f"{settings.topic_prefix}scorestream-sink"
        self.database = check_identifier(settings.clickhouse.database)
        self.stats = SinkStats()
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self._failures = 0
        self._retry_at: float | None = None
        self._need_migrations = False
        self._consumer: AIOKafkaConsumer | None = None
        self._sink: ClickHouseSink | None = None
        self._end_offsets: dict[TopicPartition, int] | None = None

    def request_stop(self) -> None:
        """Ask the loop to flush, commit and return."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def run(self) -> SinkStats:
        """Run until stopped (or drained, with ``once``); returns the counters."""
        from aiokafka import AIOKafkaConsumer

        from scorestream.topics import ensure_topics

        decoders = topic_decoders(self.settings)
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
                    continue
            timeout = 0.05 if sink.pending() else min(options.flush_interval_s, 0.5)
            fetched = await consumer.getmany(
                timeout_ms=int(timeout * 1000), max_records=options.batch_size
            )
            for tp, records in fetched.items():
                if self.stats.first_message_at is None:
                    self.stats.first_message_at = time.perf_counter()
                self.stats.messages += len(records)
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
                self._rewind(batch)
                self._enter_backoff(exc)
                return False
            if result is None:
                return True
            self._failures = 0
            offsets = {_tp(topic, p): last + 1 for p, (_, last) in result.offsets.items()}
            committed = await self._commit(offsets)
            elapsed_ms = (time.perf_counter() - began) * 1000
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
        ceiling = min(
            self.options.backoff_max_s, self.options.backoff_initial_s * 2 ** (self._failures - 1)
        )
        # "Equal jitter": never less than half the step, so sinks restarting together
        # spread out without hammering a recovering server.
        delay = random.uniform(ceiling / 2, ceiling)
        self._retry_at = time.monotonic() + delay
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
        apply_migrations(sink.client, self.database)
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
        failures = 0
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(action)
                return True
            except MigrationError:
                raise
            except Exception as exc:
                failures += 1
                ceiling = min(
                    self.options.backoff_max_s, self.options.backoff_initial_s * 2 ** (failures - 1)
                )
                delay = random.uniform(ceiling / 2, ceiling)
                log.warning(
                    "%s failed (%s: %s); retry %d in %.1f s",
                    what,
                    type(exc).__name__,
                    exc,
                    failures,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
        return False


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


def tune_gc() -> None:
    """Fewer, cheaper garbage collections, for a process that is mostly the sink.

    A batch is tens of thousands of short-lived row tuples: with CPython's default
    thresholds the collector runs hundreds of times per batch and its full passes scan every
    live object, which halves the sink's throughput. Objects alive at start-up are frozen
    (never scanned again) and the youngest generation is collected every 50,000 allocations.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def run_sink(settings: Settings, options: SinkOptions | None = None) -> SinkStats:
    """Run the sink in this thread until SIGTERM/SIGINT (or drained, with ``once``).

    Tunes the garbage collector for the process (:func:`tune_gc`).
    """
    import signal

    tune_gc()

    async def main() -> SinkStats:
        runner = SinkRunner(settings, options)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, runner.request_stop)
        try:
            return await runner.run()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)

    return asyncio.run(main())
