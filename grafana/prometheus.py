"""Panels on the Prometheus datasource: the same panel language as :mod:`.panels`, PromQL
queries instead of ClickHouse SQL.

A panel is built by the :mod:`.panels` function of its kind (``timeseries``, ``stat``), so
it looks and lays out like the others; only its datasource and targets differ. Each query
is ``(expr, legend)``: Grafana names a series by its legend format (``{{partition}}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scorestream.grafana import panels
from scorestream.grafana.panels import Panel

#: The provisioned datasource (``provisioning/datasources/prometheus.yaml``).
DATASOURCE_UID = "scorestream-prometheus"
DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": DATASOURCE_UID}

Query = tuple[str, str]


def target(
    expr: str, legend: str, ref_id: str, *, instant: bool, table: bool = False
) -> dict[str, Any]:
    """One PromQL query of Grafana's Prometheus datasource."""
    return {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": expr,
        "format": "table" if table else "time_series",
        "instant": instant,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "refId": ref_id,
    }


@dataclass
class PromPanel(Panel):
    """A :class:`~.panels.Panel` whose queries are PromQL on :data:`DATASOURCE`."""

    queries: list[Query] = field(default_factory=list)
    #: Table panels: the columns (labels) to show, in order; the rest are hidden.
    columns: list[str] = field(default_factory=list)

    def to_json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        out = super().to_json(panel_id, x, y)
        out["datasource"] = DATASOURCE
        table = self.type == "table"
        out["targets"] = [
            target(expr, legend, chr(ord("A") + i), instant=not self.time_series, table=table)
            for i, (expr, legend) in enumerate(self.queries)
        ]
        if table:
            out["transformations"] = [
                {
                    "id": "filterFieldsByName",
                    "options": {"include": {"names": list(self.columns)}},
                }
            ]
        return out


def _promql(base: Panel, queries: tuple[Query, ...], columns: list[str] | None = None) -> PromPanel:
    if not queries:
        raise ValueError(f"{base.title}: a panel needs at least one query")
    fields = {name: getattr(base, name) for name in base.__dataclass_fields__}
    return PromPanel(**{**fields, "query": ""}, queries=list(queries), columns=columns or [])


def timeseries(title: str, *queries: Query, **options: Any) -> PromPanel:
    """A time-series panel of one or more PromQL queries (options as ``panels.timeseries``)."""
    return _promql(panels.timeseries(title, "", **options), queries)


def stat(title: str, *queries: Query, **options: Any) -> PromPanel:
    """The latest value of each query (options as ``panels.stat``)."""
    return _promql(panels.stat(title, "", **options), queries)


def table(title: str, expr: str, columns: list[str], **options: Any) -> PromPanel:
    """The series of an instant query as rows, one column per label in ``columns``."""
    return _promql(panels.table(title, "", **options), ((expr, ""),), columns)


#: The scrape interval of ``deploy/prometheus/prometheus.yml`` and of the datasource's
#: ``timeInterval``.
SCRAPE_INTERVAL_S = 15


def expand(expr: str, step_s: float, scrape_s: float = SCRAPE_INTERVAL_S) -> str:
    """``expr`` as Grafana sends it for a query step of ``step_s`` seconds.

    ``$__rate_interval`` is the larger of the step plus one scrape and four scrapes, so
    a ``rate()`` always spans enough samples.

    >>> expand("rate(x[$__rate_interval])", 60)
    'rate(x[75s])'
    """
    rate_interval = max(step_s + scrape_s, 4 * scrape_s)
    return expr.replace("$__rate_interval", f"{rate_interval:g}s")
