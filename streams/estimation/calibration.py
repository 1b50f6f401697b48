"""The calibrator: a model's score -> the probability that matters, fitted on held-out rows.

Confidence-based performance estimation (CBPE) needs, for every score, the probability
that the true label is positive (binary) or that the predicted class is right (multiclass).
A classifier's raw probabilities are rarely exactly that, so a monotone map is fitted on
rows the model did not learn from (the training holdout, or the reference data of
``scorestream models register``):

- **binary**: calibrated ``P(y = positive | score)``;
- **multiclass**: calibrated ``P(prediction correct | top-class probability)``, and, for
  the expected per-class confusion, where the wrong predictions of each predicted class
  went on the holdout (:attr:`Calibration.error_destinations`).

Why isotonic regression, not Platt scaling: it assumes only that a higher score never
means a lower probability, which every sensible classifier satisfies, where Platt assumes
a sigmoid shape that boosted trees and over-regularised logistic models often miss; it is
also what NannyML's CBPE uses, so the benchmark compares like with like. Its weakness,
steps fitted to few rows, is what the bootstrap replicates measure: the calibrator is
refitted on :data:`BOOTSTRAP_REPLICATES` resamples of the holdout and the spread of the
estimate across them is part of the band (:mod:`.cbpe`).

Every map is a list of breakpoints ``(x, y)``, evaluated with linear interpolation between
them and clipped at both ends: exactly what ``sklearn.isotonic.IsotonicRegression`` with
``out_of_bounds="clip"`` predicts, and plain JSON (``calibration.json``).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from scorestream.exceptions import ModelError

#: File of a model directory holding the calibration (listed in ``metadata.json``).
CALIBRATION_FILE = "calibration.json"
#: Version of the file's layout.
CALIBRATION_FORMAT = 1
#: Refits on resamples of the holdout, stored to measure the calibrator's own error.
BOOTSTRAP_REPLICATES = 50
#: Pseudo-successes and pseudo-failures added to each isotonic block (Jeffreys' prior).
PRIOR = 0.5
#: Fewest holdout rows a calibration is fitted on; with fewer, estimation is unavailable.
MIN_ROWS = 30


@dataclass(frozen=True)
class IsotonicMap:
    """A monotone map from score to probability, as breakpoints.

    Parameters
    ----------
    x, y : tuple of float
        Breakpoints, ``x`` increasing; between them the map is linear, outside it is flat.

    Examples
    --------
    >>> m = IsotonicMap((0.2, 0.8), (0.1, 0.9))
    >>> m(np.array([0.0, 0.5, 1.0])).round(2).tolist()
    [0.1, 0.5, 0.9]
    """

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y) or not self.x:
            raise ValueError("an isotonic map needs as many x as y breakpoints, at least one")

    def __call__(self, scores: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The calibrated probability of each score."""
        return np.interp(np.asarray(scores, dtype=np.float64), self.x, self.y)

    @classmethod
    def fit(
        cls, scores: npt.ArrayLike, outcomes: npt.ArrayLike, *, prior: float = PRIOR
    ) -> IsotonicMap:
        """Fit ``P(outcome = 1 | score)`` by isotonic regression (increasing).

        Each block of the fit (rows sharing one fitted value) then gets ``prior``
        pseudo-successes and as many pseudo-failures, and the blocks are made monotone
        again: a top block of 300 rows without an error is 0.998, not a certain 1, whose
        draws would never vary. ``prior=0`` is scikit-learn's fit exactly.
        """
        from sklearn.isotonic import IsotonicRegression

        x = np.asarray(scores, dtype=np.float64)
        y = np.asarray(outcomes, dtype=np.float64)

        def fitted(target: npt.NDArray[np.float64]) -> IsotonicRegression:
            model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            return model.fit(x, target)

        model = fitted(y)
        if prior > 0:
            _, block = np.unique(model.predict(x), return_inverse=True)
            successes = np.bincount(block, weights=y)
            sizes = np.bincount(block).astype(np.float64)
            model = fitted(((successes + prior) / (sizes + 2 * prior))[block])
        return cls(
            tuple(float(v) for v in model.X_thresholds_),
            tuple(float(v) for v in model.y_thresholds_),
        )

    def to_dict(self) -> dict[str, list[float]]:
        """Plain JSON: ``{"x": [...], "y": [...]}``."""
        return {"x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, data: Any) -> IsotonicMap:
        """Inverse of :meth:`to_dict`."""
        x = tuple(float(v) for v in data["x"])
        y = tuple(float(v) for v in data["y"])
        if any(b < a for a, b in itertools.pairwise(x)):
            raise ValueError("breakpoints must be sorted by x")
        if any(not 0.0 <= v <= 1.0 for v in y):
            raise ValueError("calibrated probabilities must lie in [0, 1]")
        return cls(x, y)


@dataclass(frozen=True)
class Calibration:
    """A model's calibration: the map, its bootstrap replicates, and (multiclass) error routes.

    Attributes
    ----------
    kind : str
        ``binary`` or ``multiclass``.
    classes : list of str
        The model's classes as text (the ``label`` column of ``scores``), in model order.
    mapping : IsotonicMap
        binary: score -> P(positive); multiclass: top probability -> P(correct).
    replicates : tuple of IsotonicMap
        The same fit on bootstrap resamples of the holdout.
    error_destinations : list of list of float
        multiclass: row ``k`` is the share of the holdout's wrong predictions of class
        ``k`` whose true class was each class (diagonal 0; a half-count prior keeps
        unseen routes possible). Empty for binary.
    rows : int
        Holdout rows the calibration was fitted on.
    """

    kind: str
    classes: list[str]
    mapping: IsotonicMap
    replicates: tuple[IsotonicMap, ...] = ()
    error_destinations: list[list[float]] = field(default_factory=list)
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (``calibration.json``)."""
        return {
            "format": CALIBRATION_FORMAT,
            "method": "isotonic",
            "kind": self.kind,
            "classes": self.classes,
            "rows": self.rows,
            "mapping": self.mapping.to_dict(),
            "replicates": [m.to_dict() for m in self.replicates],
            "error_destinations": self.error_destinations,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Calibration:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        ValueError
            If the document is not a calibration of a known format.
        """
        if not isinstance(data, dict) or data.get("format") != CALIBRATION_FORMAT:
            raise ValueError(f"not a calibration of format {CALIBRATION_FORMAT}")
        kind = data.get("kind")
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"unknown calibration kind {kind!r}")
        classes = [str(c) for c in data["classes"]]
        destinations = [[float(v) for v in row] for row in data.get("error_destinations", [])]
        if kind == "multiclass" and (
            len(destinations) != len(classes) or any(len(r) != len(classes) for r in destinations)
        ):
            raise ValueError("error_destinations must be a square matrix over the classes")
        return cls(
            kind=kind,
            classes=classes,
            mapping=IsotonicMap.from_dict(data["mapping"]),
            replicates=tuple(IsotonicMap.from_dict(m) for m in data.get("replicates", [])),
            error_destinations=destinations,
            rows=int(data.get("rows", 0)),
        )

    def describe(self, file: str) -> dict[str, Any]:
        """What ``metadata.json`` says of it: file, method, kind and holdout rows."""
        return {"file": file, "method": "isotonic", "kind": self.kind, "rows": self.rows}

    def save(self, path: str | Path) -> None:
        """Write as JSON."""
        Path(path).write_text(json.dumps(self.to_dict()) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """Read a file written by :meth:`save`.

        Raises
        ------
        ModelError
            If the file is unreadable or not a calibration.
        """
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ModelError(f"cannot read calibration {path}: {error}") from error


def fit_binary(
    scores: npt.ArrayLike,
    positive: npt.ArrayLike,
    classes: list[Any],
    *,
    seed: int = 0,
    replicates: int = BOOTSTRAP_REPLICATES,
) -> Calibration:
    """Calibrate a binary model on held-out rows: score -> P(positive).

    Parameters
    ----------
    scores : array-like
        Positive-class probabilities the model gave the held-out rows.
    positive : array-like of {0, 1}
        Whether each row's true label is the positive class.
    classes : list
        ``[negative, positive]``.
    seed : int
        Seed of the bootstrap resamples.
    replicates : int
        Number of bootstrap refits.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> s = rng.uniform(size=2000)
    >>> c = fit_binary(s, rng.uniform(size=2000) < s, [0, 1], replicates=3)
    >>> bool(abs(c.mapping(np.array([0.5]))[0] - 0.5) < 0.1), len(c.replicates)
    (True, 3)
    """
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(positive, dtype=np.float64)
    rng = np.random.default_rng(seed)
    return Calibration(
        kind="binary",
        classes=[str(c) for c in classes],
        mapping=IsotonicMap.fit(x, y),
        replicates=_replicates(x, y, rng, replicates),
        rows=len(x),
    )


def fit_multiclass(
    probabilities: npt.ArrayLike,
    truth: npt.ArrayLike,
    classes: list[Any],
    *,
    seed: int = 0,
    replicates: int = BOOTSTRAP_REPLICATES,
) -> Calibration:
    """Calibrate a multi-class model on held-out rows: top probability -> P(correct).

    Parameters
    ----------
    probabilities : array-like of shape (rows, classes)
        The model's class probabilities on the held-out rows, columns in ``classes`` order.
    truth : array-like
        The true class of each row (values of ``classes``).
    classes : list
        The model's classes.

    Examples
    --------
    >>> p = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6]] * 20)
    >>> c = fit_multiclass(p, ["a", "b", "b"] * 20, ["a", "b", "c"], replicates=2)
    >>> round(float(c.mapping(np.array([0.6]))[0]), 2)
    0.02
    >>> [round(v, 2) for v in c.error_destinations[2]]
    [0.02, 0.98, 0.0]
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    top = probs.argmax(axis=1)
    confidence = probs[np.arange(len(top)), top]
    index = {str(c): i for i, c in enumerate(classes)}
    true_index = np.asarray([index.get(str(v), -1) for v in np.asarray(truth)], dtype=np.int64)
    correct = (true_index == top).astype(np.float64)
    k = len(classes)
    wrong = np.zeros((k, k))
    known = (true_index >= 0) & (true_index != top)
    np.add.at(wrong, (top[known], true_index[known]), 1.0)
    # Half a count on every off-diagonal route: a route the holdout never showed is rare,
    # not impossible.
    wrong += 0.5 * (1.0 - np.eye(k))
    destinations = wrong / wrong.sum(axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    return Calibration(
        kind="multiclass",
        classes=[str(c) for c in classes],
        mapping=IsotonicMap.fit(confidence, correct),
        replicates=_replicates(confidence, correct, rng, replicates),
        error_destinations=[[float(v) for v in row] for row in destinations],
        rows=len(confidence),
    )


def calibrate(
    kind: str,
    probabilities: npt.ArrayLike,
    truth: npt.ArrayLike,
    classes: list[Any],
    *,
    seed: int = 0,
) -> Calibration | None:
    """The calibration of a classifier from its held-out rows, or ``None`` if there is none.

    What ``scorestream train`` and ``scorestream models register`` call.

    Parameters
    ----------
    kind : str
        ``binary``, ``multiclass`` or ``regression`` (no calibration: realised only).
    probabilities : array-like of shape (rows, classes)
        The model's ``predict_proba`` on the held-out rows.
    truth : array-like
        binary: 1 where the true label is the positive class, else 0; multiclass: the true
        class values.
    classes : list
        The model's classes (binary: ``[negative, positive]``).
    seed : int
        Seed of the bootstrap replicates.

    Returns
    -------
    Calibration or None
        ``None`` for regression, or with fewer than :data:`MIN_ROWS` held-out rows, or
        when a binary holdout holds only one class.

    Examples
    --------
    >>> calibrate("regression", [[1.0]], [1.0], []) is None
    True
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    values = np.asarray(truth)
    if kind == "regression" or len(values) < MIN_ROWS:
        return None
    if kind == "binary":
        positive = values.astype(np.float64)
        if positive.min() == positive.max():
            return None
        return fit_binary(probs[:, 1], positive, classes, seed=seed)
    return fit_multiclass(probs, values, classes, seed=seed)


def _replicates(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], rng: np.random.Generator, n: int
) -> tuple[IsotonicMap, ...]:
    maps = []
    for _ in range(n):
        pick = rng.integers(0, len(x), size=len(x))
        maps.append(IsotonicMap.fit(x[pick], y[pick]))
    return tuple(maps)


def load_calibration(model_dir: str | Path) -> tuple[Calibration | None, str]:
    """A model directory's calibration, or ``None`` and the reason estimation is unavailable.

    Examples
    --------
    >>> calibration, reason = load_calibration("/nonexistent")
    >>> calibration is None, reason.startswith("no calibration.json in /nonexistent")
    (True, True)
    """
    path = Path(model_dir) / CALIBRATION_FILE
    if not path.is_file():
        return None, (
            f"no {CALIBRATION_FILE} in {model_dir}: the model was trained before performance "
            "estimation or without labelled held-out rows; retrain or re-register it with "
            "its target"
        )
    try:
        return Calibration.load(path), ""
    except ModelError as error:
        return None, str(error)
