"""The verdict of multi-class and regression models: realised figures equal scikit-learn's.

Real ClickHouse 18.16: a multi-class model on scikit-learn's wine data and a regression
model on its diabetes data score 600 records each (drawn from the data set), stored as the
sink would, with their true labels; the day's realised rows must equal scikit-learn's
figures on the stored rows, the multi-class estimate must be there, the regression one not.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics
from sklearn.datasets import load_diabetes, load_wine

from scorestream.consumers.clickhouse import apply_migrations
from scorestream.consumers.drift_check.check import Period
from scorestream.consumers.performance.check import Z_ALERT, Z_WARN, check_performance
from scorestream.contract import LABELS, SCORES
from scorestream.settings import Settings
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.model.train import train_model
from tests.consumers.comparison.score_rows import insert, score_rows

DAY = date(2026, 8, 3)
START = datetime(DAY.year, DAY.month, DAY.day)
N = 600


def store(client: Any, database: str, model: LoadedModel, frame: pd.DataFrame) -> list[str]:
    """Score ``frame`` and store the scores and the true labels (column ``target``)."""
    predicted = model.predict(frame[model.schema.names])
    ids = [f"{model.kind}-{k}" for k in range(len(frame))]
    rows = score_rows(
        ids,
        START,
        model.name,
        model.version,
        model.kind,
        predicted.scores,
        list(predicted.labels),
        probabilities=predicted.probabilities,
        class_labels=predicted.class_labels,
    )
    insert(client, database, SCORES, rows)
    truth = frame["target"].to_numpy()
    labels = []
    for record_id, y in zip(ids, truth, strict=True):
        row = {
            "id": record_id,
            "label": "" if model.kind == "regression" else str(y),
            "value": float(y) if model.kind == "regression" else math.nan,
            "label_time": START,
            "label_time_ms": int(START.timestamp() * 1000),
            "received_at": START,
            "received_at_ms": int(START.timestamp() * 1000),
            "model_name": "",
            "model_version": "",
        }
        labels.append(tuple(row[c] for c in LABELS.inserted))
    client.execute(LABELS.insert_sql(database), labels)
    return ids


def stored(client: Any, database: str) -> pd.DataFrame:
    scores = client.execute(f"SELECT id, score, label FROM {database}.scores FINAL")
    labels = client.execute(f"SELECT id, label, value FROM {database}.labels FINAL")
    return pd.DataFrame(scores, columns=["id", "score", "predicted"]).merge(
        pd.DataFrame(labels, columns=["id", "truth", "value"]), on="id"
    )


def drawn(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return frame.iloc[rng.choice(len(frame), N)].reset_index(drop=True)


def by_source(result: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["metric"], r["source"]): r for r in result.rows}


def test_a_multiclass_verdict(settings: Settings, ch_client: Any, tmp_path: Path) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    frame = load_wine(as_frame=True).frame
    train_model(frame, "target", tmp_path / "wine", name="wine", task="multiclass", seed=0)
    model = LoadedModel.load(tmp_path / "wine")
    store(ch_client, database, model, drawn(frame, 1))

    result = check_performance(
        ch_client, database, Period.day(DAY), "wine", model.version, tmp_path / "wine"
    )
    rows = by_source(result)
    truth = stored(ch_client, database)
    assert len(truth) == N and result.labelled == N and result.scored == N
    accuracy = metrics.accuracy_score(truth["truth"], truth["predicted"])
    macro = metrics.f1_score(truth["truth"], truth["predicted"], average="macro")
    assert rows[("accuracy", "realised")]["value"] == pytest.approx(accuracy, abs=1e-12)
    assert rows[("macro_f1", "realised")]["value"] == pytest.approx(macro, abs=1e-12)
    assert rows[("accuracy", "realised")]["coverage"] == 1.0
    for metric in ("accuracy", "macro_f1"):
        assert rows[(metric, "estimated")]["n"] == N
        verdict = next(v for v in result.verdicts if v.metric == metric)
        assert (
            verdict.source == "realised" and verdict.level == rows[(metric, "reference")]["level"]
        )
        assert rows[(metric, "reference")]["value"] == model.metadata["metrics"][metric]
    stored_rows = ch_client.execute(
        f"SELECT count() FROM {database}.model_performance FINAL WHERE model_name = 'wine'"
    )
    assert stored_rows == [(len(result.rows),)]


def test_a_regression_verdict_is_realised_only(
    settings: Settings, ch_client: Any, tmp_path: Path
) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    frame = load_diabetes(as_frame=True).frame
    train_model(frame, "target", tmp_path / "diabetes", name="diabetes", seed=0)
    model = LoadedModel.load(tmp_path / "diabetes")
    assert model.kind == "regression"
    store(ch_client, database, model, drawn(frame, 2))

    result = check_performance(
        ch_client, database, Period.day(DAY), "diabetes", model.version, tmp_path / "diabetes"
    )
    rows = by_source(result)
    truth = stored(ch_client, database)
    mae = metrics.mean_absolute_error(truth["value"], truth["score"])
    rmse = math.sqrt(metrics.mean_squared_error(truth["value"], truth["score"]))
    assert rows[("mae", "realised")]["value"] == pytest.approx(mae, rel=1e-9)
    assert rows[("rmse", "realised")]["value"] == pytest.approx(rmse, rel=1e-9)
    assert not [key for key in rows if key[1] == "estimated"]
    assert "regression" in result.estimate_note
    # An error metric's band sits around the holdout figure; the verdict reads it upwards.
    for metric in ("mae", "rmse"):
        reference = rows[(metric, "reference")]
        assert reference["band_low"] < model.metadata["metrics"][metric] < reference["band_high"]
        value, ref = rows[(metric, "realised")]["value"], reference["value"]
        warn_high = ref + (Z_WARN / Z_ALERT) * (reference["band_high"] - ref)
        expected = (
            "alert" if value > reference["band_high"] else "warn" if value > warn_high else "ok"
        )
        assert reference["level"] == rows[(metric, "realised")]["level"] == expected


def test_a_version_that_cannot_be_found_costs_the_drift_check_nothing(
    settings: Settings, ch_client: Any, tmp_path: Path
) -> None:
    from scorestream.consumers.drift_check.models import ModelLocator
    from scorestream.consumers.drift_check.schedule import run_performance_checks

    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    frame = load_wine(as_frame=True).frame
    train_model(frame, "target", tmp_path / "wine", name="wine", task="multiclass", seed=0)
    model = LoadedModel.load(tmp_path / "wine")
    store(ch_client, database, model, drawn(frame, 3))
    insert(
        ch_client,
        database,
        SCORES,
        score_rows(["g1"], START, "ghost", "v0", "binary", [0.3], ["0"]),
    )

    # The registry is empty: only MODEL_DIR's wine model can be found, not "ghost".
    found = run_performance_checks(
        settings, Period.day(DAY), ch_client, ModelLocator(tmp_path / "models", model)
    )
    assert [(k.name, k.version) for k in found] == [("wine", model.version)]
    names = ch_client.execute(f"SELECT DISTINCT model_name FROM {database}.model_performance")
    assert names == [("wine",)]
