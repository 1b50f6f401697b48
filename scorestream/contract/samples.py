"""Example messages of the contract, numbered: for tests, benchmarks and documentation.

>>> sample_score(3).id, sample_score(3).partition, sample_score(3).offset
('rec-0000003', 3, 0)
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from scorestream.contract.scores import ScoreMessage

#: 2024-05-01T12:00:00Z, the event time of sample 0.
SAMPLE_BASE_MS = 1_714_564_800_000


def sample_score(i: int, **overrides: Any) -> ScoreMessage:
    """The ``i``-th sample ``scores`` message: unique id, 37 ms of event time apart (about an
    hour per 100,000 samples), spread over four partitions."""
    event_ms = SAMPLE_BASE_MS + i * 37
    message = ScoreMessage(
        id=f"rec-{i:07d}",
        event_time=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(event_ms / 1000)) + "Z",
        event_time_ms=event_ms,
        scored_at_ms=event_ms + 1500,
        model_name="credit",
        model_version="v1",
        score=(i % 1000) / 1000,
        label=i % 2,
        latency_ms=i % 50,
        partition=i % 4,
        offset=i // 4,
    )
    return dataclasses.replace(message, **overrides) if overrides else message
