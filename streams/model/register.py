"""Bring your own model: a fitted scikit-learn Pipeline and reference data -> a model version.

:func:`register_pipeline` turns a pipeline someone fitted elsewhere into a model directory
exactly like ``scorestream train`` writes (see :mod:`.train`) and adds it to the registry:

1. the pipeline is read from a **skops** file, trusting only the types
   :meth:`LoadedModel.load` trusts (scikit-learn and numpy; :func:`.registry.is_allowed_type`);
   a file with any other type is refused, the types listed in the message. A
   **joblib/pickle** file is read only with ``trust_pickle=True``: unpickling runs
   whatever code the file names, so it is for files whose author you trust as you trust
   your own code. The pipeline is re-saved as ``pipeline.skops``, and a pickled pipeline
   holding a type outside the allow-list is refused all the same (every later load would
   refuse it anyway: workers never run code a model file chose);
2. the reference data (csv, parquet or jsonl) gives the feature schema
   (:meth:`FeatureSchema.from_frame`, restricted to the pipeline's ``feature_names_in_``
   when it has them, in that order) and the reference profile, the model's outputs on it
   included;
3. the kind comes from the estimator (``predict_proba`` with two classes: binary, more:
   multiclass, else regression), unless ``task`` says otherwise;
4. when the target column is in the reference data, the metrics of the kind are computed
   on it and stored (``metrics_on: "reference"``: they are holdout metrics only if the
   reference rows were held out of fitting), and a classifier's calibration for
   performance estimation is fitted on them (``calibration.json``, see
   :mod:`scorestream.streams.estimation`): it is sound only on rows held out of fitting.
   The same rows give the permutation importance of each feature (:mod:`.importance`),
   which the daily check's e-mail ranks drifted features by; without a target the version
   says why it has none.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scorestream.exceptions import ModelError, SchemaError
from scorestream.streams.estimation.calibration import calibrate
from scorestream.streams.model.archive import check_archive_bounds, file_sha256
from scorestream.streams.model.importance import (
    PermutationImportance,
    compute_importance,
    metadata_field,
)
from scorestream.streams.model.metrics import (
    Metrics,
    binary_metrics,
    multiclass_metrics,
    regression_metrics,
)
from scorestream.streams.model.registry import MODEL_KINDS, is_allowed_type
from scorestream.streams.model.schema import RESERVED_COLUMNS, FeatureSchema, coerce_features
from scorestream.streams.model.source import ResolvedModel
from scorestream.streams.model.tasks import kind_of_estimator, plain_values, reference_outputs
from scorestream.streams.model.train import read_table, write_model_dir
from scorestream.streams.model.versions import ModelRegistry, check_name

#: File endings read as skops archives; anything else is a pickle (joblib writes pickles).
SKOPS_SUFFIXES = frozenset({".skops"})
PICKLE_SUFFIXES = frozenset({".joblib", ".pkl", ".pickle"})


@dataclass(frozen=True)
class RegisterReport:
    """What :func:`register_pipeline` registered."""

    resolved: ResolvedModel
    task: str
    features: list[str]
    classes: list[Any]
    metrics: Metrics | None
    reference_rows: int
    alias: str | None
    #: Permutation importance on the reference rows with a target, or None (see below).
    importance: PermutationImportance | None = None
    #: Why there is no importance ("" when there is).
    importance_note: str = ""

    def summary(self) -> str:
        """A few human-readable lines."""
        lines = [
            f"registered {self.resolved.name}@{self.resolved.version} -> {self.resolved.path}",
            f"{self.task}, {len(self.features)} features, profile of "
            f"{self.reference_rows:,} reference rows",
        ]
        if self.metrics is not None:
            lines.append(f"on the reference: {self.metrics.summary()}")
        if self.importance is not None:
            lines.append(self.importance.summary())
        else:
            lines.append(f"no permutation importance: {self.importance_note}")
        if self.alias:
            lines.append(f"alias {self.alias} -> {self.resolved.version}")
        return "\n".join(lines)


def load_pipeline(path: str | Path, *, trust_pickle: bool = False) -> Any:
    """Read a fitted pipeline from a skops file, or (trusted only) a joblib/pickle file.

    Raises
    ------
    ModelError
        If the file is missing, of another kind, a pickle without ``trust_pickle``, or
        holds types outside the allow-list (listed in the message).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"cannot read pipeline {path}: no such file")
    suffix = path.suffix.lower()
    if suffix in SKOPS_SUFFIXES:
        return _load_skops(path)
    if suffix not in PICKLE_SUFFIXES:
        raise ModelError(
            f"cannot read pipeline {path}: expected a .skops file "
            "(or .joblib/.pkl/.pickle with --trust-pickle)"
        )
    if not trust_pickle:
        raise ModelError(
            f"refusing to unpickle {path}: loading a pickle runs code the file names; save "
            "the pipeline with skops.io.dump, or pass --trust-pickle if you trust its author"
        )
    import joblib

    try:
        # joblib reads plain pickles too. This is the one place a model file may run code,
        # and only because the user said they trust it.
        pipeline = joblib.load(path)
    except Exception as error:
        raise ModelError(f"cannot unpickle {path}: {type(error).__name__}: {error}") from error
    _refuse_foreign_types(pipeline, path)
    return pipeline


def _load_skops(path: Path) -> Any:
    import skops.io

    check_archive_bounds(path)
    try:
        untrusted = skops.io.get_untrusted_types(file=path)
    except Exception as error:
        raise ModelError(f"cannot read pipeline {path}: {error}") from error
    refused = sorted(name for name in untrusted if not is_allowed_type(name))
    if refused:
        raise ModelError(
            f"refusing to load {path}: it contains types outside the allow-list of "
            f"scikit-learn and numpy types: {refused}"
        )
    try:
        return skops.io.load(path, trusted=untrusted)
    except Exception as error:
        raise ModelError(f"cannot load pipeline {path}: {error}") from error


def _refuse_foreign_types(pipeline: Any, path: Path) -> None:
    """Refuse an unpickled pipeline that ``pipeline.skops`` could not be loaded from later."""
    import skops.io

    try:
        dumped = skops.io.dumps(pipeline)
        untrusted = skops.io.get_untrusted_types(data=dumped)
    except Exception as error:
        raise ModelError(f"cannot save {path}'s pipeline with skops: {error}") from error
    refused = sorted(name for name in untrusted if not is_allowed_type(name))
    if refused:
        raise ModelError(
            f"refusing {path}: its pipeline contains types outside the allow-list of "
            f"scikit-learn and numpy types, which workers never load: {refused}"
        )


def register_pipeline(
    pipeline_path: str | Path,
    reference_path: str | Path,
    models_dir: str | Path,
    *,
    name: str,
    target: str | None = None,
    task: str | None = None,
    alias: str | None = None,
    trust_pickle: bool = False,
) -> RegisterReport:
    """Register a fitted pipeline with its reference data as a new version of ``name``.

    Parameters
    ----------
    pipeline_path
        ``.skops`` file, or ``.joblib``/``.pkl``/``.pickle`` with ``trust_pickle``.
    reference_path
        Reference data (csv, parquet, jsonl): the schema, profile and metrics come from it.
    models_dir
        The registry root (``MODELS_DIR``).
    name
        Model name.
    target
        Label column of the reference data, if any: left out of the features; its rows
        give the metrics.
    task
        ``binary``, ``multiclass`` or ``regression``; default (``None`` or ``"auto"``) the
        estimator's own kind.
    alias
        Point this alias at the new version (e.g. ``champion``).
    trust_pickle
        Allow a pickle file (unsafe: it runs code from the file).

    Raises
    ------
    ModelError
        If the pipeline cannot be read safely or does not predict on the reference data.
    SchemaError
        If the reference data cannot be read or lacks the pipeline's features.
    """
    check_name(name)
    if alias is not None:
        check_name(alias, "alias")
    pipeline = load_pipeline(pipeline_path, trust_pickle=trust_pickle)
    frame = read_table(reference_path)
    if target is not None and target not in frame.columns:
        raise SchemaError(f"target column {target!r} is not in {reference_path}")
    schema = _schema(frame, target, pipeline, reference_path)
    kind = _kind(pipeline, task)
    classes = plain_values(getattr(pipeline, "classes_", [])) if kind != "regression" else []
    features = coerce_features(frame, schema)
    try:
        scores, predicted, probabilities = reference_outputs(kind, pipeline, features, classes)
    except Exception as error:
        raise ModelError(
            f"the pipeline cannot predict on {reference_path}: {type(error).__name__}: {error}"
        ) from error
    if scores.shape != (len(frame),):
        raise ModelError(f"the pipeline gives {scores.shape} predictions for {len(frame)} rows")

    metrics = None
    calibration = None
    importance: tuple[PermutationImportance | None, str] = (None, "registered without a target")
    if target is not None:
        metrics = _metrics(kind, frame[target], scores, probabilities, classes)
        calibration = _calibration(kind, frame[target], probabilities, classes)
        importance = _importance(kind, pipeline, features, frame[target], classes)

    from scorestream.streams.drift.profile import ReferenceProfile

    profile = ReferenceProfile.from_frame(
        features,
        numeric=schema.numeric,
        categorical=schema.categorical,
        scores=scores,
        predicted_classes=predicted,
    )
    pipeline_file = Path(pipeline_path)
    details: dict[str, Any] = {
        "task": kind,
        "target": target,
        "classes": classes,
    }
    if kind == "binary":
        details["positive_class"] = classes[1]
    details |= {
        "features": schema.names,
        "estimator": _estimator_name(pipeline),
        "source": {
            "file": pipeline_file.name,
            "format": "skops" if pipeline_file.suffix.lower() in SKOPS_SUFFIXES else "pickle",
            "sha256": file_sha256(pipeline_file),
            "reference": Path(reference_path).name,
        },
        "reference_rows": len(frame),
        "metrics_on": "reference" if metrics is not None else None,
        "metrics": metrics.as_dict() if metrics is not None else {},
        "importance": metadata_field(*importance),
    }
    registry = ModelRegistry(models_dir)
    staging_root = Path(tempfile.mkdtemp(prefix=".register."))
    try:
        write_model_dir(staging_root / name, pipeline, schema, profile, name, details, calibration)
        resolved = registry.add(staging_root / name, name=name)
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)
    if alias is not None:
        registry.set_alias(name, alias, resolved.version)
    return RegisterReport(
        resolved=resolved,
        task=kind,
        features=schema.names,
        classes=classes,
        metrics=metrics,
        reference_rows=len(frame),
        alias=alias,
        importance=importance[0],
        importance_note=importance[1],
    )


def _schema(
    frame: pd.DataFrame, target: str | None, pipeline: Any, reference_path: str | Path
) -> FeatureSchema:
    """The reference data's schema: the pipeline's input columns, in its order, when known."""
    seen = getattr(pipeline, "feature_names_in_", None)
    if seen is None:
        return FeatureSchema.from_frame(frame, target)
    wanted = [str(name) for name in seen]
    absent = [name for name in wanted if name not in frame.columns]
    if absent:
        raise SchemaError(f"{reference_path} lacks the pipeline's input columns {absent}")
    clashes = sorted(set(wanted) & (RESERVED_COLUMNS | {target}))
    if clashes:
        raise SchemaError(f"the pipeline takes {clashes} as inputs, which cannot be features")
    # Column order matters: scikit-learn checks that names come in the order seen in fit.
    return FeatureSchema.from_frame(frame[wanted], None)


def _kind(pipeline: Any, task: str | None) -> str:
    inferred = kind_of_estimator(pipeline)
    if task in (None, "", "auto"):
        return inferred
    if task not in MODEL_KINDS:
        raise ModelError(f"task must be one of {['auto', *MODEL_KINDS]}, got {task!r}")
    classes = getattr(pipeline, "classes_", None)
    if task != "regression":
        if not hasattr(pipeline, "predict_proba") or classes is None:
            raise ModelError(f"--task {task} needs a classifier with predict_proba and classes_")
        if (task == "binary") != (len(classes) == 2):
            raise ModelError(f"--task {task} does not fit a classifier of {len(classes)} classes")
    elif not hasattr(pipeline, "predict"):
        raise ModelError("--task regression needs an estimator with predict")
    return task


def _metrics(
    kind: str,
    truth: pd.Series,
    scores: np.ndarray,
    probabilities: np.ndarray | None,
    classes: list[Any],
) -> Metrics | None:
    present = truth.notna().to_numpy()
    if not present.any():
        return None
    y = truth[present]
    try:
        if kind == "regression":
            return regression_metrics(y.to_numpy(dtype=np.float64), scores[present], n_train=0)
        assert probabilities is not None
        if kind == "binary":
            positive = np.asarray([str(v) == str(classes[1]) for v in y], dtype=np.int64)
            return binary_metrics(positive, scores[present], n_train=0)
        return multiclass_metrics(y.to_numpy(), probabilities[present], classes, n_train=0)
    except (ValueError, TypeError) as error:
        raise SchemaError(f"cannot compare the target with the predictions: {error}") from error


def _calibration(
    kind: str, truth: pd.Series, probabilities: np.ndarray | None, classes: list[Any]
) -> Any:
    """The reference rows' calibration (binary truth: 1 for the positive class), or None."""
    present = truth.notna().to_numpy()
    if probabilities is None or not present.any():
        return None
    y = truth[present]
    if kind == "binary":
        y = pd.Series([int(str(v) == str(classes[1])) for v in y])
    return calibrate(kind, probabilities[present], y.to_numpy(), classes)


def _importance(
    kind: str, pipeline: Any, features: pd.DataFrame, truth: pd.Series, classes: list[Any]
) -> tuple[PermutationImportance | None, str]:
    """Permutation importance on the reference rows that have the target (sound only if
    they were held out of fitting, as the metrics)."""
    present = truth.notna().to_numpy()
    if not present.any():
        return None, "no reference row has the target"
    y = truth[present]
    if kind == "binary":
        y = pd.Series([int(str(v) == str(classes[1])) for v in y])
    elif kind == "regression":
        y = y.astype(np.float64)
    rows = features[present].reset_index(drop=True)
    return compute_importance(kind, pipeline, rows, y.to_numpy(), on="reference")


def _estimator_name(pipeline: Any) -> str:
    final = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    return f"{type(final).__module__}.{type(final).__name__}"
