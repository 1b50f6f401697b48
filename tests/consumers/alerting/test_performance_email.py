"""The e-mail says the performance verdict first; alerts from before verdicts still decode."""

from __future__ import annotations

import orjson

from scorestream.consumers.alerting.email_message import build_alert_email
from scorestream.consumers.performance.check import MetricVerdict
from scorestream.contract import AlertMessage, decode_alert


def alert(verdicts: list[MetricVerdict]) -> AlertMessage:
    return AlertMessage(
        "daily:2026-07-14T00:00:cancer@v1",
        "daily",
        "2026-07-14T00:00:00",
        "2026-07-15T00:00:00",
        "v1",
        3000,
        30,
        None,
        [],
        model_name="cancer",
        performance={
            "model_kind": "binary",
            "scored": 3000,
            "labelled": 0,
            "estimate_note": "",
            "verdicts": [v.to_dict() for v in verdicts],
        },
    )


def body(message: AlertMessage) -> tuple[str, str]:
    mail = build_alert_email(message, "a@example.org", "b@example.org")
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    return str(mail["Subject"]), text.get_content()


def test_an_alerting_metric_is_said_first_with_readable_numbers() -> None:
    falling = MetricVerdict("roc_auc", "estimated", 0.8412, 0.9106, 0.8911, 0.9302, "alert", 3000)
    steady = MetricVerdict("accuracy", "estimated", 0.95, 0.96, 0.93, 0.98, "ok", 3000)
    subject, text = body(alert([falling, steady]))
    assert subject == (
        "[scorestream] High: performance below its reference: estimated ROC AUC on "
        "2026-07-14, model cancer"
    )
    assert text.splitlines()[0] == (
        "High severity: Model cancer performed worse on 2026-07-14: estimated ROC AUC fell "
        "from 0.911 to 0.841, below the band [0.891, 0.930]."
    )
    assert "- accuracy: ok: estimated accuracy 0.950 (reference 0.960)" in text
    assert "0 of 3,000 scored records labelled (0.0%)" in text


def test_an_error_metric_rises_above_its_band() -> None:
    mae = MetricVerdict("mae", "realised", 61.2, 44.0, 40.1, 47.9, "alert", 400)
    assert mae.sentence() == "realised MAE rose from 44.0 to 61.2, above the band [40.1, 47.9]"


def test_a_warning_and_a_missing_figure_read_as_such() -> None:
    warn = MetricVerdict("accuracy", "estimated", 0.9, 0.98, 0.85, 1.0, "warn", 3000)
    assert warn.sentence() == (
        "estimated accuracy fell from 0.980 to 0.900, inside the band [0.850, 1.000] but "
        "outside its central 90 %"
    )
    none = MetricVerdict(
        "roc_auc", "", float("nan"), 0.99, float("nan"), float("nan"), "insufficient", 0
    )
    assert none.sentence() == "ROC AUC: no figure yet (reference 0.990)"
    assert none.to_dict()["value"] is None


def test_without_an_alerting_metric_the_drift_summary_comes_first() -> None:
    steady = MetricVerdict("accuracy", "estimated", 0.95, 0.96, 0.93, 0.98, "ok", 3000)
    subject, text = body(alert([steady]))
    assert "performance" not in subject
    assert text.startswith("Low severity: Model cancer was checked on 2026-07-14: nothing")


def test_alerts_from_before_verdicts_decode_without_one() -> None:
    doc = orjson.loads(alert([]).encode())
    del doc["performance"]
    decoded = decode_alert(orjson.dumps(doc))
    assert decoded.performance == {} and decoded.performance_alerts == []
    assert decode_alert(alert([]).encode()).performance["scored"] == 3000
