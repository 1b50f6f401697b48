"""Train a model on a table and write it as a self-describing model directory.

A model directory holds everything the scoring worker and the drift check need::

    model_dir/
        pipeline.skops          the fitted scikit-learn Pipeline (skops format, no pickle)
        schema.json             feature schema: types, nullability, validation bounds
        reference_profile.json  training-data bins for drift statistics (incl. the outputs)
        metadata.json           name, version, task, target, classes, metrics, libraries,
                                permutation importance (:mod:`.importance`)
        calibration.json        classifiers: score -> probability map fitted on the holdout,
                                for performance estimation (:mod:`scorestream.streams.estimation`)

Three kinds of model (``task``; see :mod:`.tasks` for how ``auto`` chooses):

- **binary**: the target has exactly two values (booleans, 0/1, or two strings). The score
  of a record is the probability of the positive class, by default the larger of the two
  values (``1``, ``True``, or the later string in sort order; choose with
  ``positive_class``).
- **multiclass**: the score is the top class probability, the label the predicted class,
  and every class's probability travels with the score; the reference profile bins the
  predicted class as ``_predicted_class`` besides the score.
- **regression**: the score is the predicted value.

Holdout metrics per kind are in :mod:`.metrics`.
"""

from __future__ import annotations

import json
import platform
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scorestream.exceptions import ModelError, SchemaError
from scorestream.streams.estimation.calibration import CALIBRATION_FILE, calibrate
from scorestream.streams.model.archive import file_sha256, pipeline_version
from scorestream.streams.model.importance import (
    PermutationImportance,
    compute_importance,
    metadata_field,
)
from scorestream.streams.model.metrics import (
    HoldoutMetrics,  # noqa: F401  (re-exported: its home before model kinds)
    Metrics,
    binary_metrics,
    multiclass_metrics,
    regression_metrics,
)
from scorestream.streams.model.schema import FeatureSchema, coerce_features
from scorestream.streams.model.tasks import (
    Classifier,
    Regressor,
    Task,
    build_estimator,
    plain_values,
    reference_outputs,
    resolve_task,
)

PIPELINE_FILE = "pipeline.skops"
SCHEMA_FILE = "schema.json"
PROFILE_FILE = "reference_profile.json"
METADATA_FILE = "metadata.json"
MODEL_FILES: tuple[str, ...] = (PIPELINE_FILE, SCHEMA_FILE, PROFILE_FILE, METADATA_FILE)
#: Files a model directory may hold: older models and regressors have no calibration.
OPTIONAL_MODEL_FILES: tuple[str, ...] = (CALIBRATION_FILE,)

#: Version of the model directory layout, stored in ``metadata.json``.
MODEL_FORMAT = 2  # 2: metadata.json has pipeline_sha256


@dataclass(frozen=True)
class TrainReport:
    """What :func:`train_model` wrote.

    Attributes
    ----------
    model_dir : pathlib.Path
        The model directory.
    name, version : str
        Model name and content version (see :func:`pipeline_version`).
    target : str
        Label column.
    classes : list
        ``[negative, positive]`` label values (binary), every class (multiclass), or ``[]``.
    features : list of str
        Feature names in pipeline order.
    metrics : HoldoutMetrics, MulticlassMetrics or RegressionMetrics
        Holdout quality, per kind (see :mod:`.metrics`).
    pipeline : sklearn.pipeline.Pipeline
        The fitted pipeline, as written to ``pipeline.skops``.
    task : str
        ``binary``, ``multiclass`` or ``regression``.
    importance : PermutationImportance or None
        Permutation importance on the holdout (:mod:`.importance`), None when it could not
        be computed.
    """

    model_dir: Path
    name: str
    version: str
    target: str
    classes: list[Any]
    features: list[str]
    metrics: Metrics
    pipeline: Any = field(repr=False, compare=False)
    task: str = "binary"
    importance: PermutationImportance | None = field(default=None, compare=False)

    def summary(self) -> str:
        """A few human-readable lines: what was written and how good it is."""
        if self.task == "binary":
            what = f"positive class {self.classes[1]!r}"
        elif self.task == "multiclass":
            what = f"{len(self.classes)} classes"
        else:
            what = "the predicted value is the score"
        return (
            f"model {self.name!r} version {self.version} -> {self.model_dir}\n"
            f"{self.task}: target {self.target!r} ({what}), {len(self.features)} features\n"
            f"holdout: {self.metrics.summary()}"
            + (f"\n{self.importance.summary()}" if self.importance is not None else "")
        )


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a training table from CSV, Parquet or JSON lines (``.jsonl``/``.ndjson``).

    Compressed CSV and JSON lines (``.gz``, ``.bz2``, ``.zst``, ...) work too.

    Raises
    ------
    SchemaError
        If the file is missing, has another extension, or cannot be parsed.
    """
    path = Path(path)
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] in {".gz", ".bz2", ".xz", ".zst", ".zip"}:
        suffixes = suffixes[:-1]
    kind = suffixes[-1] if suffixes else ""
    if kind not in {".csv", ".parquet", ".jsonl", ".ndjson"}:
        raise SchemaError(f"cannot read {path}: expected a .csv, .parquet, .jsonl or .ndjson file")
    if not path.is_file():
        raise SchemaError(f"cannot read {path}: no such file")
    try:
        if kind == ".csv":
            return pd.read_csv(path)
        if kind == ".parquet":
            return pd.read_parquet(path)
        # dtype=False keeps values as JSON typed them: no column that merely looks like a
        # date is turned into datetimes behind the user's back.
        return pd.read_json(path, lines=True, dtype=False)
    except (OSError, ValueError, ImportError) as error:
        raise SchemaError(f"cannot read {path}: {error}") from error


def train_from_file(
    path: str | Path,
    target: str,
    model_dir: str | Path,
    *,
    name: str = "model",
    task: Task = "auto",
    classifier: Classifier = "logistic",
    regressor: Regressor = "ridge",
    seed: int = 0,
    test_size: float = 0.2,
    positive_class: Any = None,
) -> TrainReport:
    """Read a table with :func:`read_table` and train on it with :func:`train_model`."""
    return train_model(
        read_table(path),
        target,
        model_dir,
        name=name,
        task=task,
        classifier=classifier,
        regressor=regressor,
        seed=seed,
        test_size=test_size,
        positive_class=positive_class,
    )


@dataclass(frozen=True)
class _Fitted:
    """A fitted pipeline, its classes and holdout metrics, and its reference outputs."""

    pipeline: Any
    classes: list[Any]
    metrics: Metrics
    reference: pd.DataFrame
    scores: np.ndarray
    predicted_classes: np.ndarray | None
    calibration: Any = None
    #: Permutation importance on the holdout, or None and why (:func:`.compute_importance`).
    importance: tuple[PermutationImportance | None, str] = (None, "")


def train_model(
    frame: pd.DataFrame,
    target: str,
    model_dir: str | Path,
    *,
    name: str = "model",
    task: Task = "auto",
    classifier: Classifier = "logistic",
    regressor: Regressor = "ridge",
    seed: int = 0,
    test_size: float = 0.2,
    positive_class: Any = None,
) -> TrainReport:
    """Train a model of the given kind on ``frame`` and write the model directory.

    Every column except ``target``, ``id`` and ``event_time`` is a feature. Numeric
    features are median-imputed and standardised, categorical ones filled with
    ``"missing"`` and one-hot encoded (unknown categories ignored at scoring time). The
    model is fitted on a ``1 - test_size`` share of the rows (stratified by class for
    classifiers) and evaluated on the rest. Rows without a target value are dropped.

    Parameters
    ----------
    frame : pandas.DataFrame
        Training data.
    target : str
        Label column.
    model_dir : str or pathlib.Path
        Directory to write; replaced atomically if it already holds a model.
    name : str
        Model name stored in the metadata and carried by every score.
    task : {"auto", "binary", "multiclass", "regression"}
        The kind of model; ``auto`` reads it from the target (:func:`.tasks.infer_task`).
    classifier : {"logistic", "hgb"}
        Binary and multiclass: ``LogisticRegression`` or ``HistGradientBoostingClassifier``.
    regressor : {"ridge", "hgb"}
        Regression: ``Ridge`` or ``HistGradientBoostingRegressor``.
    seed : int
        Seed of the split and the estimator; the same data and seed give the same
        pipeline and the same version.
    test_size : float
        Share of rows held out for the metrics.
    positive_class : optional
        Binary: the label whose probability is the score; default the larger label.

    Returns
    -------
    TrainReport

    Raises
    ------
    SchemaError
        If the target is absent or does not suit the task, or the features cannot be used.
    ModelError
        If ``model_dir`` exists and is not a model directory, or cannot be written.
    """
    if target not in frame.columns:
        raise SchemaError(f"target column {target!r} is not in the data")
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be between 0 and 1, got {test_size}")
    model_dir = Path(model_dir)
    _check_writable(model_dir)

    labelled = frame[frame[target].notna()].reset_index(drop=True)
    n_dropped = len(frame) - len(labelled)
    kind = resolve_task(task, labelled[target])
    schema = FeatureSchema.from_frame(labelled, target)
    features = coerce_features(labelled, schema)
    step, estimator = build_estimator(kind, classifier=classifier, regressor=regressor, seed=seed)
    pipeline = build_pipeline(schema, classifier, seed, estimator=(step, estimator))
    if kind == "binary":
        fitted = _fit_binary(pipeline, features, labelled[target], positive_class, test_size, seed)
    elif kind == "multiclass":
        fitted = _fit_multiclass(pipeline, features, labelled[target], test_size, seed)
    else:
        fitted = _fit_regression(pipeline, features, labelled[target], test_size, seed)

    from scorestream.streams.drift.profile import ReferenceProfile

    profile = ReferenceProfile.from_frame(
        fitted.reference,
        numeric=schema.numeric,
        categorical=schema.categorical,
        scores=fitted.scores,
        predicted_classes=fitted.predicted_classes,
    )
    details: dict[str, Any] = {"task": kind, "target": target, "classes": fitted.classes}
    if kind == "binary":
        details["positive_class"] = fitted.classes[1]
    details["features"] = schema.names
    details["classifier" if kind != "regression" else "regressor"] = (
        classifier if kind != "regression" else regressor
    )
    details |= {
        "seed": seed,
        "test_size": test_size,
        "rows_without_target": n_dropped,
        "metrics": fitted.metrics.as_dict(),
        "importance": metadata_field(*fitted.importance),
    }
    version = write_model_dir(
        model_dir, fitted.pipeline, schema, profile, name, details, fitted.calibration
    )
    return TrainReport(
        model_dir=model_dir,
        name=name,
        version=version,
        target=target,
        classes=fitted.classes,
        features=schema.names,
        metrics=fitted.metrics,
        pipeline=fitted.pipeline,
        task=kind,
        importance=fitted.importance[0],
    )


def _split(
    features: pd.DataFrame, labels: Any, test_size: float, seed: int, *, stratify: bool
) -> tuple[pd.DataFrame, pd.DataFrame, Any, Any]:
    from sklearn.model_selection import train_test_split

    try:
        train_x, test_x, train_y, test_y = train_test_split(
            features,
            labels,
            test_size=test_size,
            random_state=seed,
            stratify=labels if stratify else None,
        )
    except ValueError as error:
        raise SchemaError(f"cannot split {len(labels)} rows for training: {error}") from error
    return train_x.reset_index(drop=True), test_x, train_y, test_y


def _fit_binary(
    pipeline: Any,
    features: pd.DataFrame,
    target: pd.Series,
    positive_class: Any,
    test_size: float,
    seed: int,
) -> _Fitted:
    classes = _binary_classes(target, positive_class)
    labels = (target == classes[1]).to_numpy().astype(np.int64)
    if int(labels.sum()) < 2 or int(len(labels) - labels.sum()) < 2:
        raise SchemaError("each target class needs at least two rows to split and evaluate")
    train_x, test_x, train_y, test_y = _split(features, labels, test_size, seed, stratify=True)
    pipeline.fit(train_x, train_y)
    holdout = pipeline.predict_proba(test_x)
    metrics = binary_metrics(test_y, holdout[:, 1], n_train=len(train_y))
    scores, _, _ = reference_outputs("binary", pipeline, train_x, classes)
    calibration = calibrate("binary", holdout, test_y, classes, seed=seed)
    importance = compute_importance("binary", pipeline, test_x, test_y, on="holdout", seed=seed)
    return _Fitted(pipeline, classes, metrics, train_x, scores, None, calibration, importance)


def _fit_multiclass(
    pipeline: Any, features: pd.DataFrame, target: pd.Series, test_size: float, seed: int
) -> _Fitted:
    values = target.to_numpy()
    if target.dtype == object:
        try:
            sorted(set(values.tolist()))
        except TypeError as error:
            raise SchemaError(f"target values cannot be ordered: {error}") from error
    sizes = target.value_counts()
    rare = sizes[sizes < 2]
    if len(rare):
        raise SchemaError(
            f"each target class needs at least two rows to split and evaluate; "
            f"{len(rare)} have one: {plain_values(rare.index[:10])}"
        )
    train_x, test_x, train_y, test_y = _split(features, values, test_size, seed, stratify=True)
    pipeline.fit(train_x, train_y)
    classes = plain_values(pipeline.classes_)
    holdout = pipeline.predict_proba(test_x)
    metrics = multiclass_metrics(test_y, holdout, classes, n_train=len(train_y))
    scores, predicted, _ = reference_outputs("multiclass", pipeline, train_x, classes)
    calibration = calibrate("multiclass", holdout, test_y, classes, seed=seed)
    importance = compute_importance("multiclass", pipeline, test_x, test_y, on="holdout", seed=seed)
    return _Fitted(pipeline, classes, metrics, train_x, scores, predicted, calibration, importance)


def _fit_regression(
    pipeline: Any, features: pd.DataFrame, target: pd.Series, test_size: float, seed: int
) -> _Fitted:
    values = target.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise SchemaError("a regression target must be finite")
    train_x, test_x, train_y, test_y = _split(features, values, test_size, seed, stratify=False)
    pipeline.fit(train_x, train_y)
    metrics = regression_metrics(test_y, pipeline.predict(test_x), n_train=len(train_y))
    scores, _, _ = reference_outputs("regression", pipeline, train_x, [])
    importance = compute_importance("regression", pipeline, test_x, test_y, on="holdout", seed=seed)
    return _Fitted(pipeline, [], metrics, train_x, scores, None, importance=importance)


def write_model_dir(
    model_dir: Path,
    pipeline: Any,
    schema: FeatureSchema,
    profile: Any,
    name: str,
    details: dict[str, Any],
    calibration: Any = None,
) -> str:
    """Write a model directory atomically; returns the pipeline's version.

    ``details`` (target, classes, metrics, ...) go into ``metadata.json`` after the fields
    every model has (format, name, version, pipeline_sha256, created_at) and before
    ``libraries``. A ``calibration`` (:class:`~scorestream.streams.estimation.calibration.
    Calibration`) is written as ``calibration.json`` and described in the metadata.

    Raises
    ------
    ModelError
        If the directory cannot be written.
    """
    staging = _staging_dir(model_dir)
    try:
        import skops.io

        skops.io.dump(pipeline, staging / PIPELINE_FILE)
        version = pipeline_version(staging / PIPELINE_FILE)
        pipeline_sha256 = file_sha256(staging / PIPELINE_FILE)
        schema.save(staging / SCHEMA_FILE)
        profile.save(staging / PROFILE_FILE)
        if calibration is not None:
            calibration.save(staging / CALIBRATION_FILE)
            details = details | {"calibration": calibration.describe(CALIBRATION_FILE)}
        metadata = {
            "format": MODEL_FORMAT,
            "name": name,
            "version": version,
            # The version covers what skops reads; this covers every byte of the file.
            "pipeline_sha256": pipeline_sha256,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **details,
            "libraries": library_versions(),
        }
        (staging / METADATA_FILE).write_text(
            json.dumps(metadata, indent=2) + "\n", encoding="utf-8"
        )
        _replace_dir(staging, model_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return version


def build_pipeline(
    schema: FeatureSchema,
    classifier: Classifier,
    seed: int,
    *,
    estimator: tuple[str, Any] | None = None,
) -> Any:
    """Return the unfitted preprocessing + estimator Pipeline for ``schema``.

    The estimator is ``classifier``'s (as the ``classifier`` step) unless ``estimator``
    names a step and an estimator (see :func:`.tasks.build_estimator`).
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    step, model = estimator or build_estimator("binary", classifier=classifier, seed=seed)
    transformers: list[tuple[str, Any, list[str]]] = []
    if schema.numeric:
        numeric = Pipeline(
            [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        )
        transformers.append(("numeric", numeric, schema.numeric))
    if schema.categorical:
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                ("encode", OneHotEncoder(handle_unknown="ignore")),
            ]
        )
        transformers.append(("categorical", categorical, schema.categorical))
    return Pipeline([("preprocess", ColumnTransformer(transformers)), (step, model)])


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries that a saved pipeline depends on."""
    import sklearn
    import skops

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "skops": skops.__version__,
    }


def _binary_classes(labels: pd.Series, positive_class: Any) -> list[Any]:
    values = pd.unique(labels)
    try:
        ordered = sorted(values.tolist())
    except TypeError as error:
        raise SchemaError(f"target values cannot be ordered: {error}") from error
    if len(ordered) != 2:
        shown = ordered[:10]
        raise SchemaError(
            f"binary classification needs exactly two target values, found {len(ordered)}: "
            f"{shown}{' ...' if len(ordered) > 10 else ''}"
        )
    if positive_class is not None:
        if positive_class not in ordered:
            raise SchemaError(f"positive_class {positive_class!r} is not one of {ordered}")
        ordered = [value for value in ordered if value != positive_class] + [positive_class]
    # Plain Python values, so that the classes can be written to JSON.
    return [value.item() if isinstance(value, np.generic) else value for value in ordered]


def _check_writable(model_dir: Path) -> None:
    if model_dir.exists() and not model_dir.is_dir():
        raise ModelError(f"{model_dir} exists and is not a directory")
    if (
        model_dir.is_dir()
        and any(model_dir.iterdir())
        and not (model_dir / METADATA_FILE).is_file()
    ):
        raise ModelError(f"refusing to replace {model_dir}: it is not empty and not a model")


def _staging_dir(model_dir: Path) -> Path:
    # Staged beside the target so that the final rename stays on one file system.
    try:
        model_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.", dir=model_dir.parent))
        staging.chmod(0o755)
    except OSError as error:
        raise ModelError(f"cannot write model directory {model_dir}: {error}") from error
    return staging


def _replace_dir(staging: Path, model_dir: Path) -> None:
    """Move ``staging`` to ``model_dir``: readers never see a half-written model."""
    try:
        if model_dir.exists():
            retired = model_dir.with_name(f".{model_dir.name}.old-{uuid.uuid4().hex[:8]}")
            model_dir.rename(retired)
            staging.rename(model_dir)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(model_dir)
    except OSError as error:
        raise ModelError(f"cannot write model directory {model_dir}: {error}") from error
