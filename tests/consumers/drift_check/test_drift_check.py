"""The drift check against the real ClickHouse server: sums, rows, missed days, rolling windows."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from pathlib import Path

import numpy as np

from scorestream.consumers.clickhouse import apply_migrations
from scorestream.consumers.drift_check.check import DriftChecker, Period, read_period_counts
from scorestream.settings import Settings
from scorestream.streams.drift.profile import NumericFeatureProfile, ReferenceProfile
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


def test_a_feature_that_cannot_be_checked_gets_an_error_row_on_the_server(
    settings: Settings,
    ch_client,
    model_dir: Path,  # type: ignore[no-untyped-def]
) -> None:
    """Counts stored in one feature's older bin layout: that feature gets an "error" row
    with the message, every other feature its verdict, all in ClickHouse 18.16."""
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    model = LoadedModel.load(model_dir)
    day = date(2026, 4, 3)
    write_day(ch_client, database, model, day, generate_frame(3000, seed=32))
    broken = next(f for f in model.profile if isinstance(f, NumericFeatureProfile))
    wider = NumericFeatureProfile.from_values(broken.name, np.arange(100.0), n_bins=20)
    profile = ReferenceProfile(
        tuple(wider if f.name == broken.name else f for f in model.profile),
        model.profile.n_bins,
        model.profile.max_categories,
    )
    result = DriftChecker(ch_client, database, dataclasses.replace(model, profile=profile)).run(
        Period.day(day)
    )
    assert [d.feature for d in result.errored] == [broken.name]
    stored = dict(
        (row[0], (row[1], row[2]))
        for row in ch_client.execute(
            f"SELECT feature, level, error FROM {database}.drift_checks FINAL "
            "WHERE check_kind = 'daily'"
        )
    )
    assert set(stored) == set(model.profile.names)
    level, error = stored[broken.name]
    assert level == "error" and "expected" in error
    assert all(
        lv in ("ok", "warning", "drift") and err == ""
        for name, (lv, err) in stored.items()
        if name != broken.name
    )
