"""How the sink runs (its CLI flags) and what one run counted."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SinkOptions:
    """Tuning of :class:`SinkRunner` (CLI flags of ``scorestream sink``)."""

    batch_size: int = 20_000
    flush_interval_s: float = 1.0
    once: bool = False
    group_id: str | None = None
    #: Static group membership id (None: dynamic; the CLI claims ``<hostname>-<slot>``).
    instance_id: str | None = None
    session_timeout_s: float = 10.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    columnar: bool = True
    # --once: give up waiting for a partition assignment after this long.
    assignment_timeout_s: float = 60.0


@dataclass
class SinkStats:
    """Counters of one run."""

    messages: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    lost: int = 0
    flushes: int = 0
    failed_flushes: int = 0
    first_message_at: float | None = None
    last_flush_at: float | None = None

    def rows_per_second(self) -> float:
        if self.first_message_at is None or self.last_flush_at is None:
            return 0.0
        elapsed = self.last_flush_at - self.first_message_at
        return sum(self.rows.values()) / elapsed if elapsed > 0 else 0.0
