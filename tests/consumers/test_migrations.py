"""The schema migrations run on Debian's ClickHouse 18.16 (the local stack) and on a modern
engine (chDB, in process), twice, and from several processes at once."""

from __future__ import annotations

import re
import shutil
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from scorestream import contract
from scorestream.consumers.clickhouse import (
    MIGRATIONS_DIR,
    applied_migrations,
    apply_migrations,
    load_migrations,
    make_client,
    parse_version,
    server_version,
    split_statements,
)
from scorestream.exceptions import MigrationError
from scorestream.settings import Settings
from tests.fixtures.chdb_engine import ChdbExecutor

# Every table of the contract, and the migrator's own bookkeeping.
TABLES = {spec.name for spec in contract.TABLES} | {"schema_migrations"}
SINK_BASE = [
    "0001_scores",
    "0002_rejected_records",
    "0003_drift_stats",
    "0004_drift_checks",
    "0005_drift_events",
]
BASE = [m.label for m in load_migrations() if m.requires is None]
MODERN = [m.label for m in load_migrations() if m.requires is not None]


def _tables(client: Any, database: str) -> set[str]:
    rows = client.execute(f"SELECT name FROM system.tables WHERE database = '{database}'")
    return {row[0] for row in rows}


def test_migration_files_are_well_formed() -> None:
    migrations = load_migrations()
    assert [m.label for m in migrations][:5] == SINK_BASE
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    modern = {m.label: m.requires for m in migrations if m.requires}
    assert modern["0006_insert_deduplication"] == (22, 8)
    for migration in migrations:
        statements = migration.statements("scoring")
        assert statements, migration.label
        for statement in statements:
            assert "{database}" not in statement
            assert not statement.rstrip().endswith(";")


def test_split_statements_and_versions() -> None:
    sql = "-- header\nCREATE TABLE a (x String DEFAULT ';') ENGINE = Log;\n\nSELECT 1;\n-- end\n"
    assert split_statements(sql) == [
        "-- header\nCREATE TABLE a (x String DEFAULT ';') ENGINE = Log",
        "SELECT 1",
    ]
    assert parse_version("24.8.4.13") > (22, 8) > parse_version("18.16.1")


def test_only_plain_identifiers_reach_sql() -> None:
    with pytest.raises(ValueError, match="not a plain identifier"):
        apply_migrations(None, "scoring; DROP DATABASE default")  # type: ignore[arg-type]


def test_migrations_on_the_real_server_twice(settings: Settings) -> None:
    dsn = settings.clickhouse
    client = make_client(dsn)
    try:
        version = server_version(client)
        first = apply_migrations(client, dsn.database)
        modern = version >= (22, 8)
        assert first == [
            m.label
            for m in load_migrations()
            if m.requires is None or (modern and version >= m.requires)
        ]
        assert set(SINK_BASE) <= set(first)
        assert _tables(client, dsn.database) >= TABLES
        assert apply_migrations(client, dsn.database) == []
        status = applied_migrations(client, dsn.database)
        assert status == {
            **{label[:4]: "applied" for label in BASE},
            **{label[:4]: "applied" if modern else "skipped" for label in MODERN},
        }
        described = client.execute(f"DESCRIBE TABLE {dsn.database}.drift_events")
        assert [(row[0], row[1]) for row in described] == [
            (c.name, c.type) for c in contract.DRIFT_EVENTS.columns
        ]
        engine = client.execute(
            "SELECT engine FROM system.tables WHERE database = %(db)s AND name = 'scores'",
            {"db": dsn.database},
        )
        assert engine == [("ReplacingMergeTree",)]
    finally:
        client.disconnect()


def test_concurrent_runners_do_not_break(settings: Settings) -> None:
    dsn = settings.clickhouse
    errors: list[BaseException] = []

    def run() -> None:
        client = make_client(dsn)
        try:
            apply_migrations(client, dsn.database)
        except BaseException as exc:
            errors.append(exc)
        finally:
            client.disconnect()

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    client = make_client(dsn)
    try:
        assert _tables(client, dsn.database) >= TABLES
        assert apply_migrations(client, dsn.database) == []
    finally:
        client.disconnect()


def test_a_failing_migration_names_its_file(settings: Settings, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "0001_broken.sql").write_text(
        "CREATE TABLE {database}.x (a NoSuchType) ENGINE = Log\n"
    )
    client = make_client(settings.clickhouse)
    try:
        with pytest.raises(MigrationError, match="0001_broken"):
            apply_migrations(client, settings.clickhouse.database, directory)
        assert applied_migrations(client, settings.clickhouse.database) == {}
    finally:
        client.disconnect()


def test_migrations_on_chdb_twice(chdb_executor: ChdbExecutor) -> None:
    version = server_version(chdb_executor)
    assert version >= (22, 8)
    assert apply_migrations(chdb_executor, "scoring") == [m.label for m in load_migrations()]
    assert apply_migrations(chdb_executor, "scoring") == []
    assert _tables(chdb_executor, "scoring") >= TABLES
    assert set(applied_migrations(chdb_executor, "scoring").values()) == {"applied"}
    settings = chdb_executor.execute(
        "SELECT name, value FROM system.merge_tree_settings "
        "WHERE name = 'non_replicated_deduplication_window'"
    )
    assert settings  # the setting exists on this engine
    create = chdb_executor.execute("SHOW CREATE TABLE scoring.scores")[0][0]
    assert re.search(r"non_replicated_deduplication_window = 1000", create)


def test_dedup_token_drops_a_retried_insert_on_a_modern_engine(chdb_executor: ChdbExecutor) -> None:
    apply_migrations(chdb_executor, "scoring")
    message = contract.ScoreMessage(
        "a", "2024-05-01T12:00:00.000Z", 1714564800000, 1714564801000, "m", "v1", 0.5, 1, 3, 0, 0
    )
    data = orjson.dumps(contract.decode_score_row(message.encode())).decode()
    insert = (
        contract.SCORES.insert_sql("scoring").removesuffix(" VALUES")
        + " SETTINGS insert_deduplication_token = '{}' FORMAT JSONCompactEachRow\n{}"
    )
    for token in ("scores|p0:0-0", "scores|p0:0-0", "scores|p0:1-1"):
        chdb_executor.session.query(insert.format(token, data))
    # Same token twice: stored once. Another token: stored again, and FINAL hides it.
    assert chdb_executor.execute("SELECT count() FROM scoring.scores") == [(2,)]
    assert chdb_executor.execute("SELECT count() FROM scoring.scores FINAL") == [(1,)]


def test_skipped_migration_runs_once_the_server_is_new_enough(
    chdb_executor: ChdbExecutor, tmp_path: Path
) -> None:
    future = tmp_path / "future"
    shutil.copytree(MIGRATIONS_DIR, future)
    for path in future.glob("*.sql"):
        path.write_text(
            re.sub(r"requires-server: [\d.]+", "requires-server: 99.1", path.read_text())
        )
    assert apply_migrations(chdb_executor, "scoring", future) == BASE
    assert applied_migrations(chdb_executor, "scoring")["0006"] == "skipped"
    assert apply_migrations(chdb_executor, "scoring", future) == []
    # The same server "upgraded" past the requirement: the skipped migration now runs.
    assert apply_migrations(chdb_executor, "scoring") == MODERN
    assert applied_migrations(chdb_executor, "scoring")["0006"] == "applied"


def test_a_column_another_runner_added_first_counts_as_added(
    settings: Settings, tmp_path: Path
) -> None:
    """18.16 has no ADD COLUMN IF NOT EXISTS: a plain ADD COLUMN racing another runner's
    must not fail the second one; a real column error still does."""
    directory = tmp_path / "migrations"
    directory.mkdir()
    ddl = (
        "CREATE TABLE IF NOT EXISTS {database}.widened (a String) ENGINE = MergeTree ORDER BY a;\n"
    )
    add = "ALTER TABLE {database}.widened ADD COLUMN b String DEFAULT '';\n"
    (directory / "0001_widened.sql").write_text(ddl + add)
    (directory / "0002_widened_again.sql").write_text(add)
    (directory / "0003_bad_column.sql").write_text(
        "ALTER TABLE {database}.widened ADD COLUMN c NoSuchType;\n"
    )
    client = make_client(settings.clickhouse)
    try:
        with pytest.raises(MigrationError, match="0003_bad_column"):
            apply_migrations(client, settings.clickhouse.database, directory)
        applied = applied_migrations(client, settings.clickhouse.database)
        assert applied == {"0001": "applied", "0002": "applied"}
    finally:
        client.disconnect()


def test_an_upgrade_keeps_old_rows_and_keys_drift_rows_by_model(
    settings: Settings, tmp_path: Path
) -> None:
    """0014 on a database written before it: old rows stay (model_name ''), and two
    versions' rows of the same check and feature no longer replace each other."""
    older = tmp_path / "older"
    older.mkdir()
    for migration in load_migrations():
        if migration.label < "0012":
            shutil.copy(migration.path, older / migration.path.name)
    dsn = settings.clickhouse
    db = dsn.database
    client = make_client(dsn)
    check = (
        "INSERT INTO {db}.drift_checks (check_kind, period_start, period_end, checked_at, "
        "feature, model_version, level{extra}) VALUES"
    )
    day = (datetime(2026, 1, 5), datetime(2026, 1, 6), datetime(2026, 1, 6, 0, 15))
    try:
        apply_migrations(client, db, older)
        client.execute(check.format(db=db, extra=""), [("daily", *day, "x", "v1", "ok")])
        assert apply_migrations(client, db) == [
            m.label for m in load_migrations() if m.label >= "0012" and m.requires is None
        ]
        extra = ", model_name, model_id"
        client.execute(
            check.format(db=db, extra=extra),
            [
                ("daily", *day, "x", "v1", "drift", "churn", "churn@v1"),
                ("daily", *day, "x", "v2", "ok", "churn", "churn@v2"),
            ],
        )
        client.execute(f"OPTIMIZE TABLE {db}.drift_checks FINAL")
        rows = client.execute(
            f"SELECT model_id, model_version, level FROM {db}.drift_checks FINAL ORDER BY model_id"
        )
        assert rows == [("", "v1", "ok"), ("churn@v1", "v1", "drift"), ("churn@v2", "v2", "ok")]
    finally:
        client.disconnect()
