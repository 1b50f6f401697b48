"""What the live-swap tests share: a background producer, a one-shot sink, the stored scores."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from scorestream.child_process import run_cli
from scorestream.producers.producer import RecordProducer
from scorestream.settings import Settings
from tests.streams import cancer_models as cm


def produce_in_background(settings: Settings, batch: list[dict], rate: float) -> threading.Thread:
    """Send ``batch`` at ``rate`` records/s from a thread (the test goes on meanwhile)."""

    def run() -> None:
        producer = RecordProducer(settings, rate=rate)
        producer.send_all([cm.payloads(batch)])
        producer.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def sink_once(settings_env: dict[str, str]) -> None:
    """Drain every topic into ClickHouse once (`scorestream sink --once`)."""
    result = run_cli(["sink", "--once"], settings_env, timeout_s=180)
    assert result.returncode == 0, result.stderr


def stored_scores(ch_client: Any, table: str = "scores") -> list[dict]:
    """Every row of ``table`` as stored (no FINAL: a record scored twice shows twice)."""
    stored = ["id", "model_name", "model_version", "score"]
    stored += ["source_partition", "source_offset", "scored_at_ms"]
    columns = ["id", "model_name", "model_version", "score", "partition", "offset", "scored_at_ms"]
    rows = ch_client.execute(f"SELECT {', '.join(stored)} FROM {table}")
    return [dict(zip(columns, row, strict=True)) for row in rows]


def log_text(path: Path) -> str:
    return path.read_text(errors="replace")
