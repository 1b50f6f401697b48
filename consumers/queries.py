"""The product's read queries over the sink's tables, written so that replays never show.

The sink delivers at least once, so a batch replayed after a crash can sit in a table twice
until ClickHouse merges the parts. Every query here reads with ``FINAL`` (which merges at
read time, keeping one row per sorting key), so its answer is the same whether or not the
replay has been merged yet. Plain ``SELECT count() FROM scores`` may be higher for a while.
"""

from __future__ import annotations

from typing import Any

from scorestream.consumers.clickhouse import Executor
from scorestream.contract.tables import check_identifier


def count_scores(client: Executor, database: str) -> int:
    """Scored records, each counted once."""
    db = check_identifier(database)
    return int(client.execute(f"SELECT count() FROM {db}.scores FINAL")[0][0])  # noqa: S608


def count_rejected(client: Executor, database: str, reason: str | None = None) -> int:
    """Rejected records (optionally of one reason), each counted once."""
    db = check_identifier(database)
    if reason is None:
        rows = client.execute(f"SELECT count() FROM {db}.rejected_records FINAL")  # noqa: S608
    else:
        rows = client.execute(
            f"SELECT count() FROM {db}.rejected_records FINAL WHERE reason = %(reason)s",  # noqa: S608
            {"reason": reason},
        )
    return int(rows[0][0])


def score_ids(client: Executor, database: str) -> list[str]:
    """Every stored record id, once each, sorted."""
    db = check_identifier(database)
    rows = client.execute(f"SELECT id FROM {db}.scores FINAL ORDER BY id")  # noqa: S608
    return [row[0] for row in rows]


def scores_by_id(client: Executor, database: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The stored score rows of ``ids`` (the ids travel as a parameter, never as SQL)."""
    db = check_identifier(database)
    if not ids:
        return {}
    rows = client.execute(
        f"SELECT id, score, label, model_version, event_time_ms FROM {db}.scores FINAL "  # noqa: S608
        "WHERE id IN %(ids)s",
        {"ids": tuple(ids)},
    )
    return {
        row[0]: {"score": row[1], "label": row[2], "model_version": row[3], "event_time_ms": row[4]}
        for row in rows
    }
