"""Model kinds: task inference, multi-class and regression training, metrics per kind."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_wine

from scorestream.exceptions import SchemaError
from scorestream.streams.drift.accumulator import MinuteBinAccumulator
from scorestream.streams.drift.profile import PREDICTED_CLASS_FEATURE, SCORE_FEATURE
from scorestream.streams.model import LoadedModel, train_model
from scorestream.streams.model.metrics import (
    main_metric,
    multiclass_metrics,
    regression_metrics,
)
from scorestream.streams.model.tasks import MAX_AUTO_CLASSES, infer_task, resolve_task
from scorestream.streams.model.train import TrainReport


@pytest.fixture(scope="module")
def wine() -> pd.DataFrame:
    return load_wine(as_frame=True).frame


@pytest.fixture(scope="module")
def diabetes() -> pd.DataFrame:
    return load_diabetes(as_frame=True).frame


@pytest.fixture(scope="module")
def wine_model(wine: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> TrainReport:
    return train_model(wine, "target", tmp_path_factory.mktemp("w") / "wine", name="wine")


@pytest.fixture(scope="module")
def diabetes_model(diabetes: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> TrainReport:
    directory = tmp_path_factory.mktemp("d") / "diabetes"
    return train_model(diabetes, "target", directory, name="diabetes")


# --- task inference ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 1, 1, 0], "binary"),
        ([True, False, True], "binary"),
        (["yes", "no", None], "binary"),
        ([0, 1, 2, 2], "multiclass"),
        (["a", "b", "c"], "multiclass"),
        ([1.0, 2.0, 3.0, np.nan], "multiclass"),  # an int column with gaps, read from CSV
        ([0.5, 1.25, 3.0], "regression"),
        (list(range(MAX_AUTO_CLASSES + 1)), "regression"),
        (list(range(MAX_AUTO_CLASSES)), "multiclass"),
    ],
)
def test_auto_task_follows_the_documented_rule(values: list[object], expected: str) -> None:
    assert infer_task(pd.Series(values)) == expected


def test_auto_refuses_what_is_neither_classes_nor_numbers() -> None:
    with pytest.raises(SchemaError, match="pass --task multiclass"):
        infer_task(pd.Series([f"c{i}" for i in range(MAX_AUTO_CLASSES + 1)]))
    with pytest.raises(SchemaError, match="at least two"):
        infer_task(pd.Series([3, 3, None]))
    with pytest.raises(SchemaError, match="numeric target"):
        resolve_task("regression", pd.Series(["a", "b", "c"]))
    with pytest.raises(SchemaError, match="task must be one of"):
        resolve_task("ranking", pd.Series([1, 2]))
    # Many string classes are fine when asked for explicitly.
    many = pd.Series([f"c{i}" for i in range(MAX_AUTO_CLASSES + 1)])
    assert resolve_task("multiclass", many) == "multiclass"


# --- multiclass ----------------------------------------------------------------------------
def test_wine_is_multiclass_with_every_class_and_its_metrics(wine_model: TrainReport) -> None:
    metadata = json.loads((wine_model.model_dir / "metadata.json").read_text())
    assert wine_model.task == metadata["task"] == "multiclass"
    assert metadata["classes"] == [0, 1, 2]
    assert set(metadata["metrics"]) == {"accuracy", "macro_f1", "log_loss", "n_train", "n_test"}
    assert metadata["metrics"]["n_train"] + metadata["metrics"]["n_test"] == 178
    assert wine_model.metrics.accuracy > 0.85  # type: ignore[union-attr]
    assert "macro F1" in wine_model.summary() and "3 classes" in wine_model.summary()


def test_wine_predictions_are_the_pipelines(wine_model: TrainReport, wine: pd.DataFrame) -> None:
    model = LoadedModel.load(wine_model.model_dir)
    assert model.kind == "multiclass"
    predictions = model.predict(wine)
    direct = wine_model.pipeline.predict_proba(wine.drop(columns="target"))
    assert predictions.probabilities is not None
    np.testing.assert_allclose(predictions.probabilities, direct)
    np.testing.assert_allclose(predictions.scores, direct.max(axis=1))
    assert list(predictions.labels) == list(
        wine_model.pipeline.predict(wine.drop(columns="target"))
    )
    assert predictions.class_labels == ["0", "1", "2"]


def test_wine_profile_bins_the_predicted_class(wine_model: TrainReport, wine: pd.DataFrame) -> None:
    model = LoadedModel.load(wine_model.model_dir)
    feature = model.profile[PREDICTED_CLASS_FEATURE]
    assert feature.kind == "categorical"
    assert sorted(feature.categories) == ["0", "1", "2"]  # type: ignore[union-attr]
    n_train = wine_model.metrics.n_train
    assert int(feature.reference_counts.sum()) == n_train
    assert int(model.profile[SCORE_FEATURE].reference_counts.sum()) == n_train

    # The worker's accumulator counts the predicted labels it is given.
    predictions = model.predict(wine)
    accumulator = MinuteBinAccumulator(model.profile)
    accumulator.add(
        np.zeros(len(wine), dtype=np.int64), wine, predictions.scores, predictions.labels
    )
    rows = {row.feature: row for row in accumulator.flush_all()}
    counted = dict(zip(feature.labels(), rows[PREDICTED_CLASS_FEATURE].counts, strict=True))
    expected = pd.Series(predictions.labels).astype(str).value_counts()
    assert {k: v for k, v in counted.items() if v} == expected.to_dict()
    assert rows[SCORE_FEATURE].count == len(wine)
    # Without labels the output is not counted (binary and regression models have none).
    accumulator.add(np.zeros(len(wine), dtype=np.int64), wine, predictions.scores)
    assert PREDICTED_CLASS_FEATURE not in {row.feature for row in accumulator.flush_all()}


def test_string_classes_train_and_load(wine: pd.DataFrame, tmp_path: Path) -> None:
    frame = wine.copy()
    frame["cultivar"] = frame.pop("target").map({0: "barolo", 1: "grignolino", 2: "x"})
    report = train_model(frame, "cultivar", tmp_path / "m", task="multiclass", classifier="hgb")
    assert report.classes == ["barolo", "grignolino", "x"]
    model = LoadedModel.load(tmp_path / "m")
    assert set(model.predict(frame).labels) <= {"barolo", "grignolino", "x"}


def test_a_class_of_one_row_is_refused(wine: pd.DataFrame, tmp_path: Path) -> None:
    frame = wine.copy()
    frame.loc[0, "target"] = 7
    with pytest.raises(SchemaError, match="at least two rows"):
        train_model(frame, "target", tmp_path / "m")
    assert not (tmp_path / "m").exists()


# --- regression ----------------------------------------------------------------------------
def test_diabetes_is_regression_with_its_metrics(
    diabetes_model: TrainReport, diabetes: pd.DataFrame
) -> None:
    metadata = json.loads((diabetes_model.model_dir / "metadata.json").read_text())
    assert metadata["task"] == "regression" and metadata["classes"] == []
    assert metadata["regressor"] == "ridge"
    assert set(metadata["metrics"]) == {"mae", "rmse", "r2", "n_train", "n_test"}
    assert metadata["metrics"]["r2"] > 0.2
    assert metadata["metrics"]["rmse"] >= metadata["metrics"]["mae"]
    model = LoadedModel.load(diabetes_model.model_dir)
    predictions = model.predict(diabetes)
    direct = diabetes_model.pipeline.predict(diabetes.drop(columns="target"))
    np.testing.assert_allclose(predictions.scores, direct)
    assert set(predictions.labels) == {""} and predictions.probabilities is None
    assert PREDICTED_CLASS_FEATURE not in model.profile
    assert (
        int(model.profile[SCORE_FEATURE].reference_counts.sum()) == metadata["metrics"]["n_train"]
    )


def test_gradient_boosted_regressor(diabetes: pd.DataFrame, tmp_path: Path) -> None:
    report = train_model(diabetes, "target", tmp_path / "m", task="regression", regressor="hgb")
    assert type(report.pipeline.steps[-1][1]).__name__ == "HistGradientBoostingRegressor"
    assert LoadedModel.load(tmp_path / "m").kind == "regression"


# --- metrics -------------------------------------------------------------------------------
def test_regression_metrics_by_hand() -> None:
    metrics = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], n_train=5)
    assert metrics.mae == pytest.approx(1 / 3)
    assert metrics.rmse == pytest.approx(math.sqrt(1 / 3))
    assert metrics.r2 == pytest.approx(1 - 1 / 2)  # residual 1 over total variation 2
    assert main_metric("regression", metrics.as_dict()) == f"rmse {math.sqrt(1 / 3):,.4g}"


def test_multiclass_metrics_by_hand() -> None:
    probabilities = [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]
    metrics = multiclass_metrics(["a", "b", "c", "c"], probabilities, ["a", "b", "c"], n_train=0)
    assert metrics.accuracy == pytest.approx(3 / 4)
    # F1 per class: a 2/3 (one right, one false alarm), b 1, c 2/3 (one of two found).
    assert metrics.macro_f1 == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)
    expected_loss = -np.mean(np.log([0.8, 0.7, 0.2, 0.8]))
    assert metrics.log_loss == pytest.approx(expected_loss)
    assert "reference rows" in metrics.summary()
    assert main_metric("multiclass", {"accuracy": 1.0}) == ""
