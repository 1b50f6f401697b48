"""Types of the compiled fast path (``src/lib.rs``); maturin ships this stub in the wheel."""

from typing import Any

class BatchDecoder:
    def __init__(
        self,
        features: list[tuple[str, str, bool, float | None, float | None]],
        ignored: list[str],
        *,
        clip: bool,
        max_record_bytes: int,
        max_id_chars: int,
        min_ms: int,
        max_ms: int,
    ) -> None: ...
    def decode(
        self, payloads: list[Any], ingest_ms: list[int]
    ) -> tuple[list[int], list[str], list[Any], bytearray, list[str] | None]: ...

def encode_scores(
    segments: list[bytes],
    ids: list[str],
    event_times: list[str],
    event_ms: bytes,
    scores: bytes,
    labels: list[Any],
    latencies: bytes,
    partitions: bytes,
    offsets: bytes,
    probabilities: bytes,
    probability_width: int,
) -> list[bytes] | None: ...
