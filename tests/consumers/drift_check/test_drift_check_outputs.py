"""A multi-class model's predicted class is checked as a model output, like the score."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
from sklearn.datasets import load_wine

from scorestream.consumers.drift_check.check import (
    Period,
    PeriodCounts,
    check_rows,
    evaluate,
    evaluate_outputs,
)
from scorestream.streams.drift.decision import DriftThresholds
from scorestream.streams.drift.profile import (
    PREDICTED_CLASS_FEATURE,
    SCORE_FEATURE,
    ReferenceProfile,
)


def test_predicted_class_is_an_output_outside_the_family() -> None:
    wine = load_wine(as_frame=True).frame
    features = wine.drop(columns="target")
    numeric = list(features.columns)
    rng = np.random.default_rng(3)
    profile = ReferenceProfile.from_frame(
        features,
        numeric,
        [],
        scores=rng.uniform(0.5, 1.0, len(wine)),
        predicted_classes=wine["target"].to_numpy(),
    )
    # A day of the same inputs, but the model now predicts class 2 almost always.
    day = features.sample(2000, replace=True, random_state=4).reset_index(drop=True)
    labels = np.where(rng.random(2000) < 0.9, 2, 0)
    counts = {
        name: PeriodCounts(c, int(c.sum()), 0, 0.0, 0.0)
        for name, c in profile.count(day, scores=rng.uniform(0.5, 1.0, 2000), labels=labels).items()
    }
    decisions, score = evaluate(profile, counts, DriftThresholds())
    names = {d.feature for d in decisions}
    assert PREDICTED_CLASS_FEATURE not in names and SCORE_FEATURE not in names
    assert names == set(numeric)
    assert score is not None and score.feature == SCORE_FEATURE
    outputs = evaluate_outputs(profile, counts, DriftThresholds())
    assert [d.feature for d in outputs] == [PREDICTED_CLASS_FEATURE]
    assert outputs[0].level == "drift"
    rows = check_rows(
        Period.day(date(2026, 5, 1)), "v1", profile, outputs, counts, datetime(2026, 5, 2)
    )
    assert rows[0]["feature"] == PREDICTED_CLASS_FEATURE
    assert rows[0]["kind"] == "categorical" and rows[0]["n_current"] == 2000
    # Models without the output (binary, regression) get no row for it.
    plain = ReferenceProfile.from_frame(features, numeric, [], scores=np.ones(len(wine)))
    assert evaluate_outputs(plain, {}, DriftThresholds()) == []
    assert PREDICTED_CLASS_FEATURE not in plain
