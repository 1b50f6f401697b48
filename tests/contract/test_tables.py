"""The contract's tables are the server's tables: same columns, same types, same order.

A new output field is added in two places: its column in ``scorestream.contract.tables``
(and the message that carries it) and one migration. These tests hold the two against a
real ClickHouse 18.16 (the local stack) and a modern engine (chDB).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from scorestream import contract
from scorestream.consumers.clickhouse import MIGRATIONS_DIR, apply_migrations
from scorestream.contract import TABLES, Column, TableSpec
from scorestream.settings import Settings
from tests.fixtures.chdb_engine import ChdbExecutor


def server_columns(client: Any, database: str, table: str) -> list[tuple[str, str]]:
    """(name, type) of a table's columns, in table order, as the server reports them."""
    return [
        (str(name), str(kind))
        for name, kind in client.execute(
            "SELECT name, type FROM system.columns "  # table order (18.16 has no position)
            f"WHERE database = '{database}' AND table = '{table}'"
        )
    ]


def contract_columns(spec: TableSpec) -> list[tuple[str, str]]:
    return [(column.name, column.type) for column in spec.columns]


def test_every_table_matches_the_real_server(settings: Settings, ch_client: Any) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    for spec in TABLES:
        assert server_columns(ch_client, database, spec.name) == contract_columns(spec), spec.name


def test_every_table_matches_a_modern_engine(chdb_executor: ChdbExecutor) -> None:
    apply_migrations(chdb_executor, "scoring")
    for spec in TABLES:
        assert server_columns(chdb_executor, "scoring", spec.name) == contract_columns(spec)


def test_a_new_field_is_the_contract_plus_one_migration(
    chdb_executor: ChdbExecutor, tmp_path: Path
) -> None:
    """Add ``explanation`` to ``scores``: the contract alone does not match the server, the
    contract plus one ``ALTER TABLE`` migration does."""
    grown = dataclasses.replace(
        contract.SCORES, columns=(*contract.SCORES.columns, Column("explanation", "String"))
    )
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        (migrations / path.name).write_text(path.read_text())
    apply_migrations(chdb_executor, "scoring", migrations)
    assert server_columns(chdb_executor, "scoring", "scores") != contract_columns(grown)

    (migrations / "9001_scores_explanation.sql").write_text(
        "ALTER TABLE {database}.scores ADD COLUMN IF NOT EXISTS explanation String\n"
    )
    assert apply_migrations(chdb_executor, "scoring", migrations) == ["9001_scores_explanation"]
    assert server_columns(chdb_executor, "scoring", "scores") == contract_columns(grown)


ROWS = {
    "scores": contract.decode_score_row(
        contract.ScoreMessage(
            "007", "2024-05-01T12:00:00.000Z", 1714564800000, 1714564801500,
            "credit", "v1", 0.25, 1, 3, 2, 7,
        ).encode()
    ),
    "rejected_records": contract.decode_rejection_row(
        contract.RejectionMessage.of(
            id="x", reason="invalid_json", field=None, message="bad JSON",
            source_topic="records", source_partition=1, source_offset=9,
            ingested_at_ms=1714564800000, rejected_at_ms=1714564801000, payload=b"\xff{",
        ).encode()
    ),
    "drift_stats": contract.decode_drift_rows(
        contract.DriftBinsMessage(
            "b1", "v1", 5000,
            [contract.MinuteFeatureStats(1714564800000, "x", "numeric", [1, 2, 0], 3, 0, 4.5, 7.2)],
        ).encode()
    )[1][0],
    "drift_events": contract.decode_drift_rows(
        contract.DriftChangeMessage("e1", "page_hinkley", "x", 1714564800000, 1.5, 5000, "v1")
        .encode()
    )[1][0],
    "labels": contract.decode_label_row(
        contract.LabelMessage("007", "yes", "2024-05-01T12:00:00Z", model_version="v1").encode(),
        1714564801500,
    ),
}  # fmt: skip


KEYS = {
    "scores": "id",
    "rejected_records": "id",
    "drift_stats": "batch_id",
    "drift_events": "event_id",
    "labels": "id",
}


@pytest.mark.parametrize("table", sorted(ROWS))
def test_each_message_decodes_to_a_row_its_table_stores(
    table: str, settings: Settings, ch_client: Any
) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    spec = next(spec for spec in TABLES if spec.name == table)
    row = ROWS[table]
    assert len(row) == len(spec.inserted)
    ch_client.execute(spec.insert_sql(database), [row])
    stored = ch_client.execute(f"SELECT {', '.join(spec.inserted)} FROM {database}.{table}")
    assert len(stored) == 1
    # The record key passes through unchanged ("007" stays a string).
    key = spec.inserted.index(KEYS[table])
    assert stored[0][key] == row[key]
