"""Training writes a complete model directory; loading is safe and reproduces the scores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from scorestream.exceptions import ModelError, SchemaError
from scorestream.streams.model import (
    LoadedModel,
    is_allowed_type,
    read_table,
    train_from_file,
    train_model,
)
from scorestream.streams.model.archive import file_sha256
from scorestream.streams.model.train import MODEL_FILES, TrainReport, pipeline_version
from scorestream.streams.synthetic import generate_frame


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return generate_frame(6000, seed=11, start="2024-01-01T00:00:00Z")


@pytest.fixture(scope="module")
def trained(loans: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> TrainReport:
    return train_model(loans, "default", tmp_path_factory.mktemp("m") / "loans", name="loans")


def test_training_writes_all_four_files_with_metadata(trained: TrainReport) -> None:
    assert sorted(p.name for p in trained.model_dir.iterdir()) == sorted(
        (*MODEL_FILES, "calibration.json")
    )
    metadata = json.loads((trained.model_dir / "metadata.json").read_text())
    assert metadata["name"] == "loans"
    assert (
        metadata["version"]
        == trained.version
        == pipeline_version(trained.model_dir / "pipeline.skops")
    )
    assert metadata["target"] == "default"
    assert metadata["classes"] == [0, 1]
    assert set(metadata["metrics"]) == {"roc_auc", "log_loss", "accuracy", "n_train", "n_test"}
    assert metadata["metrics"]["n_train"] + metadata["metrics"]["n_test"] == 6000
    assert {"python", "scikit-learn", "numpy", "pandas", "skops"} <= set(metadata["libraries"])
    assert "id" not in metadata["features"] and "event_time" not in metadata["features"]
    assert trained.metrics.roc_auc > 0.7
    assert trained.version in trained.summary()


def test_reload_gives_identical_probabilities(trained: TrainReport, loans: pd.DataFrame) -> None:
    model = LoadedModel.load(trained.model_dir)
    assert (model.name, model.version) == ("loans", trained.version)
    assert "_score" in model.profile.names
    sample = loans.head(500)
    from scorestream.streams.model.schema import coerce_features

    features = coerce_features(sample, model.schema)
    before = trained.pipeline.predict_proba(features)
    after = model.pipeline.predict_proba(features)
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-12)
    scores = model.predict_scores(sample)
    np.testing.assert_allclose(scores, before[:, 1], rtol=0, atol=1e-12)
    assert model.predict_labels(scores).tolist() == [int(s >= 0.5) for s in scores]


def test_same_data_and_seed_give_the_same_version(loans: pd.DataFrame, tmp_path: Path) -> None:
    first = train_model(loans, "default", tmp_path / "a", seed=3)
    again = train_model(loans, "default", tmp_path / "a", seed=3)  # replaces the directory
    other = train_model(loans, "default", tmp_path / "b", seed=4)
    assert first.version == again.version
    assert other.version != first.version
    assert LoadedModel.load(tmp_path / "a").version == first.version


def test_hist_gradient_boosting_trains_and_loads(loans: pd.DataFrame, tmp_path: Path) -> None:
    report = train_model(loans, "default", tmp_path / "hgb", classifier="hgb")
    model = LoadedModel.load(tmp_path / "hgb")
    assert report.metrics.roc_auc > 0.7
    assert model.predict_scores(loans.head(10)).shape == (10,)


def test_string_labels_and_positive_class(tmp_path: Path) -> None:
    frame = generate_frame(2000, seed=2, start="2024-01-01")
    frame["outcome"] = np.where(frame.pop("default") == 1, "bad", "good")
    report = train_model(frame, "outcome", tmp_path / "m", positive_class="bad")
    assert report.classes == ["good", "bad"]
    model = LoadedModel.load(tmp_path / "m")
    assert set(model.predict_labels(np.array([0.1, 0.9]))) == {"good", "bad"}


def test_non_binary_or_absent_target_is_refused(loans: pd.DataFrame, tmp_path: Path) -> None:
    # task="auto" (the default) would train a multi-class model on it: see test_model_kinds.
    frame = loans.assign(grade=np.arange(len(loans)) % 3)
    with pytest.raises(SchemaError, match="exactly two"):
        train_model(frame, "grade", tmp_path / "m", task="binary")
    with pytest.raises(SchemaError, match="not in the data"):
        train_model(loans, "nope", tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_refuses_to_replace_a_directory_that_is_not_a_model(
    loans: pd.DataFrame, tmp_path: Path
) -> None:
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    with pytest.raises(ModelError, match="refusing"):
        train_model(loans, "default", tmp_path / "precious")


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl", ".ndjson"])
def test_read_table_and_train_from_file(suffix: str, tmp_path: Path) -> None:
    frame = generate_frame(1500, seed=4, start="2024-01-01")
    path = tmp_path / f"loans{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=True)
    table = read_table(path)
    assert list(table.columns) == list(frame.columns)
    assert len(table) == 1500
    report = train_from_file(path, "default", tmp_path / "model")
    assert report.features == [c for c in frame.columns if c not in ("id", "event_time", "default")]


def test_read_table_refuses_other_formats(tmp_path: Path) -> None:
    (tmp_path / "data.xlsx").write_bytes(b"")
    with pytest.raises(SchemaError, match=r"\.csv, \.parquet, \.jsonl or \.ndjson"):
        read_table(tmp_path / "data.xlsx")
    with pytest.raises(SchemaError, match="no such file"):
        read_table(tmp_path / "absent.csv")


def test_load_refuses_missing_or_incomplete_directories(
    trained: TrainReport, tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        LoadedModel.load(tmp_path / "nothing")
    partial = tmp_path / "partial"
    shutil.copytree(trained.model_dir, partial)
    (partial / "reference_profile.json").unlink()
    with pytest.raises(ModelError, match=r"incomplete.*reference_profile\.json"):
        LoadedModel.load(partial)


def test_load_refuses_a_replaced_pipeline_file(trained: TrainReport, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(trained.model_dir, copy)
    skops.io.dump(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), copy / "pipeline.skops")
    with pytest.raises(ModelError, match="does not match its metadata"):
        LoadedModel.load(copy)


class Custom(BaseEstimator, TransformerMixin):
    """A transformer from outside scikit-learn: not on the allow-list."""

    def fit(self, x: object, y: object = None) -> Custom:
        return self

    def transform(self, x: object) -> object:
        return x


def _plant(model_dir: Path, pipeline: Pipeline, target: Path) -> Path:
    """Copy a model directory, swap in ``pipeline`` and make the metadata agree with it."""
    shutil.copytree(model_dir, target)
    skops.io.dump(pipeline, target / "pipeline.skops")
    metadata = json.loads((target / "metadata.json").read_text())
    metadata["version"] = pipeline_version(target / "pipeline.skops")
    metadata["pipeline_sha256"] = file_sha256(target / "pipeline.skops")
    (target / "metadata.json").write_text(json.dumps(metadata))
    return target


@pytest.mark.parametrize(
    ("step", "refused_type"),
    [
        (FunctionTransformer(eval), "builtins.eval"),
        (Custom(), ".Custom"),
    ],
)
def test_allow_list_refuses_foreign_types(
    trained: TrainReport, tmp_path: Path, step: object, refused_type: str
) -> None:
    pipeline = Pipeline([("step", step), ("classifier", LogisticRegression())])
    planted = _plant(trained.model_dir, pipeline, tmp_path / "planted")
    with pytest.raises(ModelError, match="allow-list") as raised:
        LoadedModel.load(planted)
    assert refused_type in str(raised.value)


def test_allow_list_names() -> None:
    assert is_allowed_type("sklearn.pipeline.Pipeline")
    assert is_allowed_type("numpy.dtype")
    assert is_allowed_type("builtins.slice")
    for name in (
        "builtins.eval",
        "builtins.exec",
        "os.system",
        "numpy.load",
        "numpy.save",
        "numpy.testing.assert_equal",
        "sklearn.datasets.fetch_openml",
        "sklearnx.Evil",
    ):
        assert not is_allowed_type(name), name
