"""Render the preview of the Prometheus dashboard ("Pipeline health"), without Grafana.

``python -m scorestream.grafana.render_prometheus_previews`` runs every panel's PromQL the
way the dashboard tests do (on a real ``prometheus`` over the simulated two hours of
:mod:`scorestream.grafana.prometheus_sample`) and draws the answers with
:mod:`scorestream.grafana.render_previews` into ``grafana/previews/pipeline-health.png``;
the simulation's events are the vertical marks.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scorestream.grafana import prometheus
from scorestream.grafana.prometheus_sample import END, EVENTS, START, sample_text
from scorestream.grafana.prometheus_tsdb import PrometheusTSDB, prometheus_tools
from scorestream.grafana.render_previews import DASHBOARDS, colour, render
from scorestream.grafana.sample_data import Result

STEP_S = 60
MARKS = {
    "publish_blocked": "orange",
    "model_swap": "blue",
    "clickhouse_down": "red",
    "worker_stopped": "purple",
}


def legend(template: str, labels: dict[str, str]) -> str:
    """Grafana's legend format: ``{{label}}`` replaced by the series' label."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)


def panel_results(prom: PrometheusTSDB, panel: dict[str, Any]) -> Result:
    """What a panel's queries answer, in the shape the preview's drawing takes."""
    targets = panel["targets"]
    if panel["type"] == "timeseries":
        rows: list[list[Any]] = []
        for target in targets:
            matrix = prom.query_range(prometheus.expand(target["expr"], STEP_S), START, END, STEP_S)
            for item in matrix:
                name = legend(target["legendFormat"], item["metric"])
                rows += [
                    [datetime.fromtimestamp(float(t), UTC), name, float(v)]
                    for t, v in item["values"]
                ]
        return Result(["time", "series", "value"], ["DateTime", "String", "Float64"], rows)
    vector = prom.query(prometheus.expand(targets[0]["expr"], STEP_S), END)
    if panel["type"] == "stat":
        value = float(vector[0]["value"][1]) if vector else None
        return Result(["value"], ["Float64"], [[value]])
    columns = panel["transformations"][0]["options"]["include"]["names"]
    cells = [[row["metric"].get(c, "") for c in columns] for row in vector]
    return Result(list(columns), ["String"] * len(columns), cells)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.parse_args(argv)
    tools = prometheus_tools()
    marks = [
        (_at(minute), colour(mark))
        for event, mark in MARKS.items()
        for minute in sorted(set(EVENTS[event]))
    ]
    caption = (
        "preview on two simulated hours · worker cannot publish "
        f"{_span('publish_blocked')} · model swap {_at(EVENTS['model_swap'][0]):%H:%M} · "
        f"ClickHouse down {_span('clickhouse_down')} · worker stopped {_span('worker_stopped')}"
    )
    with tempfile.TemporaryDirectory() as directory:
        tsdb = PrometheusTSDB.from_openmetrics(tools, sample_text(), Path(directory))
        with tsdb.serving() as prom:
            for path in sorted(DASHBOARDS.glob("*.json")):
                dashboard = json.loads(path.read_text())
                if not all(p["datasource"] == prometheus.DATASOURCE for p in dashboard["panels"]):
                    continue  # SQL dashboards: scorestream.grafana.render_previews
                print(
                    render(
                        path.stem,
                        dashboard,
                        None,
                        results=lambda panel: panel_results(prom, panel),
                        caption=caption,
                        marks=marks,
                    )
                )
    return 0


def _at(minute: float) -> datetime:
    return START + timedelta(minutes=minute)


def _span(event: str) -> str:
    first, last = EVENTS[event]
    return f"{_at(first):%H:%M}–{_at(last):%H:%M}"


if __name__ == "__main__":
    sys.exit(main())
