"""Model kinds: which kind a target (or a fitted estimator) calls for, and its estimator.

Rule of ``task="auto"`` (:func:`infer_task`), on the target values present:

1. exactly two distinct values: **binary**;
2. booleans, integers, strings (or floats that are all whole numbers, as an integer column
   with gaps reads from a CSV) with at most :data:`MAX_AUTO_CLASSES` distinct values:
   **multiclass**;
3. numbers otherwise (floats with fractions, or more distinct whole numbers than that):
   **regression**;
4. strings with more distinct values than that are refused: name the task explicitly.

A fitted estimator (``scorestream models register``) tells its kind itself
(:func:`kind_of_estimator`): ``predict_proba`` with two classes is binary, with more is
multiclass, anything else with ``predict`` is regression.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

from scorestream.exceptions import ModelError, SchemaError

#: What ``scorestream train --task`` accepts.
Task = Literal["auto", "binary", "multiclass", "regression"]
TASKS: tuple[str, ...] = get_args(Task)
#: Classifier of binary and multi-class models.
Classifier = Literal["logistic", "hgb"]
#: Regressor of regression models.
Regressor = Literal["ridge", "hgb"]
#: Most distinct target values ``auto`` still reads as classes.
MAX_AUTO_CLASSES = 50


def infer_task(target: pd.Series) -> Literal["binary", "multiclass", "regression"]:
    """The kind of model ``target`` (its non-missing values) calls for; see the module doc.

    Examples
    --------
    >>> infer_task(pd.Series([0, 1, 1])), infer_task(pd.Series(["a", "b", "c"]))
    ('binary', 'multiclass')
    >>> infer_task(pd.Series([0.5, 1.25, 3.0]))
    'regression'

    Raises
    ------
    SchemaError
        If the target has fewer than two values, or too many string values to be classes.
    """
    present = target.dropna()
    distinct = int(present.nunique())
    if distinct < 2:
        raise SchemaError(f"the target needs at least two distinct values, found {distinct}")
    if distinct == 2:
        return "binary"
    numeric = pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present)
    if not numeric:
        if distinct <= MAX_AUTO_CLASSES:
            return "multiclass"
        raise SchemaError(
            f"the target has {distinct} distinct non-numeric values, more than "
            f"{MAX_AUTO_CLASSES} classes: pass --task multiclass if that is intended"
        )
    values = present.to_numpy(dtype=np.float64)
    whole = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
    if whole and distinct <= MAX_AUTO_CLASSES:
        return "multiclass"
    return "regression"


def resolve_task(task: str, target: pd.Series) -> Literal["binary", "multiclass", "regression"]:
    """``task`` itself, or :func:`infer_task` for ``"auto"``; checks it fits the target.

    Raises
    ------
    SchemaError
        If the task is unknown, or a classifier task meets too few classes, or regression
        a target that is not numeric.
    """
    if task not in TASKS:
        raise SchemaError(f"task must be one of {list(TASKS)}, got {task!r}")
    if task == "auto":
        return infer_task(target)
    # A binary task's classes are checked (and explained) by train._binary_classes.
    present = target.dropna()
    distinct = int(present.nunique())
    if task == "multiclass" and distinct < 2:
        raise SchemaError(f"multiclass needs at least two target values, found {distinct}")
    numeric = pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present)
    if task == "regression" and not numeric:
        raise SchemaError(f"regression needs a numeric target, got {present.dtype}")
    return task  # type: ignore[return-value]


def build_estimator(
    kind: str, *, classifier: Classifier = "logistic", regressor: Regressor = "ridge", seed: int
) -> tuple[str, Any]:
    """The pipeline step name and the unfitted estimator for ``kind``.

    Classifiers are the ``classifier`` step (as binary models have always been named, which
    keeps their version hash), regressors the ``regressor`` step.
    """
    if kind == "regression":
        from sklearn.ensemble import HistGradientBoostingRegressor
        from sklearn.linear_model import Ridge

        if regressor == "ridge":
            return "regressor", Ridge(alpha=1.0)
        if regressor == "hgb":
            return "regressor", HistGradientBoostingRegressor(random_state=seed)
        raise ValueError(f"regressor must be 'ridge' or 'hgb', got {regressor!r}")
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    if classifier == "logistic":
        return "classifier", LogisticRegression(max_iter=2000, random_state=seed)
    if classifier == "hgb":
        return "classifier", HistGradientBoostingClassifier(random_state=seed)
    raise ValueError(f"classifier must be 'logistic' or 'hgb', got {classifier!r}")


def kind_of_estimator(pipeline: Any) -> Literal["binary", "multiclass", "regression"]:
    """The kind a fitted estimator predicts (see the module doc).

    Raises
    ------
    ModelError
        If it has neither ``predict_proba`` with classes nor ``predict``.
    """
    classes = getattr(pipeline, "classes_", None)
    if hasattr(pipeline, "predict_proba") and classes is not None:
        return "binary" if len(classes) == 2 else "multiclass"
    if hasattr(pipeline, "predict"):
        return "regression"
    raise ModelError(f"{type(pipeline).__name__} has neither predict_proba nor predict")


def plain_values(values: Any) -> list[Any]:
    """Class values as plain Python values (JSON-serialisable), in their order."""
    return [v.item() if isinstance(v, np.generic) else v for v in list(values)]


def reference_outputs(
    kind: str, pipeline: Any, features: pd.DataFrame, classes: list[Any]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[Any] | None, npt.NDArray[np.float64] | None]:
    """Score, predicted class (multiclass) and probabilities of reference rows.

    The same as :meth:`LoadedModel.predict` computes for live records, so the reference
    profile's ``_score`` and ``_predicted_class`` bins hold the same quantities as the
    worker's counts: binary the positive-class probability, multiclass the top
    probability and its class, regression the prediction.
    """
    if kind == "regression":
        return np.asarray(pipeline.predict(features), dtype=np.float64), None, None
    probabilities = np.asarray(pipeline.predict_proba(features), dtype=np.float64)
    if kind == "binary":
        return probabilities[:, 1].copy(), None, probabilities
    top = probabilities.argmax(axis=1)
    labels = np.asarray(classes, dtype=object)[top]
    return probabilities[np.arange(len(top)), top], labels, probabilities
