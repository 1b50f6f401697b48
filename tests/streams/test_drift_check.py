"""The drift check against the real ClickHouse server: sums, rows, catch-up, rolling windows."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from scorestream.consumers.clickhouse import apply_migrations
from scorestream.settings import Settings
from scorestream.streams.drift.profile import ReferenceProfile
from scorestream.streams.drift_check import DriftChecker, Period, read_period_counts
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.synthetic import generate_frame


def _write_day(
    client,
    database: str,
    model: LoadedModel,
    day: date,
    frame: pd.DataFrame,  # type: ignore[no-untyped-def]
    partials: int = 3,
) -> None:
    """Bins of ``frame`` spread over the day's minutes, split into several partial rows."""
    profile: ReferenceProfile = model.profile
    features = frame[model.schema.names]
    counts = profile.count(features, model.predict_scores(features))
    minutes = np.array_split(np.arange(len(frame)), 24)
    rows = []
    start = datetime(day.year, day.month, day.day)
    for hour, index in enumerate(minutes):
        part = features.iloc[index]
        part_counts = profile.count(part, model.predict_scores(part))
        for feature, bins in part_counts.items():
            for k, share in enumerate(np.array_split(np.arange(len(bins)), partials)):
                partial = np.zeros_like(bins)
                partial[share] = bins[share]
                rows.append(
                    (
                        start + timedelta(hours=hour, minutes=k),
                        feature,
                        "x",
                        model.version,
                        uuid.uuid4().hex,
                        [int(v) for v in partial],
                        int(partial.sum()),
                        0,
                        0.0,
                        0.0,
                        0,
                    )
                )
    assert sum(int(np.sum(v)) for v in counts.values()) == sum(r[6] for r in rows)
    client.execute(
        f"INSERT INTO {database}.drift_stats (minute, feature, kind, model_version, batch_id, "
        "counts, count, missing, sum, sumsq, emitted_at_ms) VALUES",
        rows,
    )


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
    _write_day(ch_client, database, model, day, frame)

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


def test_scheduler_catches_up_missed_days_and_computes_rolling_windows(
    settings: Settings,
    settings_env: dict[str, str],
    ch_client,
    model_dir: Path,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    import time

    from scorestream.child_process import spawn_cli, terminate

    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    model = LoadedModel.load(model_dir)
    now = datetime.now(UTC).replace(tzinfo=None)
    missed = (now - timedelta(days=2)).date()
    _write_day(
        ch_client,
        database,
        model,
        missed,
        generate_frame(3000, seed=32, start=f"{missed}T00:00:00"),
    )
    # The last hour, for the rolling windows: rows 10 minutes ago.
    recent = generate_frame(2000, seed=33)
    features = recent[model.schema.names]
    rows = [
        (
            now.replace(second=0, microsecond=0) - timedelta(minutes=10),
            feature,
            "x",
            model.version,
            uuid.uuid4().hex,
            [int(v) for v in bins],
            int(bins.sum()),
            0,
            0.0,
            0.0,
            0,
        )
        for feature, bins in model.profile.count(features, model.predict_scores(features)).items()
    ]
    ch_client.execute(
        f"INSERT INTO {database}.drift_stats (minute, feature, kind, model_version, batch_id, "
        "counts, count, missing, sum, sumsq, emitted_at_ms) VALUES",
        rows,
    )

    env = {**settings_env, "MODEL_DIR": str(model_dir)}
    scheduler = spawn_cli(
        ["drift-check", "--schedule", "--rolling-every", "2"], env, tmp_path / "scheduler.log"
    )
    try:
        deadline = time.monotonic() + 60
        kinds: dict[str, int] = {}
        while time.monotonic() < deadline and len(kinds) < 3:
            time.sleep(1)
            kinds = dict(
                ch_client.execute(
                    f"SELECT check_kind, max(n_current) FROM {database}.drift_checks FINAL "
                    "GROUP BY check_kind"
                )
            )
        assert scheduler.poll() is None, (tmp_path / "scheduler.log").read_text()[-3000:]
    finally:
        terminate(scheduler)
    assert scheduler.returncode == 0
    assert kinds.get("daily") == 3000  # the day missed while nothing ran
    assert kinds.get("rolling_1h") == 2000
    assert kinds.get("rolling_24h") == 2000
    days = ch_client.execute(
        f"SELECT DISTINCT toDate(period_start) FROM {database}.drift_checks FINAL "
        "WHERE check_kind = 'daily'"
    )
    assert (missed,) in days
