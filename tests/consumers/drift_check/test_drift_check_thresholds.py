"""The daily check decides with the thresholds file, on the real ClickHouse server.

A logistic model on scikit-learn's breast cancer data; one day of counts with a shifted
``mean_radius``, another of scores with a third of their labels flipped. Each day is checked
twice, as ``drift-check`` would: with the defaults, then with ``SCORESTREAM_THRESHOLDS``
naming a file; the second check's rows replace the first's and follow the file.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scorestream.consumers.clickhouse import apply_migrations
from scorestream.consumers.drift_check.schedule import check_day
from scorestream.contract.thresholds import THRESHOLDS_VARIABLE, Thresholds, to_toml
from scorestream.settings import Settings
from scorestream.stack import LocalStack
from scorestream.streams.model.registry import LoadedModel
from scorestream.topics import ensure_topics
from tests.consumers.drift_check.drift_stats_rows import write_day
from tests.consumers.performance.test_performance_check import (
    DAY as LABELLED_DAY,
)
from tests.consumers.performance.test_performance_check import (
    cancer,
    performance_rows,
    store_day,
    store_labels,
    trained,
)

SHIFTED_DAY = date(2026, 7, 20)


@pytest.fixture()
def with_file(
    stack: LocalStack, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """``with_file(thresholds)``: these settings, with a thresholds file as drift-check reads it."""

    def make(thresholds: Thresholds) -> Settings:
        path = tmp_path / "thresholds.toml"
        path.write_text(to_toml(thresholds))
        monkeypatch.setenv(THRESHOLDS_VARIABLE, str(path))
        custom = stack.settings(settings.clickhouse.database, settings.topic_prefix)
        assert custom.thresholds == thresholds
        return custom

    return make


def levels(client: Any, database: str, day: date) -> dict[str, str]:
    rows = client.execute(
        f"SELECT feature, level FROM {database}.drift_checks FINAL "
        "WHERE check_kind = 'daily' AND period_start = %(start)s",
        {"start": datetime(day.year, day.month, day.day)},
    )
    return dict(rows)


def test_drift_follows_the_files_effect_sizes(
    settings: Settings, ch_client: Any, tmp_path: Path, with_file: Any
) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    ensure_topics(settings)
    model: LoadedModel = trained(tmp_path)
    frame = cancer()
    day = frame.iloc[np.random.default_rng(6).choice(len(frame), 3000)].reset_index(drop=True)
    day["mean_radius"] += frame["mean_radius"].std()
    write_day(ch_client, database, model, SHIFTED_DAY, day)

    (default,) = check_day(settings, model, SHIFTED_DAY, ch_client)
    assert "mean_radius" in {d.feature for d in default.drifted}
    assert levels(ch_client, database, SHIFTED_DAY)["mean_radius"] == "drift"

    # Every effect size's bar out of reach: significant changes, none large enough.
    effects = {f.name: 1e6 for f in dataclasses.fields(Thresholds().drift) if f.name != "alpha"}
    custom = with_file(Thresholds(drift=dataclasses.replace(Thresholds().drift, **effects)))
    (relaxed,) = check_day(custom, model, SHIFTED_DAY, ch_client)
    assert relaxed.drifted == []
    assert set(levels(ch_client, database, SHIFTED_DAY).values()) == {"ok"}


def test_the_performance_verdict_follows_the_files_label_minimum(
    settings: Settings, ch_client: Any, tmp_path: Path, with_file: Any
) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    ensure_topics(settings)
    model = trained(tmp_path)
    frame = cancer()
    rng = np.random.default_rng(5)
    day = frame.iloc[rng.choice(len(frame), 3000)].reset_index(drop=True)
    ids, _ = store_day(ch_client, database, model, day)
    truth = day["target"].to_numpy().copy()
    flipped = rng.random(len(truth)) < 0.3  # the label rule changed for a third
    truth[flipped] = 1 - truth[flipped]
    labelled = 400  # enough for the default minimum (200)
    store_labels(ch_client, database, ids[:labelled], truth[:labelled], received_days=2)

    check_day(settings, model, LABELLED_DAY, ch_client)
    rows = performance_rows(ch_client, database)
    assert rows[("accuracy", "realised")]["n"] == labelled
    assert rows[("accuracy", "realised")]["level"] == "alert"

    custom = with_file(
        Thresholds(performance=dataclasses.replace(Thresholds().performance, min_labels=1000))
    )
    check_day(custom, model, LABELLED_DAY, ch_client)
    rows = performance_rows(ch_client, database)
    assert rows[("accuracy", "realised")]["level"] == "insufficient"
    # The estimate speaks for the day instead, and it cannot see a concept shift.
    assert rows[("accuracy", "reference")]["level"] in ("ok", "warn")
