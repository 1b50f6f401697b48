"""The synthetic loan generator: deterministic, realistic, learnable."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from scorestream.streams.model import train_model
from scorestream.streams.synthetic import (
    CATEGORICAL_FEATURES,
    COLUMNS,
    NULLABLE_FEATURES,
    NUMERIC_FEATURES,
    generate_frame,
    generate_records,
)

START = "2024-03-01T12:00:00Z"


def test_same_seed_same_frame_other_seed_other_frame() -> None:
    first = generate_frame(3000, seed=5, start=START)
    again = generate_frame(3000, seed=5, start=START)
    other = generate_frame(3000, seed=6, start=START)
    pd.testing.assert_frame_equal(first, again)
    assert not first[list(NUMERIC_FEATURES)].equals(other[list(NUMERIC_FEATURES)])


def test_columns_ids_and_event_times() -> None:
    frame = generate_frame(20_000, seed=3, start=START, interval_ms=250)
    assert tuple(frame.columns) == COLUMNS
    assert frame["id"].is_unique
    assert frame["id"].iloc[12_345] == "syn-3-12345"
    times = pd.to_datetime(frame["event_time"], utc=True, format="ISO8601")
    assert times.iloc[0] == pd.Timestamp(START)
    assert (times.diff().dropna() == pd.Timedelta(milliseconds=250)).all()


def test_values_are_plausible_with_some_missing() -> None:
    frame = generate_frame(20_000, seed=1, start=START)
    assert frame["age"].between(18, 85).all()
    assert (frame["income"] > 0).all()
    assert frame["credit_score"].dropna().between(300, 850).all()
    assert set(frame["region"]) == {"north", "south", "east", "west"}
    for name in NULLABLE_FEATURES:
        assert 0.005 < frame[name].isna().mean() < 0.1, name
    for name in set(NUMERIC_FEATURES + CATEGORICAL_FEATURES) - NULLABLE_FEATURES:
        assert frame[name].notna().all(), name
    assert 0.1 < frame["default"].mean() < 0.35


def test_records_match_the_frame_whatever_the_chunking() -> None:
    frame = generate_frame(10_000, seed=9, start=START)
    for n, chunk_size in ((50, 1), (10_000, 777), (10_000, 10_000)):
        chunks = generate_records(n, seed=9, chunk_size=chunk_size, start=START)
        records = list(itertools.chain.from_iterable(chunks))
        expected = frame.head(n)
        assert [record["id"] for record in records] == expected["id"].tolist()
        assert [record["event_time"] for record in records] == expected["event_time"].tolist()
        for name in NUMERIC_FEATURES:
            np.testing.assert_array_equal(
                np.array([record[name] for record in records], dtype=float),
                expected[name].to_numpy(dtype=float, na_value=np.nan),
            )
        for name in CATEGORICAL_FEATURES:
            assert [record[name] for record in records] == expected[name].tolist()


def test_records_are_json_ready_and_resumable() -> None:
    records = next(generate_records(5, seed=2, chunk_size=5, start=START, first_index=8190))
    assert [record["id"] for record in records] == [f"syn-2-{i}" for i in range(8190, 8195)]
    for record in records:
        assert type(record["age"]) is int and type(record["income"]) is float
        assert record["credit_score"] is None or type(record["credit_score"]) is int
    without = next(generate_records(1, seed=2, chunk_size=1, include_target=False))
    assert "default" not in without[0]


def test_target_is_learnable(tmp_path: Path) -> None:
    report = train_model(generate_frame(8000, seed=21, start=START), "default", tmp_path / "m")
    assert report.metrics.roc_auc > 0.7
    # and an independent sample scores about as well: the model learned the mechanism
    from scorestream.streams.model import LoadedModel

    model = LoadedModel.load(tmp_path / "m")
    fresh = generate_frame(4000, seed=22, start=START)
    assert roc_auc_score(fresh["default"], model.predict_scores(fresh)) > 0.7
