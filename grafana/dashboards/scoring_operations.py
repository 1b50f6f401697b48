"""Scoring operations: is the pipeline healthy?

Records scored per second, end-to-end latency, the score's distribution, rejected input by
reason and the model versions in use.
"""

# The SQL here is the dashboards' own text, built from constants; no input reaches it.
# ruff: noqa: S608
from __future__ import annotations

from typing import Any

from scorestream.grafana import links
from scorestream.grafana.panels import (
    Dashboard,
    barchart,
    fill_between,
    sql,
    stat,
    table,
    threshold_steps,
    timeseries,
)

FILE = f"{links.SCORING_OPERATIONS.slug}.json"


def build() -> dict[str, Any]:
    """Throughput, latency, scores, rejections and model versions."""
    scored = "FROM {db}.scores FINAL WHERE $__timeFilter(scored_at)"
    # A regression model's score is its prediction, in the target's units: kept out of the
    # probability panels, and shown in its own.
    probabilities = f"{scored} AND model_kind != 'regression'"
    rejected = "FROM {db}.rejected_records FINAL WHERE $__timeFilter(rejected_at)"
    dash = Dashboard(
        links.SCORING_OPERATIONS.uid,
        "Scoring operations",
        "Is the pipeline healthy? Records scored, latency, scores, "
        "rejected input and the models in use.",
    )
    dash.row(
        stat("Records scored", sql(f"SELECT count() AS scored {scored}"), unit="short"),
        stat(
            "Records rejected",
            sql(f"SELECT count() AS rejected {rejected}"),
            unit="short",
            thresholds=threshold_steps(("green", None), ("orange", 1)),
        ),
        stat(
            "Rejected share",
            sql(f"""
            SELECT rejected / greatest(rejected + scored, 1) AS rejected_share
            FROM (
                SELECT
                    (SELECT count() {rejected}) AS rejected,
                    (SELECT count() {scored}) AS scored
            )
        """),
            unit="percentunit",
            thresholds=threshold_steps(("green", None), ("orange", 0.01), ("red", 0.05)),
        ),
        stat(
            "End-to-end latency p99",
            sql(f"""
            SELECT quantile(0.99)(latency_ms) AS p99 {scored}
        """),
            unit="ms",
            thresholds=threshold_steps(("green", None), ("orange", 1000), ("red", 5000)),
        ),
    )
    dash.row(
        timeseries(
            "Records scored per second",
            sql(f"""
            SELECT
                $__timeInterval(scored_at) AS time,
                count() / $__interval_s AS records_per_second
            {scored}
            GROUP BY time
            ORDER BY time
        """),
            unit="reqps",
        ),
        timeseries(
            "End-to-end latency",
            sql(f"""
            SELECT
                $__timeInterval(scored_at) AS time,
                quantile(0.5)(latency_ms) AS p50,
                quantile(0.99)(latency_ms) AS p99
            {scored}
            GROUP BY time
            ORDER BY time
        """),
            unit="ms",
            description="From ingest to score (latency_ms), per interval.",
        ),
    )
    dash.row(
        timeseries(
            "Score distribution over time",
            sql(f"""
            SELECT time, q[1] AS p05, q[2] AS p25, q[3] AS p50, q[4] AS p75, q[5] AS p95
            FROM (
                SELECT
                    $__timeInterval(scored_at) AS time,
                    quantiles(0.05, 0.25, 0.5, 0.75, 0.95)(score) AS q
                {probabilities}
                GROUP BY time
            )
            ORDER BY time
        """),
            overrides=[*fill_between("p05", "p95"), *fill_between("p25", "p75")],
            description="Quantiles of the classifiers' score (probability) per interval: "
            "the outer band is p05 to p95, the inner p25 to p75.",
        ),
        barchart(
            "Score histogram",
            sql(f"""
            SELECT
                concat(toString(bucket / 10), '-', toString((bucket + 1) / 10)) AS score,
                records
            FROM (
                SELECT least(toUInt8(floor(score * 10)), 9) AS bucket, count() AS records
                {probabilities}
                GROUP BY bucket
            )
            ORDER BY bucket
        """),
            unit="short",
            description="Classifiers' scores (probabilities) in the time range, in tenths.",
        ),
    )
    dash.row(
        timeseries(
            "Predicted class (multi-class models)",
            sql(f"""
            SELECT
                $__timeInterval(scored_at) AS time,
                concat(model_name, ': ', label) AS class,
                count() AS records
            {scored} AND model_kind = 'multiclass'
            GROUP BY time, class
            ORDER BY time, class
        """),
            label="class",
            stacked_bars=True,
            unit="short",
            description="Records per predicted class (the label column) and interval: a "
            "class whose share moves is an output drift the input checks may explain.",
        ),
        timeseries(
            "Prediction quantiles (regression models)",
            sql(f"""
            SELECT time, model, q[1] AS p05, q[2] AS p50, q[3] AS p95
            FROM (
                SELECT
                    $__timeInterval(scored_at) AS time,
                    model_name AS model,
                    quantiles(0.05, 0.5, 0.95)(score) AS q
                {scored} AND model_kind = 'regression'
                GROUP BY time, model
            )
            ORDER BY time, model
        """),
            description="5 %, 50 % and 95 % quantiles of a regression model's prediction "
            "(its score) per interval, in the target's units.",
        ),
    )
    dash.row(
        timeseries(
            "Rejections by reason",
            sql(f"""
            SELECT
                $__timeInterval(rejected_at) AS time,
                reason,
                count() AS rejections
            {rejected}
            GROUP BY time, reason
            ORDER BY time, reason
        """),
            label="reason",
            stacked_bars=True,
            unit="short",
        ),
        table(
            "Rejected input",
            sql(f"""
            SELECT
                reason,
                field,
                count() AS rejections,
                max(rejected_at) AS last_seen,
                argMax(message, rejected_at) AS last_message,
                argMax(source_topic, rejected_at) AS topic
            {rejected}
            GROUP BY reason, field
            ORDER BY rejections DESC, reason, field
        """),
            description="Each rejected record is in rejected_records with its payload.",
        ),
    )
    dash.row(
        timeseries(
            "Model versions in use",
            sql(f"""
            SELECT
                $__timeInterval(scored_at) AS time,
                concat(model_name, ' ', model_version) AS model,
                count() AS records
            {scored}
            GROUP BY time, model
            ORDER BY time, model
        """),
            stacked_bars=True,
            unit="short",
        ),
        table(
            "Models",
            sql(f"""
            SELECT
                model_name,
                model_version,
                count() AS records,
                avg(score) AS mean_score,
                min(scored_at) AS first_scored,
                max(scored_at) AS last_scored
            {scored}
            GROUP BY model_name, model_version
            ORDER BY last_scored DESC, model_name, model_version
        """),
        ),
    )
    return dash.to_json()
