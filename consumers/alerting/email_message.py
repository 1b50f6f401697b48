"""The drift alert e-mail: a summary line, a table, one inline chart per drifted feature.

When a performance metric alerts, its sentence comes first, in the subject and the body
("estimated ROC AUC fell from 0.91 to 0.84, below the band [0.89, 0.93]"), and a
"Performance" section lists every metric's verdict (:mod:`.performance_section`). When the
day's comparisons of the model as champion came with the alert, a "Model
comparison" section follows (:mod:`.comparison_section`).
"""

from __future__ import annotations

import html
import io
import re
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import numpy as np

from scorestream.consumers.alerting import (
    comparison_section,
    importance_section,
    performance_section,
)
from scorestream.contract import AlertMessage
from scorestream.grafana.links import DRIFT_OVERVIEW, dashboard_url


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def histogram_png(feature: dict[str, Any]) -> bytes:
    """Reference against current share per bin, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(feature["bin_labels"])
    ref = np.asarray(feature["reference_counts"], dtype=float)
    cur = np.asarray(feature["current_counts"], dtype=float)
    ref = ref / ref.sum() if ref.sum() else ref
    cur = cur / cur.sum() if cur.sum() else cur
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=100)
    ax.bar(x - 0.2, ref, width=0.4, label="reference (training)", color="#7f8c8d")
    ax.bar(x + 0.2, cur, width=0.4, label="this period", color="#e74c3c")
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("share of records")
    ax.set_title(
        f"{feature['feature']}: PSI {_fmt(feature.get('psi'))}, "
        f"JS {_fmt(feature.get('js_distance'))}",
        fontsize=10,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def dashboard_link(alert: AlertMessage) -> str | None:
    base = alert.grafana_url
    if not base:
        return None
    return dashboard_url(
        base,
        DRIFT_OVERVIEW,
        start=alert.start,
        end=alert.end,
    )


def build_alert_email(alert: AlertMessage, sender: str, recipients: str) -> EmailMessage:
    """A multipart message: plain text, and HTML with the charts as inline images."""
    drifted = alert.drifted
    errored = alert.errored
    names = ", ".join(f["feature"] for f in drifted)
    failed = ", ".join(f["feature"] for f in errored)
    day = alert.period_start[:10] if alert.check_kind == "daily" else alert.period_start
    summary = (
        f"Drift on {day}: {len(drifted)} of {alert.features_checked} features "
        f"drifted ({names or 'none'}) over {alert.records:,} records, model "
        f"{alert.model}."
    )
    if errored:
        summary += f" {len(errored)} could not be checked ({failed})."
    # The model is named first: two models can alert on the same day.
    on = f"{day}, model {alert.model_name}" if alert.model_name else day
    subject = f"drift detected on {on}: {names}" if drifted else f"drift check on {on}"
    if errored:
        subject += f"{';' if drifted else ':'} {len(errored)} features could not be checked"
    verdict = performance_section.subject_part(alert)
    if verdict:
        subject = f"{verdict} on {on}" + (f"; {subject}" if drifted or errored else "")
    headline = performance_section.headline(alert)
    if headline:
        said = f"Performance on {day}, model {alert.model}: " + "; ".join(headline) + "."
        summary = f"{said} {summary}" if drifted or errored else said
    message = EmailMessage()
    message["Subject"] = f"[scorestream] {subject}"
    message["From"] = sender
    message["To"] = recipients
    message["Date"] = formatdate(usegmt=True)
    # A stable Message-ID lets mail clients drop the copy of a rare re-delivery.
    local = re.sub(r"[^A-Za-z0-9._-]", ".", f"{alert.alert_id}.{alert.model_version}")
    message["Message-ID"] = f"<{local}@scorestream>"
    message["X-Scorestream-Alert-Id"] = alert.alert_id
    link = dashboard_link(alert)

    header = [
        "feature",
        "test",
        "statistic",
        "p (BH)",
        "PSI",
        "JS",
        "Wasserstein",
        "mean ref → now",
        "missing ref → now",
    ]
    table_rows = [
        [
            f["feature"],
            f["test"],
            _fmt(f["statistic"]),
            _fmt(f["p_adjusted"]),
            _fmt(f["psi"]),
            _fmt(f["js_distance"]),
            _fmt(f.get("wasserstein")),
            f"{_fmt(f.get('ref_mean'))} → {_fmt(f.get('cur_mean'))}",
            f"{_fmt(f['ref_missing_rate'])} → {_fmt(f['cur_missing_rate'])}",
        ]
        for f in drifted
    ]

    text = [summary, *importance_section.text_lines(alert), ""]
    text += [" | ".join(header)] + [" | ".join(row) for row in table_rows]
    for f in drifted:
        text += ["", f"{f['feature']}: " + "; ".join(f.get("reasons", []))]
    errors = [f"{f['feature']}: {f.get('error', '')}" for f in errored]
    if errors:
        text += ["", "Features that could not be checked (no verdict):", *errors]
    text += performance_section.text_lines(alert)
    comparisons = alert.comparisons
    text += comparison_section.text_lines(comparisons)
    if link:
        text += ["", f"Dashboard: {link}"]
    message.set_content("\n".join(text))

    cids = [make_msgid(domain="scorestream")[1:-1] for _ in drifted]
    comparison_cid = make_msgid(domain="scorestream")[1:-1] if comparisons else None
    cells = "".join(
        f"<th style='text-align:left;padding:4px'>{html.escape(h)}</th>" for h in header
    )
    body_rows = "".join(
        "<tr>" + "".join(f"<td style='padding:4px'>{html.escape(c)}</td>" for c in row) + "</tr>"
        for row in table_rows
    )
    charts = "".join(
        f"<h3>{html.escape(f['feature'])}</h3><p>{html.escape('; '.join(f.get('reasons', [])))}"
        f"</p><img src='cid:{cid}' alt='{html.escape(f['feature'])} histogram'>"
        for f, cid in zip(drifted, cids, strict=True)
    )
    errors_html = (
        "<h3>Features that could not be checked (no verdict)</h3><ul>"
        + "".join(f"<li>{html.escape(e)}</li>" for e in errors)
        + "</ul>"
        if errors
        else ""
    )
    link_html = f"<p><a href='{html.escape(link)}'>Open the drift dashboard</a></p>" if link else ""
    message.add_alternative(
        f"<html><body><p><b>{html.escape(summary)}</b></p>{importance_section.html_section(alert)}"
        f"<table border='1' style='border-collapse:collapse'><tr>{cells}</tr>{body_rows}</table>"
        f"{charts}{errors_html}{performance_section.html_section(alert)}"
        f"{comparison_section.html_section(comparisons, comparison_cid)}{link_html}</body></html>",
        subtype="html",
    )
    html_part = message.get_body(preferencelist=("html",))
    assert isinstance(html_part, EmailMessage)
    for f, cid in zip(drifted, cids, strict=True):
        html_part.add_related(
            histogram_png(f),
            maintype="image",
            subtype="png",
            cid=f"<{cid}>",
            filename=f"{f['feature']}.png",
        )
    if comparison_cid is not None:
        html_part.add_related(
            comparison_section.difference_png(comparisons),
            maintype="image",
            subtype="png",
            cid=f"<{comparison_cid}>",
            filename="model-comparison.png",
        )
    return message
