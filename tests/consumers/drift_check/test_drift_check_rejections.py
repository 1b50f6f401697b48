"""Records rejected as beyond the allowed range reach the daily verdict (real ClickHouse)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from scorestream.consumers.alerting.email_message import build_alert_email
from scorestream.consumers.clickhouse import apply_migrations
from scorestream.consumers.drift_check.check import DriftChecker, Period, read_rejections
from scorestream.consumers.drift_check.publish import alert_message
from scorestream.contract import REJECTED_RECORDS
from scorestream.settings import Settings
from scorestream.streams.drift.profile import SCORE_FEATURE, NumericFeatureProfile
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.synthetic import generate_frame
from tests.consumers.drift_check.drift_stats_rows import write_day


def _rejections(
    day: date, field: str, n: int, reason: str = "out_of_range"
) -> list[tuple[object, ...]]:
    start = datetime(day.year, day.month, day.day)
    rows = []
    for i in range(n):
        at = start + timedelta(seconds=i * 7)
        row = {
            "id": f"{reason}-{field}-{i}",
            "reason": reason,
            "field": field,
            "message": f"{field} beyond the allowed range",
            "source_topic": "records",
            "source_partition": 0,
            "source_offset": i,
            "ingested_at": at,
            "rejected_at": at,
            "rejected_at_ms": int(at.timestamp() * 1000),
            "payload": "{}",
        }
        rows.append(tuple(row[c] for c in REJECTED_RECORDS.inserted))
    return rows


def test_out_of_range_rejections_make_the_feature_drift_in_the_daily_check(
    settings: Settings,
    ch_client,
    model_dir: Path,  # type: ignore[no-untyped-def]
) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    model = LoadedModel.load(model_dir)
    day = date(2026, 4, 6)
    write_day(ch_client, database, model, day, generate_frame(6000, seed=33))
    numeric = [
        f.name
        for f in model.profile
        if isinstance(f, NumericFeatureProfile) and f.name != SCORE_FEATURE
    ]
    target, other = numeric[0], numeric[1]
    insert = REJECTED_RECORDS.insert_sql(database)
    ch_client.execute(insert, _rejections(day, target, 1_001))
    # Not counted: another reason, and out-of-range rejections of the next day.
    ch_client.execute(insert, _rejections(day, other, 900, reason="not_a_number"))
    ch_client.execute(insert, _rejections(day + timedelta(days=1), other, 900))

    assert read_rejections(ch_client, database, Period.day(day)) == {target: 1_001}
    result = DriftChecker(ch_client, database, model).run(Period.day(day))

    assert [d.feature for d in result.drifted] == [target]
    decision = result.drifted[0]
    assert any("1001 records beyond the allowed range were rejected" in r for r in decision.reasons)
    stored = ch_client.execute(
        f"SELECT feature, level FROM {database}.drift_checks FINAL "
        "WHERE check_kind = 'daily' AND level = 'drift'"
    )
    assert stored == [(target, "drift")]
    # The e-mail names the feature and says why.
    email = build_alert_email(alert_message(result, None), "drift@example.org", "ops@example.org")
    body = email.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert f"\n{target} " in text  # its finding's headline
    assert "1,001 records beyond the allowed range were rejected" in text
