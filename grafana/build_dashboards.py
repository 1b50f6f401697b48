#!/usr/bin/env python3
"""Build the scorestream Grafana dashboards as JSON, from plain Python.

Run ``python grafana/build_dashboards.py`` after changing a panel: it rewrites
``grafana/provisioning/dashboards/*.json``, which Grafana loads through the file provider in
``provider.yaml``. ``--check`` only reports whether the checked-in JSON is stale (exit 1),
and the test suite fails in the same case, so the JSON never drifts from this file.

Every query targets the ``grafana-clickhouse-datasource`` plugin (SQL editor, raw SQL) on
the provisioned datasource :data:`DATASOURCE_UID`. The tables are ReplacingMergeTree, so
every table is read with ``FINAL``: a batch replayed after a crash must never show twice.
Time-series queries return a ``time`` column sorted ascending, numeric values and at most
one string column (a series label); the plugin turns such a long table into one series per
label (``format`` 0), which is also what the tests check.
"""

# The SQL here is the dashboards' own text, built from constants; no input reaches it.
# ruff: noqa: S608
from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATASOURCE_UID = "scorestream-clickhouse"
DATASOURCE: dict[str, str] = {"type": "grafana-clickhouse-datasource", "uid": DATASOURCE_UID}
#: The plugin version pinned in docker-compose.yml (GF_PLUGINS_PREINSTALL_SYNC).
PLUGIN_VERSION = "4.11.2"
#: ClickHouse database of the public contract; the tests substitute their own.
DATABASE = "scoring"
OUT_DIR = Path(__file__).resolve().parent / "provisioning" / "dashboards"
TAGS = ["scorestream"]

# sqlds' FormatQueryOption: 0 turns a long (time, label, value) table into one series per
# label; 1 hands the table to the panel as it is.
FORMAT_TIME_SERIES = 0
FORMAT_TABLE = 1

# Drift thresholds shown as colours; the daily check's own thresholds live in streams.drift.
PSI_WARNING, PSI_DRIFT = 0.1, 0.25
JS_WARNING, JS_DRIFT = 0.1, 0.2

UIDS = {
    "drift": "scorestream-drift-overview",
    "feature": "scorestream-feature-detail",
    "ops": "scorestream-scoring-operations",
}


def sql(template: str, **parts: str) -> str:
    """Dedent a query, fill in multi-line ``{name}`` parts, qualify tables with ``{db}``.

    A part's continuation lines are indented like the line that holds its placeholder, so
    the SQL that users see in Grafana's editor is laid out as if written by hand.
    """
    text = textwrap.dedent(template).strip()
    for name, part in parts.items():
        body = textwrap.dedent(part).strip()
        lines = []
        for line in text.splitlines():
            if "{" + name + "}" in line:
                indent = line[: len(line) - len(line.lstrip())]
                line = line.replace("{" + name + "}", body.replace("\n", "\n" + indent))
            lines.append(line)
        text = "\n".join(lines)
    return text.replace("{db}", DATABASE)


# --- queries, panels -------------------------------------------------------------------------
def target(query: str, *, time_series: bool, ref_id: str = "A") -> dict[str, Any]:
    """One raw-SQL query of the ClickHouse plugin (v4 query model)."""
    return {
        "datasource": DATASOURCE,
        "editorType": "sql",
        "format": FORMAT_TIME_SERIES if time_series else FORMAT_TABLE,
        "pluginVersion": PLUGIN_VERSION,
        "queryType": "timeseries" if time_series else "table",
        "rawSql": query,
        "refId": ref_id,
    }


def _thresholds(*steps: tuple[str, float | None]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def _series_by_label(label: str) -> dict[str, Any]:
    # The plugin names a pivoted series after the value column plus its labels; showing
    # only the label value keeps legends short ("income", not "psi {feature=income}").
    return {"displayName": f"${{__field.labels.{label}}}"}


@dataclass
class Panel:
    """A panel before layout: the grid position is filled in by :class:`Dashboard`."""

    title: str
    type: str
    query: str
    width: int
    height: int
    time_series: bool
    description: str = ""
    unit: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)

    def to_json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        defaults: dict[str, Any] = {**self.defaults}
        if self.unit:
            defaults["unit"] = self.unit
        if self.custom:
            defaults["custom"] = self.custom
        return {
            "datasource": DATASOURCE,
            "description": self.description,
            "fieldConfig": {"defaults": defaults, "overrides": self.overrides},
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "id": panel_id,
            "options": self.options,
            "targets": [target(self.query, time_series=self.time_series)],
            "title": self.title,
            "type": self.type,
        }


def timeseries(
    title: str,
    query: str,
    *,
    unit: str | None = None,
    description: str = "",
    width: int = 12,
    height: int = 8,
    label: str | None = None,
    stacked_bars: bool = False,
    thresholds: dict[str, Any] | None = None,
    threshold_style: str = "line+area",
    overrides: Sequence[dict[str, Any]] = (),
) -> Panel:
    """A time-series panel; ``label`` names the string column that splits the series."""
    custom: dict[str, Any] = {
        "drawStyle": "line",
        "lineWidth": 1,
        "fillOpacity": 0,
        "showPoints": "never",
        "spanNulls": False,
    }
    if stacked_bars:
        custom.update(drawStyle="bars", fillOpacity=80, stacking={"mode": "normal", "group": "A"})
    defaults: dict[str, Any] = _series_by_label(label) if label else {}
    if thresholds:
        defaults["thresholds"] = thresholds
        custom["thresholdsStyle"] = {"mode": threshold_style}
    return Panel(
        title,
        "timeseries",
        query,
        width,
        height,
        True,
        description,
        unit,
        defaults,
        custom,
        list(overrides),
        {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    )


def stat(
    title: str,
    query: str,
    *,
    unit: str | None = None,
    description: str = "",
    width: int = 6,
    height: int = 4,
    thresholds: dict[str, Any] | None = None,
) -> Panel:
    """A single-number panel over the dashboard's time range."""
    defaults = {"thresholds": thresholds or _thresholds(("blue", None))}
    return Panel(
        title,
        "stat",
        query,
        width,
        height,
        False,
        description,
        unit,
        defaults,
        options={
            "colorMode": "background",
            "graphMode": "none",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": "value",
        },
    )


def table(
    title: str,
    query: str,
    *,
    description: str = "",
    width: int = 12,
    height: int = 8,
    overrides: Sequence[dict[str, Any]] = (),
) -> Panel:
    """A table panel showing the query's rows as they come."""
    return Panel(
        title,
        "table",
        query,
        width,
        height,
        False,
        description,
        custom={"align": "auto", "cellOptions": {"type": "auto"}},
        overrides=list(overrides),
        options={
            "showHeader": True,
            "cellHeight": "sm",
            "footer": {"show": False, "reducer": ["sum"], "fields": ""},
        },
    )


def barchart(
    title: str,
    query: str,
    *,
    unit: str | None = None,
    description: str = "",
    width: int = 12,
    height: int = 8,
) -> Panel:
    """Grouped bars: the first (string) column on the x axis, one bar per numeric column."""
    return Panel(
        title,
        "barchart",
        query,
        width,
        height,
        False,
        description,
        unit,
        custom={"fillOpacity": 80, "lineWidth": 1},
        options={
            "orientation": "vertical",
            "groupWidth": 0.8,
            "barWidth": 0.9,
            "xTickLabelRotation": -45,
            "showValue": "never",
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "none"},
        },
    )


def status_history(
    title: str,
    query: str,
    *,
    label: str,
    description: str = "",
    width: int = 24,
    height: int = 8,
    thresholds: dict[str, Any] | None = None,
) -> Panel:
    """A rows x time grid of coloured cells: our features over time heatmap."""
    defaults = {
        **_series_by_label(label),
        "color": {"mode": "thresholds"},
        "thresholds": thresholds or _thresholds(("green", None)),
    }
    return Panel(
        title,
        "status-history",
        query,
        width,
        height,
        True,
        description,
        defaults=defaults,
        custom={"fillOpacity": 85, "lineWidth": 0},
        options={
            "showValue": "never",
            "rowHeight": 0.9,
            "colWidth": 0.95,
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "single", "sort": "none"},
        },
    )


def _link_to_feature(column: str) -> dict[str, Any]:
    url = f"/d/{UIDS['feature']}/feature-detail?var-feature=${{__value.raw}}&${{__url_time_range}}"
    return {
        "matcher": {"id": "byName", "options": column},
        "properties": [{"id": "links", "value": [{"title": "Feature detail", "url": url}]}],
    }


def _colour_cells(column: str, thresholds: dict[str, Any]) -> dict[str, Any]:
    return {
        "matcher": {"id": "byName", "options": column},
        "properties": [
            {"id": "thresholds", "value": thresholds},
            {"id": "custom.cellOptions", "value": {"type": "color-background"}},
        ],
    }


def _value_colours(column: str, colours: dict[str, str]) -> dict[str, Any]:
    mapping = {
        "type": "value",
        "options": {
            value: {"color": colour, "index": i}
            for i, (value, colour) in enumerate(colours.items())
        },
    }
    return {
        "matcher": {"id": "byName", "options": column},
        "properties": [
            {"id": "mappings", "value": [mapping]},
            {"id": "custom.cellOptions", "value": {"type": "color-background"}},
        ],
    }


def _fill_between(lower: str, upper: str) -> list[dict[str, Any]]:
    return [
        {
            "matcher": {"id": "byName", "options": upper},
            "properties": [
                {"id": "custom.fillBelowTo", "value": lower},
                {"id": "custom.fillOpacity", "value": 20},
                {"id": "custom.lineWidth", "value": 0},
            ],
        },
        {
            "matcher": {"id": "byName", "options": lower},
            "properties": [{"id": "custom.lineWidth", "value": 0}],
        },
    ]


def _dashed(column: str) -> dict[str, Any]:
    return {
        "matcher": {"id": "byName", "options": column},
        "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}],
    }


# --- variables, annotations, dashboards ----------------------------------------------------
def query_variable(
    name: str, label: str, query: str, *, multi: bool = False, include_all: bool = False
) -> dict[str, Any]:
    """A variable whose options are the first column of a ClickHouse query."""
    current: dict[str, Any] = (
        {"selected": True, "text": ["All"], "value": ["$__all"]} if include_all else {}
    )
    return {
        "current": current,
        "datasource": DATASOURCE,
        "definition": query,
        "hide": 0,
        "includeAll": include_all,
        "label": label,
        "multi": multi,
        "name": name,
        "options": [],
        "query": query,
        "refresh": 2,  # on time-range change: a new feature appears without a reload
        "regex": "",
        "skipUrlSync": False,
        "sort": 1,
        "type": "query",
    }


def custom_variable(name: str, label: str, choices: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A fixed list of ``(text, value)`` choices; the first is the default."""
    options = [
        {"selected": i == 0, "text": text, "value": value}
        for i, (text, value) in enumerate(choices)
    ]
    return {
        "current": {"selected": True, "text": choices[0][0], "value": choices[0][1]},
        "hide": 0,
        "includeAll": False,
        "label": label,
        "multi": False,
        "name": name,
        "options": options,
        "query": ",".join(f"{text} : {value}" for text, value in choices),
        "skipUrlSync": False,
        "type": "custom",
    }


def annotation(name: str, query: str, colour: str) -> dict[str, Any]:
    """Annotations from SQL: columns ``time``, ``text`` and ``tags`` (comma-separated)."""
    return {
        "datasource": DATASOURCE,
        "enable": True,
        "hide": False,
        "iconColor": colour,
        "name": name,
        "target": target(query, time_series=False, ref_id="Anno"),
    }


def grafana_tag_annotation(name: str, tags: Sequence[str], colour: str) -> dict[str, Any]:
    """Annotations stored in Grafana itself with all of ``tags`` (posted through its API)."""
    return {
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": False,
        "iconColor": colour,
        "name": name,
        "target": {"limit": 100, "matchAny": False, "tags": list(tags), "type": "tags"},
    }


BUILTIN_ANNOTATIONS = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


@dataclass
class Dashboard:
    """Lays panels out left to right on Grafana's 24-column grid, wrapping at the edge."""

    uid: str
    title: str
    description: str
    variables: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    rows: list[list[Panel]] = field(default_factory=list)

    def row(self, *panels: Panel) -> Dashboard:
        if sum(p.width for p in panels) > 24:
            raise ValueError(f"{self.title}: a row is wider than 24 columns")
        self.rows.append(list(panels))
        return self

    def to_json(self) -> dict[str, Any]:
        laid_out: list[dict[str, Any]] = []
        y = 0
        for row in self.rows:
            x = 0
            for panel in row:
                laid_out.append(panel.to_json(len(laid_out) + 1, x, y))
                x += panel.width
            y += max(p.height for p in row)
        return {
            "annotations": {"list": [BUILTIN_ANNOTATIONS, *self.annotations]},
            "description": self.description,
            "editable": False,
            "fiscalYearStartMonth": 0,
            "graphTooltip": 1,
            "links": [
                {
                    "asDropdown": False,
                    "icon": "external link",
                    "includeVars": False,
                    "keepTime": True,
                    "tags": TAGS,
                    "targetBlank": False,
                    "title": "scorestream",
                    "type": "dashboards",
                }
            ],
            "panels": laid_out,
            "refresh": "1m",
            "schemaVersion": 39,
            "tags": TAGS,
            "templating": {"list": self.variables},
            "time": {"from": "now-24h", "to": "now"},
            "timepicker": {},
            "timezone": "utc",
            "title": self.title,
            "uid": self.uid,
            "version": 1,
        }


# --- Drift overview ------------------------------------------------------------------------
PSI_THRESHOLDS = _thresholds(("green", None), ("orange", PSI_WARNING), ("red", PSI_DRIFT))
JS_THRESHOLDS = _thresholds(("green", None), ("orange", JS_WARNING), ("red", JS_DRIFT))
FEATURE_FILTER = "$__conditionalAll(feature IN (${feature:singlequote}), $feature)"
LATEST_DAILY = """
    check_kind = 'daily'
        AND period_end = (
            SELECT max(period_end) FROM {db}.drift_checks FINAL
            WHERE check_kind = 'daily' AND period_end <= $__toTime
        )
"""


def _rolling(column: str) -> str:
    # The worst value in each interval: a short drift spike must not be averaged away.
    return sql(f"""
        SELECT
            $__timeInterval(period_end) AS time,
            feature,
            max({column}) AS {column}
        FROM {{db}}.drift_checks FINAL
        WHERE check_kind = '${{window}}'
            AND $__timeFilter(period_end)
            AND {FEATURE_FILTER}
        GROUP BY time, feature
        ORDER BY time, feature
    """)


def change_points(feature_condition: str) -> dict[str, Any]:
    """Change points that the workers' online detectors reported (drift_events)."""
    return annotation(
        "Change points",
        sql(f"""
        SELECT
            minute AS time,
            concat(feature, ': ', detector, ' detected a change (', toString(value), ')')
                AS text,
            concat('change,', feature, ',', detector) AS tags
        FROM {{db}}.drift_events FINAL
        WHERE $__timeFilter(minute) AND {feature_condition}
        ORDER BY time
    """),
        "orange",
    )


# The alert consumer posts each e-mailed alert to Grafana with these tags (consumers.alerts).
ALERT_TAGS = ("scorestream", "drift")


def drift_overview() -> dict[str, Any]:
    """Per-feature drift over time, the features over time grid and the latest daily check."""
    features = query_variable(
        "feature",
        "Features",
        sql(
            "SELECT DISTINCT feature FROM {db}.drift_checks FINAL "
            "WHERE $__timeFilter(period_end) ORDER BY feature"
        ),
        multi=True,
        include_all=True,
    )
    window = custom_variable(
        "window", "Rolling window", [("1 hour", "rolling_1h"), ("24 hours", "rolling_24h")]
    )
    flagged = annotation(
        "Drift alerts",
        sql("""
        SELECT
            period_end AS time,
            concat(feature, ': ', level, ' (PSI ', toString(round(psi, 3)),
                   ', adjusted p ', toString(round(p_adjusted, 5)), ')') AS text,
            concat('drift,', feature) AS tags
        FROM {db}.drift_checks FINAL
        WHERE check_kind = 'daily' AND drifted = 1 AND $__timeFilter(period_end)
        ORDER BY time
    """),
        "red",
    )
    dash = Dashboard(
        UIDS["drift"],
        "Drift overview",
        "Is the input still like the training data? Rolling-window drift "
        "statistics per feature and the daily drift check.",
        variables=[window, features],
        annotations=[
            flagged,
            change_points(FEATURE_FILTER),
            grafana_tag_annotation("Alerts e-mailed", ALERT_TAGS, "purple"),
        ],
    )
    dash.row(
        stat(
            "Features flagged (latest daily check)",
            sql(
                """
            SELECT countIf(drifted = 1) AS flagged
            FROM {db}.drift_checks FINAL
            WHERE {latest}
        """,
                latest=LATEST_DAILY,
            ),
            thresholds=_thresholds(("green", None), ("red", 1)),
            description="Features whose daily check was both significant (Benjamini-"
            "Hochberg adjusted) and large (effect-size thresholds).",
        ),
        stat(
            "Features checked",
            sql(
                """
            SELECT count() AS features
            FROM {db}.drift_checks FINAL
            WHERE {latest}
        """,
                latest=LATEST_DAILY,
            ),
        ),
        stat(
            "Last daily check",
            sql("""
            SELECT toUInt64(toUnixTimestamp(max(checked_at))) * 1000 AS last_check
            FROM {db}.drift_checks FINAL
            WHERE check_kind = 'daily' AND checked_at <= $__toTime
        """),
            unit="dateTimeFromNow",
        ),
        stat(
            "Highest PSI in range (rolling)",
            sql(f"""
            SELECT max(psi) AS psi
            FROM {{db}}.drift_checks FINAL
            WHERE check_kind = '${{window}}' AND $__timeFilter(period_end)
                AND {FEATURE_FILTER}
        """),
            thresholds=PSI_THRESHOLDS,
        ),
    )
    dash.row(
        timeseries(
            "PSI per feature",
            _rolling("psi"),
            label="feature",
            thresholds=PSI_THRESHOLDS,
            description=f"Population stability index of the rolling window against "
            f"the reference bins. Above {PSI_WARNING}: watch; above "
            f"{PSI_DRIFT}: the distribution has moved.",
        ),
        timeseries(
            "Jensen-Shannon distance per feature",
            _rolling("js_distance"),
            label="feature",
            thresholds=JS_THRESHOLDS,
            description="Jensen-Shannon distance (base 2, 0 = same, 1 = disjoint) "
            "of the rolling window against the reference bins.",
        ),
    )
    dash.row(
        status_history(
            "Drift heatmap: features over time (PSI)",
            _rolling("psi"),
            label="feature",
            thresholds=PSI_THRESHOLDS,
            height=7,
            description="One row per feature; a cell's colour is the highest PSI in that interval.",
        )
    )
    dash.row(
        table(
            "Latest daily drift check",
            sql(
                """
        SELECT
            feature,
            level,
            drifted AS flagged,
            test,
            p_adjusted,
            p_value,
            psi,
            js_distance,
            wasserstein,
            ref_mean,
            cur_mean,
            cur_missing_rate,
            n_current,
            period_start,
            period_end,
            checked_at
        FROM {db}.drift_checks FINAL
        WHERE {latest}
        ORDER BY flagged DESC, psi DESC, feature
    """,
                latest=LATEST_DAILY,
            ),
            width=24,
            height=7,
            overrides=[
                _link_to_feature("feature"),
                _value_colours("level", {"ok": "green", "warning": "orange", "drift": "red"}),
                _colour_cells("psi", PSI_THRESHOLDS),
                _colour_cells("js_distance", JS_THRESHOLDS),
            ],
            description="One row per feature: flagged needs both a small adjusted p-value and "
            "a large effect size. Click a feature for its detail dashboard.",
        )
    )
    return dash.to_json()


# --- Feature detail ------------------------------------------------------------------------
# drift_stats holds partial rows (one per worker batch) that add up per minute; FINAL
# drops replayed batches first.
FEATURE_SUMS = """
    FROM {db}.drift_stats FINAL
    WHERE feature = '${feature}' AND $__timeFilter(minute)
    GROUP BY time
"""


def _reference(column: str, condition: str = "") -> str:
    # The reference side is the same in every check of a model: take the latest one.
    return f"""
        (
            SELECT {column} FROM {{db}}.drift_checks FINAL
            WHERE feature = '${{feature}}'{condition}
            ORDER BY checked_at DESC
            LIMIT 1
        )
    """


def feature_detail() -> dict[str, Any]:
    """One feature: reference against current histogram, moments and missing rate."""
    feature = query_variable(
        "feature",
        "Feature",
        sql(
            "SELECT DISTINCT feature FROM {db}.drift_stats FINAL "
            "WHERE $__timeFilter(minute) ORDER BY feature"
        ),
    )
    window = custom_variable(
        "window",
        "Histogram from check",
        [("daily", "daily"), ("rolling 24 hours", "rolling_24h"), ("rolling 1 hour", "rolling_1h")],
    )
    dash = Dashboard(
        UIDS["feature"],
        "Feature detail",
        "One input feature: its current distribution against the reference "
        "(training) data, and how its moments move over time.",
        variables=[feature, window],
        annotations=[change_points("feature = '${feature}'")],
    )
    dash.row(
        barchart(
            "Reference vs current histogram",
            sql("""
            SELECT
                bin_labels[i] AS bin,
                reference_counts[i] / greatest(arraySum(reference_counts), 1) AS reference,
                current_counts[i] / greatest(arraySum(current_counts), 1) AS current
            FROM (
                SELECT bin_labels, reference_counts, current_counts
                FROM {db}.drift_checks FINAL
                WHERE feature = '${feature}' AND check_kind = '${window}'
                    AND period_end <= $__toTime
                ORDER BY period_end DESC
                LIMIT 1
            )
            ARRAY JOIN arrayEnumerate(bin_labels) AS i
            ORDER BY i
        """),
            unit="percentunit",
            description="Share of records per bin in the latest check of the chosen "
            "kind. Numeric bins are reference deciles, so each interior "
            "reference bar is about 10 %.",
        ),
        timeseries(
            "Drift statistics of this feature",
            sql("""
            SELECT
                $__timeInterval(period_end) AS time,
                max(psi) AS psi,
                max(js_distance) AS js_distance
            FROM {db}.drift_checks FINAL
            WHERE feature = '${feature}' AND check_kind = 'rolling_1h'
                AND $__timeFilter(period_end)
            GROUP BY time
            ORDER BY time
        """),
            thresholds=PSI_THRESHOLDS,
            description="PSI and Jensen-Shannon distance of the rolling 1-hour window.",
        ),
    )
    mean_query = sql(
        """
        SELECT time, mean, mean - std AS lower, mean + std AS upper, reference_mean
        FROM (
            SELECT
                $__timeInterval(minute) AS time,
                sum(count) - sum(missing) AS n,
                sum(sum) / n AS mean,
                sqrt(greatest(sum(sumsq) / n - mean * mean, 0)) AS std,
                {ref} AS reference_mean
            {sums}
            HAVING n > 0
        )
        ORDER BY time
    """,
        ref=_reference("ref_mean"),
        sums=FEATURE_SUMS,
    )
    # Numeric bins are [underflow, reference deciles..., overflow, missing]. In each
    # interval, find the bin where the cumulative count crosses p and interpolate within it
    # in the reference's cumulative shares: the result is the reference percentile at which
    # the current p-quantile sits (p itself when nothing changed). Bin edges alone cannot
    # place a quantile inside the open-ended outer deciles in the feature's own units.
    quantile_query = sql(
        """
        WITH
            {ref} AS reference,
            arraySlice(reference, 1, length(reference) - 1) AS ref_valued,
            arrayCumSum(ref_valued) AS ref_cum,
            arraySum(ref_valued) AS ref_n,
            arraySlice(counts, 1, length(counts) - 1) AS valued,
            arrayCumSum(valued) AS cum,
            arraySum(valued) AS n,
            [0.1, 0.5, 0.9] AS ps,
            arrayMap(p -> arrayFirstIndex(x -> x >= p * n, cum), ps) AS bins,
            arrayMap((p, j) -> (ref_cum[j] - ref_valued[j]
                + (p * n - cum[j] + valued[j]) / valued[j] * ref_valued[j]) / ref_n,
                ps, bins) AS at
        SELECT time, at[1] AS p10, at[2] AS p50, at[3] AS p90
        FROM (
            SELECT
                $__timeInterval(minute) AS time,
                sumForEach(counts) AS counts
            {sums}
        )
        WHERE length(counts) = length(reference) AND n > 0 AND ref_n > 0
        ORDER BY time
    """,
        ref=_reference("reference_counts", " AND kind = 'numeric'"),
        sums=FEATURE_SUMS,
    )
    dash.row(
        timeseries(
            "Mean ± standard deviation",
            mean_query,
            overrides=[*_fill_between("lower", "upper"), _dashed("reference_mean")],
            description="Mean of the non-missing values per interval, a band of one "
            "standard deviation, and the reference mean (dashed).",
        ),
        timeseries(
            "Quantiles against the reference",
            quantile_query,
            unit="percentunit",
            thresholds=_thresholds(
                ("transparent", None), ("text", 0.1), ("text", 0.5), ("text", 0.9)
            ),
            threshold_style="dashed",
            description="Where the current p10, median and p90 fall in the reference "
            "distribution: at 10 %, 50 % and 90 % while nothing changes. "
            "Interpolated within the reference-decile bins of the "
            "per-minute counts (numeric features only).",
        ),
    )
    dash.row(
        timeseries(
            "Missing rate",
            sql(
                """
            SELECT
                $__timeInterval(minute) AS time,
                sum(missing) / sum(count) AS missing_rate,
                {ref} AS reference_missing_rate
            {sums}
            HAVING sum(count) > 0
            ORDER BY time
        """,
                ref=_reference("ref_missing_rate"),
                sums=FEATURE_SUMS,
            ),
            unit="percentunit",
            overrides=[_dashed("reference_missing_rate")],
            description="Share of records where the feature was missing (null, "
            "NaN or not a number), against the reference share.",
        ),
        table(
            "Daily checks of this feature",
            sql("""
            SELECT
                period_end,
                level,
                drifted AS flagged,
                test,
                p_adjusted,
                psi,
                js_distance,
                wasserstein,
                ref_mean,
                cur_mean,
                n_current
            FROM {db}.drift_checks FINAL
            WHERE feature = '${feature}' AND check_kind = 'daily'
                AND $__timeFilter(period_end)
            ORDER BY period_end DESC
        """),
            overrides=[
                _value_colours("level", {"ok": "green", "warning": "orange", "drift": "red"}),
                _colour_cells("psi", PSI_THRESHOLDS),
            ],
        ),
    )
    return dash.to_json()


# --- Scoring operations --------------------------------------------------------------------
def scoring_operations() -> dict[str, Any]:
    """Throughput, latency, scores, rejections and model versions."""
    scored = "FROM {db}.scores FINAL WHERE $__timeFilter(scored_at)"
    rejected = "FROM {db}.rejected_records FINAL WHERE $__timeFilter(rejected_at)"
    dash = Dashboard(
        UIDS["ops"],
        "Scoring operations",
        "Is the pipeline healthy? Records scored, latency, scores, "
        "rejected input and the models in use.",
    )
    dash.row(
        stat("Records scored", sql(f"SELECT count() AS scored {scored}"), unit="short"),
        stat(
            "Records rejected",
            sql(f"SELECT count() AS rejected {rejected}"),
            unit="short",
            thresholds=_thresholds(("green", None), ("orange", 1)),
        ),
        stat(
            "Rejected share",
            sql(f"""
            SELECT rejected / greatest(rejected + scored, 1) AS rejected_share
            FROM (
                SELECT
                    (SELECT count() {rejected}) AS rejected,
                    (SELECT count() {scored}) AS scored
            )
        """),
            unit="percentunit",
            thresholds=_thresholds(("green", None), ("orange", 0.01), ("red", 0.05)),
        ),
        stat(
            "End-to-end latency p99",
            sql(f"""
            SELECT quantile(0.99)(latency_ms) AS p99 {scored}
        """),
            unit="ms",
            thresholds=_thresholds(("green", None), ("orange", 1000), ("red", 5000)),
        ),
    )
    dash.row(
        timeseries(
            "Records scored per second",
            sql(f"""
            SELECT
                $__timeInterval(scored_at) AS time,
                count() / $__interval_s AS records_per_second
            {scored}
            GROUP BY time
            ORDER BY time
        """),
            unit="reqps",
        ),
        timeseries(
            "End-to-end latency",
            sql(f"""
            SELECT
                $__timeInterval(scored_at) AS time,
                quantile(0.5)(latency_ms) AS p50,
                quantile(0.99)(latency_ms) AS p99
            {scored}
            GROUP BY time
            ORDER BY time
        """),
            unit="ms",
            description="From ingest to score (latency_ms), per interval.",
        ),
    )
    dash.row(
        timeseries(
            "Score distribution over time",
            sql(f"""
            SELECT time, q[1] AS p05, q[2] AS p25, q[3] AS p50, q[4] AS p75, q[5] AS p95
            FROM (
                SELECT
                    $__timeInterval(scored_at) AS time,
                    quantiles(0.05, 0.25, 0.5, 0.75, 0.95)(score) AS q
                {scored}
                GROUP BY time
            )
            ORDER BY time
        """),
            overrides=[*_fill_between("p05", "p95"), *_fill_between("p25", "p75")],
            description="Quantiles of the model score per interval: the outer band "
            "is p05 to p95, the inner p25 to p75.",
        ),
        barchart(
            "Score histogram",
            sql(f"""
            SELECT
                concat(toString(bucket / 10), '-', toString((bucket + 1) / 10)) AS score,
                records
            FROM (
                SELECT least(toUInt8(floor(score * 10)), 9) AS bucket, count() AS records
                {scored}
                GROUP BY bucket
            )
            ORDER BY bucket
        """),
            unit="short",
            description="Scores in the time range, in tenths.",
        ),
    )
    dash.row(
        timeseries(
            "Rejections by reason",
            sql(f"""
            SELECT
                $__timeInterval(rejected_at) AS time,
                reason,
                count() AS rejections
            {rejected}
            GROUP BY time, reason
            ORDER BY time, reason
        """),
            label="reason",
            stacked_bars=True,
            unit="short",
        ),
        table(
            "Rejected input",
            sql(f"""
            SELECT
                reason,
                field,
                count() AS rejections,
                max(rejected_at) AS last_seen,
                argMax(message, rejected_at) AS last_message,
                argMax(source_topic, rejected_at) AS topic
            {rejected}
            GROUP BY reason, field
            ORDER BY rejections DESC, reason, field
        """),
            description="Each rejected record is in rejected_records with its payload.",
        ),
    )
    dash.row(
        timeseries(
            "Model versions in use",
            sql(f"""
            SELECT
                $__timeInterval(scored_at) AS time,
                concat(model_name, ' ', model_version) AS model,
                count() AS records
            {scored}
            GROUP BY time, model
            ORDER BY time, model
        """),
            label="model",
            stacked_bars=True,
            unit="short",
        ),
        table(
            "Models",
            sql(f"""
            SELECT
                model_name,
                model_version,
                count() AS records,
                avg(score) AS mean_score,
                min(scored_at) AS first_scored,
                max(scored_at) AS last_scored
            {scored}
            GROUP BY model_name, model_version
            ORDER BY last_scored DESC, model_name, model_version
        """),
        ),
    )
    return dash.to_json()


# --- files ---------------------------------------------------------------------------------
BUILDERS = {
    "drift-overview.json": drift_overview,
    "feature-detail.json": feature_detail,
    "scoring-operations.json": scoring_operations,
}


def build_all() -> dict[str, dict[str, Any]]:
    """Every dashboard, by file name."""
    return {name: build() for name, build in BUILDERS.items()}


def render(dashboard: dict[str, Any]) -> str:
    """The checked-in text of a dashboard: stable key order, one trailing newline."""
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def stale_files(out_dir: Path = OUT_DIR) -> list[str]:
    """Dashboard files that differ from what this script builds (or are missing/extra)."""
    built = build_all()
    stale = [
        name
        for name, dash in built.items()
        if not (out_dir / name).exists() or (out_dir / name).read_text() != render(dash)
    ]
    extra = sorted(p.name for p in out_dir.glob("*.json") if p.name not in built)
    return stale + extra


def write_all(out_dir: Path = OUT_DIR) -> list[Path]:
    """Write every dashboard, removing JSON files that no builder makes any more."""
    out_dir.mkdir(parents=True, exist_ok=True)
    built = build_all()
    for old in out_dir.glob("*.json"):
        if old.name not in built:
            old.unlink()
    written = []
    for name, dash in built.items():
        path = out_dir / name
        path.write_text(render(dash))
        written.append(path)
    return written


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if the checked-in JSON differs from the generated",
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output directory")
    args = parser.parse_args(None if argv is None else list(argv))
    if args.check:
        stale = stale_files(args.out)
        for name in stale:
            print(f"stale: {args.out / name} (run python grafana/build_dashboards.py)")
        return 1 if stale else 0
    for path in write_all(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
