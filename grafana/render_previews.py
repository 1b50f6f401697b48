"""Render a PNG preview of each provisioned dashboard, without Grafana.

``python -m scorestream.grafana.render_previews`` runs every panel's query exactly as the
dashboard tests do (the plugin's macros expanded, on chDB, against the real migrations and
the synthetic data of :mod:`scorestream.grafana.sample_data`) and draws the results with
matplotlib on the dashboard's own grid into ``grafana/previews/<dashboard>.png``. It shows
what the panels show; it does not imitate Grafana pixel for pixel.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display here, only PNG files
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.transforms import Bbox

# The sample data and the macro expansion are the ones the dashboard tests use, so the
# previews show what the tests check.
from scorestream.grafana.macros import expand
from scorestream.grafana.sample_data import (
    DRIFT_AT,
    ChdbDatabase,
    Result,
    build_fixture,
    dashboard_context,
    in_database,
    is_number,
    is_string,
    parse_time,
    to_series,
)

# resolve(): reached through the scorestream/grafana symlink, the files live in grafana/.
HERE = Path(__file__).resolve().parent
DASHBOARDS = HERE / "provisioning" / "dashboards"
OUT = HERE / "previews"
CHOICES = {"feature-detail": {"feature": "income"}}

# Grafana's dark theme and classic palette.
BACKGROUND, PANEL, TEXT, GRID, MUTED = "#111217", "#181b1f", "#ccccdc", "#2c3036", "#8e8e9a"
PALETTE = [
    "#73BF69",
    "#F2CC0C",
    "#8AB8FF",
    "#FF780A",
    "#F2495C",
    "#5794F2",
    "#B877D9",
    "#37872D",
    "#FADE2A",
    "#C4162A",
]
COLOURS = {
    "green": "#73BF69",
    "orange": "#FF9830",
    "red": "#F2495C",
    "blue": "#5794F2",
    "purple": "#B877D9",
    "text": TEXT,
    "transparent": "none",
}
ROW_INCHES = 0.34


def colour(name: str) -> str:
    return COLOURS.get(name, name)


def fmt_value(value: Any, unit: str | None = None) -> str:
    """A cell or stat value roughly as Grafana's unit formatting shows it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "dateTimeFromNow":
        return datetime.fromtimestamp(value / 1000).strftime("%Y-%m-%d %H:%M")
    if unit == "percentunit":
        return f"{value * 100:.1f} %"
    if unit == "s":
        return duration(float(value))
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.2e}"
        text = f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
        return text + (" ms" if unit == "ms" else "")
    if isinstance(value, int):
        return f"{value:,}" + (" ms" if unit == "ms" else "")
    return str(value)


def threshold_colour(value: float, thresholds: dict[str, Any] | None) -> str | None:
    if not thresholds:
        return None
    chosen = None
    for step in thresholds["steps"]:
        if step["value"] is None or value >= step["value"]:
            chosen = step["color"]
    return colour(chosen) if chosen else None


def overrides_of(panel: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Field overrides by field name: {name: {property id: value}}."""
    result: dict[str, dict[str, Any]] = {}
    for override in panel["fieldConfig"]["overrides"]:
        props = result.setdefault(override["matcher"]["options"], {})
        for prop in override["properties"]:
            props[prop["id"]] = prop["value"]
    return result


def style(ax: Axes) -> None:
    ax.set_facecolor(PANEL)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(colors=MUTED, labelsize=7, length=0)
    ax.grid(True, color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)


def time_axis(ax: Axes, days: float = 1.5) -> None:
    """Ticks every 6 hours on the sample's 36 hours; every few days on a longer range."""
    if days > 3:
        ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(round(days / 8), 1)))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
        return
    first, last = ax.get_xlim()
    if last - first < 0.5:  # under half a day (matplotlib dates are in days): every 30 min
        ax.xaxis.set_major_locator(mdates.MinuteLocator(byminute=[0, 30]))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
        return
    ax.xaxis.set_major_locator(mdates.HourLocator(byhour=[0, 6, 12, 18]))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))


def duration(seconds: float) -> str:
    """Seconds as Grafana's ``s`` unit shows them: in the largest unit that fits."""
    for size, name in ((86_400, "day"), (3600, "hour"), (60, "min")):
        if abs(seconds) >= size:
            return f"{seconds / size:.3g} {name}"
    return f"{seconds:.3g} s"


def y_units(ax: Axes, unit: str | None) -> None:
    if unit == "percentunit":
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v * 100:.3g}%"))
    elif unit == "s":
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: duration(v)))
    elif unit:
        suffix = {"ms": " ms", "reqps": "/s"}.get(unit, "")
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:,.4g}{suffix}"))


def legend_label(name: str) -> str:
    # matplotlib hides labels that start with "_", like the model score's "_score".
    return f" {name}" if name.startswith("_") else name


def legend(ax: Axes, columns: int = 6) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(
            handles,
            labels,
            loc="upper left",
            fontsize=6.5,
            ncol=columns,
            frameon=False,
            labelcolor=TEXT,
            handlelength=1.2,
            columnspacing=1.0,
        )


def draw_timeseries(
    ax: Axes,
    panel: dict[str, Any],
    result: Result,
    marks: Sequence[tuple[datetime, str]],
    days: float = 1.5,
) -> None:
    defaults = panel["fieldConfig"]["defaults"]
    custom = defaults.get("custom", {})
    props = overrides_of(panel)
    series = to_series(result)
    if custom.get("drawStyle") == "bars":
        times = sorted({t for ts, _ in series.values() for t in ts})
        index = {t: i for i, t in enumerate(times)}
        xs = mdates.date2num(times)
        bottom = [0.0] * len(times)
        width = float(min(xs[1:] - xs[:-1])) * 0.8 if len(xs) > 1 else 0.01
        for n, (name, (ts, vs)) in enumerate(sorted(series.items())):
            heights = [0.0] * len(times)
            for t, v in zip(ts, vs, strict=True):
                heights[index[t]] = v
            ax.bar(
                xs,
                heights,
                width,
                bottom=bottom,
                label=legend_label(name),
                color=PALETTE[n % len(PALETTE)],
                alpha=0.85,
            )
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        ax.set_ylim(0, max(bottom) * 1.15)
    else:
        drawn: dict[str, tuple[list[datetime], list[float]]] = {}
        for n, (name, (ts, vs)) in enumerate(series.items()):
            p = props.get(name, {})
            line_colour = PALETTE[n % len(PALETTE)]
            dash = p.get("custom.lineStyle", {}).get("fill") == "dash"
            width = p.get("custom.lineWidth", custom.get("lineWidth", 1))
            if width:
                ax.plot(
                    mdates.date2num(ts),
                    vs,
                    color=line_colour,
                    linewidth=1.2 * width,
                    linestyle="--" if dash else "-",
                    label=legend_label(name),
                )
            drawn[name] = (ts, vs)
        for name, p in props.items():
            lower = p.get("custom.fillBelowTo")
            if lower and name in drawn and lower in drawn:
                ax.fill_between(
                    mdates.date2num(drawn[name][0]),
                    drawn[lower][1],
                    drawn[name][1],
                    color=PALETTE[list(drawn).index(lower) % len(PALETTE)],
                    alpha=0.18,
                    linewidth=0,
                    label=f"{lower} to {name}",
                )
    thresholds = defaults.get("thresholds")
    mode = custom.get("thresholdsStyle", {}).get("mode")
    if thresholds and mode:
        steps = [s for s in thresholds["steps"] if s["value"] is not None]
        for s in steps:
            ax.axhline(
                s["value"],
                color=colour(s["color"]),
                linewidth=0.8,
                linestyle="--" if mode == "dashed" else "-",
                alpha=0.7,
            )
    for moment, mark_colour in marks:
        ax.axvline(
            float(mdates.date2num(moment)),
            color=mark_colour,
            linewidth=0.9,
            linestyle=":",
            alpha=0.9,
        )
    ax.xaxis_date()
    time_axis(ax, days)
    y_units(ax, defaults.get("unit"))
    legend(ax)


def draw_status_history(ax: Axes, panel: dict[str, Any], result: Result, days: float = 1.5) -> None:
    thresholds = panel["fieldConfig"]["defaults"].get("thresholds")
    series = to_series(result)
    names = sorted(series, reverse=True)
    for row, name in enumerate(names):
        ts, vs = series[name]
        nums = mdates.date2num(ts)
        width = (nums[1] - nums[0]) if len(nums) > 1 else 0.02
        for t, v in zip(nums, vs, strict=True):
            ax.add_patch(
                plt.Rectangle(
                    (t, row + 0.06),
                    width * 0.95,
                    0.88,
                    color=threshold_colour(v, thresholds),
                    alpha=0.85,
                    linewidth=0,
                )
            )
        ax.set_xlim(
            min(mdates.date2num(series[n][0][0]) for n in names),
            max(mdates.date2num(series[n][0][-1]) for n in names) + width,
        )
    ax.set_ylim(0, len(names))
    ax.set_yticks([r + 0.5 for r in range(len(names))], names)
    ax.grid(False)
    ax.xaxis_date()
    time_axis(ax, days)


def draw_bars(ax: Axes, panel: dict[str, Any], result: Result) -> None:
    labels = [str(v) for v in result.column(result.columns[0])]
    values = [c for c, t in zip(result.columns, result.types, strict=True) if is_number(t)]
    width = 0.8 / len(values)
    for n, column in enumerate(values):
        xs = [i + (n - (len(values) - 1) / 2) * width for i in range(len(labels))]
        ax.bar(
            xs,
            result.column(column),
            width,
            label=column,
            color=PALETTE[(n + 2) % len(PALETTE)],
            alpha=0.9,
        )
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=6.5)
    y_units(ax, panel["fieldConfig"]["defaults"].get("unit"))
    legend(ax)


def draw_stat(ax: Axes, panel: dict[str, Any], result: Result) -> None:
    defaults = panel["fieldConfig"]["defaults"]
    value = result.rows[0][0]
    background = threshold_colour(value or 0, defaults.get("thresholds")) or PANEL
    ax.set_facecolor(background)
    ax.grid(False)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(
        0.5,
        0.42,
        fmt_value(value, defaults.get("unit")),
        ha="center",
        va="center",
        fontsize=20,
        color="white",
        fontweight="bold",
        transform=ax.transAxes,
    )


def draw_table(ax: Axes, panel: dict[str, Any], result: Result, height_rows: int) -> None:
    props = overrides_of(panel)
    ax.axis("off")
    shown = result.rows[: max(height_rows, 1)]
    cells = [[fmt_value(v) for v in row] for row in shown]
    rows_height = 0.11 * (len(shown) + 1)
    table = ax.table(
        cellText=cells,
        colLabels=result.columns,
        loc="upper center",
        cellLoc="left",
        bbox=Bbox.from_bounds(0, 1 - rows_height, 1, rows_height),
    )
    table.auto_set_font_size(False)
    table.set_fontsize(6.5)
    for (row, col), cell in table.get_celld().items():
        cell.set_edgecolor(GRID)
        cell.set_facecolor(PANEL if row else "#22252b")
        cell.get_text().set_color(TEXT if row else MUTED)
        if row == 0:
            continue
        column, value = result.columns[col], shown[row - 1][col]
        p = props.get(column, {})
        for mapping in p.get("mappings", []):
            option = mapping["options"].get(str(value))
            if option:
                cell.set_facecolor(colour(option["color"]))
                cell.get_text().set_color("black")
        if "thresholds" in p and isinstance(value, (int, float)):
            cell.set_facecolor(threshold_colour(value, p["thresholds"]) or PANEL)
            cell.get_text().set_color("black")
        if "links" in p:
            cell.get_text().set_color("#6E9FFF")


def annotation_marks(
    dashboard: dict[str, Any], db: ChdbDatabase, choices: dict[str, Any]
) -> list[tuple[datetime, str]]:
    """Vertical markers from the dashboard's SQL annotations."""
    ctx = dashboard_context(dashboard, db, choices)
    marks = []
    for annotation in dashboard["annotations"]["list"]:
        sql = annotation.get("target", {}).get("rawSql")
        if not sql:
            continue
        result = db.query(in_database(expand(sql, ctx), db.database))
        marks += [(parse_time(t), colour(annotation["iconColor"])) for t in result.column("time")]
    return marks


def render(
    name: str,
    dashboard: dict[str, Any],
    db: ChdbDatabase | None,
    *,
    results: Callable[[dict[str, Any]], Result] | None = None,
    caption: str | None = None,
    marks: Sequence[tuple[datetime, str]] = (),
) -> Path:
    """Draw ``dashboard`` into ``previews/NAME.png``: each panel's query on ``db``, or, for a
    dashboard on another datasource, what ``results(panel)`` returns (with its ``caption``
    and vertical ``marks``)."""
    choices = CHOICES.get(name, {})
    days = 1.5  # the sample's 36 hours, unless the dashboard's own range says otherwise
    if results is None:
        assert db is not None
        ctx = dashboard_context(dashboard, db, choices)
        days = (ctx.time_to - ctx.time_from).total_seconds() / 86_400
        marks = annotation_marks(dashboard, db, choices)

        def results(panel: dict[str, Any]) -> Result:
            sql = panel["targets"][0]["rawSql"]
            return db.query(in_database(expand(sql, ctx), db.database))

        chosen = "".join(
            f"{k} = {v if isinstance(v, str) else 'All'} · " for k, v in ctx.variables.items()
        )
        caption = (
            f"preview on synthetic data · {chosen}drift injected at {DRIFT_AT:%m-%d %H:%M} UTC"
        )
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dashboard["panels"])
    header = 1.6
    height = rows * ROW_INCHES + header * ROW_INCHES
    fig = plt.figure(figsize=(16, height), facecolor=BACKGROUND)
    fig.text(
        0.01,
        1 - 0.55 * ROW_INCHES / height,
        dashboard["title"],
        color=TEXT,
        fontsize=14,
        fontweight="bold",
        va="center",
    )
    fig.text(
        0.99,
        1 - 0.55 * ROW_INCHES / height,
        caption or "",
        color=MUTED,
        fontsize=8,
        va="center",
        ha="right",
    )
    top = 1 - header * ROW_INCHES / height
    unit_y = (1 - header * ROW_INCHES / height) / rows
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        left, width = grid["x"] / 24 + 0.004, grid["w"] / 24 - 0.008
        bottom = top - (grid["y"] + grid["h"]) * unit_y + 0.012
        box = fig.add_axes((left, bottom, width, grid["h"] * unit_y - 0.012))
        box.set_facecolor(PANEL)
        box.set_xticks([])
        box.set_yticks([])
        for spine in box.spines.values():
            spine.set_color(GRID)
        box.set_title(
            panel["title"],
            color=TEXT,
            fontsize=8.5,
            loc="left",
            pad=3,
            fontweight="bold",
            y=1 - 0.55 * ROW_INCHES / (grid["h"] * ROW_INCHES),
        )
        title_frac = 0.9 * ROW_INCHES / (grid["h"] * ROW_INCHES)
        kind = panel["type"]
        # Room for tick labels: y labels on the left, x labels (rotated for bars) below.
        pad_left = {"stat": 0.0, "table": 0.0, "status-history": 0.055}.get(kind, 0.036)
        pad_below = {"stat": 0.0, "table": 0.0, "barchart": 1.9}.get(kind, 0.55) * unit_y
        inner = fig.add_axes(
            (
                left + pad_left,
                bottom + pad_below,
                width - pad_left - 0.008 * (kind not in ("stat", "table")),
                grid["h"] * unit_y * (1 - title_frac) - 0.03 * unit_y - pad_below,
            )
        )
        style(inner)
        result = results(panel)
        if kind == "timeseries":
            draw_timeseries(inner, panel, result, marks, days)
        elif kind == "status-history":
            draw_status_history(inner, panel, result, days)
        elif kind == "barchart":
            draw_bars(inner, panel, result)
        elif kind == "stat":
            draw_stat(inner, panel, result)
        elif kind == "table":
            draw_table(inner, panel, result, grid["h"] - 2)
        else:
            raise ValueError(f"no preview for panel type {kind}")
        if is_string(result.types[0]) and kind == "timeseries":
            raise ValueError(f"{panel['title']}: a time series without a time column")
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.png"
    # Fixed metadata keep the file byte-identical across runs with the same data.
    fig.savefig(path, dpi=110, facecolor=BACKGROUND, metadata={"Software": None})
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    db = ChdbDatabase(build_fixture())
    try:
        for path in sorted(DASHBOARDS.glob("*.json")):
            dashboard = json.loads(path.read_text())
            if not any("rawSql" in t for p in dashboard["panels"] for t in p["targets"]):
                continue  # PromQL: drawn by scorestream.grafana.render_prometheus_previews
            print(render(path.stem, dashboard, db))
    finally:
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
