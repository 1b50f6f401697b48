"""10,000 hostile and valid messages through the real worker and sink: exact accounting.

Every input message, identified by its (partition, offset) in ``records``, must end up as
exactly one row of ``scores`` or of ``rejected_records`` in ClickHouse, and the sink must
refuse none of the worker's outputs (a refused output is a score or reason lost).
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from scorestream.child_process import run_cli
from scorestream.settings import Settings
from scorestream.streams.synthetic import generate_records
from scorestream.streams.validation import REASONS
from scorestream.topics import ensure_topics
from tests.fixtures.worker import WorkerFactory
from tests.streams.hostile import seeded_hostile

VALID = 6_000
HOSTILE = 4_500
NOW_MS = int(time.time() * 1000)
DAY_MS = 86_400_000
#: Kafka timestamps as producers may set them: now, long ago (latency beyond UInt32), the
#: epoch, and past what DateTime stores (as the default event time, it must be refused).
TIMESTAMPS = [NOW_MS, NOW_MS, NOW_MS - 60 * DAY_MS, 1, 4_294_967_296_000, 7_258_118_400_000]


def _inputs(seed: int) -> list[tuple[bytes, bytes | None, int]]:
    """(key, value, Kafka timestamp) of every message, valid and hostile shuffled together."""
    rng = random.Random(seed)
    records = [
        record
        for chunk in generate_records(
            VALID, seed, 1000, start="2026-03-01T00:00:00", include_target=False
        )
        for record in chunk
    ]
    messages: list[tuple[bytes, bytes | None, int]] = []
    for i, record in enumerate(records):
        timestamp = NOW_MS
        if i % 10 == 0:  # no event_time: the Kafka timestamp is the default
            record = {k: v for k, v in record.items() if k != "event_time"}
            timestamp = rng.choice(TIMESTAMPS)
        elif i % 10 == 1:
            timestamp = rng.choice(TIMESTAMPS)
        messages.append((str(record["id"]).encode(), orjson.dumps(record), timestamp))
    template = records[0]
    for i in range(HOSTILE):
        key = f"hostile-{i}"
        messages.append((key.encode(), seeded_hostile(template, rng, key), rng.choice(TIMESTAMPS)))
    rng.shuffle(messages)
    return messages


def _produce(settings: Settings, messages: list[tuple[bytes, bytes | None, int]]) -> set[Any]:
    """Send every message; return the (partition, offset) each was written at."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=20
    )
    futures = [
        producer.send(settings.topics.records, key=key, value=value, timestamp_ms=timestamp)
        for key, value, timestamp in messages
    ]
    producer.flush()
    producer.close()
    written = {(meta.partition, meta.offset) for meta in (f.get(timeout=30) for f in futures)}
    assert len(written) == len(messages)
    return written


def _wait_for_outputs(settings: Settings, inputs: set[Any], timeout_s: float = 90) -> set[Any]:
    """Read ``scores`` and ``records.rejected`` until every input has an output."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        settings.topics.scores,
        settings.topics.rejected,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"fuzz-{uuid.uuid4().hex}",
        enable_auto_commit=False,
    )
    seen: set[Any] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not inputs <= seen:
            for batch in consumer.poll(timeout_ms=500).values():
                for message in batch:
                    doc = orjson.loads(message.value)
                    if "source_offset" in doc:
                        seen.add((doc["source_partition"], doc["source_offset"]))
                    else:
                        seen.add((doc["partition"], doc["offset"]))
    finally:
        consumer.close()
    return seen


def test_10k_hostile_messages_each_become_one_row(
    settings: Settings,
    settings_env: dict[str, str],
    start_worker: WorkerFactory,
    ch_client: Any,
    tmp_path: Path,
) -> None:
    ensure_topics(settings)
    messages = _inputs(seed=21)
    assert len(messages) >= 10_000
    inputs = _produce(settings, messages)
    worker = start_worker("--batch-size", "2000")

    seen = _wait_for_outputs(settings, inputs)
    assert worker.poll() is None, "the worker died on hostile input"
    assert inputs - seen == set(), f"{len(inputs - seen)} inputs have no output on Kafka"

    sink = run_cli(["sink", "--once"], settings_env, timeout_s=120)
    assert sink.returncode == 0, sink.stderr[-3000:]

    db = settings.clickhouse.database
    scored = ch_client.execute(f"SELECT source_partition, source_offset FROM {db}.scores FINAL")
    rejected = ch_client.execute(
        f"SELECT source_topic, source_partition, source_offset, reason "
        f"FROM {db}.rejected_records FINAL"
    )
    # The sink refused nothing: every rejection row is the worker's, about an input.
    assert Counter(row[0] for row in rejected) == {settings.topics.records: len(rejected)}
    rows = Counter([(p, o) for p, o in scored] + [(p, o) for _, p, o, _ in rejected])
    assert set(rows) == inputs
    assert [key for key, count in rows.items() if count != 1] == []

    reasons = Counter(row[3] for row in rejected)
    # Hostile input is the validator's to refuse; internal_error is for bugs only.
    assert set(reasons) <= {*REASONS, "duplicate_id"}, reasons
    # Each kind of trouble was met: the run exercised what it claims to.
    assert {"invalid_json", "invalid_event_time", "wrong_type", "not_finite"} <= set(reasons)
    assert len(scored) >= VALID * 0.85
