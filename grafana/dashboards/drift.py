"""What the two drift dashboards share: drift colours and the change-point annotations."""

# The SQL here is the dashboards' own text, built from constants; no input reaches it.
# ruff: noqa: S608
from __future__ import annotations

from typing import Any

from scorestream.grafana.panels import annotation, sql, threshold_steps

# Drift thresholds shown as colours; the daily check's own thresholds live in streams.drift.
PSI_WARNING, PSI_DRIFT = 0.1, 0.25
JS_WARNING, JS_DRIFT = 0.1, 0.2

PSI_THRESHOLDS = threshold_steps(("green", None), ("orange", PSI_WARNING), ("red", PSI_DRIFT))
JS_THRESHOLDS = threshold_steps(("green", None), ("orange", JS_WARNING), ("red", JS_DRIFT))
#: How the check's levels (column ``level`` of drift_checks) are coloured in tables.
LEVEL_COLOURS = {"ok": "green", "warning": "orange", "drift": "red"}


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
