"""The batching sink: ``add`` buffers per topic, ``write`` holds the only ClickHouse code,
``flush`` always clears (after quix-streams' ``BatchingSink``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from scorestream.consumers.sink.batch import FlushResult, SinkBatch, TableRows
from scorestream.consumers.sink.decoders import Decoder
from scorestream.consumers.sink.errors import is_transient
from scorestream.consumers.sink.rejections import rejection_row
from scorestream.contract import REJECTED_RECORDS, Row, TableSpec
from scorestream.contract.tables import check_identifier
from scorestream.exceptions import DecodeError, SinkBackpressureError

if TYPE_CHECKING:
    from aiokafka import ConsumerRecord
    from clickhouse_driver import Client

log = logging.getLogger(__name__)


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
                spec, rows = decode(record.value, record.timestamp)
            except DecodeError as exc:
                rejected = batch.table(REJECTED_RECORDS)
                rejected.rows.append(
                    rejection_row(record, exc.reason or "sink_decode_error", str(exc), exc.field)
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
            if name == REJECTED_RECORDS.name or not table.rows:
                continue
            failed, count = self._insert_isolating(batch, table.spec, table.rows, table.origin, 0)
            inserts += count
            for index, error in failed:
                poison.setdefault(index, error)
            stored[name] = len(table.rows) - len(failed)

        rejected = batch.tables.get(REJECTED_RECORDS.name) or TableRows(REJECTED_RECORDS)
        rows, origin = list(rejected.rows), list(rejected.origin)
        now_ms = int(time.time() * 1000)
        for index, error in sorted(poison.items()):
            rows.append(
                rejection_row(batch.records[index], "sink_insert_error", error, now_ms=now_ms)
            )
            origin.append(index)
        lost = 0
        if rows:
            failed, count = self._insert_isolating(batch, REJECTED_RECORDS, rows, origin, 0)
            inserts += count
            if failed:
                # Rows of the records.rejected topic that ClickHouse refuses get a plain
                # rejection of their own; a sink rejection that fails is beyond help.
                retry = [
                    rejection_row(batch.records[i], "sink_insert_error", error, now_ms=now_ms)
                    for i, error in failed
                ]
                again, count = self._insert_isolating(
                    batch, REJECTED_RECORDS, retry, [i for i, _ in failed], 1
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
            stored[REJECTED_RECORDS.name] = len(rows) - lost
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
            columns = [[row[i] for row in rows] for i in range(len(spec.inserted))]
            self.client.execute(sql, columns, columnar=True, settings=settings)
        else:
            self.client.execute(sql, list(rows), settings=settings)
