"""The drift check against the real ClickHouse server: sums, rows, missed days, rolling windows."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np

from scorestream.consumers.clickhouse import apply_migrations
from scorestream.consumers.drift_check.check import DriftChecker, Period, read_period_counts
from scorestream.settings import Settings
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.synthetic import generate_frame
from tests.consumers.drift_check.drift_stats_rows import write_day


def test_partials_sum_to_one_shot_counts_and_checks_are_stored(
    settings: Settings,
    ch_client,
    model_dir: Path,  # type: ignore[no-untyped-def]
) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    model = LoadedModel.load(model_dir)
    day = date(2026, 4, 2)
    frame = generate_frame(6000, seed=31, start="2026-04-02T00:00:00")
    write_day(ch_client, database, model, day, frame)

    counts = read_period_counts(ch_client, database, Period.day(day), model.version)
    features = frame[model.schema.names]
    expected = model.profile.count(features, model.predict_scores(features))
    for feature, bins in expected.items():
        np.testing.assert_array_equal(counts[feature].counts, bins, err_msg=feature)

    checker = DriftChecker(ch_client, database, model)
    assert checker.missed_days(date(2026, 4, 5)) == [day]
    result = checker.run(Period.day(day))
    assert result.drifted == []  # the same distribution as the training data
    assert checker.missed_days(date(2026, 4, 5)) == []
    stored = ch_client.execute(
        f"SELECT feature, level, n_current FROM {database}.drift_checks FINAL "
        "WHERE check_kind = 'daily'"
    )
    assert {row[0] for row in stored} == set(model.profile.names)

    rolling = checker.run(Period.rolling("rolling_24h", datetime(2026, 4, 2, 18, 0)))
    assert rolling.period.start == datetime(2026, 4, 1, 18, 0)
    kinds = ch_client.execute(
        f"SELECT check_kind, count() FROM {database}.drift_checks FINAL GROUP BY check_kind "
        "ORDER BY check_kind"
    )
    n = len(model.profile.names)
    assert kinds == [("daily", n), ("rolling_24h", n)]
