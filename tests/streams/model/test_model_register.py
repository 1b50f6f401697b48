"""Bring your own model: a user's fitted pipeline registered safely, scored like a trained one."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scorestream.exceptions import ModelError, SchemaError
from scorestream.streams.drift.profile import PREDICTED_CLASS_FEATURE, SCORE_FEATURE
from scorestream.streams.model import LoadedModel
from scorestream.streams.model.register import register_pipeline
from scorestream.streams.model.versions import ModelRegistry


class Doubler(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """A custom type: outside the allow-list, so a file holding it must be refused."""

    def fit(self, x: object, y: object = None) -> Doubler:
        return self

    def transform(self, x: pd.DataFrame) -> pd.DataFrame:
        return x * 2


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


@pytest.fixture(scope="module")
def forest(cancer: pd.DataFrame) -> object:
    """A random forest fitted on the first 400 rows (the rest is held out)."""
    features = cancer.drop(columns="target")
    return make_pipeline(
        StandardScaler(), RandomForestClassifier(n_estimators=30, random_state=0)
    ).fit(features.iloc[:400], cancer["target"].iloc[:400])


def test_a_skops_pipeline_is_registered_and_scores_as_fitted(
    forest: object, cancer: pd.DataFrame, tmp_path: Path
) -> None:
    skops.io.dump(forest, tmp_path / "forest.skops")
    held_out = cancer.iloc[400:]
    held_out.to_csv(tmp_path / "reference.csv", index=False)
    report = register_pipeline(
        tmp_path / "forest.skops",
        tmp_path / "reference.csv",
        tmp_path / "models",
        name="cancer",
        target="target",
        alias="champion",
    )
    registry = ModelRegistry(tmp_path / "models")
    assert registry.aliases("cancer") == {"champion": report.resolved.version}
    model = LoadedModel.load(registry.resolve("cancer@champion").path)
    assert model.kind == report.task == "binary"
    assert model.classes == [0, 1]
    assert "target" not in model.schema.names and len(model.schema.names) == 30
    direct = forest.predict_proba(held_out.drop(columns="target"))[:, 1]  # type: ignore[attr-defined]
    np.testing.assert_allclose(model.predict(held_out).scores, direct)
    metadata = model.metadata
    assert metadata["metrics_on"] == "reference"
    assert metadata["metrics"]["n_test"] == len(held_out)
    assert 0.9 < metadata["metrics"]["roc_auc"] <= 1.0
    assert metadata["estimator"].endswith("RandomForestClassifier")
    assert metadata["source"]["format"] == "skops"
    assert int(model.profile[SCORE_FEATURE].reference_counts.sum()) == len(held_out)


def test_kind_is_read_from_the_estimator(tmp_path: Path) -> None:
    wine = load_wine(as_frame=True).frame
    diabetes = load_diabetes(as_frame=True).frame
    cases = {
        "wine": (wine, make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))),
        "diabetes": (diabetes, make_pipeline(StandardScaler(), LinearRegression())),
    }
    kinds = {}
    for name, (frame, pipeline) in cases.items():
        pipeline.fit(frame.drop(columns="target"), frame["target"])
        skops.io.dump(pipeline, tmp_path / f"{name}.skops")
        # No target column in this reference: no metrics, but a profile all the same.
        frame.drop(columns="target").to_parquet(tmp_path / f"{name}.parquet")
        report = register_pipeline(
            tmp_path / f"{name}.skops", tmp_path / f"{name}.parquet", tmp_path / "m", name=name
        )
        kinds[name] = report.task
        model = LoadedModel.load(report.resolved.path)
        assert model.metadata["metrics"] == {}
        assert (PREDICTED_CLASS_FEATURE in model.profile) == (name == "wine")
    assert kinds == {"wine": "multiclass", "diabetes": "regression"}


def test_pickles_need_trust(forest: object, cancer: pd.DataFrame, tmp_path: Path) -> None:
    joblib.dump(forest, tmp_path / "forest.joblib")
    cancer.to_csv(tmp_path / "reference.csv", index=False)
    with pytest.raises(ModelError, match="--trust-pickle"):
        register_pipeline(
            tmp_path / "forest.joblib", tmp_path / "reference.csv", tmp_path / "m", name="c"
        )
    assert not (tmp_path / "m").exists()
    report = register_pipeline(
        tmp_path / "forest.joblib",
        tmp_path / "reference.csv",
        tmp_path / "m",
        name="c",
        target="target",
        trust_pickle=True,
    )
    model = LoadedModel.load(report.resolved.path)
    assert (report.resolved.path / "pipeline.skops").is_file()  # re-saved without pickle
    assert model.metadata["source"]["format"] == "pickle"


def test_foreign_types_are_refused_from_skops_and_from_trusted_pickles(
    cancer: pd.DataFrame, tmp_path: Path
) -> None:
    features = cancer.drop(columns="target")
    pipeline = make_pipeline(Doubler(), StandardScaler(), LogisticRegression(max_iter=500))
    pipeline.fit(features, cancer["target"])
    skops.io.dump(pipeline, tmp_path / "custom.skops")
    joblib.dump(pipeline, tmp_path / "custom.pkl")
    cancer.to_csv(tmp_path / "reference.csv", index=False)
    with pytest.raises(ModelError, match=r"outside the allow-list.*Doubler"):
        register_pipeline(
            tmp_path / "custom.skops", tmp_path / "reference.csv", tmp_path / "m", name="c"
        )
    with pytest.raises(ModelError, match=r"outside the allow-list.*Doubler"):
        register_pipeline(
            tmp_path / "custom.pkl",
            tmp_path / "reference.csv",
            tmp_path / "m",
            name="c",
            trust_pickle=True,
        )
    assert ModelRegistry(tmp_path / "m").names() == []


def test_bad_inputs_are_refused(forest: object, cancer: pd.DataFrame, tmp_path: Path) -> None:
    skops.io.dump(forest, tmp_path / "forest.skops")
    cancer.drop(columns=["mean radius"]).to_csv(tmp_path / "short.csv", index=False)
    cancer.to_csv(tmp_path / "reference.csv", index=False)
    with pytest.raises(SchemaError, match="mean radius"):
        register_pipeline(
            tmp_path / "forest.skops", tmp_path / "short.csv", tmp_path / "m", name="c"
        )
    with pytest.raises(ModelError, match="does not fit a classifier of 2 classes"):
        register_pipeline(
            tmp_path / "forest.skops",
            tmp_path / "reference.csv",
            tmp_path / "m",
            name="c",
            task="multiclass",
        )
    with pytest.raises(SchemaError, match="target column"):
        register_pipeline(
            tmp_path / "forest.skops",
            tmp_path / "reference.csv",
            tmp_path / "m",
            name="c",
            target="label",
        )
    (tmp_path / "model.txt").write_text("not a model")
    with pytest.raises(ModelError, match=r"expected a \.skops file"):
        register_pipeline(
            tmp_path / "model.txt", tmp_path / "reference.csv", tmp_path / "m", name="c"
        )
    with pytest.raises(ModelError, match="invalid model name"):
        register_pipeline(
            tmp_path / "forest.skops", tmp_path / "reference.csv", tmp_path / "m", name="../x"
        )
    assert ModelRegistry(tmp_path / "m").names() == []
    # The metadata of a good registration is plain JSON that survives a round trip.
    report = register_pipeline(
        tmp_path / "forest.skops", tmp_path / "reference.csv", tmp_path / "m", name="c"
    )
    assert json.loads((report.resolved.path / "metadata.json").read_text())["task"] == "binary"
