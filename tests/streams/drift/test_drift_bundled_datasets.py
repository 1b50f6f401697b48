"""The check on data nobody here wrote: scikit-learn's and river's bundled data sets.

Only data that ships inside the packages (no network). On each data set the check must
complete on every feature, random reference/current splits must flag nothing, and a split
along one feature must name that feature.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from river import datasets as river_datasets
from sklearn import datasets as sklearn_datasets

from scorestream.consumers.drift_check.check import PeriodCounts, evaluate
from scorestream.streams.drift.decision import DriftThresholds, FeatureDecision
from scorestream.streams.drift.profile import ReferenceProfile

SPLITS = 40


def _sklearn(load: Callable[..., object]) -> Callable[[], pd.DataFrame]:
    def frame() -> pd.DataFrame:
        return load(as_frame=True).data  # type: ignore[attr-defined]

    return frame


def _river(dataset: type) -> Callable[[], pd.DataFrame]:
    def frame() -> pd.DataFrame:
        # The target is data too (and the only non-date column of some time series).
        return pd.DataFrame([{**x, "target": y} for x, y in dataset()])

    return frame


DATASETS: dict[str, Callable[[], pd.DataFrame]] = {
    "sklearn-wine": _sklearn(sklearn_datasets.load_wine),
    "sklearn-diabetes": _sklearn(sklearn_datasets.load_diabetes),
    "sklearn-digits": _sklearn(sklearn_datasets.load_digits),
    "sklearn-iris": _sklearn(sklearn_datasets.load_iris),
    "river-TrumpApproval": _river(river_datasets.TrumpApproval),
    "river-ChickWeights": _river(river_datasets.ChickWeights),
    "river-Phishing": _river(river_datasets.Phishing),
    "river-SolarFlare": _river(river_datasets.SolarFlare),
    "river-Bananas": _river(river_datasets.Bananas),
    "river-Yeast": _river(river_datasets.Yeast),
    "river-AirlinePassengers": _river(river_datasets.AirlinePassengers),
    "river-WaterFlow": _river(river_datasets.WaterFlow),
}


def _columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Numeric and categorical columns; dates and other objects are not model features."""
    numeric, categorical = [], []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column) or column.dtype == object:
            if column.map(lambda v: isinstance(v, str | bool) or v is None).all():
                categorical.append(str(name))
        elif pd.api.types.is_numeric_dtype(column):
            numeric.append(str(name))
    return numeric, categorical


def _check(
    reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str], categorical: list[str]
) -> list[FeatureDecision]:
    profile = ReferenceProfile.from_frame(reference, numeric, categorical)
    counts = {}
    for name, c in profile.count(current).items():
        # The sums the stream keeps: of the present values (numeric), zero otherwise.
        x = (
            pd.to_numeric(current[name], errors="coerce").to_numpy(dtype=float)
            if name in numeric
            else np.zeros(0)
        )
        x = x[np.isfinite(x)]
        counts[name] = PeriodCounts(c, int(c.sum()), 0, float(x.sum()), float((x * x).sum()))
    decisions, _ = evaluate(profile, counts, DriftThresholds())
    return decisions


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_bundled_dataset(name: str) -> None:
    frame = DATASETS[name]().reset_index(drop=True)
    numeric, categorical = _columns(frame)
    assert numeric or categorical
    rng = np.random.default_rng(sum(map(ord, name)))

    # Random halves: every feature gets a verdict, and none is drift.
    for _ in range(SPLITS):
        order = rng.permutation(len(frame))
        half = len(frame) // 2
        decisions = _check(frame.iloc[order[:half]], frame.iloc[order[half:]], numeric, categorical)
        assert {d.feature for d in decisions} == {*numeric, *categorical}
        assert [d for d in decisions if d.level == "error"] == []
        flagged = [(d.feature, d.reasons) for d in decisions if d.level == "drift"]
        assert flagged == [], flagged

    # Split along the feature with most distinct values: low half against high half.
    target = max(numeric or categorical, key=lambda c: frame[c].nunique())
    key = frame[target].astype(str if target in categorical else float).to_numpy()
    ordered = frame.iloc[np.argsort(key, kind="stable")]
    half = len(frame) // 2
    decisions = _check(ordered.iloc[:half], ordered.iloc[half:], numeric, categorical)
    drifted = {d.feature for d in decisions if d.level == "drift"}
    assert target in drifted, [(d.feature, d.level, d.reasons) for d in decisions]
