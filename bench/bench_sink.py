"""Sink throughput: rows/s from a pre-filled ``scores`` topic into ClickHouse.

Runs the real sink (aiokafka consumer, decoding, batching, inserts, offset commits) twice
over the same pre-filled topic, once inserting column-wise and once row-wise, each into its
own database with its own consumer group; then times the inserts alone on decoded rows.
Needs the local stack (``scorestream stack up``).

    python -m bench.bench_sink [--messages 300000] [--batch-size 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
import uuid
from dataclasses import dataclass

from scorestream.consumers.clickhouse import apply_migrations, make_client
from scorestream.consumers.sink import (
    ClickHouseSink,
    SinkOptions,
    SinkRunner,
    decode_score,
    topic_decoders,
    tune_gc,
)
from scorestream.contract import SCORES
from scorestream.contract.samples import sample_score
from scorestream.settings import Settings
from scorestream.topics import ensure_topics


@dataclass
class Result:
    mode: str
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def score_payload(i: int) -> bytes:
    return sample_score(i, id=f"bench-{i:09d}").encode()


async def prefill(settings: Settings, topic: str, n: int, partitions: int) -> float:
    """Write ``n`` score messages with aiokafka's batch API; returns seconds taken."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        batches = {p: producer.create_batch() for p in range(partitions)}
        for i in range(n):
            partition = i % partitions
            key = f"bench-{i:09d}".encode()
            value = score_payload(i)
            if batches[partition].append(key=key, value=value, timestamp=None) is None:
                pending.append(
                    await producer.send_batch(batches[partition], topic, partition=partition)
                )
                batches[partition] = producer.create_batch()
                batches[partition].append(key=key, value=value, timestamp=None)
        for partition, batch in batches.items():
            if batch.record_count():
                pending.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


def _settings(base: Settings, prefix: str, database: str, partitions: int) -> Settings:
    url = base.clickhouse_url.get_secret_value().rsplit("/", 1)[0] + f"/{database}"
    return Settings(
        kafka_bootstrap_servers=base.kafka_bootstrap_servers,
        clickhouse_url=url,  # type: ignore[arg-type]
        SCORESTREAM_TOPIC_PREFIX=prefix,
        SCORESTREAM_TOPIC_PARTITIONS=partitions,
    )


def run_sink(settings: Settings, columnar: bool, group: str, batch_size: int) -> Result:
    options = SinkOptions(once=True, columnar=columnar, group_id=group, batch_size=batch_size)
    stats = asyncio.run(SinkRunner(settings, options).run())
    rows = sum(stats.rows.values())
    assert stats.first_message_at is not None and stats.last_flush_at is not None
    return Result(
        "column-wise" if columnar else "row-wise",
        rows,
        stats.last_flush_at - stats.first_message_at,
    )


def inserts_only(settings: Settings, n: int, batch_size: int) -> list[Result]:
    """Decoded rows straight into ClickHouse: the insert path without Kafka."""
    rows = [decode_score(score_payload(i))[1][0] for i in range(n)]
    results = []
    for columnar in (True, False):
        client = make_client(settings.clickhouse)
        database = settings.clickhouse.database
        apply_migrations(client, database)
        sink = ClickHouseSink(client, database, topic_decoders(settings), columnar=columnar)
        started = time.perf_counter()
        for start in range(0, n, batch_size):
            sink._insert(SCORES, rows[start : start + batch_size], token="")
        results.append(
            Result("column-wise" if columnar else "row-wise", n, time.perf_counter() - started)
        )
        client.disconnect()
    return results


def main(argv: list[str] | None = None) -> int:
    from kafka import KafkaAdminClient
    from rich.console import Console
    from rich.table import Table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    tune_gc()  # as `scorestream sink` does

    base = Settings()
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench_{tag}."
    col_db, row_db, raw_db = f"bench_{tag}_col", f"bench_{tag}_row", f"bench_{tag}_ins"
    settings = _settings(base, prefix, col_db, args.partitions)
    console = Console()
    ensure_topics(
        settings, [settings.topics.scores, settings.topics.rejected, settings.topics.drift_stats]
    )
    admin_client = make_client(settings.clickhouse)
    try:
        with console.status(
            f"pre-filling {settings.topics.scores} with {args.messages:,} messages …"
        ):
            seconds = asyncio.run(
                prefill(settings, settings.topics.scores, args.messages, args.partitions)
            )
        console.print(f"pre-filled {args.messages:,} messages in {seconds:.1f} s")
        sink_results = []
        for columnar, database in ((True, col_db), (False, row_db)):
            with console.status(f"sink, {'column' if columnar else 'row'}-wise inserts …"):
                sink_results.append(
                    run_sink(
                        _settings(settings, prefix, database, args.partitions),
                        columnar,
                        f"{prefix}{database}",
                        args.batch_size,
                    )
                )
        with console.status("inserts alone …"):
            insert_results = inserts_only(
                _settings(settings, prefix, raw_db, args.partitions),
                min(args.messages, 200_000),
                args.batch_size,
            )
    finally:
        for database in (col_db, row_db, raw_db):
            admin_client.execute(f"DROP DATABASE IF EXISTS {database}")
        admin_client.disconnect()
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
        try:
            ours = [t for t in admin.list_topics() if t.startswith(prefix)]
            if ours:
                admin.delete_topics(ours)
        finally:
            admin.close()

    table = Table(
        title=f"ClickHouse sink, batch {args.batch_size:,} rows, {args.partitions} partitions"
    )
    for column in ("what", "inserts", "rows", "seconds", "rows/s"):
        table.add_column(column, justify="right" if column != "what" else "left")
    for label, results in (
        ("sink (Kafka -> ClickHouse)", sink_results),
        ("inserts alone", insert_results),
    ):
        for result in results:
            table.add_row(
                label,
                result.mode,
                f"{result.rows:,}",
                f"{result.seconds:.2f}",
                f"{result.rate:,.0f}",
            )
    console.print(table)
    column_rate = sink_results[0].rate
    verdict = "meets" if column_rate >= 100_000 else "misses"
    console.print(
        f"column-wise sink: {column_rate:,.0f} rows/s ({verdict} the 100,000 rows/s "
        f"target); inserts alone take {insert_results[0].seconds / insert_results[1].seconds:.2f}"
        "x the row-wise time when column-wise"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
