"""What the two drift dashboards share: drift colours and the change-point annotations.

The colours come from the daily check's own :class:`DriftThresholds`, read as the check
reads them (the defaults, or the file that ``SCORESTREAM_THRESHOLDS`` names), so a cell
turns red exactly where the check would alert: the dashboards once hard-coded 0.25 (PSI)
and 0.2 (JS) while the check alerted at 0.2 and 0.15. The JSON is generated, so a changed
thresholds file needs ``make dashboards`` (with the same variable) to reach Grafana.
"""

# The SQL here is the dashboards' own text, built from constants; no input reaches it.
# ruff: noqa: S608
from __future__ import annotations

import os
from typing import Any

from scorestream.contract.thresholds import THRESHOLDS_VARIABLE, load_thresholds
from scorestream.grafana.panels import (
    annotation,
    query_variable,
    sql,
    threshold_steps,
    variable_value,
)

#: The thresholds the daily check decides with (``Settings.thresholds``: the same file).
CHECK_THRESHOLDS = load_thresholds(os.environ.get(THRESHOLDS_VARIABLE)).drift
PSI_WARNING, PSI_DRIFT = CHECK_THRESHOLDS.psi_warn, CHECK_THRESHOLDS.psi_alert
JS_WARNING, JS_DRIFT = CHECK_THRESHOLDS.js_warn, CHECK_THRESHOLDS.js_alert

PSI_THRESHOLDS = threshold_steps(("green", None), ("orange", PSI_WARNING), ("red", PSI_DRIFT))
JS_THRESHOLDS = threshold_steps(("green", None), ("orange", JS_WARNING), ("red", JS_DRIFT))
#: Colour of a stat with no value (no check yet): neither "all well" nor "drift".
NO_VALUE_COLOUR = "transparent"
#: PSI thresholds for a stat that may have no value: the None step is taken by the missing
#: value, so green starts at 0 (a PSI is never negative).
PSI_STAT_THRESHOLDS = threshold_steps(
    (NO_VALUE_COLOUR, None), ("green", 0), ("orange", PSI_WARNING), ("red", PSI_DRIFT)
)
#: How the check's levels (column ``level`` of drift_checks) are coloured in tables;
#: ``error``: a feature (or a whole model version) that could not be checked.
LEVEL_COLOURS = {"ok": "green", "warning": "orange", "drift": "red", "error": "purple"}

#: Rows of one model version only: two models' (or versions') rows are never mixed, and a
#: version's bins are only ever added to bins of the same layout.
MODEL_FILTER = (
    f"model_name = {variable_value('model')} AND model_version = {variable_value('version')}"
)


def model_variables(table: str, time_column: str) -> list[dict[str, Any]]:
    """``model`` (named ones first; '' is rows from before models were named) and its
    ``version`` (the most recently seen first: the dashboard opens on it)."""
    model = query_variable(
        "model",
        "Model",
        sql(f"""
            SELECT model_name FROM {{db}}.{table} FINAL
            WHERE $__timeFilter({time_column})
            GROUP BY model_name
            ORDER BY model_name = '', model_name
        """),
        sort=0,
    )
    version = query_variable(
        "version",
        "Version",
        sql(f"""
            SELECT model_version FROM {{db}}.{table} FINAL
            WHERE $__timeFilter({time_column}) AND model_name = {variable_value("model")}
            GROUP BY model_version
            ORDER BY max({time_column}) DESC, model_version
        """),
        sort=0,
    )
    return [model, version]


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
