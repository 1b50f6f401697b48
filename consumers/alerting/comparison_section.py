"""The e-mail's "Model comparison" section: the day's challengers against the champion.

Built from the ``model_comparisons`` rows the alert carries (no query): one line per
challenger in readable numbers, a table in the HTML part, and one small chart of the score
difference quantiles per challenger.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from typing import Any

from scorestream.consumers.alerting import readable

TITLE = "Model comparison"


# The e-mail's one way of writing numbers (never "1.2e-05").
_signed = readable.signed
_percent = readable.percent


def _quantile(row: dict[str, Any], level: float) -> float | None:
    levels = [round(float(q), 6) for q in row.get("quantile_levels") or []]
    values = row.get("difference_quantiles") or []
    try:
        return float(values[levels.index(round(level, 6))])
    except (ValueError, IndexError):
        return None


def challenger_name(row: dict[str, Any]) -> str:
    return f"{row['challenger_name']}@{row['challenger_version']}"


def agreement_text(row: dict[str, Any]) -> str:
    """``same class`` or ``|difference| ≤ tolerance``: what agreement means for the row."""
    if row.get("model_kind") == "regression":
        return f"|difference| ≤ {row.get('tolerance', 0):.3g}"
    return "same predicted class"


def summary_line(row: dict[str, Any]) -> str:
    """One challenger in one sentence of readable numbers.

    >>> summary_line({"challenger_name": "b", "challenger_version": "2", "n_paired": 48210,
    ...     "agreement_rate": 0.9312, "model_kind": "binary", "mean_difference": -0.0123,
    ...     "quantile_levels": [0.05, 0.95], "difference_quantiles": [-0.08, 0.11],
    ...     "score_psi": 0.0412}).split(", ")  # doctest: +NORMALIZE_WHITESPACE
    ['b@2: 48,210 records scored by both', 'agreement 93.1% (same predicted class)',
     'score difference (challenger − champion) mean −0.0123', '5–95 %: −0.08 … +0.11',
     'PSI 0.041']
    """
    psi = row.get("score_psi")
    return (
        f"{challenger_name(row)}: {int(row['n_paired']):,} records scored by both, "
        f"agreement {_percent(row.get('agreement_rate'))} ({agreement_text(row)}), "
        f"score difference (challenger − champion) mean {_signed(row.get('mean_difference'))}, "
        f"5–95 %: {_signed(_quantile(row, 0.05))} … {_signed(_quantile(row, 0.95))}, "
        f"PSI {'–' if psi is None else f'{psi:.3f}'}"
    )


def text_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The plain-text section (empty without comparisons)."""
    if not rows:
        return []
    champion = f"{rows[0]['champion_name']}@{rows[0]['champion_version']}"
    return ["", f"{TITLE} (champion {champion}):", *(f"- {summary_line(r)}" for r in rows)]


def html_section(rows: Sequence[dict[str, Any]], chart_cid: str | None) -> str:
    """The HTML section: a table and the chart (empty without comparisons)."""
    if not rows:
        return ""
    champion = f"{rows[0]['champion_name']}@{rows[0]['champion_version']}"
    header = ["challenger", "records", "agreement", "mean difference", "5 % … 95 %", "PSI"]
    cells = "".join(f"<th style='text-align:left;padding:4px'>{h}</th>" for h in header)
    body = ""
    for row in rows:
        psi = row.get("score_psi")
        values = [
            challenger_name(row),
            f"{int(row['n_paired']):,}",
            f"{_percent(row.get('agreement_rate'))} ({agreement_text(row)})",
            _signed(row.get("mean_difference")),
            f"{_signed(_quantile(row, 0.05))} … {_signed(_quantile(row, 0.95))}",
            "–" if psi is None else f"{psi:.3f}",
        ]
        body += (
            "<tr>"
            + "".join(f"<td style='padding:4px'>{html.escape(v)}</td>" for v in values)
            + "</tr>"
        )
    chart = (
        f"<img src='cid:{chart_cid}' alt='score difference per challenger'>" if chart_cid else ""
    )
    return (
        f"<h3>{TITLE} (champion {html.escape(champion)})</h3>"
        f"<table border='1' style='border-collapse:collapse'><tr>{cells}</tr>{body}</table>"
        f"{chart}"
    )


def difference_png(rows: Sequence[dict[str, Any]]) -> bytes:
    """Score difference quantiles per challenger (5-95 % line, 25-75 % box, median, mean)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 1.3 + 0.5 * len(rows)), dpi=100)
    for y, row in enumerate(rows):
        q = {level: _quantile(row, level) for level in (0.05, 0.25, 0.5, 0.75, 0.95)}
        if q[0.05] is not None and q[0.95] is not None:
            ax.plot([q[0.05], q[0.95]], [y, y], color="#7f8c8d", linewidth=1.5)
        if q[0.25] is not None and q[0.75] is not None:
            ax.barh(y, q[0.75] - q[0.25], left=q[0.25], height=0.4, color="#3498db")
        if q[0.5] is not None:
            ax.plot([q[0.5], q[0.5]], [y - 0.2, y + 0.2], color="#2c3e50", linewidth=2)
        if row.get("mean_difference") is not None:
            ax.plot(row["mean_difference"], y, "o", color="#e74c3c", markersize=5)
    ax.axvline(0.0, color="#2c3e50", linewidth=0.8, linestyle=":")
    ax.set_yticks(
        range(len(rows)),
        [f"{challenger_name(r)}\n{_percent(r.get('agreement_rate'))} agree" for r in rows],
        fontsize=7,
    )
    ax.set_xlabel("challenger − champion score (5/25/50/75/95 %, red: mean)", fontsize=8)
    ax.set_title("Score difference per challenger", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
