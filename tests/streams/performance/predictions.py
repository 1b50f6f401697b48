"""Held-out predictions of small models on data sets bundled with scikit-learn.

Each model is trained on half of its data set and predicts the other half, so the scores
look like a deployed model's (not its training fit). Cached: the tests share them.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


@cache
def cancer(model: str = "logistic") -> tuple[Floats, npt.NDArray[np.bool_]]:
    """Breast cancer: positive-class scores and truths of the held-out half.

    ``logistic`` gives continuous scores; ``forest`` (50 trees) gives scores that are
    multiples of 0.02, so many records tie and share bins with both classes.
    """
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5, random_state=0)
    if model == "logistic":
        # Weak regularisation on few features: the scores overlap between the classes.
        estimator = make_pipeline(StandardScaler(), LogisticRegression(C=0.01))
        estimator.fit(x_train[:, :4], y_train)
        scores = estimator.predict_proba(x_test[:, :4])[:, 1]
    else:
        estimator = RandomForestClassifier(n_estimators=50, max_depth=3, random_state=0)
        estimator.fit(x_train, y_train)
        scores = estimator.predict_proba(x_test)[:, 1]
    return np.asarray(scores, dtype=np.float64), np.asarray(y_test == 1)


@cache
def wine() -> tuple[list[str], Floats, list[str]]:
    """Wine: true classes (text), class probabilities and class names of the held-out half."""
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_wine(return_X_y=True)
    names = np.array(["barolo", "grignolino", "barbera"])
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5, random_state=0)
    # Two features only, so the model makes mistakes worth measuring.
    estimator = make_pipeline(StandardScaler(), LogisticRegression())
    estimator.fit(x_train[:, [0, 1]], names[y_train])
    probabilities = estimator.predict_proba(x_test[:, [0, 1]])
    classes = [str(c) for c in estimator.classes_]
    return [str(v) for v in names[y_test]], np.asarray(probabilities, dtype=np.float64), classes


@cache
def diabetes() -> tuple[Floats, Floats]:
    """Diabetes: predictions and true values of the held-out half."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import train_test_split

    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5, random_state=0)
    predicted = Ridge(alpha=0.5).fit(x_train, y_train).predict(x_test)
    return np.asarray(predicted, dtype=np.float64), np.asarray(y_test, dtype=np.float64)
