"""Rolling windows against the same time of day on previous days (``baseline.py``).

Seasonal traffic: every hour has its own distribution, and each whole day's mix is exactly
the training reference's. Hours are simulated as values binned with the production profile
(``PeriodCounts`` as ``drift_stats`` would sum them), so 37 days of 24 hours run in seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from scorestream.consumers.clickhouse import apply_migrations
from scorestream.consumers.drift_check.baseline import (
    REFERENCE,
    SAME_TIME_OF_DAY,
    BaselinePolicy,
    stream_feature,
    sum_counts,
    time_of_day_baseline,
)
from scorestream.consumers.drift_check.check import (
    DriftChecker,
    Period,
    PeriodCounts,
    check_rows,
    evaluate,
)
from scorestream.settings import Settings
from scorestream.streams.drift.decision import DriftThresholds
from scorestream.streams.drift.profile import ReferenceProfile
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.synthetic import generate_frame
from tests.consumers.drift_check.drift_stats_rows import write_day
from tests.consumers.drift_check.seasonal_traffic import (
    START,
    VOLUME,
    hour_frame,
    hours,
    period_counts,
    reference,
)

WARM_UP_DAYS = 7
CHECKED_DAYS = 30
ALPHA = DriftThresholds().alpha


def _stream(
    profile: ReferenceProfile, rng: np.random.Generator, days: int, shifted: datetime | None
) -> dict[datetime, dict[str, PeriodCounts]]:
    return {
        start: period_counts(profile, frame) for start, frame in hours(rng, days, shifted).items()
    }


def _reader(stream: Mapping[datetime, dict[str, PeriodCounts]]):  # type: ignore[no-untyped-def]
    def read(period: Period) -> Mapping[str, PeriodCounts]:
        assert period.end - period.start == timedelta(hours=1)
        return stream.get(period.start, {})

    return read


def _hour(start: datetime) -> Period:
    return Period("rolling_1h", start, start + timedelta(hours=1))


def test_seasonal_hours_against_their_time_of_day_keep_the_false_alarm_rate() -> None:
    rng = np.random.default_rng(21)
    profile = reference(rng)
    shifted = START + timedelta(days=WARM_UP_DAYS + CHECKED_DAYS - 1, hours=14)
    stream = _stream(profile, rng, WARM_UP_DAYS + CHECKED_DAYS, shifted)
    read = _reader(stream)
    flagged_by_hour = flagged_by_reference = checked = 0
    for start, counts in stream.items():
        if start < START + timedelta(days=WARM_UP_DAYS) or start == shifted:
            continue
        checked += 1
        baseline = time_of_day_baseline(profile, _hour(start), read)
        assert set(baseline.kinds.values()) == {SAME_TIME_OF_DAY}
        decisions, _ = evaluate(baseline.profile, counts, DriftThresholds(), baseline.rejected)
        flagged_by_hour += any(d.level != "ok" for d in decisions)
        old, _ = evaluate(profile, counts, DriftThresholds())
        flagged_by_reference += any(d.level != "ok" for d in old)
    assert checked == CHECKED_DAYS * 24 - 1
    # The defect: against the whole-day reference, most hours of in-distribution traffic
    # are flagged (each hour is not the daily mix).
    assert flagged_by_reference / checked > 0.5
    assert flagged_by_hour / checked <= ALPHA, flagged_by_hour

    # A real change of one hour is still drift, and only that feature is named.
    baseline = time_of_day_baseline(profile, _hour(shifted), read)
    decisions, _ = evaluate(baseline.profile, stream[shifted], DriftThresholds(), baseline.rejected)
    levels = {d.feature: d.level for d in decisions}
    assert levels == {"amount": "drift", "channel": "ok"}, [d.reasons for d in decisions]


def test_too_little_history_falls_back_to_the_reference_and_rows_say_so() -> None:
    rng = np.random.default_rng(22)
    profile = reference(rng, 5_000)
    stream = _stream(profile, rng, 4, None)
    read = _reader(stream)
    policy = BaselinePolicy(days=7, min_days=3, min_records=500)
    # Day 3 (index 2) has two previous days: not enough.
    young = _hour(START + timedelta(days=2, hours=5))
    assert time_of_day_baseline(profile, young, read, policy).kinds == {
        "amount": REFERENCE,
        "channel": REFERENCE,
    }
    # A daily check, and a 24-hour window, hold the daily mix: always the reference.
    day = Period("daily", START + timedelta(days=2), START + timedelta(days=3))
    assert set(time_of_day_baseline(profile, day, read).kinds.values()) == {REFERENCE}
    # Enough days, but a feature with too few baseline records keeps the reference.
    later = _hour(START + timedelta(days=3, hours=3))
    few = time_of_day_baseline(profile, later, read, BaselinePolicy(3, 3, 3 * int(VOLUME[3])))
    assert few.kinds == {"amount": SAME_TIME_OF_DAY, "channel": SAME_TIME_OF_DAY}
    fewer = time_of_day_baseline(profile, later, read, BaselinePolicy(3, 3, 3 * int(VOLUME[3]) + 1))
    assert set(fewer.kinds.values()) == {REFERENCE}

    # The rows carry the baseline, and its counts are what was compared.
    decisions, _ = evaluate(few.profile, stream[later.start], DriftThresholds(), few.rejected)
    rows = check_rows(
        later,
        "v1",
        few.profile,
        decisions,
        stream[later.start],
        datetime(2026, 6, 1),
        "m",
        few.kinds,
    )
    summed = sum_counts([stream[later.start - timedelta(days=k)] for k in (1, 2, 3)])
    for row in rows:
        assert row["baseline"] == SAME_TIME_OF_DAY
        assert row["reference_counts"] == [int(v) for v in summed[row["feature"]].counts]
        assert row["n_reference"] == 3 * int(VOLUME[3])


def test_a_stream_baseline_keeps_the_layout_and_takes_the_moments() -> None:
    rng = np.random.default_rng(23)
    profile = reference(rng, 5_000)
    frame = hour_frame(rng, 3, 2_000)
    amount = stream_feature(profile["amount"], period_counts(profile, frame)["amount"])
    assert amount.mean == pytest.approx(frame["amount"].mean())
    assert amount.std == pytest.approx(frame["amount"].std(ddof=0))
    np.testing.assert_array_equal(amount.edges, profile["amount"].edges)  # type: ignore[union-attr]
    assert amount.count == 2_000
    with pytest.raises(ValueError, match="bins"):
        stream_feature(profile["amount"], PeriodCounts(np.zeros(3, dtype=np.int64), 0, 0, 0, 0))


@pytest.mark.integration
def test_rolling_hour_rows_on_the_server_say_which_baseline(
    settings: Settings,
    ch_client,
    model_dir: Path,  # type: ignore[no-untyped-def]
) -> None:
    """Four days of history: the hour is compared with them (migration 0017's column on
    ClickHouse 18.16); an hour without history falls back to the training reference."""
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    model = LoadedModel.load(model_dir)
    first = date(2026, 4, 10)
    for k in range(5):
        day = first + timedelta(days=k)
        frame = generate_frame(6000, seed=40 + k, start=f"{day.isoformat()}T00:00:00")
        write_day(ch_client, database, model, day, frame)
    checker = DriftChecker(ch_client, database, model)
    hour = datetime(2026, 4, 14, 10, 0)
    result = checker.run(Period("rolling_1h", hour, hour + timedelta(hours=1)))
    assert {row["baseline"] for row in result.rows} == {SAME_TIME_OF_DAY}
    assert result.drifted == []  # the same generator every day
    young = datetime(2026, 4, 11, 10, 0)  # one day of history only
    checker.run(Period("rolling_1h", young, young + timedelta(hours=1)))
    stored = ch_client.execute(
        f"SELECT period_start, baseline, min(n_reference), max(n_reference) "
        f"FROM {database}.drift_checks FINAL WHERE check_kind = 'rolling_1h' "
        "GROUP BY period_start, baseline ORDER BY period_start"
    )
    assert stored[0][:2] == (young, REFERENCE)
    assert stored[1][:2] == (hour, SAME_TIME_OF_DAY)
    # n_reference and reference_counts are the same hour of the 4 previous days, summed.
    previous = [
        checker.period_counts(
            Period(
                "rolling_1h",
                hour - timedelta(days=k),
                hour + timedelta(hours=1) - timedelta(days=k),
            )
        )
        for k in range(1, 5)
    ]
    summed = sum_counts(previous)
    for row in result.rows:
        assert row["reference_counts"] == [int(v) for v in summed[row["feature"]].counts]
        assert row["n_reference"] == int(summed[row["feature"]].counts.sum()) > 0
