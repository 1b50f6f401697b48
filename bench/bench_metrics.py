"""What the metrics cost the worker and the sink: their per-batch updates against a batch.

The worker and the sink update their series once per batch and per poll, never per record.
This measures those updates in microseconds, in the same run as the work they ride on:

- worker: ``WorkerMetrics.outcomes`` and ``batch``, two lag observations (the real
  ``aiokafka_lags`` on a consumer of a 4-partition topic of the local stack, as after a
  poll and after a publish) and ``progressed``, against ``ScoringPipeline.outputs`` of one
  batch (validate, predict, build the outputs, count drift) on the demo model;
- sink: ``SinkMetrics.flushed`` and one lag observation over 20 partitions, against
  decoding the same number of ``scores`` messages into rows (``ClickHouseSink.add``), which
  is less than a flush (the insert itself is not counted).

    python -m bench.bench_metrics [--batch 2000] [--rounds 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

import orjson

from bench.common import bench_settings, print_table, trained_model
from scorestream.settings import Settings
from scorestream.topics import ensure_topics


def per_call_us(call: Callable[[], object], rounds: int) -> float:
    """Median of five timings of ``rounds`` calls, per call, in microseconds."""
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            call()
        timings.append((time.perf_counter() - started) / rounds * 1e6)
    return sorted(timings)[2]


async def lag_us(settings: Settings, topics: list[str], rounds: int) -> float:
    """Microseconds of one ``aiokafka_lags`` on a real consumer of ``topics``, every
    partition fetched once."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from scorestream.observability.lag import aiokafka_lags

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    for topic in topics:
        for partition in range(settings.topic_partitions):
            await producer.send_and_wait(topic, b"{}", partition=partition)
    await producer.stop()
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"{settings.topic_prefix}bench-metrics-{len(topics)}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    wanted = len(topics) * settings.topic_partitions
    try:
        while sum(1 for tp in consumer.assignment() if consumer.highwater(tp) is not None) < wanted:
            await consumer.getmany(timeout_ms=500)
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(rounds):
                await aiokafka_lags(consumer, {})
            timings.append((time.perf_counter() - started) / rounds * 1e6)
        return sorted(timings)[2]
    finally:
        await consumer.stop()


def main(argv: list[str] | None = None) -> None:
    from scorestream.consumers.sink.decoders import topic_decoders
    from scorestream.consumers.sink.metrics import SinkMetrics
    from scorestream.consumers.sink.sink import ClickHouseSink
    from scorestream.contract.samples import sample_score
    from scorestream.streams.metrics import WorkerMetrics
    from scorestream.streams.model.source import open_source
    from scorestream.streams.pipeline import ChampionBuilder, ScoringPipeline
    from scorestream.streams.scoring import RawRecord
    from scorestream.streams.serving import ModelFollower
    from scorestream.streams.synthetic import generate_records

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--batch", type=int, default=2000, help="records per batch")
    parser.add_argument("--rounds", type=int, default=5000, help="metric updates timed")
    args = parser.parse_args(argv)
    settings = bench_settings("metrics")
    sink_topics = list(topic_decoders(settings))
    ensure_topics(settings, [settings.topics.records, *sink_topics])

    # --- the worker ----------------------------------------------------------------------
    model_dir = trained_model()
    plain = Settings(model_dir=model_dir)
    follower = ModelFollower.start(open_source("", plain), ChampionBuilder(plain))
    pipeline = ScoringPipeline(plain, follower, drift_every_batch=False)
    records = [
        record
        for chunk in generate_records(args.batch, 5, args.batch, start="2026-05-01T00:00:00")
        for record in chunk
    ]
    offset = 0

    def score_batch() -> None:
        nonlocal offset
        batch = [
            RawRecord(orjson.dumps(r), "records", 0, offset + i, 1_777_000_000_000)
            for i, r in enumerate(records)
        ]
        offset += len(batch)
        pipeline.outputs(batch)
        pipeline.drift_messages()

    batch_ms = per_call_us(score_batch, 3) / 1000
    worker = WorkerMetrics(plain)
    lags = {("records", p): 0 for p in range(4)}
    reasons = ["invalid_json"] * 3

    def worker_updates() -> None:
        worker.outcomes(args.batch - 3, reasons)
        worker.batch(args.batch, 0.05, 0.01)
        worker.health.observe(lags, 4)
        worker.health.progressed()
        worker.health.observe(lags, 4)

    worker_us = per_call_us(worker_updates, args.rounds) + 2 * asyncio.run(
        lag_us(settings, [settings.topics.records], args.rounds)
    )

    # --- the sink ----------------------------------------------------------------------------
    sink = ClickHouseSink(None, "scoring", topic_decoders(plain))  # type: ignore[arg-type]
    from aiokafka.structs import ConsumerRecord

    messages = [
        ConsumerRecord(
            plain.topics.scores, 0, i, 1_777_000_000_000, 0, None, m.encode(), None, 0, 0, []
        )
        for i, m in enumerate(sample_score(i) for i in range(args.batch))
    ]

    def decode_batch() -> None:
        sink.add(plain.topics.scores, 0, messages)
        sink.drop(plain.topics.scores)

    decode_ms = per_call_us(decode_batch, 5) / 1000
    metrics = SinkMetrics(plain)
    partitions = len(sink_topics) * settings.topic_partitions
    sink_lags = {(t, p): 0 for t in sink_topics for p in range(settings.topic_partitions)}
    rows = {"scores": args.batch}

    def sink_updates() -> None:
        metrics.flushed(plain.topics.scores, rows, 0, 0, 0.1)
        metrics.health.observe(sink_lags, partitions)

    sink_us = per_call_us(sink_updates, args.rounds) + asyncio.run(
        lag_us(settings, sink_topics, args.rounds)
    )

    print_table(
        f"Metrics per batch of {args.batch:,} records (same run, same process)",
        ["process", "metrics per batch", "the batch's work", "share"],
        [
            [
                "worker: outcomes, batch histograms, 2 lag observations (4 partitions)",
                f"{worker_us:,.0f} µs",
                f"{batch_ms:,.1f} ms (score a batch)",
                f"{worker_us / (batch_ms * 1000):.2%}",
            ],
            [
                f"sink: rows, flush histogram, 1 lag observation ({partitions} partitions)",
                f"{sink_us:,.0f} µs",
                f"{decode_ms:,.1f} ms (decode a batch, no insert)",
                f"{sink_us / (decode_ms * 1000):.2%}",
            ],
        ],
    )


if __name__ == "__main__":
    main()
