"""Helpers of the ClickHouse sink tests: score messages, a fast producer, polling."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from scorestream.child_process import spawn_cli
from scorestream.contract.samples import SAMPLE_BASE_MS, sample_score
from scorestream.settings import Settings

BASE_MS = SAMPLE_BASE_MS


def score_message(i: int, record_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The ``i``-th sample ``scores`` message as a dict (``overrides`` may break its shape)."""
    message = sample_score(i) if record_id is None else sample_score(i, id=record_id)
    return {**dataclasses.asdict(message), **overrides}


def produce(
    settings: Settings,
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes]],
    rate: float | None = None,
) -> int:
    """Send (key, value) pairs with kafka-python, acks=all; optionally at ``rate``/s."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        linger_ms=20,
        batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    sent = 0
    started = time.monotonic()
    try:
        for key, value in messages:
            producer.send(topic, key=key, value=value)
            sent += 1
            if rate is not None and sent % 1000 == 0:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        producer.flush(timeout=60)
    finally:
        producer.close()
    return sent


def score_messages(start: int, stop: int) -> Iterable[tuple[bytes, bytes]]:
    for i in range(start, stop):
        message = score_message(i)
        yield message["id"].encode(), orjson.dumps(message)


def sink_process(env: dict[str, str], log_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """``scorestream sink ...`` in the background, its output appended to ``log_path``."""
    return spawn_cli(["sink", *args], env, log_path, cwd=Path(__file__).parents[2])


def wait_for(
    predicate: Callable[[], bool], timeout: float, interval: float = 0.2, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def safe(call: Callable[[], Any], default: Any) -> Any:
    """``call()``, or ``default`` when the server is not there (yet)."""
    try:
        return call()
    except Exception:
        return default


def cpu_count() -> int:
    return os.cpu_count() or 1
