"""Permutation importance, computed once per version on held-out rows and stored with it.

On data sets bundled with scikit-learn, with a column of pure noise added: the features
the model is known to rely on rank above the noise, which counts as negligible; the
figures survive ``metadata.json``; registering without a target gives a version that says
why it has none, and an older version without the field still loads.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scorestream.streams.model import LoadedModel
from scorestream.streams.model.importance import (
    METADATA_KEY,
    FeatureImportance,
    PermutationImportance,
    compute_importance,
    stored_importance,
)
from scorestream.streams.model.register import register_pipeline
from scorestream.streams.model.train import train_model

#: Per data set: kind, the features kept, the ones the model relies on (by the data's
#: domain: tumour size and concavity; wine's flavanoids and colour; diabetes' BMI and
#: the blood serum s5), and the score.
CASES = {
    "breast_cancer": (
        load_breast_cancer,
        "binary",
        ["mean_radius", "mean_texture", "worst_concave_points", "worst_area"],
        ["worst_concave_points", "worst_area"],
        "roc_auc",
    ),
    "wine": (
        load_wine,
        "multiclass",
        ["alcohol", "proline", "flavanoids", "color_intensity"],
        ["flavanoids", "color_intensity"],
        "accuracy",
    ),
    "diabetes": (load_diabetes, "regression", ["bmi", "s5", "bp"], ["bmi", "s5"], "r2"),
}


def with_noise(name: str) -> pd.DataFrame:
    loader, _, kept, _, _ = CASES[name]
    frame = loader(as_frame=True).frame
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    frame = frame[[*kept, "target"]].copy()
    frame["noise"] = np.random.default_rng(1).normal(size=len(frame))
    return frame


@pytest.mark.parametrize("name", sorted(CASES))
def test_features_the_model_relies_on_rank_above_pure_noise(name: str, tmp_path: Path) -> None:
    _, kind, _, relied_on, scorer = CASES[name]
    report = train_model(with_noise(name), "target", tmp_path / name, task=kind, seed=0)
    importance = report.importance
    assert importance is not None
    assert (importance.scorer, importance.on, importance.repeats) == (scorer, "holdout", 5)
    assert importance.rows == report.metrics.n_test  # every holdout row (fewer than 5,000)
    noise = importance.features["noise"]
    assert noise.negligible
    for feature in relied_on:
        figure = importance.features[feature]
        assert not figure.negligible, feature
        assert figure.mean > noise.mean + 2 * (figure.std + noise.std), feature
    ranking = list(importance.features)
    assert ranking.index("noise") > max(ranking.index(f) for f in relied_on)
    means = [f.mean for f in importance.features.values()]
    assert means == sorted(means, reverse=True)
    top = ranking[0]
    assert f"importance: {top} {importance.features[top].mean:.3f}, " in report.summary()
    assert f"on {importance.rows:,} holdout rows" in report.summary()


def test_the_importance_survives_metadata_json(tmp_path: Path) -> None:
    report = train_model(with_noise("diabetes"), "target", tmp_path / "d", seed=0)
    model = LoadedModel.load(tmp_path / "d")
    stored, reason = stored_importance(model.metadata)
    assert reason == ""
    assert stored == report.importance
    assert stored is not None and list(stored.features) == list(report.importance.features)  # type: ignore[union-attr]
    # Through JSON text and back: the same figures, the same order.
    again = PermutationImportance.from_dict(json.loads(json.dumps(stored.as_dict())))
    assert again == stored
    assert set(model.metadata[METADATA_KEY]["features"]) == {"bmi", "s5", "bp", "noise"}


def test_the_same_rows_and_seed_give_the_same_figures() -> None:
    frame = with_noise("breast_cancer")
    features, truth = frame.drop(columns="target"), frame["target"].to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(features[:300], truth[:300])
    first, _ = compute_importance("binary", model, features[300:], truth[300:], on="reference")
    second, _ = compute_importance("binary", model, features[300:], truth[300:], on="reference")
    other, _ = compute_importance(
        "binary", model, features[300:], truth[300:], on="reference", seed=1
    )
    assert first is not None and first == second
    assert other is not None and other != first


def test_the_cost_is_bounded_by_a_seeded_sample(tmp_path: Path) -> None:
    frame = with_noise("breast_cancer")
    features, truth = frame.drop(columns="target"), frame["target"].to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(features, truth)
    found, _ = compute_importance("binary", model, features, truth, on="reference", max_rows=200)
    assert found is not None and found.rows == 200


def test_too_few_rows_or_one_class_give_a_reason_not_an_error() -> None:
    frame = with_noise("breast_cancer")
    features, truth = frame.drop(columns="target"), frame["target"].to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(features, truth)
    few, reason = compute_importance("binary", model, features[:10], truth[:10], on="reference")
    assert few is None and reason == "only 10 reference rows with a target (at least 20)"
    malignant = truth == 0
    one, reason = compute_importance(
        "binary", model, features[malignant], truth[malignant], on="reference"
    )
    assert (one, reason) == (
        None,
        "the reference rows hold one class only: ROC AUC is undefined on them",
    )


def test_negligible_means_within_two_spreads_of_nothing_or_tiny() -> None:
    assert FeatureImportance(0.12, 0.01).negligible is False
    assert FeatureImportance(0.02, 0.01).negligible is True  # 0.02 - 2 * 0.01 = 0
    assert FeatureImportance(-0.01, 0.003).negligible is True
    assert FeatureImportance(0.0015, 0.0003).negligible is True  # agreed on, but tiny
    assert FeatureImportance(float("nan"), 0.0).negligible is True


def test_register_with_a_target_computes_it_on_the_reference_rows(tmp_path: Path) -> None:
    frame = with_noise("wine")
    features = frame.drop(columns="target")
    fitted = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    fitted.fit(features.iloc[::2], frame["target"].iloc[::2])
    skops.io.dump(fitted, tmp_path / "wine.skops")
    frame.iloc[1::2].to_csv(tmp_path / "reference.csv", index=False)
    report = register_pipeline(
        tmp_path / "wine.skops",
        tmp_path / "reference.csv",
        tmp_path / "models",
        name="wine",
        target="target",
    )
    assert report.importance is not None and report.importance_note == ""
    assert (report.importance.scorer, report.importance.on) == ("accuracy", "reference")
    assert report.importance.rows == len(frame.iloc[1::2])
    assert list(report.importance.features)[-1] == "noise"
    assert "importance: " in report.summary()
    stored, _ = stored_importance(LoadedModel.load(report.resolved.path).metadata)
    assert stored == report.importance


def test_register_without_a_target_has_no_importance_and_says_why(tmp_path: Path) -> None:
    frame = with_noise("breast_cancer")
    features = frame.drop(columns="target")
    fitted = make_pipeline(StandardScaler(), LogisticRegression()).fit(features, frame["target"])
    skops.io.dump(fitted, tmp_path / "cancer.skops")
    features.to_parquet(tmp_path / "reference.parquet")
    report = register_pipeline(
        tmp_path / "cancer.skops",
        tmp_path / "reference.parquet",
        tmp_path / "models",
        name="cancer",
    )
    assert report.importance is None
    assert "no permutation importance: registered without a target" in report.summary()
    model = LoadedModel.load(report.resolved.path)
    assert model.metadata[METADATA_KEY] == {"unavailable": "registered without a target"}
    assert stored_importance(model.metadata) == (None, "registered without a target")
    assert len(model.predict(features.iloc[:5]).scores) == 5


def test_a_version_written_before_importance_still_loads_and_says_so(tmp_path: Path) -> None:
    train_model(with_noise("diabetes"), "target", tmp_path / "old", seed=0)
    path = tmp_path / "old" / "metadata.json"
    metadata = json.loads(path.read_text())
    del metadata[METADATA_KEY]
    path.write_text(json.dumps(metadata))
    model = LoadedModel.load(tmp_path / "old")
    found, reason = stored_importance(model.metadata)
    assert found is None
    assert reason.startswith("it was written before scorestream stored one")
