"""Drift checks keyed by model name and version, on the real ClickHouse server.

Two versions of one model counted on the same day each get their own check against their
own reference (from the registry), and neither replaces the other's rows; a version whose
reference is nowhere gets an ``error`` row without stopping the others; rows written before
models were named in them are checked as the model that has their version.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from scorestream.consumers.clickhouse import apply_migrations
from scorestream.consumers.drift_check.models import MODEL_FEATURE, ModelLocator, missed_days
from scorestream.consumers.drift_check.schedule import check_day
from scorestream.settings import Settings
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.model.train import train_model
from scorestream.streams.model.versions import ModelRegistry
from scorestream.streams.synthetic import generate_frame
from tests.consumers.drift_check.drift_stats_rows import write_day

DAY = date(2026, 4, 7)


def test_two_versions_of_one_day_keep_their_own_checks(
    settings: Settings, ch_client: Any, model_dir: Path, tmp_path: Path
) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    train_model(generate_frame(4000, seed=8), "default", tmp_path / "loans-2", name="loans", seed=1)
    registry = ModelRegistry(tmp_path / "models")
    first = LoadedModel.load(registry.add(model_dir).path)
    second = LoadedModel.load(registry.add(tmp_path / "loans-2").path)
    assert first.version != second.version
    start = f"{DAY}T00:00:00"
    write_day(
        ch_client,
        database,
        first,
        DAY,
        generate_frame(3000, seed=40, start=start),
        model_name="loans",
    )
    write_day(
        ch_client,
        database,
        second,
        DAY,
        generate_frame(2000, seed=41, start=start),
        model_name="loans",
    )
    # A third version whose model directory is gone: its check fails, alone.
    ghost = dataclasses.replace(first, name="ghost")
    write_day(
        ch_client,
        database,
        ghost,
        DAY,
        generate_frame(500, seed=42, start=start),
        model_name="ghost",
    )
    assert missed_days(ch_client, database, DAY - timedelta(days=3), DAY + timedelta(days=1)) == [
        DAY
    ]

    results = check_day(settings, None, DAY, ch_client, locator=ModelLocator(tmp_path / "models"))

    assert sorted((r.model_name, r.model_version, r.records) for r in results) == sorted(
        [
            ("loans", first.version, 3000),
            ("loans", second.version, 2000),
            ("ghost", first.version, 0),
        ]
    )
    income = ch_client.execute(
        f"SELECT model_name, model_version, model_id, n_current, ref_mean "
        f"FROM {database}.drift_checks FINAL WHERE check_kind = 'daily' AND feature = 'income' "
        "ORDER BY n_current"
    )
    assert [row[:4] for row in income] == [
        ("loans", second.version, f"loans@{second.version}", 2000),
        ("loans", first.version, f"loans@{first.version}", 3000),
    ]
    # Each against its own reference.
    assert income[0][4] == second.profile["income"].mean  # type: ignore[union-attr]
    assert income[1][4] == first.profile["income"].mean  # type: ignore[union-attr]
    errors = ch_client.execute(
        f"SELECT model_name, feature, level, error FROM {database}.drift_checks FINAL "
        "WHERE level = 'error'"
    )
    assert len(errors) == 1
    name, feature, level, error = errors[0]
    assert (name, feature, level) == ("ghost", MODEL_FEATURE, "error")
    assert "ghost" in error and first.version in error
    (ghost_result,) = [r for r in results if r.model_name == "ghost"]
    assert [d.feature for d in ghost_result.errored] == [MODEL_FEATURE]
    assert ghost_result.alert_id == f"daily:{DAY}T00:00:ghost@{first.version}"
    # Every model of the day is checked now: nothing left to catch up.
    assert missed_days(ch_client, database, DAY - timedelta(days=3), DAY + timedelta(days=1)) == []


def test_unnamed_rows_are_checked_as_the_model_of_their_version(
    settings: Settings, ch_client: Any, model_dir: Path, tmp_path: Path
) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    model = LoadedModel.load(model_dir)
    start = f"{DAY}T00:00:00"
    # The morning before the upgrade (no model_name), the rest of the day after it.
    write_day(ch_client, database, model, DAY, generate_frame(3000, seed=50, start=start))
    write_day(
        ch_client,
        database,
        model,
        DAY,
        generate_frame(1000, seed=51, start=start),
        model_name="loans",
    )
    locator = ModelLocator(tmp_path / "no-registry", default=model)

    (result,) = check_day(settings, model, DAY, ch_client, locator=locator)

    assert (result.model_name, result.records) == ("loans", 4000)
    stored = ch_client.execute(
        f"SELECT DISTINCT model_name, model_id, n_current FROM {database}.drift_checks FINAL "
        "WHERE feature = 'income'"
    )
    assert stored == [("loans", f"loans@{model.version}", 4000)]
    assert missed_days(ch_client, database, DAY - timedelta(days=3), DAY + timedelta(days=1)) == []


def test_a_failing_comparison_never_stops_the_drift_check(
    settings: Settings,
    ch_client: Any,
    model_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    model = LoadedModel.load(model_dir)
    write_day(
        ch_client,
        database,
        model,
        DAY,
        generate_frame(2000, seed=52, start=f"{DAY}T00:00:00"),
        model_name="loans",
    )
    # A real failure of the comparison's query: its table is gone.
    ch_client.execute(f"DROP TABLE {database}.challenger_scores")

    with caplog.at_level(logging.ERROR):
        (result,) = check_day(
            settings, model, DAY, ch_client, locator=ModelLocator(tmp_path / "none", model)
        )

    assert result.records == 2000
    stored = ch_client.execute(
        f"SELECT count() FROM {database}.drift_checks FINAL WHERE check_kind = 'daily'"
    )
    assert stored == [(len(model.profile.names),)]
    assert f"daily comparison of {DAY}T00:00:00 failed" in caplog.text
