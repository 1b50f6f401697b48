"""Drift overview: is the input still like the training data?

Per-feature PSI and Jensen-Shannon distance of the rolling windows, a features over time
grid coloured by PSI, the latest daily check (a feature links to its detail dashboard) and
annotations: flagged features, detector change points and the alerts that were e-mailed.
"""

# The SQL here is the dashboards' own text, built from constants; no input reaches it.
# ruff: noqa: S608
from __future__ import annotations

from typing import Any

from scorestream.grafana import links
from scorestream.grafana.dashboards.drift import (
    JS_THRESHOLDS,
    LEVEL_COLOURS,
    MODEL_FILTER,
    NO_VALUE_COLOUR,
    PSI_DRIFT,
    PSI_STAT_THRESHOLDS,
    PSI_THRESHOLDS,
    PSI_WARNING,
    change_points,
    model_variables,
)
from scorestream.grafana.panels import (
    Dashboard,
    annotation,
    colour_cells,
    custom_variable,
    grafana_tag_annotation,
    link_to,
    query_variable,
    sql,
    stat,
    status_history,
    table,
    threshold_steps,
    timeseries,
    value_colours,
    variable_has,
    variable_value,
)

FILE = f"{links.DRIFT_OVERVIEW.slug}.json"
FEATURE_FILTER = (
    f"$__conditionalAll({variable_has('feature', 'feature')}, $feature) AND {MODEL_FILTER}"
)
WINDOW = variable_value("window")
LATEST_DAILY = f"""
    check_kind = 'daily' AND {MODEL_FILTER}
        AND period_end = (
            SELECT max(period_end) FROM {{db}}.drift_checks FINAL
            WHERE check_kind = 'daily' AND period_end <= $__toTime AND {MODEL_FILTER}
        )
"""

# Before the first check, an aggregate over no rows would read as an answer: max() is 0
# (the epoch: "56 years ago"), a count 0 (green). These stats return no row instead, and
# Grafana shows NO_CHECK.
NO_CHECK = "no check yet"
ONLY_AFTER_A_CHECK = "HAVING count() > 0"


def _rolling(column: str) -> str:
    # The worst value in each interval: a short drift spike must not be averaged away.
    return sql(f"""
        SELECT
            $__timeInterval(period_end) AS time,
            feature,
            max({column}) AS {column}
        FROM {{db}}.drift_checks FINAL
        WHERE check_kind = {WINDOW}
            AND $__timeFilter(period_end)
            AND {FEATURE_FILTER}
        GROUP BY time, feature
        ORDER BY time, feature
    """)


# The alert consumer posts each e-mailed alert to Grafana with these tags (consumers/alerting).
ALERT_TAGS = ("scorestream", "drift")


def build() -> dict[str, Any]:
    """Per-feature drift over time, the features over time grid and the latest daily check."""
    features = query_variable(
        "feature",
        "Features",
        sql(
            "SELECT DISTINCT feature FROM {db}.drift_checks FINAL "
            f"WHERE $__timeFilter(period_end) AND {MODEL_FILTER} ORDER BY feature"
        ),
        multi=True,
        include_all=True,
    )
    window = custom_variable(
        "window", "Rolling window", [("1 hour", "rolling_1h"), ("24 hours", "rolling_24h")]
    )
    flagged = annotation(
        "Drift alerts",
        sql(f"""
        SELECT
            period_end AS time,
            concat(feature, ': ', level, ' (PSI ', toString(round(psi, 3)),
                   ', adjusted p ', toString(round(p_adjusted, 5)), ')') AS text,
            concat('drift,', feature) AS tags
        FROM {{db}}.drift_checks FINAL
        WHERE check_kind = 'daily' AND drifted = 1 AND $__timeFilter(period_end)
            AND {MODEL_FILTER}
        ORDER BY time
    """),
        "red",
    )
    dash = Dashboard(
        links.DRIFT_OVERVIEW.uid,
        "Drift overview",
        "Is the input still like the training data? Rolling-window drift "
        "statistics per feature and the daily drift check.",
        variables=[*model_variables("drift_checks", "period_end"), window, features],
        annotations=[
            flagged,
            change_points(FEATURE_FILTER),
            grafana_tag_annotation("Alerts e-mailed", ALERT_TAGS, "purple"),
        ],
    )
    dash.row(
        stat(
            "Features flagged (latest daily check)",
            sql(
                """
            SELECT countIf(drifted = 1) AS flagged
            FROM {db}.drift_checks FINAL
            WHERE {latest}
            {having}
        """,
                latest=LATEST_DAILY,
                having=ONLY_AFTER_A_CHECK,
            ),
            thresholds=threshold_steps((NO_VALUE_COLOUR, None), ("green", 0), ("red", 1)),
            no_value=NO_CHECK,
            description="Features whose daily check was both significant (Benjamini-"
            "Hochberg adjusted) and large (effect-size thresholds).",
        ),
        stat(
            "Features checked",
            sql(
                """
            SELECT count() AS features
            FROM {db}.drift_checks FINAL
            WHERE {latest}
            {having}
        """,
                latest=LATEST_DAILY,
                having=ONLY_AFTER_A_CHECK,
            ),
            no_value=NO_CHECK,
        ),
        stat(
            "Last daily check",
            sql(
                """
            SELECT toUInt64(toUnixTimestamp(max(checked_at))) * 1000 AS last_check
            FROM {db}.drift_checks FINAL
            WHERE check_kind = 'daily' AND checked_at <= $__toTime AND {model}
            {having}
        """,
                model=MODEL_FILTER,
                having=ONLY_AFTER_A_CHECK,
            ),
            unit="dateTimeFromNow",
            no_value=NO_CHECK,
        ),
        stat(
            "Highest PSI in range (rolling)",
            sql(f"""
            SELECT max(psi) AS psi
            FROM {{db}}.drift_checks FINAL
            WHERE check_kind = {WINDOW} AND $__timeFilter(period_end)
                AND {FEATURE_FILTER}
            {ONLY_AFTER_A_CHECK}
        """),
            thresholds=PSI_STAT_THRESHOLDS,
            no_value=NO_CHECK,
        ),
    )
    dash.row(
        timeseries(
            "PSI per feature",
            _rolling("psi"),
            label="feature",
            thresholds=PSI_THRESHOLDS,
            description=f"Population stability index of the rolling window against "
            f"the reference bins. Above {PSI_WARNING}: watch; above "
            f"{PSI_DRIFT}: the distribution has moved.",
        ),
        timeseries(
            "Jensen-Shannon distance per feature",
            _rolling("js_distance"),
            label="feature",
            thresholds=JS_THRESHOLDS,
            description="Jensen-Shannon distance (base 2, 0 = same, 1 = disjoint) "
            "of the rolling window against the reference bins.",
        ),
    )
    dash.row(
        status_history(
            "Drift heatmap: features over time (PSI)",
            _rolling("psi"),
            label="feature",
            thresholds=PSI_THRESHOLDS,
            height=7,
            description="One row per feature; a cell's colour is the highest PSI in that interval.",
        )
    )
    dash.row(
        table(
            "Latest daily drift check",
            sql(
                """
        SELECT
            feature,
            level,
            drifted AS flagged,
            test,
            p_adjusted,
            p_value,
            psi,
            js_distance,
            wasserstein,
            ref_mean,
            cur_mean,
            cur_missing_rate,
            n_current,
            period_start,
            period_end,
            checked_at
        FROM {db}.drift_checks FINAL
        WHERE {latest}
        ORDER BY flagged DESC, psi DESC, feature
    """,
                latest=LATEST_DAILY,
            ),
            width=24,
            height=7,
            overrides=[
                link_to(
                    "feature",
                    "Feature detail",
                    links.dashboard_url(
                        "",
                        links.FEATURE_DETAIL,
                        variables={"feature": "${__value.raw}"},
                        extra="${__url_time_range}",
                    ),
                ),
                value_colours("level", LEVEL_COLOURS),
                colour_cells("psi", PSI_THRESHOLDS),
                colour_cells("js_distance", JS_THRESHOLDS),
            ],
            description="One row per feature: flagged needs both a small adjusted p-value and "
            "a large effect size. Click a feature for its detail dashboard.",
        )
    )
    return dash.to_json()
