"""CBPE on real data: the estimate against the realised metric, without and with shift.

(a) no shift: the realised metric lies in the estimate's band in at least 90% of random
splits; (b) covariate shift (days drawn toward rows the model is unsure of): the realised
metric falls and the estimate follows it, within the band; (c) concept shift (the label
rule flips for part of the rows): the estimate does not move while the realised metric
drops below the band, the documented limit.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from scorestream.streams.estimation.calibration import fit_binary
from scorestream.streams.estimation.cbpe import BINARY_METRICS, CBPE, MULTICLASS_METRICS
from scorestream.streams.estimation.histogram import ScoreHistogram
from tests.streams.estimation.datasets import Split, bananas, digits, split

#: Random splits of the no-shift tests (a coverage of 90% is 36 of them); the shift tests
#: take the first SHIFTED.
SPLITS = 40
SHIFTED = 20
DAY = 600


def realised_binary(
    truth: npt.NDArray[np.int64], scores: npt.NDArray[np.float64]
) -> dict[str, float]:
    predicted = (scores >= 0.5).astype(int)
    return {
        "accuracy": accuracy_score(truth, predicted),
        "precision": precision_score(truth, predicted, zero_division=0),
        "recall": recall_score(truth, predicted, zero_division=0),
        "f1": f1_score(truth, predicted, zero_division=0),
        "roc_auc": roc_auc_score(truth, scores),
    }


def realised_multiclass(
    truth: npt.NDArray[np.int64], predicted: npt.NDArray[np.int64]
) -> dict[str, float]:
    return {
        "accuracy": accuracy_score(truth, predicted),
        "macro_f1": f1_score(truth, predicted, average="macro"),
    }


@pytest.fixture(scope="module")
def banana_splits() -> list[Split]:
    x, y = bananas()
    return [
        split(x, y, seed=seed, fit_rows=1500, holdout_rows=600, multiclass=False)
        for seed in range(SPLITS)
    ]


@pytest.fixture(scope="module")
def digit_splits() -> list[Split]:
    x, y = digits()
    return [
        split(x, y, seed=seed, fit_rows=600, holdout_rows=600, multiclass=True)
        for seed in range(SPLITS)
    ]


def uncertain_day(s: Split, rng: np.random.Generator, size: int) -> npt.NDArray[np.int64]:
    """Rows drawn toward where the model is least sure (its top probability lowest)."""
    top = s.probabilities.max(axis=1)
    weights = (1.0 - top) ** 2 + 1e-4
    return rng.choice(len(top), size=size, p=weights / weights.sum())


def coverage(hits: dict[str, list[bool]]) -> dict[str, float]:
    return {name: float(np.mean(found)) for name, found in hits.items()}


def test_binary_no_shift_realised_within_band_in_90_percent_of_splits(
    banana_splits: list[Split],
) -> None:
    hits: dict[str, list[bool]] = {name: [] for name in BINARY_METRICS}
    for seed, s in enumerate(banana_splits):
        day = np.random.default_rng(100 + seed).choice(len(s.y), size=DAY, replace=False)
        scores = s.probabilities[day, 1]
        estimate = CBPE(s.calibration, seed=seed).estimate(ScoreHistogram.from_scores(scores))
        for name, value in realised_binary(s.y[day], scores).items():
            hits[name].append(estimate[name].contains(value))
    assert all(share >= 0.9 for share in coverage(hits).values()), coverage(hits)


def test_binary_covariate_shift_estimate_follows_realised_down(
    banana_splits: list[Split],
) -> None:
    hits: dict[str, list[bool]] = {name: [] for name in BINARY_METRICS}
    drops_realised, drops_estimated = [], []
    for seed, s in enumerate(banana_splits[:SHIFTED]):
        rng = np.random.default_rng(200 + seed)
        plain = rng.choice(len(s.y), size=DAY, replace=False)
        shifted = uncertain_day(s, rng, DAY)
        cbpe = CBPE(s.calibration, seed=seed)
        before = cbpe.estimate(ScoreHistogram.from_scores(s.probabilities[plain, 1]))
        after = cbpe.estimate(ScoreHistogram.from_scores(s.probabilities[shifted, 1]))
        realised_before = realised_binary(s.y[plain], s.probabilities[plain, 1])
        realised = realised_binary(s.y[shifted], s.probabilities[shifted, 1])
        drops_realised.append(realised_before["accuracy"] - realised["accuracy"])
        drops_estimated.append(before["accuracy"].value - after["accuracy"].value)
        for name, value in realised.items():
            hits[name].append(after[name].contains(value))
    # The shift is real: accuracy falls by more than 0.15, and the estimate falls with it.
    assert np.mean(drops_realised) > 0.15
    assert abs(np.mean(drops_estimated) - np.mean(drops_realised)) < 0.03
    assert all(share >= 0.9 for share in coverage(hits).values()), coverage(hits)


def test_binary_concept_shift_estimate_does_not_move_while_realised_drops(
    banana_splits: list[Split],
) -> None:
    below = []
    for seed, s in enumerate(banana_splits[:SHIFTED]):
        day = np.random.default_rng(300 + seed).choice(len(s.y), size=DAY, replace=False)
        scores = s.probabilities[day, 1]
        truth = s.y[day].copy()
        # The label rule flips where the first feature is above its median: same inputs,
        # same scores, other labels.
        flipped = s.x[day, 0] > np.median(s.x[day, 0])
        truth[flipped] = 1 - truth[flipped]
        cbpe = CBPE(s.calibration, seed=seed)
        estimate = cbpe.estimate(ScoreHistogram.from_scores(scores))
        unshifted = cbpe.estimate(ScoreHistogram.from_scores(scores.copy()))
        assert estimate["accuracy"].value == unshifted["accuracy"].value
        realised = realised_binary(truth, scores)
        below.append(realised["accuracy"] < estimate["accuracy"].lower)
        assert realised["accuracy"] < estimate["accuracy"].value - 0.2
    assert all(below)


def test_multiclass_no_shift_realised_within_band_in_90_percent_of_splits(
    digit_splits: list[Split],
) -> None:
    hits: dict[str, list[bool]] = {name: [] for name in MULTICLASS_METRICS}
    for seed, s in enumerate(digit_splits):
        day = np.random.default_rng(400 + seed).choice(len(s.y), size=500, replace=False)
        probabilities = s.probabilities[day]
        predicted = probabilities.argmax(axis=1)
        histogram = ScoreHistogram.from_scores(probabilities.max(axis=1), predicted)
        estimate = CBPE(s.calibration, seed=seed).estimate(histogram)
        for name, value in realised_multiclass(s.y[day], predicted).items():
            hits[name].append(estimate[name].contains(value))
    assert all(share >= 0.9 for share in coverage(hits).values()), coverage(hits)


def test_multiclass_covariate_shift_estimate_follows_realised_down(
    digit_splits: list[Split],
) -> None:
    hits: dict[str, list[bool]] = {name: [] for name in MULTICLASS_METRICS}
    drops, drops_estimated = [], []
    for seed, s in enumerate(digit_splits[:SHIFTED]):
        rng = np.random.default_rng(500 + seed)
        shifted = uncertain_day(s, rng, 500)
        probabilities = s.probabilities[shifted]
        predicted = probabilities.argmax(axis=1)
        histogram = ScoreHistogram.from_scores(probabilities.max(axis=1), predicted)
        estimate = CBPE(s.calibration, seed=seed).estimate(histogram)
        realised = realised_multiclass(s.y[shifted], predicted)
        drops.append(accuracy_score(s.y, s.probabilities.argmax(axis=1)) - realised["accuracy"])
        whole = ScoreHistogram.from_scores(
            s.probabilities.max(axis=1), s.probabilities.argmax(axis=1)
        )
        before = CBPE(s.calibration, seed=seed).estimate(whole)
        drops_estimated.append(before["accuracy"].value - estimate["accuracy"].value)
        for name, value in realised.items():
            hits[name].append(estimate[name].contains(value))
    assert np.mean(drops) > 0.1
    assert abs(np.mean(drops_estimated) - np.mean(drops)) < 0.03
    # Measured, and stated in the README: toward the rows the model is least sure of, the
    # calibration rests on the holdout's few uncertain rows and the band is too narrow
    # more often than under no shift (17 and 16 of 20 splits).
    assert coverage(hits)["accuracy"] >= 0.85, coverage(hits)
    assert coverage(hits)["macro_f1"] >= 0.8, coverage(hits)


def test_multiclass_concept_shift_estimate_does_not_move_while_realised_drops(
    digit_splits: list[Split],
) -> None:
    for seed, s in enumerate(digit_splits[:SHIFTED]):
        day = np.random.default_rng(600 + seed).choice(len(s.y), size=500, replace=False)
        probabilities = s.probabilities[day]
        predicted = probabilities.argmax(axis=1)
        truth = s.y[day].copy()
        # The rule changes for two digits: what was a 3 is now called an 8 and back.
        truth = np.where(truth == 3, 8, np.where(truth == 8, 3, truth))
        histogram = ScoreHistogram.from_scores(probabilities.max(axis=1), predicted)
        estimate = CBPE(s.calibration, seed=seed).estimate(histogram)
        realised = realised_multiclass(truth, predicted)
        assert realised["accuracy"] < estimate["accuracy"].lower
        assert realised["macro_f1"] < estimate["macro_f1"].lower


def test_estimate_from_fine_bins_matches_the_estimate_from_raw_scores() -> None:
    # The binning error is bounded: the expected accuracy from bins of width 0.001 differs
    # from the one on every raw score by no more than Estimate.binning_bound.
    x, y = bananas()
    s = split(x, y, seed=7, fit_rows=1500, holdout_rows=600, multiclass=False)
    scores = s.probabilities[:, 1]
    estimate = CBPE(s.calibration).estimate(ScoreHistogram.from_scores(scores))
    p = s.calibration.mapping(scores)
    exact = float(np.mean(np.where(scores >= 0.5, p, 1 - p)))
    assert abs(estimate["accuracy"].value - exact) <= estimate.binning_bound + 1e-12
    assert estimate.binning_bound < 0.01


def test_merged_histograms_give_the_estimate_of_all_their_scores() -> None:
    rng = np.random.default_rng(3)
    s = rng.uniform(size=5000)
    calibration = fit_binary(s, rng.uniform(size=5000) < s, [0, 1], replicates=4)
    a, b = rng.uniform(size=700), rng.beta(2, 5, size=900)
    cbpe = CBPE(calibration)
    merged = ScoreHistogram.from_scores(a).merge(ScoreHistogram.from_scores(b))
    whole = ScoreHistogram.from_scores(np.concatenate([a, b]))
    assert cbpe.estimate(merged) == cbpe.estimate(whole)


def test_no_scores_is_refused() -> None:
    rng = np.random.default_rng(0)
    s = rng.uniform(size=200)
    calibration = fit_binary(s, s > 0.5, [0, 1], replicates=2)
    with pytest.raises(ValueError, match="no scores"):
        CBPE(calibration).estimate(ScoreHistogram.from_scores([]))
