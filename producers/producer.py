"""Produce records to the ``records`` topic from a file or the synthetic generator.

Files are read by ``record_files``; the synthetic generator and drift injection are here.

kafka-python with acks=all and the idempotent producer; records are keyed by id so that
every message of one id lands in one partition (the worker's duplicate check relies on it).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd

from scorestream.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProduceOptions:
    """What ``scorestream produce`` sends and how fast (its CLI flags)."""

    #: Records per second; None sends as fast as the broker takes them.
    rate: float | None = None
    seed: int = 1
    #: Event time of the first synthetic record (ISO-8601); None means now.
    start: str | None = None
    interval_ms: int = 1000
    #: Index of the first drifted synthetic record.
    drift_from: int = 0
    chunk_size: int = 5000


@dataclass
class ProduceSummary:
    """What ``scorestream produce`` prints at the end."""

    sent: int = 0
    failed: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def frame_to_payloads(frame: pd.DataFrame) -> list[tuple[bytes, bytes]]:
    """(key, JSON value) per row; missing values become JSON null, ids stay strings.

    A row without an id gets a UUID, as the bridge does, so that every record can be traced.
    """
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    out = []
    for record in records:
        record_id = record.get("id")
        record["id"] = uuid.uuid4().hex if record_id is None else str(record_id)
        value = orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY)
        out.append((record["id"].encode(), value))
    return out


class RecordProducer:
    """A kafka-python producer of JSON records, with an optional rate limit."""

    def __init__(
        self, settings: Settings, *, rate: float | None = None, topic: str | None = None
    ) -> None:
        from kafka import KafkaProducer

        self.topic = topic or settings.topics.records
        self.rate = rate
        self._producer = KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            linger_ms=20,
            batch_size=512 * 1024,
            compression_type=None,
            max_request_size=2 * 1024 * 1024,
            retries=10,
        )

    def send_all(
        self, payloads: Iterable[Sequence[tuple[bytes | None, bytes]]], progress: Any | None = None
    ) -> ProduceSummary:
        """Send chunks of (key, value); ``progress(n)`` is called after each chunk."""
        summary = ProduceSummary()
        started = time.monotonic()

        def failed(exc: BaseException) -> None:
            summary.failed += 1
            if len(summary.errors) < 10:
                summary.errors.append(repr(exc))

        for chunk in payloads:
            for key, value in chunk:
                if self.rate:
                    # Pace against the start time, not per message, so the rate holds on average.
                    due = started + summary.sent / self.rate
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                self._producer.send(self.topic, key=key or None, value=value).add_errback(failed)
                summary.sent += 1
            if progress is not None:
                progress(len(chunk))
        self._producer.flush()
        summary.sent -= summary.failed
        summary.seconds = time.monotonic() - started
        return summary

    def close(self) -> None:
        self._producer.close()


def synthetic_chunks(
    n: int,
    *,
    seed: int,
    chunk_size: int,
    drift: list[Any] | None,
    drift_from: int,
    start: pd.Timestamp | str | None = None,
    interval_ms: int = 1000,
    reference_std: dict[str, float] | None = None,
) -> Iterator[list[tuple[bytes, bytes]]]:
    """Synthetic loan applications in chunks, drifted from record ``drift_from`` on."""
    from scorestream.producers.drift_injection import apply_drift
    from scorestream.streams.synthetic import generate_records

    rng = np.random.default_rng(seed + 1)
    done = 0
    for chunk in generate_records(
        n, seed, chunk_size, start=start, interval_ms=interval_ms, include_target=False
    ):
        if drift and done + len(chunk) > drift_from:
            head = max(0, drift_from - done)
            frame = pd.DataFrame(chunk[head:])
            drifted = apply_drift(frame, drift, rng, reference_std)
            yield [(r["id"].encode(), orjson.dumps(r)) for r in chunk[:head]] + frame_to_payloads(
                drifted
            )
        else:
            yield [(r["id"].encode(), orjson.dumps(r)) for r in chunk]
        done += len(chunk)
