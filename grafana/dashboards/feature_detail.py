"""Feature detail: one input feature against its reference, over time.

Variable ``feature``. The reference histogram against the current one, the feature's PSI
and Jensen-Shannon distance, mean and standard deviation, where its quantiles sit in the
reference distribution, its missing rate and its daily checks.
"""

# The SQL here is the dashboards' own text, built from constants; no input reaches it.
# ruff: noqa: S608
from __future__ import annotations

from typing import Any

from scorestream.grafana import links
from scorestream.grafana.dashboards.drift import (
    LEVEL_COLOURS,
    MODEL_FILTER,
    PSI_THRESHOLDS,
    change_points,
    model_variables,
)
from scorestream.grafana.panels import (
    Dashboard,
    barchart,
    colour_cells,
    custom_variable,
    dashed,
    fill_between,
    query_variable,
    sql,
    table,
    threshold_steps,
    timeseries,
    value_colours,
    variable_value,
)
from scorestream.streams.drift.profile import SCORE_FEATURE

FILE = f"{links.FEATURE_DETAIL.slug}.json"

# drift_stats holds partial rows (one per worker batch) that add up per minute; FINAL
# drops replayed batches first.
# Both variables reach the SQL percent-encoded (see panels.variable_value).
FEATURE = variable_value("feature")
WINDOW = variable_value("window")
FEATURE_SUMS = f"""
    FROM {{db}}.drift_stats FINAL
    WHERE feature = {FEATURE} AND $__timeFilter(minute) AND {MODEL_FILTER}
    GROUP BY time
"""


def _reference(column: str, condition: str = "") -> str:
    # The reference side is the same in every check of a model: take the latest one.
    return f"""
        (
            SELECT {column} FROM {{db}}.drift_checks FINAL
            WHERE feature = {FEATURE} AND {MODEL_FILTER}{condition}
            ORDER BY checked_at DESC
            LIMIT 1
        )
    """


def build() -> dict[str, Any]:
    """One feature: reference against current histogram, moments and missing rate."""
    # The input features first, the model score last: the dashboard opens on the first
    # option, and sorted by name "_score" would come first. Grafana keeps this order
    # (sort 0) instead of sorting the options again.
    feature = query_variable(
        "feature",
        "Feature",
        sql(
            "SELECT DISTINCT feature FROM {db}.drift_stats FINAL "
            f"WHERE $__timeFilter(minute) AND {MODEL_FILTER} "
            f"ORDER BY feature = '{SCORE_FEATURE}', feature"
        ),
        sort=0,
    )
    window = custom_variable(
        "window",
        "Histogram from check",
        [("daily", "daily"), ("rolling 24 hours", "rolling_24h"), ("rolling 1 hour", "rolling_1h")],
    )
    dash = Dashboard(
        links.FEATURE_DETAIL.uid,
        "Feature detail",
        "One input feature: its current distribution against the reference "
        "(training) data, and how its moments move over time.",
        variables=[*model_variables("drift_stats", "minute"), feature, window],
        annotations=[change_points(f"feature = {FEATURE} AND {MODEL_FILTER}")],
    )
    dash.row(
        barchart(
            "Reference vs current histogram",
            sql(f"""
            SELECT
                bin_labels[i] AS bin,
                reference_counts[i] / greatest(arraySum(reference_counts), 1) AS reference,
                current_counts[i] / greatest(arraySum(current_counts), 1) AS current
            FROM (
                SELECT bin_labels, reference_counts, current_counts
                FROM {{db}}.drift_checks FINAL
                WHERE feature = {FEATURE} AND check_kind = {WINDOW}
                    AND period_end <= $__toTime AND {MODEL_FILTER}
                ORDER BY period_end DESC
                LIMIT 1
            )
            ARRAY JOIN arrayEnumerate(bin_labels) AS i
            ORDER BY i
        """),
            unit="percentunit",
            description="Share of records per bin in the latest check of the chosen "
            "kind. Numeric bins are reference deciles, so each interior "
            "reference bar is about 10 %.",
        ),
        timeseries(
            "Drift statistics of this feature",
            sql(f"""
            SELECT
                $__timeInterval(period_end) AS time,
                max(psi) AS psi,
                max(js_distance) AS js_distance
            FROM {{db}}.drift_checks FINAL
            WHERE feature = {FEATURE} AND check_kind = 'rolling_1h'
                AND $__timeFilter(period_end) AND {MODEL_FILTER}
            GROUP BY time
            ORDER BY time
        """),
            thresholds=PSI_THRESHOLDS,
            description="PSI and Jensen-Shannon distance of the rolling 1-hour window.",
        ),
    )
    mean_query = sql(
        """
        SELECT time, mean, mean - std AS lower, mean + std AS upper, reference_mean
        FROM (
            SELECT
                $__timeInterval(minute) AS time,
                sum(count) - sum(missing) AS n,
                sum(sum) / n AS mean,
                sqrt(greatest(sum(sumsq) / n - mean * mean, 0)) AS std,
                {ref} AS reference_mean
            {sums}
            HAVING n > 0
        )
        ORDER BY time
    """,
        ref=_reference("ref_mean"),
        sums=FEATURE_SUMS,
    )
    # Numeric bins are [underflow, reference deciles..., overflow, missing]. In each
    # interval, find the bin where the cumulative count crosses p and interpolate within it
    # in the reference's cumulative shares: the result is the reference percentile at which
    # the current p-quantile sits (p itself when nothing changed). Bin edges alone cannot
    # place a quantile inside the open-ended outer deciles in the feature's own units.
    quantile_query = sql(
        """
        WITH
            {ref} AS reference,
            arraySlice(reference, 1, length(reference) - 1) AS ref_valued,
            arrayCumSum(ref_valued) AS ref_cum,
            arraySum(ref_valued) AS ref_n,
            arraySlice(counts, 1, length(counts) - 1) AS valued,
            arrayCumSum(valued) AS cum,
            arraySum(valued) AS n,
            [0.1, 0.5, 0.9] AS ps,
            arrayMap(p -> arrayFirstIndex(x -> x >= p * n, cum), ps) AS bins,
            arrayMap((p, j) -> (ref_cum[j] - ref_valued[j]
                + (p * n - cum[j] + valued[j]) / valued[j] * ref_valued[j]) / ref_n,
                ps, bins) AS at
        SELECT time, at[1] AS p10, at[2] AS p50, at[3] AS p90
        FROM (
            SELECT
                $__timeInterval(minute) AS time,
                sumForEach(counts) AS counts
            {sums}
        )
        WHERE length(counts) = length(reference) AND n > 0 AND ref_n > 0
        ORDER BY time
    """,
        ref=_reference("reference_counts", " AND kind = 'numeric'"),
        sums=FEATURE_SUMS,
    )
    dash.row(
        timeseries(
            "Mean ± standard deviation",
            mean_query,
            overrides=[*fill_between("lower", "upper"), dashed("reference_mean")],
            description="Mean of the non-missing values per interval, a band of one "
            "standard deviation, and the reference mean (dashed).",
        ),
        timeseries(
            "Quantiles against the reference",
            quantile_query,
            unit="percentunit",
            thresholds=threshold_steps(
                ("transparent", None), ("text", 0.1), ("text", 0.5), ("text", 0.9)
            ),
            threshold_style="dashed",
            description="Where the current p10, median and p90 fall in the reference "
            "distribution: at 10 %, 50 % and 90 % while nothing changes. "
            "Interpolated within the reference-decile bins of the "
            "per-minute counts (numeric features only).",
        ),
    )
    dash.row(
        timeseries(
            "Missing rate",
            sql(
                """
            SELECT
                $__timeInterval(minute) AS time,
                sum(missing) / sum(count) AS missing_rate,
                {ref} AS reference_missing_rate
            {sums}
            HAVING sum(count) > 0
            ORDER BY time
        """,
                ref=_reference("ref_missing_rate"),
                sums=FEATURE_SUMS,
            ),
            unit="percentunit",
            overrides=[dashed("reference_missing_rate")],
            description="Share of records where the feature was missing (null, "
            "NaN or not a number), against the reference share.",
        ),
        table(
            "Daily checks of this feature",
            sql(f"""
            SELECT
                period_end,
                level,
                drifted AS flagged,
                test,
                p_adjusted,
                psi,
                js_distance,
                wasserstein,
                ref_mean,
                cur_mean,
                n_current
            FROM {{db}}.drift_checks FINAL
            WHERE feature = {FEATURE} AND check_kind = 'daily'
                AND $__timeFilter(period_end) AND {MODEL_FILTER}
            ORDER BY period_end DESC
        """),
            overrides=[
                value_colours("level", LEVEL_COLOURS),
                colour_cells("psi", PSI_THRESHOLDS),
            ],
        ),
    )
    return dash.to_json()
