"""Helpers of the labels tests: real labels from scikit-learn's data sets, Kafka, reading back."""

from __future__ import annotations

import asyncio
from typing import Any

from scorestream.consumers.sink import SinkOptions, SinkRunner, SinkStats
from scorestream.settings import Settings


def wine_labels() -> list[int]:
    """The 178 true classes (0, 1, 2) of scikit-learn's wine data set."""
    from sklearn.datasets import load_wine

    return [int(v) for v in load_wine().target]


def diabetes_values() -> list[float]:
    """The 442 true values (disease progression) of scikit-learn's diabetes data set."""
    from sklearn.datasets import load_diabetes

    return [float(v) for v in load_diabetes().target]


def cancer_labels() -> list[int]:
    """The 569 true classes (0 malignant, 1 benign) of scikit-learn's breast cancer data."""
    from sklearn.datasets import load_breast_cancer

    return [int(v) for v in load_breast_cancer().target]


def produce_timed(
    settings: Settings, messages: list[tuple[bytes | None, bytes, int | None]], topic: str
) -> None:
    """Send (key, value, Kafka timestamp in ms or None for now), in this order, acks=all."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=5
    )
    try:
        for key, value, timestamp_ms in messages:
            producer.send(topic, key=key, value=value, timestamp_ms=timestamp_ms)
        producer.flush(timeout=60)
    finally:
        producer.close()


def run_sink_once(settings: Settings) -> SinkStats:
    return asyncio.run(SinkRunner(settings, SinkOptions(once=True)).run())


def stored_labels(client: Any, database: str) -> dict[str, tuple[str, float, int, int]]:
    """id -> (label, value, label_time_ms, received_at_ms), one per id (FINAL)."""
    rows = client.execute(
        f"SELECT id, label, value, label_time_ms, received_at_ms FROM {database}.labels FINAL"
    )
    return {row[0]: tuple(row[1:]) for row in rows}


def label_rejections(client: Any, database: str, topic: str) -> list[tuple[Any, ...]]:
    """(id, reason, field, source_offset, payload) of the rejections of ``topic``, FINAL;
    the payload as the exact bytes stored, the rest as text."""
    rows = client.execute(
        f"SELECT id, reason, field, source_offset, payload FROM {database}.rejected_records "
        "FINAL WHERE source_topic = %(topic)s ORDER BY source_offset, id",
        {"topic": topic},
        settings={"strings_as_bytes": True},
    )
    return [
        (a.decode(), b.decode(), c.decode(), offset, payload) for a, b, c, offset, payload in rows
    ]
