"""Publishing a check's alert to ``drift.alerts``, the hand-over to alert delivery.

The check never e-mails by itself: it publishes one message carrying everything the e-mail
needs (so delivery runs no query), keyed by the period's alert id, and
:mod:`scorestream.consumers.alerting` e-mails it once. Keying by alert id puts every copy of
an alert on the same partition, where one consumer sees them in order and skips the copies
already delivered.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from scorestream.consumers.drift_check.check import CheckResult
from scorestream.consumers.drift_check.models import ModelKey, ModelLocator
from scorestream.contract import AlertMessage
from scorestream.exceptions import ModelError
from scorestream.settings import Settings
from scorestream.streams.drift.profile import OUTPUT_FEATURES
from scorestream.streams.model.importance import stored_importance, unavailable


def _plain(value: Any) -> Any:
    """JSON-ready: NaN as None, datetimes as ISO-8601."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def alert_message(
    result: CheckResult,
    grafana_url: str | None,
    comparisons: Sequence[dict[str, Any]] = (),
    performance: dict[str, Any] | None = None,
    importance: dict[str, Any] | None = None,
    muted: frozenset[str] = frozenset(),
) -> AlertMessage:
    """The ``drift.alerts`` message: everything the e-mail needs, so it needs no query.

    ``comparisons``: the period's ``model_comparisons`` rows of this model as champion;
    ``performance``: the day's performance verdict of this model
    (:meth:`~scorestream.consumers.performance.check.PerformanceResult.summary`);
    ``importance``: the version's importance of the drifted features (:func:`importance_entry`).
    ``muted``: features whose drift is named but not reported (``DRIFT_MUTED_FEATURES``).
    """
    drifted = {d.feature for d in result.drifted} - muted
    reasons = {d.feature: list(d.reasons) for d in result.drifted}
    if result.score is not None:
        reasons[result.score.feature] = list(result.score.reasons)

    def plain_row(row: dict[str, Any]) -> dict[str, Any]:
        return {
            **{
                key: (None if isinstance(value, float) and math.isnan(value) else value)
                for key, value in row.items()
                if key not in ("period_start", "period_end", "checked_at")
            },
            "reasons": reasons.get(row["feature"], []),
        }

    return AlertMessage(
        alert_id=result.alert_id,
        check_kind=result.period.kind,
        period_start=result.period.start.isoformat(),
        period_end=result.period.end.isoformat(),
        model_version=result.model_version,
        records=result.records,
        features_checked=len(result.decisions),
        grafana_url=grafana_url,
        drifted=[plain_row(row) for row in result.rows if row["feature"] in drifted],
        errored=[{"feature": d.feature, "error": d.error} for d in result.errored],
        model_name=result.model_name,
        comparisons=[
            {key: _plain(value) for key, value in row.items() if key != "checked_at"}
            for row in comparisons
        ],
        performance=dict(performance or {}),
        importance=dict(importance or {}),
        outputs=[plain_row(row) for row in result.rows if row["feature"] in OUTPUT_FEATURES],
        model_info=dict(result.model_info or {}),
        muted=sorted({d.feature for d in result.drifted} & muted),
    )


def importance_entry(
    locator: ModelLocator, key: ModelKey, features: Sequence[str]
) -> dict[str, Any]:
    """The alert's ``importance``: the version's permutation importance of ``features`` (the
    drifted ones), read from its ``metadata.json``, or why it has none; empty without
    drifted features.
    """
    if not features:
        return {}
    try:
        metadata = locator.load(key).metadata
    except ModelError as error:
        return unavailable(f"its model directory cannot be loaded ({error})")
    found, reason = stored_importance(metadata)
    return found.restricted(features).as_dict() if found is not None else unavailable(reason)


def publish_alert(settings: Settings, alert: AlertMessage) -> None:
    """Produce one alert to ``drift.alerts``, keyed by its id (acks=all)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        max_request_size=8 * 1024 * 1024,
    )
    try:
        producer.send(
            settings.topics.drift_alerts, key=alert.alert_id.encode(), value=alert.encode()
        ).get(timeout=30)
    finally:
        producer.close()
