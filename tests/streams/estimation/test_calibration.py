"""The calibrator: JSON round trip, sklearn's isotonic predictions, and model directories.

``scorestream train`` and ``scorestream models register`` (with a target) write
``calibration.json``; a model directory without it (older models, regressors) still loads,
and estimation then says why it is unavailable.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scorestream.exceptions import ModelError
from scorestream.streams.estimation.calibration import (
    CALIBRATION_FILE,
    Calibration,
    IsotonicMap,
    fit_binary,
    fit_multiclass,
    load_calibration,
)
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.model.train import train_model


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    return frame


@pytest.fixture(scope="module")
def wine() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    return load_wine(as_frame=True).frame


def test_isotonic_map_without_prior_predicts_what_sklearn_predicts() -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.isotonic import IsotonicRegression

    data = load_breast_cancer()
    score = (data.data[:, 0] - data.data[:, 0].min()) / np.ptp(data.data[:, 0])
    fitted = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(score, 1 - data.target)
    ours = IsotonicMap.fit(score, 1 - data.target, prior=0)
    grid = np.linspace(-0.1, 1.1, 2001)
    np.testing.assert_allclose(ours(grid), fitted.predict(grid), atol=1e-12)


def test_calibration_round_trips_through_json(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=400)
    truth = np.asarray(["a", "b", "c"])[rng.integers(0, 3, size=400)]
    calibration = fit_multiclass(p, truth, ["a", "b", "c"], replicates=4)
    calibration.save(tmp_path / CALIBRATION_FILE)
    text = (tmp_path / CALIBRATION_FILE).read_text()
    assert json.loads(text)["method"] == "isotonic"
    assert Calibration.load(tmp_path / CALIBRATION_FILE) == calibration
    grid = np.linspace(0, 1, 101)
    again = Calibration.from_dict(json.loads(text))
    np.testing.assert_array_equal(again.mapping(grid), calibration.mapping(grid))
    assert len(again.replicates) == 4


@pytest.mark.parametrize(
    "document",
    [
        {"format": 99},
        {"format": 1, "kind": "regression", "classes": [], "mapping": {"x": [0], "y": [0]}},
        {
            "format": 1,
            "kind": "binary",
            "classes": ["0", "1"],
            "mapping": {"x": [1, 0], "y": [0, 1]},
        },
        {"format": 1, "kind": "binary", "classes": ["0", "1"], "mapping": {"x": [0], "y": [2]}},
        {"format": 1, "kind": "multiclass", "classes": ["a", "b"], "mapping": {"x": [0], "y": [0]}},
    ],
)
def test_a_bad_calibration_file_is_a_model_error_with_its_reason(
    tmp_path: Path, document: dict[str, object]
) -> None:
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps(document))
    with pytest.raises(ModelError, match="cannot read calibration"):
        Calibration.load(tmp_path / CALIBRATION_FILE)
    calibration, reason = load_calibration(tmp_path)
    assert calibration is None and "cannot read calibration" in reason


def test_the_prior_keeps_a_block_without_errors_below_certainty() -> None:
    scores = np.linspace(0, 1, 400)
    certain = IsotonicMap.fit(scores, scores > 0.25, prior=0)
    shrunk = IsotonicMap.fit(scores, scores > 0.25)
    assert certain(np.array([0.9]))[0] == 1.0
    # 300 rows without an error: (300 + 0.5) / (300 + 1).
    assert shrunk(np.array([0.9]))[0] == pytest.approx(300.5 / 301)
    assert shrunk(np.array([0.1]))[0] == pytest.approx(0.5 / 101)


def test_binary_calibration_is_close_to_the_truth_on_calibrated_scores() -> None:
    rng = np.random.default_rng(5)
    scores = rng.uniform(size=20_000)
    calibration = fit_binary(scores, rng.uniform(size=20_000) < scores**2, [0, 1], replicates=2)
    grid = np.linspace(0.05, 0.95, 19)
    np.testing.assert_allclose(calibration.mapping(grid), grid**2, atol=0.05)


def test_train_writes_a_calibration_listed_in_the_metadata_and_the_model_loads(
    cancer: pd.DataFrame, tmp_path: Path
) -> None:
    report = train_model(cancer, "target", tmp_path / "m", name="cancer", seed=0)
    metadata = json.loads((report.model_dir / "metadata.json").read_text())
    assert metadata["calibration"]["file"] == CALIBRATION_FILE
    # The holdout (20% of 569 rows, stratified) is what it was fitted on.
    assert metadata["calibration"]["rows"] == 114
    calibration, reason = load_calibration(report.model_dir)
    assert calibration is not None and reason == ""
    assert calibration.kind == "binary" and calibration.classes == ["0", "1"]
    model = LoadedModel.load(report.model_dir)
    assert model.version == report.version


def test_multiclass_training_writes_error_destinations(wine: pd.DataFrame, tmp_path: Path) -> None:
    report = train_model(wine, "target", tmp_path / "w", name="wine", seed=0)
    calibration, _ = load_calibration(report.model_dir)
    assert calibration is not None and calibration.kind == "multiclass"
    destinations = np.asarray(calibration.error_destinations)
    assert destinations.shape == (3, 3)
    np.testing.assert_allclose(destinations.sum(axis=1), 1.0)
    assert np.all(np.diagonal(destinations) == 0.0)


def test_regression_models_have_no_calibration_and_say_why(tmp_path: Path) -> None:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    report = train_model(frame, "target", tmp_path / "r", name="diabetes", task="regression")
    assert not (report.model_dir / CALIBRATION_FILE).exists()
    assert "calibration" not in json.loads((report.model_dir / "metadata.json").read_text())
    calibration, reason = load_calibration(report.model_dir)
    assert calibration is None and "no calibration.json" in reason


def test_an_older_model_directory_without_calibration_still_loads(
    cancer: pd.DataFrame, tmp_path: Path
) -> None:
    report = train_model(cancer, "target", tmp_path / "m", name="cancer", seed=0)
    older = tmp_path / "older"
    shutil.copytree(report.model_dir, older)
    (older / CALIBRATION_FILE).unlink()
    metadata = json.loads((older / "metadata.json").read_text())
    del metadata["calibration"]
    (older / "metadata.json").write_text(json.dumps(metadata))
    model = LoadedModel.load(older)
    assert model.version == report.version
    calibration, reason = load_calibration(older)
    assert calibration is None and "retrain or re-register" in reason


def test_register_with_a_target_writes_a_calibration(cancer: pd.DataFrame, tmp_path: Path) -> None:
    import skops.io
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from scorestream.streams.model.register import register_pipeline

    features = cancer.drop(columns="target")
    fitted = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    fitted.fit(features.iloc[:400], cancer["target"].iloc[:400])
    skops.io.dump(fitted, tmp_path / "p.skops")
    cancer.iloc[400:].to_csv(tmp_path / "reference.csv", index=False)
    report = register_pipeline(
        tmp_path / "p.skops",
        tmp_path / "reference.csv",
        tmp_path / "models",
        name="c",
        target="target",
    )
    calibration, reason = load_calibration(report.resolved.path)
    assert calibration is not None, reason
    assert calibration.rows == len(cancer) - 400
    assert LoadedModel.load(report.resolved.path).version == report.resolved.version
    # Without a target there is nothing to calibrate on.
    cancer.iloc[400:].drop(columns="target").to_csv(tmp_path / "unlabelled.csv", index=False)
    bare = register_pipeline(
        tmp_path / "p.skops", tmp_path / "unlabelled.csv", tmp_path / "models2", name="c"
    )
    assert load_calibration(bare.resolved.path)[0] is None
