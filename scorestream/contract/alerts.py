"""The ``drift.alerts`` message: one check's verdict, all the e-mail needs, keyed by alert id."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from scorestream.contract.codec import decoder


@dataclass(frozen=True)
class AlertMessage:
    """A drift check's result for one period (topic ``drift.alerts``)."""

    #: ``<check_kind>:<period start>``: one alert (and at most one e-mail) per checked period.
    alert_id: str
    check_kind: str
    #: Naive UTC, ISO-8601.
    period_start: str
    period_end: str
    model_version: str
    records: int
    features_checked: int
    #: The Grafana a reader opens (GRAFANA_PUBLIC_URL), base of the e-mail's dashboard link.
    grafana_url: str | None
    #: The ``drift_checks`` row of each drifted feature (without the period columns), plus
    #: ``reasons``: the thresholds it crossed.
    drifted: list[dict[str, Any]]
    #: Features that could not be checked: ``feature`` and ``error`` (the message).
    errored: list[dict[str, Any]] = field(default_factory=list)
    #: The model whose check this is (``model_version`` is its version); empty in
    #: messages from before drift checks were keyed by model.
    model_name: str = ""
    #: The period's ``model_comparisons`` rows of this model as champion (datetimes as
    #: ISO-8601, NaN as null): the e-mail's "Model comparison" section.
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    #: The day's performance verdict of this model (see
    #: :mod:`scorestream.consumers.performance.check`): ``model_kind``, ``scored``,
    #: ``labelled``, ``estimate_note`` and ``verdicts`` (one dict per metric: ``metric``,
    #: ``source``, ``value``, ``reference``, ``band_low``, ``band_high``, ``level``, ``n``,
    #: ``sentence``). Empty when none was computed, and in messages from before.
    performance: dict[str, Any] = field(default_factory=dict)
    #: The model version's permutation importance of the drifted features, to rank them
    #: (``metadata.json``'s ``importance`` restricted to them, see
    #: :mod:`scorestream.streams.model.importance`: ``scorer``, ``on``, ``rows``,
    #: ``repeats``, ``seed``, ``features``: name -> ``mean``, ``std``), or
    #: ``{"unavailable": why}`` when the version has none. Empty without drifted features,
    #: and in messages from before.
    importance: dict[str, Any] = field(default_factory=dict)
    #: The ``drift_checks`` rows of the model's outputs (``_score``, and a multi-class
    #: model's ``_predicted_class``), shaped like ``drifted``: the e-mail's "effect on the
    #: model's output". Empty in messages from before.
    outputs: list[dict[str, Any]] = field(default_factory=list)
    #: From the model's ``metadata.json``: ``kind`` (binary, multiclass, regression),
    #: ``target``, ``classes``, ``created_at``. Empty in messages from before.
    model_info: dict[str, Any] = field(default_factory=dict)
    #: Features that drifted but are muted (``DRIFT_MUTED_FEATURES``): left out of
    #: ``drifted``, named in the e-mail.
    muted: list[str] = field(default_factory=list)

    @property
    def model_kind(self) -> str:
        """``binary``, ``multiclass``, ``regression``, or ``""`` when the alert does not say."""
        return str(self.model_info.get("kind") or self.performance.get("model_kind") or "")

    @property
    def performance_alerts(self) -> list[dict[str, Any]]:
        """The verdicts at level ``alert``: what the e-mail says first."""
        return [v for v in self.performance.get("verdicts", []) if v.get("level") == "alert"]

    @property
    def model(self) -> str:
        """``name@version``, or the version alone for messages without a name."""
        return f"{self.model_name}@{self.model_version}" if self.model_name else self.model_version

    @property
    def start(self) -> datetime:
        return datetime.fromisoformat(self.period_start)

    @property
    def end(self) -> datetime:
        return datetime.fromisoformat(self.period_end)

    def encode(self) -> bytes:
        return orjson.dumps(self)


@decoder
def decode_alert(doc: dict[str, Any]) -> AlertMessage:
    """A ``drift.alerts`` message value -> :class:`AlertMessage`.

    >>> alert = AlertMessage("daily:2026-01-11T00:00:00", "daily", "2026-01-11T00:00:00",
    ...     "2026-01-12T00:00:00", "v1", 20000, 5, None, [{"feature": "income"}])
    >>> decode_alert(alert.encode()) == alert
    True
    """
    return AlertMessage(
        alert_id=str(doc["alert_id"]),
        check_kind=str(doc["check_kind"]),
        period_start=str(doc["period_start"]),
        period_end=str(doc["period_end"]),
        model_version=str(doc["model_version"]),
        records=int(doc["records"]),
        features_checked=int(doc["features_checked"]),
        grafana_url=doc.get("grafana_url"),
        drifted=list(doc["drifted"]),
        # Messages from before the field existed carry no errors.
        errored=list(doc.get("errored", [])),
        # Messages from before drift checks were keyed by model carry neither.
        model_name=str(doc.get("model_name", "")),
        comparisons=list(doc.get("comparisons", [])),
        # Messages from before performance verdicts carry none.
        performance=dict(doc.get("performance") or {}),
        # Messages from before the ranking by importance carry none.
        importance=dict(doc.get("importance") or {}),
        # Messages from before the e-mail explained the model's output carry none of these.
        outputs=list(doc.get("outputs", [])),
        model_info=dict(doc.get("model_info") or {}),
        muted=[str(name) for name in doc.get("muted", [])],
    )
