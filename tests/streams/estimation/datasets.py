"""Real data for the estimation tests: river's Bananas (binary), scikit-learn's digits (10 classes).

Each split fits a model on part of a reference sample, calibrates it on the rest of that
sample (as ``scorestream train`` does on its holdout) and leaves a pool of unseen rows to
draw scoring days from.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scorestream.streams.estimation.calibration import Calibration, calibrate


@functools.cache
def bananas() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    from river import datasets

    rows = list(datasets.Bananas())
    x = np.asarray([[r[0][k] for k in sorted(r[0])] for r in rows], dtype=np.float64)
    y = np.asarray([int(r[1]) for r in rows], dtype=np.int64)
    return x, y


@functools.cache
def digits() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return np.asarray(data.data, dtype=np.float64), np.asarray(data.target, dtype=np.int64)


@dataclass(frozen=True)
class Split:
    """A fitted model, its calibration, and the unseen rows (features, truth, outputs)."""

    model: Any
    calibration: Calibration
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.int64]
    probabilities: npt.NDArray[np.float64]


def split(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.int64],
    *,
    seed: int,
    fit_rows: int,
    holdout_rows: int,
    multiclass: bool,
) -> Split:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    order = np.random.default_rng(seed).permutation(len(y))
    fit, holdout, rest = np.split(order, [fit_rows, fit_rows + holdout_rows])
    model = (
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        if multiclass
        # Bananas' classes are two interleaved arcs: a neighbourhood vote fits them in
        # milliseconds, where a linear model cannot.
        else make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=30))
    )
    model.fit(x[fit], y[fit])
    classes = [int(c) for c in model.classes_]
    kind = "multiclass" if multiclass else "binary"
    calibration = calibrate(kind, model.predict_proba(x[holdout]), y[holdout], classes, seed=seed)
    assert calibration is not None
    return Split(model, calibration, x[rest], y[rest], model.predict_proba(x[rest]))
