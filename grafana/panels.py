"""Building blocks of the dashboards: ClickHouse queries, panels, variables, layout.

A small typed panel language over Grafana's dashboard JSON (schema version 39), kept by
hand rather than built with ``grafana-foundation-sdk``: see ``grafana/README.md`` for what
the SDK could not express. Each function returns exactly the JSON that Grafana and the
pinned ``grafana-clickhouse-datasource`` plugin read, nothing more, so the checked-in files
stay small and reviewable.

Every query targets the plugin's SQL editor (raw SQL) on the provisioned datasource
:data:`DATASOURCE_UID`. The tables are ReplacingMergeTree, so every table is read with
``FINAL``: a batch replayed after a crash must never show twice. Time-series queries
return a ``time`` column sorted ascending, numeric values and at most one string column (a
series label); the plugin turns such a long table into one series per label (``format``
0), which is also what the tests check.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

DATASOURCE_UID = "scorestream-clickhouse"
DATASOURCE: dict[str, str] = {"type": "grafana-clickhouse-datasource", "uid": DATASOURCE_UID}
#: The plugin version pinned in docker-compose.yml (GF_PLUGINS_PREINSTALL_SYNC).
PLUGIN_VERSION = "4.11.2"
#: ClickHouse database of the public contract; the tests substitute their own.
DATABASE = "scoring"
TAGS = ["scorestream"]

# sqlds' FormatQueryOption: 0 turns a long (time, label, value) table into one series per
# label; 1 hands the table to the panel as it is.
FORMAT_TIME_SERIES = 0
FORMAT_TABLE = 1


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


# --- template variables in SQL ----------------------------------------------------------------
# Grafana pastes a variable's value into the SQL text. The plugin's own formatter escapes
# nothing, and Grafana's sqlstring/singlequote formats leave a backslash, which ClickHouse
# reads as an escape: a feature called  x\' OR 1=1 --  would still rewrite the query. The
# percentencode format leaves only A-Z a-z 0-9 - _ . ~ and %XX, which cannot end a string
# literal, and ClickHouse's decodeURLComponent turns it back into the exact value.
def variable_value(name: str) -> str:
    """A single-value template variable as a ClickHouse string, whatever it contains."""
    return f"decodeURLComponent('${{{name}:percentencode}}')"


def variable_has(name: str, column: str) -> str:
    """True where ``column`` is one of the values of the multi-value variable ``name``.

    Grafana percent-encodes a list as "{a,b}" (a single value, without braces), so the
    values are split at commas: a name with a comma cannot be chosen on its own.
    """
    # No lambda: ClickHouse 18.16 cannot resolve a column inside one in WHERE.
    values = rf"replaceRegexpOne({variable_value(name)}, '^[{{](.*)[}}]$', '\\1')"
    return f"has(splitByChar(',', {values}), {column})"


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


def threshold_steps(*steps: tuple[str, float | None]) -> dict[str, Any]:
    """Absolute thresholds from ``(colour, from value)`` steps; the first starts at None."""
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
    no_value: str | None = None,
) -> Panel:
    """A single-number panel over the dashboard's time range.

    ``no_value`` is shown when the query returns no row; Grafana colours it with the
    first threshold step (the one from None).
    """
    defaults: dict[str, Any] = {"thresholds": thresholds or threshold_steps(("blue", None))}
    if no_value is not None:
        defaults["noValue"] = no_value
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
    value_texts: dict[int, str] | None = None,
) -> Panel:
    """A rows x time grid of coloured cells: our features over time heatmap.

    ``value_texts`` names coded values (a level stored as a number) in the tooltip.
    """
    defaults: dict[str, Any] = {
        **_series_by_label(label),
        "color": {"mode": "thresholds"},
        "thresholds": thresholds or threshold_steps(("green", None)),
    }
    if value_texts:
        options = {
            str(v): {"text": text, "index": i} for i, (v, text) in enumerate(value_texts.items())
        }
        defaults["mappings"] = [{"type": "value", "options": options}]
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


def link_to(column: str, title: str, url: str) -> dict[str, Any]:
    """Makes each cell of ``column`` a link (``url`` may use ``${__value.raw}``)."""
    return {
        "matcher": {"id": "byName", "options": column},
        "properties": [{"id": "links", "value": [{"title": title, "url": url}]}],
    }


def colour_cells(column: str, thresholds: dict[str, Any]) -> dict[str, Any]:
    return {
        "matcher": {"id": "byName", "options": column},
        "properties": [
            {"id": "thresholds", "value": thresholds},
            {"id": "custom.cellOptions", "value": {"type": "color-background"}},
        ],
    }


def value_colours(column: str, colours: dict[str, str]) -> dict[str, Any]:
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


def fill_between(lower: str, upper: str) -> list[dict[str, Any]]:
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


def dashed(column: str) -> dict[str, Any]:
    return {
        "matcher": {"id": "byName", "options": column},
        "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}],
    }


# --- variables, annotations, dashboards ----------------------------------------------------
def query_variable(
    name: str,
    label: str,
    query: str,
    *,
    multi: bool = False,
    include_all: bool = False,
    sort: int = 1,
) -> dict[str, Any]:
    """A variable whose options are the first column of a ClickHouse query.

    ``sort`` is Grafana's: 1 sorts the options alphabetically, 0 keeps the query's order
    (whose first option is the default).
    """
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
        "sort": sort,
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
    #: The time range the dashboard opens on (Grafana's relative syntax, ending now).
    time_from: str = "now-24h"

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
            "time": {"from": self.time_from, "to": "now"},
            "timepicker": {},
            "timezone": "utc",
            "title": self.title,
            "uid": self.uid,
            "version": 1,
        }
