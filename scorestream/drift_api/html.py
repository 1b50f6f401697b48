"""A drift report as one self-contained HTML page: opens offline, attaches to anything.

Inline CSS, no script, no external resource: every chart is a PNG in a ``data:`` URI,
drawn by the alert e-mail's own chart code
(:func:`scorestream.consumers.alerting.email_message.histogram_png`), so a report and an
alert show a feature the same way.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import math
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .report import DriftReport

__all__ = ["readable", "render"]

_ORDER = ("drift", "warning", "error", "ok")

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2327;
       max-width: 980px; margin: 24px auto; padding: 0 16px; line-height: 1.45; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 19px; margin-top: 32px; }
h3 { font-size: 16px; margin: 0 0 6px; }
.summary { font-size: 17px; margin-top: 4px; } .meta { color: #555; font-size: 13px; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; color: #fff;
         font-size: 13px; font-weight: 600; vertical-align: middle; }
.drift { background: #c0392b; } .warning { background: #b9770e; }
.ok { background: #1e8449; } .error { background: #6c7a89; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { padding: 5px 8px; border-bottom: 1px solid #e1e4e8; text-align: left; font-size: 13px;
         vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
section { margin: 18px 0; padding: 12px 14px; border: 1px solid #e1e4e8; border-radius: 6px; }
section ul { margin: 4px 0 8px; padding-left: 20px; font-size: 13px; }
img { max-width: 100%; height: auto; } a { color: #0b5cad; }
footer { margin-top: 32px; color: #777; font-size: 12px; }
"""


def readable(value: Any) -> str:
    """A number for people: ``66,400``, ``14.1``, ``0.0523``; ``–`` when there is none.

    Examples
    --------
    >>> [readable(v) for v in (66412.3, 14.127, 0.05234, 1234567, None, float("nan"))]
    ['66,400', '14.1', '0.0523', '1,230,000', '–', '–']

    """
    if value is None or isinstance(value, bool):
        return "–" if value is None else str(value)
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "–"
    if abs(value) >= 1000:
        digits = math.floor(math.log10(abs(value)))
        return f"{round(value, 2 - digits):,.0f}"
    return f"{value:.3g}"


def _change(ref: Any, cur: Any) -> str:
    """``14.1 → 17.2 (+22%)``; without the percentage when the reference is zero."""
    text = f"{readable(ref)} → {readable(cur)}"
    numbers = isinstance(ref, float | int) and isinstance(cur, float | int)
    if numbers and math.isfinite(ref) and math.isfinite(cur) and ref != 0:
        change = (cur - ref) / abs(ref)
        text += " (±0%)" if round(change, 2) == 0 else f" ({change:+.0%})"
    return text


def _share(value: Any) -> str:
    if not isinstance(value, float | int) or not math.isfinite(value):
        return "–"
    return f"{100 * value:.1f} %"


def _p(value: Any) -> str:
    if not isinstance(value, float | int) or not math.isfinite(value):
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _badge(level: str) -> str:
    return f"<span class='badge {html.escape(level)}'>{html.escape(level)}</span>"


def _what_changed(row: dict[str, Any]) -> str:
    if row["level"] == "error":
        return "could not be compared"
    parts = []
    if row["kind"] == "numeric":
        parts.append(f"mean {_change(row['ref_mean'], row['cur_mean'])}")
    parts.append(f"missing {_share(row['ref_missing_rate'])} → {_share(row['cur_missing_rate'])}")
    return "; ".join(parts)


def _table(rows: list[dict[str, Any]], anchors: dict[str, str]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("feature", "level", "what changed", "test", "p (corrected)", "PSI", "JS", "W1")
    )
    body = []
    for row in rows:
        name = html.escape(row["feature"])
        link = f"<a href='#{anchors[row['feature']]}'>{name}</a>"
        body.append(
            f"<tr><td>{link}</td><td>{_badge(row['level'])}</td>"
            f"<td>{html.escape(_what_changed(row))}</td><td>{html.escape(row['test'])}</td>"
            f"<td class='num'>{html.escape(_p(row['p_adjusted']))}</td>"
            f"<td class='num'>{readable(row['psi'])}</td>"
            f"<td class='num'>{readable(row['js_distance'])}</td>"
            f"<td class='num'>{readable(row['wasserstein'])}</td></tr>"
        )
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _chart(row: dict[str, Any]) -> str:
    from scorestream.consumers.alerting.email_message import histogram_png

    data = base64.b64encode(histogram_png(row)).decode("ascii")
    alt = html.escape(f"{row['feature']}: reference and current share of records per bin")
    return f"<img src='data:image/png;base64,{data}' alt='{alt}'>"


def _section(row: dict[str, Any], anchor: str, chart: bool) -> str:
    reasons = row["reasons"] or ["nothing significant"]
    items = "".join(f"<li>{html.escape(r)}</li>" for r in reasons)
    meta = html.escape(_what_changed(row))
    if row["level"] != "error":
        meta += f" · {readable(row['n_current'])} records against {readable(row['n_reference'])}"
    return (
        f"<section id='{anchor}'><h3>{html.escape(row['feature'])} {_badge(row['level'])}</h3>"
        f"<div class='meta'>{meta}</div>"
        f"<ul>{items}</ul>{_chart(row) if chart else ''}</section>"
    )


def render(report: DriftReport, charts: Literal["all", "flagged", "none"] = "flagged") -> str:
    """The report as an HTML document (see :meth:`DriftReport.to_html`)."""
    if charts not in ("all", "flagged", "none"):
        raise ValueError(f"charts must be 'all', 'flagged' or 'none', not {charts!r}")
    rows = list(report.rows)
    n_inputs = len(report.decisions)
    anchors = {row["feature"]: f"feature-{i}" for i, row in enumerate(rows)}
    ordered = sorted(rows, key=lambda r: _ORDER.index(r["level"]))

    def wants_chart(row: dict[str, Any]) -> bool:
        graded = row["level"] != "error"
        return graded and (charts == "all" or (charts == "flagged" and row["level"] != "ok"))

    t = report.thresholds
    thresholds = "".join(
        f"<tr><td>{html.escape(name)}</td><td class='num'>{value:g}</td></tr>"
        for name, value in dataclasses.asdict(t).items()
    )
    outputs = (
        "<h2>Model outputs</h2><p class='meta'>Graded on their own, never part of the "
        "verdict: they move whenever an input does.</p>" + _table(rows[n_inputs:], anchors)
        if len(rows) > n_inputs
        else ""
    )
    errors = "".join(
        f"<li>{html.escape(name)}: {html.escape(why)}</li>" for name, why in report.errors.items()
    )
    errors_html = f"<h2>Could not be compared</h2><ul>{errors}</ul>" if errors else ""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Drift report: {html.escape(report.verdict)}</title><style>{_CSS}</style>"
        "</head><body>"
        f"<h1>Drift report {_badge(report.verdict)}</h1>"
        f"<p class='summary'>{html.escape(report.summary[:1].upper() + report.summary[1:])}.</p>"
        f"<p class='meta'>Current data: {report.records:,} records; reference: "
        f"{report.reference_records:,} rows. A feature drifts when a test is significant "
        f"(Benjamini-Hochberg corrected p &lt; {t.alpha:g}) <b>and</b> an effect size passes "
        "its threshold, as in the daily drift check.</p>"
        f"<h2>Features</h2>{_table(rows[:n_inputs], anchors)}{outputs}{errors_html}"
        "<h2>Details</h2>"
        + "".join(_section(row, anchors[row["feature"]], wants_chart(row)) for row in ordered)
        + "<details><summary>Thresholds</summary>"
        f"<table><tr><th>threshold</th><th>value</th></tr>{thresholds}</table></details>"
        "<footer>scorestream drift report (JSON: <code>report.to_json()</code>, format "
        "scorestream.drift_report version 1)</footer></body></html>"
    )
