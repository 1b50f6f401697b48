"""The Python API's verdict is the daily check's, on the same data (real ClickHouse).

Which path: the records' way to ClickHouse (worker -> ``drift.stats`` -> sink) is tested
elsewhere: ``tests/streams/test_worker_pipeline.py`` (the worker's partial counts add up to
``profile.count`` of the same records) and ``tests/consumers/drift_check/test_drift_check.py``
(ClickHouse's sums of the partial rows equal that one-shot count). Here a day's counts are
written into the real ClickHouse server as the sink writes them (partial rows per minute,
out-of-range rejections in ``rejected_records``), the real :class:`DriftChecker` checks the
day and stores its ``drift_checks`` rows, and the Python API is given

- the same records, as a DataFrame with the model's scores (what a user has), and
- the exact counts the check read (``DriftChecker.period_counts``),

and must give every feature, the score included, the level the check stored.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from scorestream import Profile, compare
from scorestream.consumers.clickhouse import apply_migrations
from scorestream.consumers.drift_check.check import DriftChecker, Period
from scorestream.contract import REJECTED_RECORDS
from scorestream.producers.drift_injection import DriftSpec, apply_drift, reference_moments
from scorestream.settings import Settings
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.synthetic import generate_frame
from tests.consumers.drift_check.drift_stats_rows import write_day

STATISTICS = ("p_value", "p_adjusted", "psi", "js_distance", "wasserstein", "cur_mean")
#: Records of credit_score refused as beyond its allowed range on the drifted day.
REJECTED = 120


def _rejections(day: date, field: str, n: int) -> list[tuple[object, ...]]:
    start = datetime(day.year, day.month, day.day)
    rows = []
    for i in range(n):
        at = start + timedelta(seconds=30 * i)
        row = {
            "id": f"range-{field}-{i}",
            "reason": "out_of_range",
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


def _stored_levels(ch_client, database: str, day: date) -> dict[str, str]:  # type: ignore[no-untyped-def]
    rows = ch_client.execute(
        f"SELECT feature, level FROM {database}.drift_checks FINAL "
        "WHERE check_kind = 'daily' AND period_start = %(start)s",
        {"start": datetime(day.year, day.month, day.day)},
    )
    return dict(rows)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-12)


def test_the_python_api_gives_the_daily_checks_verdict(
    settings: Settings,
    ch_client,
    model_dir: Path,  # type: ignore[no-untyped-def]
) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    model = LoadedModel.load(model_dir)
    profile = Profile.load(model_dir)
    checker = DriftChecker(ch_client, database, model)
    means, stds = reference_moments(model.profile)
    quiet_day, drifted_day = date(2026, 5, 4), date(2026, 5, 5)

    quiet = generate_frame(5000, seed=41, start="2026-05-04T00:00:00")
    drifted = apply_drift(
        generate_frame(5000, seed=42, start="2026-05-05T00:00:00"),
        [
            DriftSpec.parse("income=shift:0.6"),
            DriftSpec.parse("region=weight:north:0.6"),
            DriftSpec.parse("debt_to_income=shift:0.2"),  # a warning at most
        ],
        np.random.default_rng(42),
        stds,
        reference_mean=means,
    )
    write_day(ch_client, database, model, quiet_day, quiet, model_name=model.name)
    write_day(ch_client, database, model, drifted_day, drifted, model_name=model.name)
    ch_client.execute(
        REJECTED_RECORDS.insert_sql(database), _rejections(drifted_day, "credit_score", REJECTED)
    )

    for day, frame, rejected in (
        (quiet_day, quiet, {}),
        (drifted_day, drifted, {"credit_score": REJECTED}),
    ):
        period = Period.day(day)
        result = checker.run(period)
        stored = _stored_levels(ch_client, database, day)
        assert set(stored) == set(model.profile.names)  # every feature, and the score

        # The same records, as a user holds them: a DataFrame and the model's scores.
        features = frame[model.schema.names]
        from_records = compare(
            profile, features, scores=model.predict_scores(features), rejected=rejected
        )
        assert from_records.levels == stored, day
        assert from_records.drifted == [d.feature for d in result.drifted]

        # The exact counts the check read: every statistic is the check's.
        from_counts = compare(profile, checker.period_counts(period))
        assert from_counts.levels == stored, day
        checked = {row["feature"]: row for row in result.rows}
        for row in from_counts.rows:
            for name in STATISTICS:
                assert _same(row[name], checked[row["feature"]][name]), (row["feature"], name)
            assert row["current_counts"] == checked[row["feature"]]["current_counts"]
            assert row["reasons"] == list(
                next(
                    d.reasons
                    for d in [*result.decisions, result.score]
                    if d is not None and d.feature == row["feature"]
                )
            )
        # The records give the same statistics up to the order of floating-point sums.
        for row in from_records.rows:
            for name in STATISTICS:
                assert _same(row[name], checked[row["feature"]][name]), (row["feature"], name)

    # What the two days were, so the comparison above compared something.
    assert set(_stored_levels(ch_client, database, quiet_day).values()) == {"ok"}
    levels = _stored_levels(ch_client, database, drifted_day)
    assert {f for f, level in levels.items() if level == "drift"} >= {
        "income",
        "region",
        "credit_score",
    }
    assert levels["debt_to_income"] in ("ok", "warning")
    # credit_score drifted only through its rejections, which the counts carry...
    counted = compare(profile, checker.period_counts(Period.day(drifted_day)))
    said = f"{REJECTED} records beyond the allowed range were rejected"
    assert any(said in reason for reason in counted["credit_score"]["reasons"])
    # ... and a DataFrame of the scored records alone does not.
    assert "credit_score" not in compare(profile, drifted[model.schema.names]).drifted
