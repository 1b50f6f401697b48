"""Grafana provisioning, as far as this machine can test it.

No Grafana here, so:

- the dashboards are regenerated and compared with the checked-in JSON;
- every panel, variable and annotation query is expanded the way Grafana and the ClickHouse
  plugin expand it (``scorestream.grafana.macros``) and run on chDB against the schema of
  the real migrations, loaded with 36 hours of synthetic data
  (``scorestream.grafana.sample_data``); its result must have the shape its panel needs,
  and a few panels are checked against the known truth;
- the queries that an old ClickHouse can run (all but ``$__timeInterval`` ones on 18.16)
  also run on the local stack's ClickHouse server and must give chDB's answer;
- every dashboard has a preview linked from ``grafana/README.md``.

The deployment (compose file, images, users) is checked in ``test_deployment.py``, the
single sources of thresholds, uids and links in ``test_single_source.py``.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from scorestream.grafana import build as builder
from scorestream.grafana import panels
from scorestream.grafana.dashboards import drift
from scorestream.grafana.macros import QueryContext, expand
from scorestream.grafana.sample_data import (
    DRIFT_AT,
    FEATURES,
    ChdbDatabase,
    Fixture,
    Result,
    build_fixture,
    dashboard_context,
    in_database,
    is_number,
    is_string,
    is_time,
    parse_time,
    rows_in_insert_order,
    time_range,
    to_series,
    unique_ids,
)

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "grafana"
DASHBOARDS = GRAFANA / "provisioning" / "dashboards"
DATASOURCE_YAML = GRAFANA / "provisioning" / "datasources" / "clickhouse.yaml"
PROVIDER_YAML = DASHBOARDS / "provider.yaml"
CHDB_DATABASE = "scoring_test"
#: Dashboards on the Prometheus datasource, tested in test_pipeline_health.py.
PROMETHEUS_DASHBOARDS = {"pipeline-health.json"}


def _checked_in() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


# --- queries of the dashboards -------------------------------------------------------------
@dataclass(frozen=True)
class PanelQuery:
    """One query as Grafana would send it: a panel target, a variable or an annotation."""

    dashboard: str
    title: str
    kind: str  # panel type, "variable" or "annotation"
    sql: str
    time_series: bool

    @property
    def id(self) -> str:
        return f"{self.dashboard.removesuffix('.json')}:{self.title}"


def _queries(name: str, dashboard: dict[str, Any]) -> Iterator[PanelQuery]:
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            yield PanelQuery(name, f"${var['name']}", "variable", var["query"], False)
    for annotation in dashboard["annotations"]["list"]:
        if "target" in annotation and "rawSql" in annotation["target"]:
            yield PanelQuery(
                name, annotation["name"], "annotation", annotation["target"]["rawSql"], False
            )
    for panel in dashboard["panels"]:
        for tgt in panel["targets"]:
            if tgt["datasource"] != panels.DATASOURCE:
                continue  # PromQL: tests/grafana/test_pipeline_health.py
            yield PanelQuery(
                name,
                panel["title"],
                panel["type"],
                tgt["rawSql"],
                tgt["format"] == panels.FORMAT_TIME_SERIES,
            )


ALL_QUERIES = [q for name, dash in _checked_in().items() for q in _queries(name, dash)]


@pytest.fixture(scope="module")
def fixture_data() -> Fixture:
    return build_fixture()


@pytest.fixture(scope="module")
def chdb_db(fixture_data: Fixture) -> Iterator[ChdbDatabase]:
    db = ChdbDatabase(fixture_data, CHDB_DATABASE)
    yield db
    db.close()


# Variable values a user would pick; everything else takes the dashboard's default.
CHOICES: dict[str, dict[str, Any]] = {"feature-detail.json": {"feature": "income"}}


def context_for(
    dashboard_name: str, db: ChdbDatabase, choices: dict[str, Any] | None = None
) -> QueryContext:
    chosen = {**CHOICES.get(dashboard_name, {}), **(choices or {})}
    return dashboard_context(_checked_in()[dashboard_name], db, chosen)


def run_on_chdb(
    query: PanelQuery, db: ChdbDatabase, choices: dict[str, Any] | None = None
) -> Result:
    ctx = context_for(query.dashboard, db, choices)
    return db.query(in_database(expand(query.sql, ctx), db.database))


def check_shape(query: PanelQuery, result: Result) -> None:
    """The columns each kind of panel needs, as Grafana reads them."""
    assert result.rows, f"{query.id}: no rows on the fixture data"
    types = dict(zip(result.columns, result.types, strict=True))
    numeric = [c for c, t in types.items() if is_number(t)]
    if query.time_series:
        assert result.columns[0] == "time" and is_time(result.types[0]), result.columns
        times = [parse_time(row[0]) for row in result.rows]
        # The plugin's long-to-wide conversion rejects rows that are not sorted by time.
        assert times == sorted(times), f"{query.id}: not sorted by time"
        start, end = time_range(_checked_in()[query.dashboard])
        assert times[0] >= start and times[-1] <= end
        assert numeric, f"{query.id}: no numeric column"
        labels = [c for c, t in types.items() if is_string(t)]
        assert len(labels) <= 1, f"{query.id}: more than one label column {labels}"
        assert set(numeric) | set(labels) | {"time"} == set(result.columns)
        for column in numeric:
            values = result.column(column)
            # NULL is a gap in the line (no figure that day), and only where the query says
            # so (a Nullable column that is not empty); NaN and infinities never are.
            if types[column].startswith("Nullable("):
                assert any(v is not None for v in values), f"{query.id}: {column} is empty"
                values = [v for v in values if v is not None]
            assert all(v is not None and math.isfinite(v) for v in values), (
                f"{query.id}: {column} has NaN or infinite values"
            )
    elif query.kind == "stat":
        assert len(result.rows) == 1 and numeric == result.columns, result
        assert all(v is not None for v in result.rows[0])
    elif query.kind == "barchart":
        assert is_string(result.types[0]) and set(numeric) == set(result.columns[1:])
    elif query.kind == "annotation":
        assert is_time(types["time"]) and is_string(types["text"]) and is_string(types["tags"])
    elif query.kind == "variable":
        assert len(result.columns) == 1 and is_string(result.types[0])


# --- generated JSON ----------------------------------------------------------------------------
def test_checked_in_dashboards_are_what_the_generator_builds() -> None:
    built = builder.build_all()
    assert _checked_in() == built, "run: python -m scorestream.grafana.build"
    assert builder.stale_files() == []


def test_generator_runs_as_a_script_in_check_mode() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scorestream.grafana.build", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboards_have_unique_uids_and_panel_ids() -> None:
    dashboards = _checked_in()
    assert len({d["uid"] for d in dashboards.values()}) == len(dashboards)
    assert {d["title"] for d in dashboards.values()} == {
        "Drift overview",
        "Feature detail",
        "Scoring operations",
        "Model comparison",
        "Model performance",
        "Pipeline health",
    }
    for dash in dashboards.values():
        ids = [p["id"] for p in dash["panels"]]
        assert len(ids) == len(set(ids))
        for panel in dash["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24


def _datasources(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("datasource"), dict):
            yield node["datasource"]
        for value in node.values():
            yield from _datasources(value)
    elif isinstance(node, list):
        for value in node:
            yield from _datasources(value)


def test_every_datasource_is_the_provisioned_clickhouse() -> None:
    provisioned = yaml.safe_load(DATASOURCE_YAML.read_text())["datasources"]
    assert len(provisioned) == 1
    source = provisioned[0]
    expected = {"type": source["type"], "uid": source["uid"]}
    assert expected == panels.DATASOURCE
    seen = 0
    for name, dash in _checked_in().items():
        if name in PROMETHEUS_DASHBOARDS:
            continue  # tests/grafana/test_pipeline_health.py
        for ds in _datasources(dash):
            if ds == {"type": "grafana", "uid": "-- Grafana --"}:
                continue  # Grafana's own annotations (alerts posted through its API)
            assert ds == expected
            seen += 1
    assert seen > 20


def test_datasource_is_native_read_only_and_takes_its_password_from_the_environment() -> None:
    source = yaml.safe_load(DATASOURCE_YAML.read_text())["datasources"][0]
    assert source["type"] == "grafana-clickhouse-datasource"
    assert source["jsonData"]["protocol"] == "native"
    assert source["jsonData"]["port"] == 9000
    assert source["jsonData"]["defaultDatabase"] == panels.DATABASE
    assert source["jsonData"]["username"] == "grafana_reader"
    assert source["secureJsonData"]["password"] == "$CLICKHOUSE_READER_PASSWORD"


def test_dashboard_provider_reads_the_generated_files() -> None:
    provider = yaml.safe_load(PROVIDER_YAML.read_text())["providers"][0]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/etc/grafana/provisioning/dashboards"


def test_every_table_is_read_with_final() -> None:
    for query in ALL_QUERIES:
        for match in re.finditer(rf"\b{panels.DATABASE}\.(\w+)(\s+\w+)?", query.sql):
            assert (match.group(2) or "").strip() == "FINAL", (
                f"{query.id}: {match.group(1)} without FINAL shows replayed rows twice"
            )


# --- every query on chDB -----------------------------------------------------------------------
def test_the_fixture_schema_is_the_real_migrations(chdb_db: ChdbDatabase) -> None:
    tables = {row[0] for row in chdb_db.query(f"SHOW TABLES FROM {CHDB_DATABASE}").rows}
    assert {
        "scores",
        "rejected_records",
        "drift_stats",
        "drift_checks",
        "drift_events",
        "schema_migrations",
    } <= tables


@pytest.mark.parametrize("query", ALL_QUERIES, ids=lambda q: q.id)
def test_query_runs_on_chdb_and_returns_what_its_panel_needs(
    query: PanelQuery, chdb_db: ChdbDatabase
) -> None:
    check_shape(query, run_on_chdb(query, chdb_db))


def _query(title: str) -> PanelQuery:
    return next(q for q in ALL_QUERIES if q.title == title)


def test_replayed_records_are_counted_once(chdb_db: ChdbDatabase, fixture_data: Fixture) -> None:
    raw = chdb_db.query(f"SELECT count() FROM {CHDB_DATABASE}.scores").rows[0][0]
    assert raw > unique_ids(fixture_data), "the fixture must contain replayed rows"
    assert run_on_chdb(_query("Records scored"), chdb_db).rows == [[unique_ids(fixture_data)]]


def test_latest_daily_check_has_one_row_per_feature_and_flags_income(
    chdb_db: ChdbDatabase,
) -> None:
    result = run_on_chdb(_query("Latest daily drift check"), chdb_db)
    assert sorted(result.column("feature")) == sorted(FEATURES)
    flagged = [
        f for f, d in zip(result.column("feature"), result.column("flagged"), strict=True) if d
    ]
    assert flagged[0] == "income"
    assert run_on_chdb(_query("Features flagged (latest daily check)"), chdb_db).rows == [
        [len(flagged)]
    ]
    annotations = run_on_chdb(_query("Drift alerts"), chdb_db)
    assert any("income" in text for text in annotations.column("text"))


def test_conditional_all_narrows_to_the_chosen_features(chdb_db: ChdbDatabase) -> None:
    everything = to_series(run_on_chdb(_query("PSI per feature"), chdb_db))
    assert set(everything) == set(FEATURES)
    chosen = to_series(
        run_on_chdb(_query("PSI per feature"), chdb_db, {"feature": ["income", "age"]})
    )
    assert set(chosen) == {"income", "age"}
    assert max(chosen["income"][1]) > drift.PSI_DRIFT > max(chosen["age"][1])


def _after_drift(series: tuple[list[datetime], list[float]]) -> list[float]:
    return [v for t, v in zip(*series, strict=True) if t >= DRIFT_AT]


def test_feature_moments_and_quantiles_match_the_raw_values(
    chdb_db: ChdbDatabase, fixture_data: Fixture
) -> None:
    truth = fixture_data.truth["income"]
    truth = truth[np.isfinite(truth)]
    means = to_series(run_on_chdb(_query("Mean ± standard deviation"), chdb_db))
    assert np.mean(_after_drift(means["mean"])) == pytest.approx(truth.mean(), rel=0.02)
    assert np.mean(_after_drift(means["upper"])) - np.mean(_after_drift(means["mean"])) == (
        pytest.approx(truth.std(), rel=0.1)
    )
    reference = fixture_data.profiles["income"].sample
    reference = reference[np.isfinite(reference)]
    quantiles = to_series(run_on_chdb(_query("Quantiles against the reference"), chdb_db))
    for name, p in (("p10", 10), ("p50", 50), ("p90", 90)):
        # The reference percentile where the drifted data's quantile sits.
        expected = np.mean(reference <= np.percentile(truth, p))
        assert np.mean(_after_drift(quantiles[name])) == pytest.approx(expected, abs=0.02), name
    before = [v for t, v in zip(*quantiles["p50"], strict=True) if t < DRIFT_AT]
    assert np.mean(before) == pytest.approx(0.5, abs=0.03)
    missing = to_series(run_on_chdb(_query("Missing rate"), chdb_db, {"feature": "credit_score"}))
    assert np.mean(missing["missing_rate"][1]) == pytest.approx(0.04, abs=0.01)


def test_histogram_compares_shares_of_the_same_bins(chdb_db: ChdbDatabase) -> None:
    result = run_on_chdb(_query("Reference vs current histogram"), chdb_db)
    assert result.columns == ["bin", "reference", "current"]
    assert sum(result.column("reference")) == pytest.approx(1.0)
    assert sum(result.column("current")) == pytest.approx(1.0)
    assert result.column("bin")[-1] == "missing"


# --- the same queries on the local ClickHouse server -------------------------------------------
_DATETIME_COLUMNS = {
    "event_time",
    "scored_at",
    "ingested_at",
    "rejected_at",
    "minute",
    "period_start",
    "period_end",
    "checked_at",
    "detected_at",
    "label_time",
    "received_at",
}


def _normalise(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (int, float)):  # JSON writes 0.0 as 0; the native protocol does not
        return float(f"{value:.6g}")
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    return value


def _same(got: Any, want: Any, rel: float) -> bool:
    if isinstance(got, float) and isinstance(want, float):
        return math.isclose(got, want, rel_tol=rel, abs_tol=1e-12)
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(
            _same(g, w, rel) for g, w in zip(got, want, strict=True)
        )
    return bool(got == want)


def _server_can_run(sql: str, major: int) -> bool:
    # toStartOfInterval ($__timeInterval) came after 18.16; everything else must run there.
    return major >= 20 or "toStartOfInterval" not in sql


@pytest.mark.integration
def test_queries_run_on_the_local_clickhouse_server_with_the_same_results(
    ch_client: Any, settings: Any, chdb_db: ChdbDatabase, fixture_data: Fixture
) -> None:
    database = settings.clickhouse.database
    from scorestream.consumers.clickhouse import apply_migrations

    apply_migrations(ch_client, database)
    for table, rows in rows_in_insert_order(fixture_data):
        columns = list(rows[0])
        values = [
            tuple(parse_time(row[c]) if c in _DATETIME_COLUMNS else row[c] for c in columns)
            for row in rows
        ]
        ch_client.execute(f"INSERT INTO {database}.{table} ({', '.join(columns)}) VALUES", values)
    version = ch_client.execute("SELECT version()")[0][0]
    major = int(version.split(".")[0])
    ran = 0
    for query in ALL_QUERIES:
        ctx = context_for(query.dashboard, chdb_db)
        expanded = expand(query.sql, ctx)
        if not _server_can_run(expanded, major):
            continue
        rows, _ = ch_client.execute(in_database(expanded, database), with_column_types=True)
        expected = chdb_db.query(in_database(expanded, CHDB_DATABASE)).rows
        got = sorted((_normalise(list(r)) for r in rows), key=repr)
        want = sorted((_normalise(r) for r in expected), key=repr)
        # quantile() samples above 8192 values, differently in each version: a tolerance.
        tolerance = 0.1 if re.search(r"\bquantiles?\(", expanded) else 1e-6
        assert _same(got, want, tolerance), (
            f"{query.id}: ClickHouse {version} and chDB disagree:\n{got}\n{want}"
        )
        ran += 1
    # The daily check's own questions: latest check, per-feature history, features.
    assert ran >= 15, f"only {ran} queries ran on ClickHouse {version}"


# --- previews ------------------------------------------------------------------------------------
def test_every_dashboard_has_a_preview_linked_from_the_readme() -> None:
    readme = (GRAFANA / "README.md").read_text()
    for name in builder.BUILDERS:
        png = f"previews/{name.removesuffix('.json')}.png"
        assert (GRAFANA / png).is_file(), (
            f"run: python -m scorestream.grafana.render_previews ({png})"
        )
        assert png in readme
