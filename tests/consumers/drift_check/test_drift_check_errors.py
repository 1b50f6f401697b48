"""One feature's failure costs only that feature its verdict (issue 11, defect 1)."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

from scorestream.consumers.alerting.email_message import build_alert_email
from scorestream.consumers.drift_check.check import (
    CheckResult,
    Period,
    PeriodCounts,
    check_rows,
    evaluate,
)
from scorestream.consumers.drift_check.publish import alert_message
from scorestream.contract import DRIFT_CHECKS, AlertMessage
from scorestream.contract.alerts import decode_alert
from scorestream.streams.drift.decision import DriftThresholds
from scorestream.streams.drift.profile import ReferenceProfile


def _broken_check() -> tuple[ReferenceProfile, dict[str, PeriodCounts], CheckResult]:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"good": rng.normal(size=2000), "bad": rng.normal(size=2000)})
    profile = ReferenceProfile.from_frame(reference, ["good", "bad"], [])
    current = pd.DataFrame({"good": rng.normal(3.0, 1.0, 4000), "bad": rng.normal(size=4000)})
    counts = {
        name: PeriodCounts(c, int(c.sum()), 0, 0.0, 0.0)
        for name, c in profile.count(current).items()
    }
    # Counts stored under an older bin layout: this feature cannot be compared.
    counts["bad"] = PeriodCounts(counts["bad"].counts[:-2], 4000, 0, 0.0, 0.0)
    period = Period.day(date(2026, 1, 11))
    decisions, score = evaluate(profile, counts, DriftThresholds())
    rows = check_rows(period, "v1", profile, decisions, counts, datetime(2026, 1, 12))
    return profile, counts, CheckResult(period, "v1", decisions, score, rows)


def test_a_failing_feature_gets_an_error_row_and_the_others_their_verdict() -> None:
    _, _, result = _broken_check()
    by_feature = {row["feature"]: row for row in result.rows}
    assert by_feature["good"]["level"] == "drift"
    assert by_feature["good"]["error"] == ""
    assert by_feature["bad"]["level"] == "error"
    assert "expected" in by_feature["bad"]["error"]
    assert by_feature["bad"]["drifted"] == 0
    for row in result.rows:
        assert set(DRIFT_CHECKS.inserted) <= set(row)
    assert [d.feature for d in result.errored] == ["bad"]


def test_the_email_lists_the_features_that_errored() -> None:
    _, _, result = _broken_check()
    alert = alert_message(result, None)
    assert [f["feature"] for f in alert.errored] == ["bad"]
    assert decode_alert(alert.encode()) == alert
    message = build_alert_email(alert, "drift@example.org", "ops@example.org")
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "bad" in text and "could not be checked" in text
    assert "expected" in text
    assert "could not be checked" in html


def test_an_alert_without_errors_decodes_from_older_messages() -> None:
    old = (
        b'{"alert_id":"daily:x","check_kind":"daily","period_start":"2026-01-11T00:00:00",'
        b'"period_end":"2026-01-12T00:00:00","model_version":"v1","records":1,'
        b'"features_checked":1,"grafana_url":null,"drifted":[]}'
    )
    assert decode_alert(old) == AlertMessage(
        "daily:x", "daily", "2026-01-11T00:00:00", "2026-01-12T00:00:00", "v1", 1, 1, None, []
    )
