"""The bridge's tunables: limits, timeouts and producer batching (CLI flags, see README)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from scorestream.exceptions import ConfigurationError

#: A record must fit in one producer batch (``publisher.MAX_BATCH_BYTES``, 512 KiB) with
#: room for the batch header and the key.
MAX_RECORD_BYTES_LIMIT = 500 * 1024
#: Below this, ordinary clients (long URLs, a few cookies) would be refused.
MIN_HEADER_BYTES = 4096


@dataclass(frozen=True)
class BridgeOptions:
    """How one bridge process behaves; the Kafka address, topics and keys come from Settings.

    Attributes
    ----------
    max_body_bytes : int
        Larger request bodies are refused with 413 before they are read whole.
    max_header_bytes : int
        Largest request line plus headers; a larger head is refused with 431 and the
        connection closed, before more of it is buffered.
    body_timeout_s : float
        A body not received whole within this time of its headers is refused with 408
        (a client trickling its body would otherwise hold the request open for ever); a
        request line and headers get the same time from their first byte.
    max_records : int
        Most records one ``POST /v1/records`` may carry (413 beyond).
    max_record_bytes : int
        Largest single record once serialised; the worker enforces the same limit, so
        the bridge refuses (422 ``too_large``) what the worker would reject. At most
        :data:`MAX_RECORD_BYTES_LIMIT`, so that a record always fits in a producer batch.
    out_of_range : {"reject", "clip"}
        Must match the worker's ``--out-of-range``: with ``clip`` an out-of-range value
        is accepted here because the worker clips it.
    score_timeout_s : float
        ``POST /v1/score`` answers 504 when no score arrives within this time.
    score_memory : int
        How many ``POST /v1/score`` outcomes (by id) are kept, so that a client retrying
        after a 504 or a lost answer gets the score at once, without the record being
        published (and scored) again.
    send_timeout_s : float
        Longest wait for Kafka to acknowledge a produce; after it the client gets 503.
        Kept under 2 s so that an outage is reported quickly, not as a hanging request.
    retry_after_s : int
        ``Retry-After`` of 503 answers.
    linger_ms : int
        Producer batching delay: concurrent requests share one produce request.
    allow_anonymous : bool
        Serve ``/v1/*`` without an API key when ``INGEST_API_KEYS`` is empty. Without
        it, a bridge with no keys refuses to start, so that a forgotten variable does
        not open the front door.
    model_poll_s : float
        With ``MODEL=name@alias``: seconds between two checks of which version the alias
        names; the schema follows it (see :mod:`.schema_follower`).
    """

    max_body_bytes: int = 4 * 1024 * 1024
    max_header_bytes: int = 64 * 1024
    body_timeout_s: float = 30.0
    max_records: int = 1000
    max_record_bytes: int = 65_536
    out_of_range: Literal["reject", "clip"] = "reject"
    score_timeout_s: float = 10.0
    score_memory: int = 10_000
    send_timeout_s: float = 1.5
    retry_after_s: int = 5
    linger_ms: int = 2
    allow_anonymous: bool = False
    model_poll_s: float = 3.0

    def __post_init__(self) -> None:
        sizes = (self.max_body_bytes, self.max_records, self.max_record_bytes, self.score_memory)
        if min(sizes) < 1:
            raise ConfigurationError("size limits must be positive")
        if self.max_header_bytes < MIN_HEADER_BYTES:
            raise ConfigurationError(f"max_header_bytes must be at least {MIN_HEADER_BYTES}")
        if self.max_record_bytes > MAX_RECORD_BYTES_LIMIT:
            raise ConfigurationError(f"max_record_bytes must be at most {MAX_RECORD_BYTES_LIMIT}")
        timeouts = (self.score_timeout_s, self.send_timeout_s, self.body_timeout_s)
        if min(*timeouts, self.model_poll_s) <= 0:
            raise ConfigurationError("timeouts must be positive")
        if self.retry_after_s < 1:
            raise ConfigurationError("retry_after_s must be at least 1")
        if self.linger_ms < 0:
            raise ConfigurationError("linger_ms must not be negative")
