"""Permutation importance of a model's features, computed once when a version is written.

How much the model's quality falls when one feature's values are shuffled among the rows
(:func:`sklearn.inspection.permutation_importance`), on rows held out of fitting:
``scorestream train``'s holdout, or the reference rows of ``scorestream models register``
that carry the target. The quality is the kind's natural score: ROC AUC (binary), accuracy
(multiclass), R² (regression); all three are 1 at best, so an importance of 0.12 reads as
"12 points of ROC AUC" whatever the model.

It is stored per feature (mean and standard deviation over the shuffles) as ``importance``
in the version's ``metadata.json`` (:data:`METADATA_KEY`), and read back by the daily
check, whose e-mail ranks the drifted features by it: a feature the model barely uses can
drift without moving the model's output.

Cost is bounded: at most :data:`MAX_ROWS` rows (a seeded sample), :data:`REPEATS` shuffles,
and at most :data:`PREDICTION_BUDGET` predicted rows in all (fewer rows for wide tables).
Features are the raw input columns, the ones the drift check watches, not the pipeline's
encoded columns.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

#: The ``metadata.json`` field holding the importance (absent in older versions).
METADATA_KEY = "importance"
#: Rows the importance is computed on, at most (a seeded sample of the held-out rows).
MAX_ROWS = 5_000
#: Shuffles per feature.
REPEATS = 5
#: Rows predicted in all (features x shuffles x rows), at most: wide tables get fewer rows.
PREDICTION_BUDGET = 2_000_000
#: Rows below which the sample is too small to say anything (a ROC AUC on 20 rows).
MIN_ROWS = 20
#: The score each kind's importance is the fall of.
SCORERS: dict[str, str] = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}
#: A fall in score below this (half a point of ROC AUC, accuracy or R²) is negligible even
#: when the shuffles agree on it: five shuffles of a few hundred rows can agree closely on
#: a tiny fall of a pure-noise feature.
NEGLIGIBLE_FALL = 0.005
#: Readable names of the scores, for people.
SCORER_NAMES: dict[str, str] = {"roc_auc": "ROC AUC", "accuracy": "accuracy", "r2": "R²"}


@dataclass(frozen=True)
class FeatureImportance:
    """The fall in score when one feature is shuffled: mean and spread over the shuffles."""

    mean: float
    std: float

    @property
    def negligible(self) -> bool:
        """The model barely uses it: the fall is within two spreads of nothing
        (mean − 2 std ≤ 0), or below :data:`NEGLIGIBLE_FALL`."""
        return not (self.mean - 2 * self.std > 0 and self.mean >= NEGLIGIBLE_FALL)


@dataclass(frozen=True)
class PermutationImportance:
    """A version's permutation importance, as stored in ``metadata.json``.

    Attributes
    ----------
    scorer : str
        ``roc_auc``, ``accuracy`` or ``r2`` (:data:`SCORERS`).
    on : str
        ``holdout`` (``train``) or ``reference`` (``models register``).
    rows, repeats, seed : int
        Rows scored, shuffles per feature, seed of the sample and the shuffles.
    features : dict
        Feature name -> :class:`FeatureImportance`, most important first.
    """

    scorer: str
    on: str
    rows: int
    repeats: int
    seed: int
    features: dict[str, FeatureImportance]

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form (the ``importance`` field of ``metadata.json``)."""
        return {
            "scorer": self.scorer,
            "on": self.on,
            "rows": self.rows,
            "repeats": self.repeats,
            "seed": self.seed,
            "features": {name: {"mean": f.mean, "std": f.std} for name, f in self.features.items()},
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> PermutationImportance:
        """The inverse of :meth:`as_dict`; features are put in order of importance.

        Raises
        ------
        KeyError, TypeError, ValueError
            If ``doc`` is not such a dict.
        """
        features = {
            str(name): FeatureImportance(_float(f["mean"]), _float(f["std"]))
            for name, f in dict(doc["features"]).items()
        }
        return cls(
            scorer=str(doc["scorer"]),
            on=str(doc["on"]),
            rows=int(doc["rows"]),
            repeats=int(doc["repeats"]),
            seed=int(doc["seed"]),
            features=_ranked(features),
        )

    def restricted(self, names: Iterable[str]) -> PermutationImportance:
        """The same importance for ``names`` only (those it knows)."""
        wanted = set(names)
        kept = {n: f for n, f in self.features.items() if n in wanted}
        return PermutationImportance(self.scorer, self.on, self.rows, self.repeats, self.seed, kept)

    def explained(self) -> str:
        """What the figures mean, e.g. "the fall in ROC AUC on 114 holdout rows when ..."."""
        name = SCORER_NAMES.get(self.scorer, self.scorer)
        return (
            f"the fall in {name} on {self.rows:,} {self.on} rows when the feature's values are "
            f"shuffled, mean of {self.repeats} shuffles"
        )

    def summary(self, top: int = 5) -> str:
        """One line for people: the ``top`` features and what the figures are."""
        shown = ", ".join(f"{n} {f.mean:.3f}" for n, f in list(self.features.items())[:top])
        more = f" (+{len(self.features) - top} more)" if len(self.features) > top else ""
        return f"importance: {shown}{more}; {self.explained()}"


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _ranked(features: dict[str, FeatureImportance]) -> dict[str, FeatureImportance]:
    """Most important first; NaN last; ties in the given order."""
    order = sorted(
        features, key=lambda n: -features[n].mean if math.isfinite(features[n].mean) else math.inf
    )
    return {n: features[n] for n in order}


def _score(kind: str, estimator: Any, x: pd.DataFrame, truth: npt.NDArray[Any]) -> float:
    """The kind's score of ``estimator`` on ``x``, with the model directory's conventions.

    Binary: ROC AUC of the second column of ``predict_proba`` (the positive class, as the
    worker scores) against 0/1 truth. Multiclass: accuracy of the most probable class,
    compared as text (a class read from JSON and from a CSV may differ in type).
    Regression: R² of ``predict``.
    """
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    if kind == "binary":
        return float(roc_auc_score(truth, np.asarray(estimator.predict_proba(x))[:, 1]))
    if kind == "multiclass":
        probabilities = np.asarray(estimator.predict_proba(x))
        lookup = np.asarray([str(c) for c in estimator.classes_], dtype=object)
        return float(accuracy_score(truth, lookup[probabilities.argmax(axis=1)]))
    return float(r2_score(truth, np.asarray(estimator.predict(x), dtype=np.float64)))


def compute_importance(
    kind: str,
    pipeline: Any,
    features: pd.DataFrame,
    truth: npt.ArrayLike,
    *,
    on: str,
    seed: int = 0,
    max_rows: int = MAX_ROWS,
    repeats: int = REPEATS,
) -> tuple[PermutationImportance | None, str]:
    """Permutation importance of a fitted pipeline on held-out rows, or why there is none.

    Parameters
    ----------
    kind : {"binary", "multiclass", "regression"}
        The model's kind: it chooses the score (:data:`SCORERS`).
    pipeline
        The fitted pipeline, taking ``features`` as they are.
    features : pandas.DataFrame
        Held-out rows, one column per feature (the raw inputs).
    truth : array-like
        The rows' truth: 0/1 for the positive class (binary), the class values
        (multiclass), numbers (regression).
    on : str
        Where the rows come from, for people: ``holdout`` or ``reference``.
    seed : int
        Seed of the sample and the shuffles: the same rows and seed give the same figures.
    max_rows, repeats : int
        Bounds of the cost (see :data:`MAX_ROWS`, :data:`REPEATS`).

    Returns
    -------
    (PermutationImportance or None, str)
        The importance and ``""``, or None and the reason (too few rows, a score that is
        undefined on them such as ROC AUC with one class, or a pipeline that fails).
    """
    from sklearn.inspection import permutation_importance

    if kind not in SCORERS:
        return None, f"no importance for a model of kind {kind!r}"
    y = np.asarray(truth)
    if kind == "multiclass":
        y = np.asarray([str(v) for v in y], dtype=object)
    n_features = max(features.shape[1], 1)
    budget = max(PREDICTION_BUDGET // (n_features * repeats), MIN_ROWS)
    rows = min(len(features), max_rows, budget)
    if rows < MIN_ROWS:
        return None, f"only {len(features)} {on} rows with a target (at least {MIN_ROWS})"
    if kind == "binary" and np.unique(y).size < 2:
        return None, f"the {on} rows hold one class only: ROC AUC is undefined on them"
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(features), size=rows, replace=False))
    x = features.iloc[chosen].reset_index(drop=True)
    y = y[chosen]

    def scorer(estimator: Any, x_: pd.DataFrame, y_: npt.NDArray[Any]) -> float:
        return _score(kind, estimator, x_, y_)

    try:
        baseline = scorer(pipeline, x, y)
        if not math.isfinite(baseline):
            name = SCORER_NAMES[SCORERS[kind]]
            raise ValueError(f"the model's {name} is undefined on the {rows:,} sampled rows")
        found = permutation_importance(
            pipeline, x, y, scoring=scorer, n_repeats=repeats, random_state=seed, n_jobs=1
        )
    except Exception as error:  # a user's pipeline or data: the version is written without
        return None, f"cannot compute permutation importance: {type(error).__name__}: {error}"
    importance = {
        str(name): FeatureImportance(float(mean), float(std))
        for name, mean, std in zip(
            features.columns, found.importances_mean, found.importances_std, strict=True
        )
    }
    return (
        PermutationImportance(SCORERS[kind], on, rows, repeats, seed, _ranked(importance)),
        "",
    )


def unavailable(reason: str) -> dict[str, str]:
    """The ``importance`` field of a version written without one, saying why."""
    return {"unavailable": reason}


def metadata_field(importance: PermutationImportance | None, note: str) -> dict[str, Any]:
    """The ``importance`` field of ``metadata.json``: the figures, or why there are none."""
    return importance.as_dict() if importance is not None else unavailable(note)


def stored_importance(metadata: dict[str, Any]) -> tuple[PermutationImportance | None, str]:
    """A version's importance from its ``metadata.json``, or None and why, plainly.

    The reason reads after "the model version has no permutation importance: ".
    """
    doc = metadata.get(METADATA_KEY)
    if doc is None:
        return None, (
            "it was written before scorestream stored one (train or register it again to get it)"
        )
    if isinstance(doc, dict) and "unavailable" in doc:
        return None, str(doc["unavailable"])
    try:
        return PermutationImportance.from_dict(doc), ""
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        return None, f"its stored importance is unreadable ({error!r})"
