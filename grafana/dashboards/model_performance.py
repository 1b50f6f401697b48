"""Model performance: is the model still right, and how much do we know yet?

Per model (variable ``model``) and metric (variable ``metric``, the judged metrics of the
model's kind), from ``model_performance`` (the daily performance verdict, see
:mod:`scorestream.consumers.performance.check`): the realised figure against the estimate
and its band and the holdout reference, the verdict per metric and day, and the
challengers' realised figure beside the champion's (their rows have the check kind
``challenger_daily``; which challengers shadow the model comes from the day's
``model_comparisons``). From ``labels`` joined by id to ``scores``: the share of each day's
scored records that have a label by now, the label delay (``label_time - event_time``),
and, for binary models, the calibration (mean score against the observed positive rate per
score tenth).

Each figure is one day, drawn at the day's start. On a day with two champion versions (a
rollout) the lines follow the version that scored most of the day's records; the table
shows both. The dashboard opens on 30 days. Every query runs on ClickHouse 18.16 too.
"""

# The SQL here is the dashboards' own text, built from constants; no input reaches it.
# ruff: noqa: S608
from __future__ import annotations

from typing import Any

from scorestream.consumers.drift_check.check import DAILY
from scorestream.consumers.performance.check import CHALLENGER_DAILY, LEVELS
from scorestream.grafana import links
from scorestream.grafana.dashboards.drift import NO_VALUE_COLOUR
from scorestream.grafana.panels import (
    Dashboard,
    barchart,
    dashed,
    fill_between,
    query_variable,
    sql,
    stat,
    status_history,
    table,
    threshold_steps,
    timeseries,
    value_colours,
    variable_value,
)
from scorestream.streams.performance import CALIBRATION_BINS as BINS
from scorestream.streams.performance import DEFAULT_THRESHOLD as THRESHOLD

FILE = f"{links.MODEL_PERFORMANCE.slug}.json"
MODEL = variable_value("model")
METRIC = variable_value("metric")
NO_CHECK = "no check yet"
NO_LABEL = "no label yet"

#: The rows of the chosen model's champion versions (those in ``scores``).
CHAMPION = f"check_kind = '{DAILY}' AND model_name = {MODEL}"
#: Of each day, the version that scored most of the model's records (``n`` of the
#: reference row is the day's scored records; ties go to the greater version name).
MAIN_VERSION = f"""(period_start, model_version) IN (
    SELECT period_start, argMax(model_version, (n, model_version))
    FROM {{db}}.model_performance FINAL
    WHERE {CHAMPION} AND source = 'reference' AND $__timeFilter(period_start)
    GROUP BY period_start
)"""
#: The challengers compared with the chosen model in the range (name and version).
CHALLENGERS = f"""(model_name, model_version) IN (
    SELECT challenger_name, challenger_version
    FROM {{db}}.model_comparisons FINAL
    WHERE champion_name = {MODEL} AND check_kind = '{DAILY}' AND $__timeFilter(period_start)
)"""
#: The latest day the daily check judged the model, up to the range's end.
LATEST_DAY = f"""period_start = (
    SELECT max(period_start) FROM {{db}}.model_performance FINAL
    WHERE {CHAMPION} AND period_start <= $__toTime
)"""
#: A verdict level as a number for the status grid: its place in ``LEVELS``, from 1.
LEVEL_CODE = f"indexOf([{', '.join(repr(level) for level in LEVELS)}], level)"
LEVEL_TEXTS = {i + 1: level for i, level in enumerate(LEVELS)}
LEVEL_STEPS = threshold_steps(
    ("purple", None),  # a level this dashboard does not know
    ("text", 1),  # insufficient: nothing to judge yet
    ("green", 2),
    ("orange", 3),
    ("red", 4),
)
LEVEL_COLOURS = {"insufficient": "text", "ok": "green", "warn": "orange", "alert": "red"}
#: Realised figures judged by the check (enough labels); fewer labels say little.
JUDGED = "source = 'realised' AND level != 'insufficient'"


def _present(column: str, source: str, condition: str = "") -> str:
    # NULL, not 0, on a day without that row: Grafana leaves a gap there.
    when = f"source = '{source}'{condition}"
    return f"if(countIf({when}) > 0, maxIf({column}, {when}), NULL)"


#: Scores of the chosen model in the range (by event time: the day a label belongs to).
SCORED = "FROM {db}.scores FINAL WHERE model_name = {model} AND $__timeFilter(event_time)"
#: The labelled records of the chosen model scored in the range. Labels are the left side
#: of the join and streamed; the range's scores are held in memory (as the check does).
LABELLED = f"""
    (SELECT id, label AS true_label, label_time FROM {{db}}.labels FINAL) AS truth
    ALL INNER JOIN (
        SELECT id, event_time, score, label AS predicted, model_kind
        {SCORED.format(db="{db}", model=MODEL)}
    ) AS scored_records USING id
"""
#: Seconds from the event to its label.
DELAY = "toInt64(label_time) - toInt64(event_time)"


def _performance_panels() -> list[Any]:
    realised_vs_estimated = timeseries(
        "Realised against estimated",
        sql(
            f"""
            SELECT
                period_start AS time,
                {_present("value", "realised", " AND level != 'insufficient'")} AS realised,
                {_present("value", "estimated")} AS estimated,
                {_present("band_low", "estimated")} AS estimate_low,
                {_present("band_high", "estimated")} AS estimate_high,
                maxIf(value, source = 'reference') AS reference
            FROM {{db}}.model_performance FINAL
            WHERE {CHAMPION} AND metric = {METRIC} AND $__timeFilter(period_start)
                AND {{main_version}}
            GROUP BY time
            ORDER BY time
        """,
            main_version=MAIN_VERSION,
        ),
        overrides=[*fill_between("estimate_low", "estimate_high"), dashed("reference")],
        description="Per day, the chosen metric: realised from the labelled records (once "
        "the check judged it: enough labels), estimated from the scores (CBPE, classifiers "
        "with a calibration) with its 95 % band, where the realised figure should fall, and "
        "the holdout reference (dashed). A concept shift moves only the realised figure.",
    )
    challengers = timeseries(
        "Realised: champion and challengers",
        sql(
            f"""
            SELECT
                period_start AS time,
                if(check_kind = '{DAILY}', concat(model_name, ' (champion)'),
                   concat(model_name, '@', model_version)) AS model,
                max(value) AS realised
            FROM {{db}}.model_performance FINAL
            WHERE metric = {METRIC} AND {JUDGED} AND $__timeFilter(period_start) AND (
                ({CHAMPION} AND {{main_version}})
                OR (check_kind = '{CHALLENGER_DAILY}' AND {{challengers}})
            )
            GROUP BY time, model
            ORDER BY time, model
        """,
            main_version=MAIN_VERSION,
            challengers=CHALLENGERS,
        ),
        label="model",
        description="The chosen metric realised on the same labelled records by the "
        "champion and by each challenger scored in shadow beside it.",
    )
    verdicts = status_history(
        "Verdict per metric",
        sql(
            f"""
            SELECT period_start AS time, metric, {LEVEL_CODE} AS verdict
            FROM {{db}}.model_performance FINAL
            WHERE {CHAMPION} AND source = 'reference' AND $__timeFilter(period_start)
                AND {{main_version}}
            ORDER BY time, metric
        """,
            main_version=MAIN_VERSION,
        ),
        label="metric",
        height=5,
        thresholds=LEVEL_STEPS,
        value_texts=LEVEL_TEXTS,
        description="The daily check's verdict: realised where enough labels arrived, "
        "estimated otherwise; red is below the reference band (above it for MAE and "
        "RMSE), orange outside its central 90 %, grey nothing to judge yet.",
    )
    return [realised_vs_estimated, challengers, verdicts]


def _label_panels() -> list[Any]:
    coverage = timeseries(
        "Label coverage",
        sql(
            f"""
            SELECT time, labelled / scored AS coverage
            FROM (
                SELECT toStartOfDay(event_time) AS time, count() AS scored
                {SCORED.format(db="{db}", model=MODEL)}
                GROUP BY time
            ) AS all_records ANY LEFT JOIN (
                SELECT toStartOfDay(event_time) AS time, count() AS labelled
                FROM {{labelled}}
                GROUP BY time
            ) AS labelled_records USING time
            ORDER BY time
        """,
            labelled=LABELLED,
        ),
        unit="percentunit",
        description="Share of each day's scored records (by event time) that have a label "
        "by now. Labels come late: recent days are low until theirs arrive.",
    )
    delay = timeseries(
        "Label delay",
        sql(
            f"""
            SELECT
                toStartOfDay(event_time) AS time,
                quantileExact(0.5)({DELAY}) AS p50,
                quantileExact(0.9)({DELAY}) AS p90
            FROM {{labelled}}
            GROUP BY time
            ORDER BY time
        """,
            labelled=LABELLED,
        ),
        unit="s",
        description="label_time − event_time of the labelled records, median and 90th "
        "percentile, by the day the record was scored. Recent days hold only the labels that "
        "came fast so far, so their delay is low until the slow ones arrive.",
    )
    top = (BINS - 1) / BINS
    calibration = barchart(
        "Calibration (binary models)",
        sql(
            f"""
            SELECT
                concat(toString(bin / {BINS}), ' to ', toString((bin + 1) / {BINS})) AS score_range,
                avg(score) AS predicted,
                avg(positive) AS observed
            FROM (
                SELECT
                    least(toUInt32(floor(score * {BINS})), {BINS - 1}) AS bin,
                    score,
                    -- The positive class is the one predicted at score >= the threshold.
                    if(score >= {THRESHOLD}, true_label = predicted, true_label != predicted)
                        AS positive
                FROM {{labelled}}
                WHERE model_kind IN ('binary', '') AND isFinite(score)
            )
            GROUP BY bin
            ORDER BY bin
        """,
            labelled=LABELLED,
        ),
        unit="percentunit",
        description="Labelled records of binary models in the range, per tenth of the "
        f"score ({top:g} to 1 includes 1): the mean score (the predicted positive rate) "
        "against the share that were positive. A calibrated model has the two bars equal. "
        f"The positive class is the one the model predicts at score >= {THRESHOLD}.",
    )
    return [coverage, delay, calibration]


def build() -> dict[str, Any]:
    """Realised and estimated performance, verdicts, challengers, labels and calibration."""
    model = query_variable(
        "model",
        "Model",
        sql(f"""
            SELECT DISTINCT model_name FROM {{db}}.model_performance FINAL
            WHERE check_kind = '{DAILY}' AND $__timeFilter(period_start)
            ORDER BY model_name
        """),
    )
    metric = query_variable(
        "metric",
        "Metric",
        sql(f"""
            SELECT DISTINCT metric FROM {{db}}.model_performance FINAL
            WHERE {CHAMPION} AND $__timeFilter(period_start)
            ORDER BY metric
        """),
    )
    dash = Dashboard(
        links.MODEL_PERFORMANCE.uid,
        "Model performance",
        "Is the model still right? Realised performance once labels arrive, estimated "
        "before, the daily verdict, the challengers beside the champion, label coverage and "
        "delay, calibration.",
        variables=[model, metric],
        time_from="now-30d",
    )
    dash.row(
        stat(
            "Metrics alerting (latest checked day)",
            sql(
                f"""
            SELECT countIf(level = 'alert') AS alerting
            FROM {{db}}.model_performance FINAL
            WHERE {CHAMPION} AND source = 'reference' AND {{latest_day}}
            HAVING count() > 0
        """,
                latest_day=LATEST_DAY,
            ),
            thresholds=threshold_steps((NO_VALUE_COLOUR, None), ("green", 0), ("red", 1)),
            no_value=NO_CHECK,
            description="Judged metrics of the model's versions whose verdict is an alert "
            "on the latest day the daily check ran on.",
        ),
        stat(
            "Days alerting in range",
            sql(f"""
            SELECT uniqExactIf(period_start, level = 'alert') AS days
            FROM {{db}}.model_performance FINAL
            WHERE {CHAMPION} AND source = 'reference' AND $__timeFilter(period_start)
            HAVING count() > 0
        """),
            thresholds=threshold_steps((NO_VALUE_COLOUR, None), ("green", 0), ("red", 1)),
            no_value=NO_CHECK,
        ),
        stat(
            "Label coverage (latest checked day)",
            sql(
                f"""
            SELECT sum(coverage * n) / sum(n) AS coverage
            FROM {{db}}.model_performance FINAL
            WHERE {CHAMPION} AND source = 'reference' AND {{latest_day}}
            HAVING sum(n) > 0
        """,
                latest_day=LATEST_DAY,
            ),
            unit="percentunit",
            no_value=NO_CHECK,
            description="Labelled share of the day's scored records when the check last "
            "ran on it (all of the model's versions).",
        ),
        stat(
            "Median label delay (range)",
            sql(
                f"""
            SELECT quantileExact(0.5)({DELAY}) AS delay
            FROM {{labelled}}
            HAVING count() > 0
        """,
                labelled=LABELLED,
            ),
            unit="s",
            no_value=NO_LABEL,
            description="label_time − event_time of the model's records scored in the "
            "range that have a label.",
        ),
    )
    realised_vs_estimated, challengers, verdicts = _performance_panels()
    coverage, delay, calibration = _label_panels()
    dash.row(realised_vs_estimated, challengers)
    dash.row(verdicts)
    dash.row(coverage, delay)
    dash.row(
        calibration,
        table(
            "Latest verdicts",
            sql(
                f"""
            SELECT
                if(check_kind = '{DAILY}', 'champion', 'challenger') AS role,
                concat(model_name, '@', model_version) AS version,
                metric,
                source,
                value,
                band_low,
                band_high,
                n,
                coverage,
                level
            FROM {{db}}.model_performance FINAL
            WHERE {{latest_day}} AND (
                ({CHAMPION}) OR (check_kind = '{CHALLENGER_DAILY}' AND {{challengers}})
            )
            ORDER BY role DESC, version, metric, source
        """,
                latest_day=LATEST_DAY,
                challengers=CHALLENGERS,
            ),
            overrides=[value_colours("level", LEVEL_COLOURS)],
            description="Every row of the latest checked day: the model's versions and "
            "its challengers; n is labelled records (realised) or scored records.",
        ),
    )
    return dash.to_json()
