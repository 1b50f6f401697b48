"""The e-mail's ranking of the drifted features by the model's importance of each.

Right after the summary (which says the performance verdict first): when a performance
metric alerts, "Most likely explanation: income (importance 0.120, drift: mean 66,400 →
89,700 (+35%)), age (0.030, drift: …)."; without one, the same list as "Drifted features
by the model's importance". Features the model barely uses
(:attr:`~scorestream.streams.model.importance.FeatureImportance.negligible`: mean − 2 std
≤ 0, or a fall under 0.005) follow apart: "Drifted, but the model barely uses them". A
version without importance says so in one line. The figures come with the alert
(``AlertMessage.importance``), so the e-mail runs no query and reads no model.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from scorestream.consumers.alerting import readable
from scorestream.contract import AlertMessage
from scorestream.streams.model.importance import FeatureImportance, PermutationImportance

#: A missing rate that moved less than this is not worth a word.
MISSING_RATE_STEP = 0.01


def _number(row: dict[str, Any], key: str) -> float:
    value = row.get(key)
    return float(value) if isinstance(value, int | float) else math.nan


def drift_phrase(row: dict[str, Any]) -> str:
    """How a drifted feature moved, in words: its mean (numeric) or the category whose
    share moved most (categorical), and its missing rate when that moved too."""
    parts = []
    before, after = _number(row, "ref_mean"), _number(row, "cur_mean")
    if math.isfinite(before) and math.isfinite(after):
        parts.append(f"mean {readable.change(before, after)}")
    else:
        ref = np.asarray(row.get("reference_counts") or [], dtype=np.float64)
        cur = np.asarray(row.get("current_counts") or [], dtype=np.float64)
        labels = list(row.get("bin_labels") or [])
        if len(ref) and len(ref) == len(cur) == len(labels) and ref.sum() and cur.sum():
            ref, cur = ref / ref.sum(), cur / cur.sum()
            k = int(np.argmax(np.abs(cur - ref)))
            parts.append(f"share of {labels[k]} {readable.percent_change(ref[k], cur[k])}")
    missed, missing = _number(row, "ref_missing_rate"), _number(row, "cur_missing_rate")
    if (
        math.isfinite(missed)
        and math.isfinite(missing)
        and abs(missing - missed) >= MISSING_RATE_STEP
    ):
        parts.append(f"missing {readable.percent_change(missed, missing)}")
    return ", ".join(parts)


def _ranked_lines(alert: AlertMessage, importance: PermutationImportance) -> list[str]:
    rows = {str(row["feature"]): row for row in alert.drifted}
    known = [(n, f) for n, f in importance.features.items() if n in rows]
    used = [(n, f) for n, f in known if not f.negligible]
    barely = [(n, f) for n, f in known if f.negligible]
    unknown = [n for n in rows if n not in importance.features]

    def entry(position: int, name: str, figure: FeatureImportance) -> str:
        said = "importance " if position == 0 else ""
        moved = drift_phrase(rows[name])
        return f"{name} ({said}{figure.mean:.3f}" + (f", drift: {moved})" if moved else ")")

    lines = []
    if used:
        lead = (
            "Most likely explanation"
            if alert.performance_alerts
            else "Drifted features by the model's importance"
        )
        lines.append(f"{lead}: " + ", ".join(entry(i, n, f) for i, (n, f) in enumerate(used)) + ".")
    if barely:
        listed = ", ".join(
            f"{n} ({'importance ' if i == 0 else ''}{f.mean:.3f} ± {f.std:.3f})"
            for i, (n, f) in enumerate(barely)
        )
        lines.append(f"Drifted, but the model barely uses them: {listed}.")
    if unknown:
        lines.append(f"Drifted, no importance figure: {', '.join(unknown)}.")
    lines.append(f"(Importance: {importance.explained()}.)")
    return lines


def text_lines(alert: AlertMessage) -> list[str]:
    """The ranking, after a blank line; empty without drifted features or importance."""
    doc = alert.importance
    if not alert.drifted or not doc:
        return []
    if "unavailable" in doc:
        return [
            "",
            f"Drifted features not ranked by importance: model {alert.model} has no "
            f"permutation importance ({doc['unavailable']}).",
        ]
    try:
        importance = PermutationImportance.from_dict(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        return ["", f"Drifted features not ranked by importance: unreadable figures ({error!r})."]
    return ["", *_ranked_lines(alert, importance)]


def html_section(alert: AlertMessage) -> str:
    """The same lines as HTML paragraphs (empty when there are none)."""
    return "".join(f"<p>{html.escape(line)}</p>" for line in text_lines(alert) if line)
