"""The schema ON CLUSTER: replicated tables behind Distributed ones, on a real cluster.

One ZooKeeper and two ClickHouse 18.16 replicas of one shard (``clickhouse_cluster``, one
per module) with the product's migrations applied under ``CLICKHOUSE_CLUSTER``. Rows are
written by the sink's own writer (:class:`ClickHouseSink`) through the Distributed tables
and read by the product's queries (``FINAL``) through them, as in production.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pytest
from sklearn.datasets import load_breast_cancer

from scorestream.child_process import run_cli
from scorestream.consumers.clickhouse import apply_migrations, load_migrations, make_client
from scorestream.consumers.cluster_schema import cluster_statements, sharding_keys
from scorestream.consumers.drift_check.check import Period, read_period_counts
from scorestream.consumers.queries import scores_by_id
from scorestream.consumers.sink import ClickHouseSink
from scorestream.consumers.sink.decoders import decode_drift, decode_score
from scorestream.contract import TABLES
from scorestream.contract.drift import DriftBinsMessage, MinuteFeatureStats
from scorestream.contract.samples import SAMPLE_BASE_MS, sample_score
from scorestream.exceptions import SinkBackpressureError
from scorestream.grafana.macros import expand
from scorestream.grafana.sample_data import (
    Result,
    build_fixture,
    dashboard_context,
    in_database,
    parse_time,
    rows_in_insert_order,
)
from scorestream.stack import LocalStack
from tests.fixtures.clickhouse_cluster import CLUSTER, ClusterUnderTest
from tests.grafana.test_dashboards import (
    _DATETIME_COLUMNS,
    ALL_QUERIES,
    CHOICES,
    _checked_in,
    _normalise,
    _same,
    _server_can_run,
)

#: The tables whose sorting key holds the record id.
BY_ID = {"scores", "challenger_scores", "rejected_records", "labels"}
#: Every bounded wait of this module (replication, a restarted replica catching up).
WAIT_S = 60.0


# --- the statements (pure) -----------------------------------------------------------------
def test_every_migration_has_a_cluster_form_of_the_same_engine_family() -> None:
    statements = [s for m in load_migrations() for s in m.statements("scoring")]
    keys = sharding_keys(statements)
    created: set[str] = set()
    for statement in statements:
        steps = [step.sql for step in cluster_statements(statement, "c", keys)]
        assert all(" ON CLUSTER c" in sql for sql in steps), statements
        found = re.search(
            r"CREATE TABLE IF NOT EXISTS scoring\.(\w+).*ENGINE = (\w+)\(", statement, re.DOTALL
        )
        if found is None:
            continue
        table, engine = found.groups()
        created.add(table)
        local, distributed = steps
        assert f"scoring.{table}_local ON CLUSTER c" in local
        path = f"'/clickhouse/tables/{{shard}}/scoring/{table}', '{{replica}}'"
        assert f"ENGINE = Replicated{engine}({path}, " in local
        assert f"ENGINE = Distributed(c, scoring, {table}_local, " in distributed
        # One record's rows meet on one shard: the tables keyed by id shard by its hash.
        assert distributed.endswith("cityHash64(id))") == (table in BY_ID), table
    assert created == {spec.name for spec in TABLES}


def test_an_alter_of_columns_swaps_in_a_new_distributed_table() -> None:
    keys = {"scores": "cityHash64(id)"}
    steps = cluster_statements("ALTER TABLE db.scores ADD COLUMN x String", "c", keys)
    assert [s.sql.split(" ON CLUSTER")[0] for s in steps] == [
        "ALTER TABLE db.scores_local",
        "DROP TABLE IF EXISTS db.scores_swap",
        "DROP TABLE IF EXISTS db.scores_old",
        "CREATE TABLE db.scores_swap",
        "RENAME TABLE db.scores TO db.scores_old, db.scores_swap TO db.scores",
        "DROP TABLE db.scores_old",
    ]
    # Settings and sorting keys belong to the local tables only.
    only_local = cluster_statements("ALTER TABLE db.scores MODIFY SETTING x = 1", "c", keys)
    assert [s.sql for s in only_local] == [
        "ALTER TABLE db.scores_local ON CLUSTER c MODIFY SETTING x = 1"
    ]


# --- on the cluster -------------------------------------------------------------------------
def _client(cluster: ClusterUnderTest, replica: int = 0) -> Any:
    return make_client(cluster.dsn(replica))


@pytest.fixture()
def clients(clickhouse_cluster: ClusterUnderTest) -> Iterator[list[Any]]:
    """One client per replica (CLICKHOUSE_CLUSTER set: synchronous distributed inserts)."""
    opened = [_client(clickhouse_cluster, n) for n in range(len(clickhouse_cluster.replicas))]
    yield opened
    for client in opened:
        client.disconnect()


def _write_scores(client: Any, database: str, ids: range, **overrides: Any) -> None:
    """Scores of ``ids`` written by the sink's writer, as one batch of one partition."""
    from aiokafka import ConsumerRecord

    values = [orjson.dumps(dataclasses.asdict(sample_score(i, **overrides))) for i in ids]
    records = [
        ConsumerRecord("scores", 0, i, SAMPLE_BASE_MS, 0, None, v, None, -1, len(v), ())
        for i, v in zip(ids, values, strict=True)
    ]
    sink = ClickHouseSink(client, database, {"scores": decode_score})
    sink.add("scores", 0, records)
    result = sink.flush("scores")
    assert result is not None and result.rows.get("scores") == len(ids), result


def _local_count(client: Any, database: str, ids: range) -> int:
    rows = client.execute(
        f"SELECT count() FROM {database}.scores_local FINAL WHERE id IN %(ids)s",
        {"ids": tuple(sample_score(i).id for i in ids)},
    )
    return int(rows[0][0])


def _wait_until(condition: Callable[[], bool], what: str) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > WAIT_S:
            raise AssertionError(f"not within {WAIT_S:.0f} s: {what}")
        time.sleep(0.2)
    return time.monotonic() - start


@pytest.mark.integration
def test_every_table_is_replicated_on_both_replicas_behind_a_distributed_one(
    clickhouse_cluster: ClusterUnderTest, clients: list[Any]
) -> None:
    database = clickhouse_cluster.database
    for client in clients:
        engines = dict(
            client.execute(
                "SELECT name, engine FROM system.tables WHERE database = %(db)s",
                {"db": database},
            )
        )
        for spec in TABLES:
            assert engines[spec.name] == "Distributed", spec.name
            assert engines[f"{spec.name}_local"] == "ReplicatedReplacingMergeTree", spec.name
            # The public table has the contract's columns, in order (ALTERs included).
            columns = client.execute(
                "SELECT name, type FROM system.columns WHERE database = %(db)s AND table = %(t)s",
                {"db": database, "t": spec.name},
            )
            assert [tuple(c) for c in columns] == [(c.name, c.type) for c in spec.columns]


@pytest.mark.integration
def test_a_score_written_through_the_distributed_table_is_on_both_replicas(
    clickhouse_cluster: ClusterUnderTest, clients: list[Any]
) -> None:
    database = clickhouse_cluster.database
    ids = range(0, 200)
    _write_scores(clients[0], database, ids)
    # insert_distributed_sync: stored on a replica when the insert returns.
    assert max(_local_count(c, database, ids) for c in clients) == len(ids)
    for client in clients:
        _wait_until(lambda c=client: _local_count(c, database, ids) == len(ids), "replicated")
    # The product's query, through the other replica's Distributed table.
    stored = scores_by_id(clients[1], database, [sample_score(i).id for i in ids])
    assert len(stored) == len(ids)
    assert stored[sample_score(7).id]["score"] == sample_score(7).score


@pytest.mark.integration
def test_a_replayed_id_is_one_row_with_final_and_the_later_score_wins(
    clickhouse_cluster: ClusterUnderTest, clients: list[Any]
) -> None:
    database = clickhouse_cluster.database
    ids = range(1000, 1100)
    _write_scores(clients[0], database, ids, score=0.25)
    _write_scores(clients[1], database, ids, score=0.75, scored_at_ms=SAMPLE_BASE_MS + 10**9)
    wanted = [sample_score(i).id for i in ids]
    raw = clients[0].execute(
        f"SELECT count() FROM {database}.scores WHERE id IN %(ids)s",
        {"ids": tuple(wanted)},
    )[0][0]
    assert len(ids) <= raw <= 2 * len(ids)  # 2x until the parts merge
    for client in clients:
        # Replication is asynchronous: a replica answers for itself until the other
        # replica's write reaches it (insert_quorum would make writes wait, and fail
        # while a replica is down).
        def replaced(c: Any = client) -> bool:
            stored = scores_by_id(c, database, wanted)
            assert len(stored) == len(ids)  # never both rows of an id
            return {row["score"] for row in stored.values()} == {0.75}

        _wait_until(replaced, "the later score everywhere")


def _bins(batch: str, emitted_ms: int, counts: list[int], minute_ms: int) -> bytes:
    row = MinuteFeatureStats(
        minute_ms, "mean radius", "numeric", [*counts, 0], sum(counts), 0, 1.0, 2.0
    )
    return DriftBinsMessage(batch, "v1", emitted_ms, [row], model_name="cancer").encode()


@pytest.mark.integration
def test_the_drift_check_reads_through_the_distributed_table(
    clickhouse_cluster: ClusterUnderTest, clients: list[Any]
) -> None:
    from aiokafka import ConsumerRecord

    database = clickhouse_cluster.database
    radius = load_breast_cancer().data[:, 0]
    edges = np.linspace(radius.min(), radius.max(), 9)
    first = np.histogram(radius[:300], edges)[0].tolist()
    second = np.histogram(radius[300:], edges)[0].tolist()
    minute = SAMPLE_BASE_MS - SAMPLE_BASE_MS % 60_000
    values = [
        _bins("b1", 1, first, minute),
        _bins("b2", 2, second, minute + 60_000),
        _bins("b1", 3, first, minute),  # a replay of b1: replaces it
    ]
    records = [
        ConsumerRecord("drift", 0, i, minute, 0, None, v, None, -1, len(v), ())
        for i, v in enumerate(values)
    ]
    sink = ClickHouseSink(clients[0], database, {"drift": decode_drift})
    sink.add("drift", 0, records)
    assert sink.flush("drift") is not None
    day = datetime.fromtimestamp(minute / 1000, tz=UTC).date()
    for client in clients:
        _wait_until(
            lambda c=client: (
                "mean radius" in read_period_counts(c, database, Period.day(day), "v1")
            ),
            "drift rows replicated",
        )
        counts = read_period_counts(client, database, Period.day(day), "v1", "cancer")
        got = counts["mean radius"]
        assert got.count == len(radius)  # the replay counted once
        assert got.counts[:-1].tolist() == (np.asarray(first) + np.asarray(second)).tolist()


@pytest.mark.integration
def test_stack_status_shows_every_node_of_a_running_cluster(
    clickhouse_cluster: ClusterUnderTest,
) -> None:
    # As `stack status` without --clickhouse-replicas: the running cluster is found.
    config = clickhouse_cluster.cluster.config.model_copy(update={"clickhouse_replicas": 0})
    health = {h.name: h for h in LocalStack(config).status()}
    for name in ("zookeeper", "clickhouse-1", "clickhouse-2"):
        assert health[name].state == "running", health[name]
    assert health["zookeeper"].version == "3.8.4"
    assert health["clickhouse-2"].port == health["clickhouse-1"].port + 10
    assert "clickhouse" not in health
    # The command line says the same, one row per node.
    config = clickhouse_cluster.cluster.config
    env = {
        **os.environ,
        "COLUMNS": "200",
        "SCORESTREAM_STATE_DIR": str(config.state_dir),
        "SCORESTREAM_CLICKHOUSE_PORT": str(config.clickhouse_port),
        "SCORESTREAM_CLICKHOUSE_HTTP_PORT": str(config.clickhouse_http_port),
        "SCORESTREAM_ZOOKEEPER_PORT": str(config.zookeeper_port),
    }
    result = run_cli(["stack", "status"], env, timeout_s=60)
    assert result.returncode == 3, result.stderr  # Kafka and SMTP are not started here
    for name in ("zookeeper", "clickhouse-1", "clickhouse-2"):
        assert re.search(rf"{name}\s+│\s+running", result.stdout), result.stdout


class _ServerDatabase:
    """What ``dashboard_context`` asks of a database (``query(sql).rows``), on a server."""

    def __init__(self, client: Any, database: str) -> None:
        self.client = client
        self.database = database

    def query(self, sql: str) -> Any:
        return Result(columns=[], types=[], rows=[list(r) for r in self.client.execute(sql)])


def _insert_fixture(client: Any, database: str, fixture: Any) -> None:
    for table, rows in rows_in_insert_order(fixture):
        columns = list(rows[0])
        values = [
            tuple(parse_time(row[c]) if c in _DATETIME_COLUMNS else row[c] for c in columns)
            for row in rows
        ]
        client.execute(f"INSERT INTO {database}.{table} ({', '.join(columns)}) VALUES", values)


@pytest.mark.integration
def test_every_dashboard_query_answers_through_the_cluster_as_on_one_server(
    clickhouse_cluster: ClusterUnderTest, clients: list[Any], ch_client: Any, settings: Any
) -> None:
    """The dashboards' sample data, replays included, on one server and through the
    Distributed tables: every query the dashboards send (FINAL, joins, IN subqueries) gives
    the same answer."""
    fixture = build_fixture()
    single = settings.clickhouse.database
    apply_migrations(ch_client, single)
    _insert_fixture(ch_client, single, fixture)
    clustered = f"{clickhouse_cluster.database}_dash"
    apply_migrations(clients[0], clustered, cluster=CLUSTER)
    _insert_fixture(clients[0], clustered, fixture)
    reference = _ServerDatabase(ch_client, single)
    ran = 0
    for query in ALL_QUERIES:
        chosen = CHOICES.get(query.dashboard, {})
        ctx = dashboard_context(_checked_in()[query.dashboard], reference, chosen)  # type: ignore[arg-type]
        expanded = expand(query.sql, ctx)
        if not _server_can_run(expanded, 18):
            continue
        want = sorted(
            (_normalise(list(r)) for r in ch_client.execute(in_database(expanded, single))),
            key=repr,
        )
        got = sorted(
            (_normalise(list(r)) for r in clients[0].execute(in_database(expanded, clustered))),
            key=repr,
        )
        # quantile() samples above 8192 values, in the order the rows arrive: a tolerance.
        tolerance = 0.1 if re.search(r"\bquantiles?\(", expanded) else 1e-6
        assert _same(got, want, tolerance), f"{query.id}:\n{got}\n{want}"
        ran += 1
    assert ran >= 15, f"only {ran} dashboard queries ran"


# --- faults (last: the tests above run on a cluster that never had one) ---------------------
@pytest.mark.integration
def test_a_stopped_replica_catches_up_after_its_restart(
    clickhouse_cluster: ClusterUnderTest, clients: list[Any]
) -> None:
    database = clickhouse_cluster.database
    second = clickhouse_cluster.replicas[1]
    ids = range(2000, 2300)
    second.stop()
    try:
        assert second.health().state == "stopped"
        _write_scores(clients[0], database, ids)  # acknowledged with one replica down
        assert _local_count(clients[0], database, ids) == len(ids)
        # A sink (re)starting now runs the migrations: nothing to do, and no ON CLUSTER
        # statement, which would wait for the stopped replica (here: fail after 5 s).
        impatient = make_client(
            clickhouse_cluster.dsn(0), settings={"distributed_ddl_task_timeout": 5}
        )
        try:
            assert apply_migrations(impatient, database, cluster=CLUSTER) == []
        finally:
            impatient.disconnect()
    finally:
        second.start()
    restarted = _client(clickhouse_cluster, 1)
    try:
        took = _wait_until(lambda: _local_count(restarted, database, ids) == len(ids), "caught up")
        print(f"replica 2 caught up {len(ids)} rows {took:.1f} s after its restart")
    finally:
        restarted.disconnect()


@pytest.mark.integration
def test_writes_resume_after_zookeeper_restarts(
    clickhouse_cluster: ClusterUnderTest, clients: list[Any]
) -> None:
    database = clickhouse_cluster.database
    zookeeper = clickhouse_cluster.cluster.zookeeper
    zookeeper.stop()
    try:
        assert zookeeper.health().state == "stopped"
        # Reads need no ZooKeeper; a write is refused as "retry later" (the replicated
        # tables are read-only), so the sink keeps its offsets and rejects nothing.
        assert clients[0].execute(f"SELECT count() FROM {database}.scores")[0][0] > 0
        with pytest.raises(SinkBackpressureError, match="Code: 242"):
            _write_scores(clients[0], database, range(2900, 2910))
    finally:
        zookeeper.start()
    ids = range(3000, 3050)

    def written() -> bool:
        try:
            _write_scores(clients[0], database, ids)
        except Exception:  # the replicas reconnect to ZooKeeper: readonly meanwhile
            return False
        return True

    took = _wait_until(written, "a write after ZooKeeper's restart")
    print(f"writes resumed {took:.1f} s after ZooKeeper's restart")
    _wait_until(lambda: _local_count(clients[1], database, ids) == len(ids), "replicated")
