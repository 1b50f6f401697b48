"""Raw Kafka reads and writes for tests: exactly the bytes given, from the beginning."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import orjson

from scorestream.settings import Settings


def produce_raw(
    settings: Settings, payloads: list[tuple[bytes | None, bytes]], topic: str | None = None
) -> None:
    """Send raw (key, value) messages exactly as given."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        max_request_size=4 * 1024 * 1024,
        linger_ms=5,
    )
    for key, value in payloads:
        producer.send(topic or settings.topics.records, key=key, value=value)
    producer.flush()
    producer.close()


def read_all(
    settings: Settings, topics: list[str], n: int, timeout_s: float = 60.0
) -> list[tuple[str, bytes, bytes, int]]:
    """``n`` messages of ``topics`` from the beginning: (topic, key, value, partition)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
        enable_auto_commit=False,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    found: list[tuple[str, bytes, bytes, int]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(found) < n and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                found.extend((m.topic, m.key, m.value, m.partition) for m in batch)
    finally:
        consumer.close()
    return found


def collect(
    settings: Settings, topic: str, *, until: Callable[[list[dict]], bool], timeout_s: float = 90.0
) -> list[dict]:
    """Read JSON messages of ``topic`` from the beginning until ``until(messages)``."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"c-{uuid.uuid4().hex}",
        enable_auto_commit=False,
    )
    messages: list[dict] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not until(messages):
            for batch in consumer.poll(timeout_ms=500).values():
                messages.extend(orjson.loads(m.value) for m in batch)
    finally:
        consumer.close()
    return messages


def binned_count(messages: list[dict], feature: str) -> int:
    """Records counted for ``feature`` in the ``bins`` messages of ``drift.stats``."""
    return sum(
        row["count"]
        for m in messages
        if m.get("type") == "bins"
        for row in m["rows"]
        if row["feature"] == feature
    )
