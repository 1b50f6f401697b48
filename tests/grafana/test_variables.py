"""Template variables reach the SQL escaped, whatever a feature is called.

Grafana substitutes ``${feature}`` into the SQL text before ClickHouse sees it; the
ClickHouse plugin's own formatter escapes nothing, and Grafana's ``sqlstring`` and
``singlequote`` formats leave backslashes alone, which ClickHouse reads as escapes. The
dashboards therefore insert every variable as ``decodeURLComponent('${name:percentencode}')``:
the percent-encoded value holds only ``A-Z a-z 0-9 - _ . ~ %``, and ClickHouse decodes it
back to the exact name. ``scorestream.grafana.macros`` formats values like Grafana 12 does,
so these tests run the SQL Grafana would send.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scorestream.grafana.macros import _VARIABLE, apply_conditional_all, expand
from scorestream.grafana.sample_data import (
    ChdbDatabase,
    Fixture,
    build_fixture,
    dashboard_context,
    in_database,
    parse_time,
    rows_in_insert_order,
    to_series,
)

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "grafana" / "provisioning" / "dashboards"
SAFE_VARIABLE = re.compile(r"decodeURLComponent\('\$\{\w+:percentencode\}'\)")

# Names that break or rewrite a WHERE clause when inserted unescaped, or with sqlstring /
# singlequote (which leave the backslash, an escape character for ClickHouse).
HOSTILE = (
    "nothing' OR feature != 'nothing",
    "it's",
    "back\\slash",
    "ends in a backslash \\",
    "\\' OR 1=1 OR feature = '",
    'say "hi"',
    "100% {sure}, (really)* $feature",
    "ünïcødé",
)
# A multi-value variable reaches the SQL as one "{a,b}" string: a comma in a name cannot be
# told apart from the separator there (README, limits), so those names stay out of it.
HOSTILE_MULTI = tuple(name for name in HOSTILE if "," not in name)
TWIN = "income"  # every hostile feature gets a copy of this feature's rows


def _dashboard(name: str) -> dict[str, Any]:
    return dict(json.loads((DASHBOARDS / name).read_text()))


def _queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(title, SQL) of every variable, annotation and panel query."""
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            yield f"${var['name']}", var["query"]
    for annotation in dashboard["annotations"]["list"]:
        if "rawSql" in annotation.get("target", {}):
            yield annotation["name"], annotation["target"]["rawSql"]
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            # PromQL (pipeline health) takes no variables either, only $__rate_interval.
            yield panel["title"], target.get("rawSql") or target["expr"]


def _with_hostile_twins(fixture: Fixture) -> Fixture:
    for table in ("drift_stats", "drift_checks", "drift_events"):
        rows = fixture.tables[table]
        twins = [row for row in rows if row["feature"] == TWIN]
        rows += [{**row, "feature": name} for name in HOSTILE for row in twins]
    return fixture


@pytest.fixture(scope="module")
def hostile_fixture() -> Fixture:
    return _with_hostile_twins(build_fixture())


@pytest.fixture(scope="module")
def hostile_db(hostile_fixture: Fixture) -> Iterator[ChdbDatabase]:
    db = ChdbDatabase(hostile_fixture, "scoring_hostile")
    yield db
    db.close()


def _as_twin(value: Any, name: str) -> Any:
    # Results for a hostile feature, with its name written as the twin's, to compare.
    if isinstance(value, str):
        return value.replace(name, TWIN)
    if isinstance(value, list):
        return [_as_twin(v, name) for v in value]
    return value


# --- every variable in every query is escaped ----------------------------------------------
@pytest.mark.parametrize("file", sorted(p.name for p in DASHBOARDS.glob("*.json")))
def test_every_variable_reaches_sql_percent_encoded(file: str) -> None:
    for title, sql in _queries(_dashboard(file)):
        # $__conditionalAll's second argument names the variable; it never reaches the SQL.
        sql = apply_conditional_all(sql, {"feature": ["x"]})
        rest = SAFE_VARIABLE.sub("", sql)
        raw = [m.group(0) for m in _VARIABLE.finditer(rest) if not m.group(0).startswith("$__")]
        assert not raw, f"{file}: {title}: {raw} reach the SQL unescaped"


# --- hostile names on chDB ------------------------------------------------------------------
@pytest.mark.parametrize("name", HOSTILE)
def test_feature_detail_shows_exactly_the_chosen_feature(
    hostile_db: ChdbDatabase, name: str
) -> None:
    detail = _dashboard("feature-detail.json")
    hostile = dashboard_context(detail, hostile_db, {"feature": name})
    twin = dashboard_context(detail, hostile_db, {"feature": TWIN})
    assert name in (hostile.options or {})["feature"]
    compared = 0
    for title, sql in _queries(detail):
        if title.startswith("$"):
            continue
        got = hostile_db.query(in_database(expand(sql, hostile), hostile_db.database)).rows
        want = hostile_db.query(in_database(expand(sql, twin), hostile_db.database)).rows
        assert want, f"{title}: the twin has rows"
        assert _as_twin(got, name) == want, f"{title} for {name!r}"
        compared += 1
    assert compared >= 7


@pytest.mark.parametrize("name", HOSTILE_MULTI)
def test_drift_overview_filters_to_the_chosen_features(hostile_db: ChdbDatabase, name: str) -> None:
    overview = _dashboard("drift-overview.json")
    psi = next(sql for title, sql in _queries(overview) if title == "PSI per feature")
    for chosen in ([name, "age"], [name]):
        ctx = dashboard_context(overview, hostile_db, {"feature": chosen})
        result = hostile_db.query(in_database(expand(psi, ctx), hostile_db.database))
        assert set(to_series(result)) == set(chosen)
    # A single value as a plain string (not a list) selects the same.
    ctx = dashboard_context(overview, hostile_db, {"feature": name})
    result = hostile_db.query(in_database(expand(psi, ctx), hostile_db.database))
    assert set(to_series(result)) == {name}


def test_the_injection_would_have_worked_unescaped(hostile_db: ChdbDatabase) -> None:
    # The guard of the tests above: the old text, '${feature}', returns every feature.
    ctx = dashboard_context(_dashboard("feature-detail.json"), hostile_db, {"feature": HOSTILE[0]})
    sql = f"SELECT DISTINCT feature FROM {hostile_db.database}.drift_checks WHERE feature = "
    features = hostile_db.query(expand(sql + "'${feature}'", ctx)).rows
    assert len(features) > 1
    escaped = hostile_db.query(expand(sql + "decodeURLComponent('${feature:percentencode}')", ctx))
    assert escaped.rows == [[HOSTILE[0]]]


# --- the same on the local ClickHouse server -------------------------------------------------
_DATETIME_COLUMNS = {
    "minute",
    "period_start",
    "period_end",
    "checked_at",
    "detected_at",
    "label_time",
    "received_at",
}


@pytest.mark.integration
def test_hostile_names_on_the_local_clickhouse_server(
    ch_client: Any, settings: Any, hostile_fixture: Fixture
) -> None:
    from scorestream.consumers.clickhouse import apply_migrations

    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    for table, rows in rows_in_insert_order(hostile_fixture):
        if table in ("scores", "rejected_records"):
            continue
        columns = list(rows[0])
        values = [
            tuple(parse_time(row[c]) if c in _DATETIME_COLUMNS else row[c] for c in columns)
            for row in rows
        ]
        ch_client.execute(f"INSERT INTO {database}.{table} ({', '.join(columns)}) VALUES", values)
    server = _ServerAsDb(ch_client, database)
    ran = 0
    for file, names, as_value in (
        ("feature-detail.json", HOSTILE, lambda f: f),
        ("drift-overview.json", HOSTILE_MULTI, lambda f: [f]),
    ):
        dashboard = _dashboard(file)
        for name in names:
            contexts = {
                f: dashboard_context(dashboard, server, {"feature": as_value(f)})
                for f in (name, TWIN)
            }
            for title, sql in _queries(dashboard):
                if title.startswith("$") or "$__timeInterval" in sql or "{feature" not in sql:
                    continue  # toStartOfInterval came after 18.16
                got, want = (
                    ch_client.execute(in_database(expand(sql, contexts[f]), database))
                    for f in (name, TWIN)
                )
                assert want, f"{file}: {title}: the twin has rows"
                assert _as_twin([list(r) for r in got], name) == [list(r) for r in want], title
                ran += 1
    assert ran >= 2 * len(HOSTILE) + 2 * len(HOSTILE_MULTI)


class _ServerAsDb:
    """The part of ChdbDatabase that dashboard_context uses, on the real server."""

    def __init__(self, client: Any, database: str) -> None:
        self.client, self.database = client, database

    def query(self, sql: str) -> Any:
        from scorestream.grafana.sample_data import Result

        rows, types = self.client.execute(sql, with_column_types=True)
        return Result([n for n, _ in types], [t for _, t in types], [list(r) for r in rows])
