"""The Python API on real data sets that ship with scikit-learn and river (no network).

Random halves of a data set are one population: no drift, on any seed. A real change of one
column (a measurement 15 % larger, a category's share moved) is a drift of that column
alone. And a profile built from a frame is the one the model registry writes for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from river import datasets as river_datasets
from sklearn.datasets import load_breast_cancer, load_wine

from scorestream import Profile, compare
from scorestream.streams.model.registry import LoadedModel

SEEDS = range(10)


def _halves(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = np.random.default_rng(seed).permutation(len(frame))
    half = len(frame) // 2
    return frame.iloc[rows[:half]], frame.iloc[rows[half:]]


def _solar_flares() -> pd.DataFrame:
    # Three categorical columns (text) and seven small integer counts.
    return pd.DataFrame([x for x, _ in river_datasets.SolarFlare()])


@pytest.mark.parametrize(
    "load",
    [
        lambda: load_breast_cancer(as_frame=True).data,
        lambda: load_wine(as_frame=True).data,
        _solar_flares,
    ],
    ids=["breast_cancer", "wine", "river-SolarFlare"],
)
def test_random_halves_are_never_drift(load) -> None:  # type: ignore[no-untyped-def]
    frame = load()
    for seed in SEEDS:
        reference, current = _halves(frame, seed)
        report = compare(Profile.from_frame(reference), current)
        assert report.errors == {}
        assert len(report.decisions) == frame.shape[1]
        assert report.drifted == [], (seed, report.summary)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_larger_measurement_is_drift_of_that_feature_alone(seed: int) -> None:
    frame = load_breast_cancer(as_frame=True).data
    reference, current = _halves(frame, seed)
    profile = Profile.from_frame(reference)
    larger = current.assign(**{"mean radius": current["mean radius"] * 1.15})
    report = compare(profile, larger)
    assert report.drifted == ["mean radius"], report.summary
    assert report.verdict == "drift"
    row = report["mean radius"]
    assert row["cur_mean"] == pytest.approx(1.15 * current["mean radius"].mean())
    assert row["ref_mean"] == pytest.approx(reference["mean radius"].mean())


def test_a_category_that_takes_over_is_drift_of_that_feature_alone() -> None:
    frame = _solar_flares()
    reference, current = _halves(frame, seed=3)
    # The three categorical columns only: below 1,000 records a side, the chi-square
    # p-value is a Monte-Carlo one of at least 1/2,000, which Benjamini-Hochberg over all
    # ten features and their side tests lifts to about 0.016, above alpha.
    categorical = ["zurich-class", "largest-spot-size", "spot-distribution"]
    profile = Profile.from_frame(reference, categorical=categorical)
    assert profile.features == tuple(categorical)
    # A third of the current flares re-labelled to the rarest Zurich class.
    rarest = profile.reference["zurich-class"].categories[-1]
    moved = current.copy()
    moved.loc[moved.index[: len(moved) // 3], "zurich-class"] = rarest
    report = compare(profile, moved)
    assert report.drifted == ["zurich-class"], report.summary


def test_a_profile_from_a_frame_is_the_one_the_registry_writes(tmp_path: Path) -> None:
    """``models register`` on the same reference data writes the same bins, score included."""
    import skops.io
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from scorestream.streams.model.register import register_pipeline

    data = load_breast_cancer(as_frame=True).frame
    data.columns = [str(c).replace(" ", "_") for c in data.columns]
    features = data.drop(columns="target")
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    pipeline.fit(features[:350], data["target"][:350])
    skops.io.dump(pipeline, tmp_path / "model.skops")
    data[350:].to_parquet(tmp_path / "reference.parquet")
    report = register_pipeline(
        tmp_path / "model.skops",
        tmp_path / "reference.parquet",
        tmp_path / "models",
        name="cancer",
        target="target",
    )
    model = LoadedModel.load(report.resolved.path)

    reference = data[350:]
    scores = model.predict_scores(reference[model.schema.names])
    ours = Profile.from_frame(reference, target="target", scores=scores)
    assert ours.features == tuple(model.schema.names)
    for name in ours.features:
        assert ours.reference[name].to_dict() == model.profile[name].to_dict(), name
    # The score: the same bins; edges equal but for the last bits of the predictions.
    score, registered = ours.reference["_score"], model.profile["_score"]
    np.testing.assert_array_equal(score.reference_counts, registered.reference_counts)
    np.testing.assert_allclose(score.edges, registered.edges, rtol=1e-12, atol=1e-30)
    # And a saved profile is read back, from its file or from the model's directory.
    ours.save(tmp_path / "profile.json")
    assert Profile.load(tmp_path / "profile.json").reference.to_dict() == ours.reference.to_dict()
    assert Profile.load(report.resolved.path).features == tuple(model.schema.names)
