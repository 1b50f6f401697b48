"""Model comparison: does a challenger answer like the champion on the same records?

From ``model_comparisons`` (written by the drift check for each day and rolling window):
agreement rate, the quantiles of the score difference (challenger - champion), the PSI
between the two score distributions and the records both scored, per challenger, for the
chosen champion model. Each point is one checked period (its end), so the panels need no
``$__timeInterval`` and every query also runs on ClickHouse 18.16.
"""

# The SQL here is the dashboards' own text, built from constants; no input reaches it.
# ruff: noqa: S608
from __future__ import annotations

from typing import Any

from scorestream.grafana import links
from scorestream.grafana.dashboards.drift import (
    NO_VALUE_COLOUR,
    PSI_STAT_THRESHOLDS,
    PSI_THRESHOLDS,
)
from scorestream.grafana.panels import (
    Dashboard,
    colour_cells,
    custom_variable,
    query_variable,
    sql,
    stat,
    table,
    threshold_steps,
    timeseries,
    variable_has,
    variable_value,
)

FILE = f"{links.MODEL_COMPARISON.slug}.json"
MODEL = variable_value("model")
#: The chosen champion, challengers and kind of period.
FILTER = (
    f"champion_name = {MODEL} AND check_kind = {variable_value('window')} "
    f"AND $__conditionalAll({variable_has('challenger', 'challenger_name')}, $challenger)"
)
CHALLENGER = "concat(challenger_name, '@', challenger_version) AS challenger"
NO_COMPARISON = "no comparison yet"
#: Agreement colours: below 90 % the challenger answers differently often enough to look.
AGREEMENT_THRESHOLDS = threshold_steps(
    (NO_VALUE_COLOUR, None), ("red", 0), ("orange", 0.8), ("green", 0.9)
)


def _quantile(level: float) -> str:
    # By the stored levels, not by position: a run with other levels still reads right.
    return f"arrayElement(difference_quantiles, indexOf(quantile_levels, {level}))"


def _per_challenger(columns: str) -> str:
    return sql(f"""
        SELECT
            period_end AS time,
            {CHALLENGER},
            {columns}
        FROM {{db}}.model_comparisons FINAL
        WHERE {FILTER} AND $__timeFilter(period_end)
        GROUP BY time, challenger
        ORDER BY time, challenger
    """)


def build() -> dict[str, Any]:
    """Agreement, score differences, PSI and paired records per challenger over time."""
    model = query_variable(
        "model",
        "Champion",
        sql("""
            SELECT DISTINCT champion_name FROM {db}.model_comparisons FINAL
            WHERE $__timeFilter(period_end) ORDER BY champion_name
        """),
    )
    challenger = query_variable(
        "challenger",
        "Challengers",
        sql(f"""
            SELECT DISTINCT challenger_name FROM {{db}}.model_comparisons FINAL
            WHERE $__timeFilter(period_end) AND champion_name = {MODEL}
            ORDER BY challenger_name
        """),
        multi=True,
        include_all=True,
    )
    window = custom_variable(
        "window",
        "Period",
        [("rolling 1 hour", "rolling_1h"), ("rolling 24 hours", "rolling_24h"), ("day", "daily")],
    )
    dash = Dashboard(
        links.MODEL_COMPARISON.uid,
        "Model comparison",
        "Challengers scored in shadow on the same records as the champion: how often they "
        "agree, how far their scores are apart, and whether their score distributions differ.",
        variables=[model, challenger, window],
    )
    dash.row(
        stat(
            "Lowest agreement in range",
            sql(f"""
            SELECT min(agreement_rate) AS agreement
            FROM {{db}}.model_comparisons FINAL
            WHERE {FILTER} AND $__timeFilter(period_end)
            HAVING count() > 0
        """),
            unit="percentunit",
            thresholds=AGREEMENT_THRESHOLDS,
            no_value=NO_COMPARISON,
            description="Share of records with the same predicted class (classifiers) or "
            "a score difference within the tolerance (regression).",
        ),
        stat(
            "Highest score PSI in range",
            sql(f"""
            SELECT max(score_psi) AS psi
            FROM {{db}}.model_comparisons FINAL
            WHERE {FILTER} AND $__timeFilter(period_end)
            HAVING count() > 0
        """),
            thresholds=PSI_STAT_THRESHOLDS,
            no_value=NO_COMPARISON,
        ),
        stat(
            "Records paired (latest period)",
            sql(f"""
            SELECT sum(n_paired) AS paired
            FROM {{db}}.model_comparisons FINAL
            WHERE {FILTER} AND period_end = (
                SELECT max(period_end) FROM {{db}}.model_comparisons FINAL
                WHERE {FILTER} AND period_end <= $__toTime
            )
            HAVING count() > 0
        """),
            unit="short",
            no_value=NO_COMPARISON,
            description="Records both the champion and a challenger scored in the latest "
            "period, summed over the chosen challengers.",
        ),
        stat(
            "Challengers",
            sql(f"""
            SELECT uniqExact(challenger_name, challenger_version) AS challengers
            FROM {{db}}.model_comparisons FINAL
            WHERE {FILTER} AND $__timeFilter(period_end)
            HAVING count() > 0
        """),
            no_value=NO_COMPARISON,
        ),
    )
    dash.row(
        timeseries(
            "Agreement rate per challenger",
            _per_challenger("min(agreement_rate) AS agreement"),
            label="challenger",
            unit="percentunit",
            description="Per checked period: same predicted class (binary, multi-class), "
            "or |challenger - champion| <= the row's tolerance (regression).",
        ),
        timeseries(
            "Score PSI per challenger",
            _per_challenger("max(score_psi) AS psi"),
            label="challenger",
            thresholds=PSI_THRESHOLDS,
            description="PSI between the champion's and the challenger's scores of the same "
            "records, on the champion version's reference score bins.",
        ),
    )
    dash.row(
        timeseries(
            "Score difference (challenger − champion)",
            _per_challenger(
                f"avg({_quantile(0.05)}) AS p05, avg({_quantile(0.5)}) AS p50, "
                f"avg({_quantile(0.95)}) AS p95, avg(mean_difference) AS mean"
            ),
            description="5 %, 50 % and 95 % quantiles and the mean of the score difference "
            "per checked period.",
        ),
        timeseries(
            "Records paired per challenger",
            _per_challenger("max(n_paired) AS paired"),
            label="challenger",
            unit="short",
            description="Records both models scored in each period (joined by id).",
        ),
    )
    dash.row(
        table(
            "Latest comparisons",
            sql(f"""
            SELECT
                {CHALLENGER},
                concat(champion_name, '@', champion_version) AS champion,
                model_kind,
                n_paired,
                agreement_rate,
                tolerance,
                mean_difference,
                difference_quantiles,
                score_psi,
                period_start,
                period_end
            FROM {{db}}.model_comparisons FINAL
            WHERE {FILTER} AND period_end = (
                SELECT max(period_end) FROM {{db}}.model_comparisons FINAL
                WHERE {FILTER} AND period_end <= $__toTime
            )
            ORDER BY agreement_rate, challenger
        """),
            width=24,
            height=6,
            overrides=[
                colour_cells("score_psi", PSI_THRESHOLDS),
                colour_cells("agreement_rate", AGREEMENT_THRESHOLDS),
            ],
            description="The latest period of the chosen kind, one row per champion version "
            "and challenger version.",
        ),
    )
    return dash.to_json()
