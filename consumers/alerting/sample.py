"""A real alert from a model and one day of records, without Kafka or ClickHouse.

The day's records are counted into the model's reference bins as the worker would, then
judged by the drift check's own functions
(:func:`~scorestream.consumers.drift_check.check.evaluate`,
:func:`~scorestream.consumers.drift_check.check.check_rows`) and turned into the
``drift.alerts`` message by :func:`~scorestream.consumers.drift_check.publish.alert_message`:
the same message the daily check publishes. The e-mail preview (:mod:`.preview`) and the
e-mail's tests use it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from scorestream.consumers.drift_check.check import (
    CheckResult,
    Period,
    PeriodCounts,
    check_rows,
    evaluate,
    evaluate_outputs,
    model_info,
)
from scorestream.consumers.drift_check.publish import alert_message
from scorestream.contract import AlertMessage
from scorestream.streams.drift.decision import DriftThresholds
from scorestream.streams.drift.profile import NumericFeatureProfile
from scorestream.streams.drift.values import as_float_array
from scorestream.streams.model.registry import LoadedModel


def period_counts(model: LoadedModel, frame: pd.DataFrame) -> dict[str, PeriodCounts]:
    """``frame``'s bins and moments per feature (and output), as the sink would sum them."""
    features = frame[model.schema.names]
    predictions = model.predict(features)
    scores = predictions.scores
    profile = model.profile
    counts = profile.count(features, scores, predictions.labels)
    found = {}
    for name, bins in counts.items():
        spec = profile[name]
        total = total_sq = 0.0
        raw = profile.values_of(spec, features, scores)
        if isinstance(spec, NumericFeatureProfile) and raw is not None:
            x = as_float_array(raw)
            x = x[np.isfinite(x)]
            total, total_sq = float(x.sum()), float((x * x).sum())
        found[name] = PeriodCounts(bins, int(bins.sum()), 0, total, total_sq)
    return found


def sample_alert(
    model: LoadedModel,
    frame: pd.DataFrame,
    day: date,
    *,
    grafana_url: str | None = None,
    thresholds: DriftThresholds | None = None,
    muted: frozenset[str] = frozenset(),
) -> tuple[CheckResult, AlertMessage]:
    """The daily check of ``frame`` as the records of ``day``, and its alert message."""
    period = Period.day(day)
    counts = period_counts(model, frame)
    thresholds = thresholds or DriftThresholds()
    decisions, score = evaluate(model.profile, counts, thresholds)
    outputs = evaluate_outputs(model.profile, counts, thresholds)
    everything = decisions + ([score] if score is not None else []) + outputs
    checked_at = datetime(day.year, day.month, day.day) + timedelta(days=1, minutes=15)
    rows = check_rows(
        period, model.version, model.profile, everything, counts, checked_at, model.name
    )
    result = CheckResult(
        period, model.version, decisions, score, rows, model.name, model_info(model)
    )
    return result, alert_message(result, grafana_url, muted=muted)
