"""The e-mail's performance verdict: said first when a metric alerts, then one line a metric.

The sentences come with the alert (``AlertMessage.performance``, written by
:mod:`scorestream.consumers.performance.check`), so the e-mail runs no query.
"""

from __future__ import annotations

import html
from typing import Any

from scorestream.consumers.alerting.readable import percent
from scorestream.contract import AlertMessage


def headline(alert: AlertMessage) -> list[str]:
    """The alerting verdicts' sentences (empty when no metric alerts)."""
    return [str(v.get("sentence", "")) for v in alert.performance_alerts]


def subject_part(alert: AlertMessage) -> str:
    """E.g. "estimated ROC AUC, estimated accuracy fell", or "" without an alert."""
    alerts = alert.performance_alerts
    if not alerts:
        return ""
    names = ", ".join(f"{v.get('source', '')} {_name(v)}" for v in alerts)
    return f"performance below its reference: {names}"


def _name(verdict: dict[str, Any]) -> str:
    from scorestream.consumers.performance.check import METRIC_NAMES

    metric = str(verdict.get("metric", ""))
    return METRIC_NAMES.get(metric, metric)


def _coverage(performance: dict[str, Any]) -> str:
    scored, labelled = int(performance.get("scored", 0)), int(performance.get("labelled", 0))
    share = f" ({percent(labelled / scored)})" if scored else ""
    return f"{labelled:,} of {scored:,} scored records labelled{share}"


def text_lines(alert: AlertMessage) -> list[str]:
    """The "Performance" section: every metric's verdict, and the label coverage."""
    performance = alert.performance
    verdicts = performance.get("verdicts", [])
    if not verdicts:
        return []
    lines = ["", f"Performance ({_coverage(performance)}):"]
    for v in verdicts:
        level = str(v.get("level", ""))
        lines.append(f"- {_name(v)}: {level}: {v.get('sentence', '')}")
    note = performance.get("estimate_note")
    if note:
        lines.append(f"(no estimate: {note})")
    return lines


def html_section(alert: AlertMessage) -> str:
    """The same section as HTML (empty without verdicts)."""
    lines = text_lines(alert)
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line[2:])}</li>" for line in lines[2:] if line[:2] == "- ")
    return f"<h3>{html.escape(lines[1])}</h3><ul>{items}</ul>"
