"""Load a model directory written by :mod:`.train`, safely, and score with it.

The pipeline is stored with skops, which refuses to load any type it does not know to be
safe unless the caller trusts it. We trust exactly the types a scikit-learn pipeline is
made of (``sklearn.*``, ``numpy.*`` and a few harmless builtins) and refuse anything else,
such as a custom class or ``builtins.eval`` smuggled in through a ``FunctionTransformer``:
loading a model must never run code the model file chose.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

from scorestream.exceptions import ModelError, SchemaError
from scorestream.streams.model.archive import check_archive_bounds, file_sha256
from scorestream.streams.model.schema import FeatureSchema, coerce_features
from scorestream.streams.model.train import (
    METADATA_FILE,
    MODEL_FILES,
    PIPELINE_FILE,
    PROFILE_FILE,
    SCHEMA_FILE,
    pipeline_version,
)

if TYPE_CHECKING:
    from scorestream.streams.drift.profile import ReferenceProfile

#: Module prefixes whose types a scikit-learn pipeline may contain.
ALLOWED_TYPE_PREFIXES: tuple[str, ...] = ("sklearn.", "numpy.")
#: Builtins that are plain data, never callables with side effects.
ALLOWED_BUILTIN_TYPES: frozenset[str] = frozenset(
    {
        "builtins.bool",
        "builtins.bytes",
        "builtins.bytearray",
        "builtins.complex",
        "builtins.dict",
        "builtins.float",
        "builtins.frozenset",
        "builtins.int",
        "builtins.list",
        "builtins.range",
        "builtins.set",
        "builtins.slice",
        "builtins.str",
        "builtins.tuple",
    }
)
#: Parts of the allowed packages that read or write files, fetch data or run tools:
#: a pipeline has no business referencing them.
DENIED_TYPE_PREFIXES: tuple[str, ...] = (
    "numpy.ctypeslib",
    "numpy.distutils",
    "numpy.f2py",
    "numpy.fromfile",
    "numpy.genfromtxt",
    "numpy.lib.format",
    "numpy.lib.npyio",
    "numpy.load",
    "numpy.memmap",
    "numpy.save",
    "numpy.testing",
    "numpy.tofile",
    "sklearn.datasets",
    "sklearn.externals",
    "sklearn.utils._testing",
)


#: What a model predicts; stored as ``task`` in ``metadata.json`` (absent: ``binary``).
ModelKind = Literal["binary", "multiclass", "regression"]
MODEL_KINDS: tuple[str, ...] = get_args(ModelKind)


@dataclass(frozen=True)
class Predictions:
    """One batch's predictions, row for row (see :mod:`scorestream.contract.scores`).

    Attributes
    ----------
    scores : numpy.ndarray
        binary: positive-class probability; multiclass: top-class probability;
        regression: the predicted value.
    labels : numpy.ndarray
        Predicted class values (object array); for regression empty strings.
    class_labels : list of str
        multiclass: every class as text, in the order of ``probabilities``' columns.
    probabilities : numpy.ndarray or None
        multiclass: ``(rows, classes)`` probabilities; ``None`` for the other kinds.
    """

    scores: npt.NDArray[np.float64]
    labels: npt.NDArray[Any]
    class_labels: list[str]
    probabilities: npt.NDArray[np.float64] | None = None


def is_allowed_type(type_name: str) -> bool:
    """Whether a type reported by ``skops.io.get_untrusted_types`` may be trusted.

    Examples
    --------
    >>> is_allowed_type("sklearn.linear_model._logistic.LogisticRegression")
    True
    >>> is_allowed_type("builtins.eval"), is_allowed_type("mypackage.Custom")
    (False, False)
    """
    if type_name in ALLOWED_BUILTIN_TYPES:
        return True
    if type_name.startswith(DENIED_TYPE_PREFIXES):
        return False
    return type_name.startswith(ALLOWED_TYPE_PREFIXES)


@dataclass(frozen=True)
class LoadedModel:
    """A model directory in memory: pipeline, schema, reference profile and metadata.

    Attributes
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted pipeline; ``predict_proba(...)[:, 1]`` is the positive-class probability.
    schema : FeatureSchema
        Feature schema the records are validated against.
    profile : ReferenceProfile
        Reference bins for drift statistics.
    metadata : dict
        Contents of ``metadata.json``.
    name, version : str
        Model name and content version; every score carries both.
    path : pathlib.Path
        The model directory.
    """

    pipeline: Any
    schema: FeatureSchema
    profile: ReferenceProfile
    metadata: dict[str, Any]
    name: str
    version: str
    path: Path

    @property
    def kind(self) -> ModelKind:
        """``binary``, ``multiclass`` or ``regression`` (``metadata.json``'s ``task``)."""
        return model_kind(self.metadata)

    @property
    def classes(self) -> list[Any]:
        """Label values: ``[negative, positive]`` (binary), every class (multiclass), ``[]``."""
        return list(self.metadata.get("classes") or [])

    @classmethod
    def load(cls, model_dir: str | Path) -> LoadedModel:
        """Load and check a model directory.

        Raises
        ------
        ModelError
            If the directory or one of its files is missing or unreadable, the pipeline
            contains a type outside the allow-list, the pipeline file exceeds the archive
            bounds of :mod:`.archive`, or it does not match its metadata (SHA-256 of the
            whole file, version hash, classes, features).
        """
        import skops.io

        from scorestream.streams.drift.profile import ReferenceProfile

        path = Path(model_dir)
        if not path.is_dir():
            raise ModelError(
                f"model directory {path} does not exist; train one with `scorestream train`"
            )
        absent = [name for name in MODEL_FILES if not (path / name).is_file()]
        if absent:
            raise ModelError(f"model directory {path} is incomplete: missing {absent}")

        metadata = _read_metadata(path / METADATA_FILE)
        try:
            schema = FeatureSchema.load(path / SCHEMA_FILE)
        except SchemaError as error:
            raise ModelError(str(error)) from error

        pipeline_path = path / PIPELINE_FILE
        # Bounds first (the zip directory only), then the whole file's hash (streamed), and
        # only then does anything decompress a member.
        check_archive_bounds(pipeline_path)
        digest = file_sha256(pipeline_path)
        if digest != metadata["pipeline_sha256"]:
            raise ModelError(
                f"{pipeline_path} does not match its metadata (SHA-256 {digest}, metadata "
                f"says {metadata['pipeline_sha256']}): the file was changed or is corrupt"
            )
        version = pipeline_version(pipeline_path)
        if version != metadata["version"]:
            raise ModelError(
                f"{pipeline_path} does not match its metadata (version {version}, metadata "
                f"says {metadata['version']}): the file was replaced or is corrupt"
            )
        try:
            untrusted = skops.io.get_untrusted_types(file=pipeline_path)
        except Exception as error:
            raise ModelError(f"cannot read {pipeline_path}: {error}") from error
        refused = sorted(name for name in untrusted if not is_allowed_type(name))
        if refused:
            raise ModelError(
                f"refusing to load {pipeline_path}: it contains types outside the allow-list "
                f"of scikit-learn and numpy types: {refused}"
            )
        try:
            pipeline = skops.io.load(pipeline_path, trusted=untrusted)
        except Exception as error:
            raise ModelError(f"cannot load {pipeline_path}: {error}") from error
        _check_pipeline(pipeline, schema, pipeline_path, metadata)

        try:
            profile = ReferenceProfile.load(path / PROFILE_FILE)
        except Exception as error:
            raise ModelError(f"cannot load {path / PROFILE_FILE}: {error}") from error

        return cls(
            pipeline=pipeline,
            schema=schema,
            profile=profile,
            metadata=metadata,
            name=str(metadata["name"]),
            version=version,
            path=path,
        )

    def predict_scores(
        self, frame: pd.DataFrame, *, validated: bool = False
    ) -> npt.NDArray[np.float64]:
        """Positive-class probability of every row of ``frame``, in one pipeline call.

        ``frame`` needs the schema's feature columns (others are ignored). Frames from
        :class:`~scorestream.streams.validation.RecordValidator`
        are used as they are; other frames are
        converted with :func:`scorestream.streams.model.schema.coerce_features` first.
        ``validated``: ``frame`` is a :class:`~scorestream.streams.validation.ValidatedBatch`'s
        for this model's schema (its columns, in order, float64 or ``str`` with NaN where
        missing), so the checks are skipped: they cost about 0.6 µs per record, mostly
        looking for None among the categorical values.

        Raises
        ------
        SchemaError
            If a feature column is missing or cannot be converted.
        """
        if len(frame) == 0:
            return np.empty(0, dtype=np.float64)
        features = frame if validated else self._prepare(frame)
        probabilities = self.pipeline.predict_proba(features)
        return np.ascontiguousarray(probabilities[:, 1], dtype=np.float64)

    def predict(self, frame: pd.DataFrame, *, validated: bool = False) -> Predictions:
        """Score, label and (multi-class) class probabilities of every row, in one call
        (``validated``: see :meth:`predict_scores`).

        Raises
        ------
        SchemaError
            If a feature column is missing or cannot be converted.
        """
        kind = self.kind
        if kind == "binary":
            scores = self.predict_scores(frame, validated=validated)
            return Predictions(scores, self.predict_labels(scores), [])
        if len(frame) == 0:
            empty = np.empty(0, dtype=np.float64)
            shape = (0, len(self.classes))
            probabilities = np.empty(shape, dtype=np.float64) if kind == "multiclass" else None
            return Predictions(empty, np.empty(0, dtype=object), self._class_text(), probabilities)
        features = frame if validated else self._prepare(frame)
        if kind == "regression":
            values = np.ascontiguousarray(self.pipeline.predict(features), dtype=np.float64)
            return Predictions(values, np.full(len(values), "", dtype=object), [])
        probabilities = np.ascontiguousarray(
            self.pipeline.predict_proba(features), dtype=np.float64
        )
        top = probabilities.argmax(axis=1)
        labels = np.asarray(self.classes, dtype=object)[top]
        scores = probabilities[np.arange(len(top)), top]
        return Predictions(scores, labels, self._class_text(), probabilities)

    def _class_text(self) -> list[str]:
        return [str(value) for value in self.classes] if self.kind == "multiclass" else []

    def predict_labels(self, scores: npt.ArrayLike, threshold: float = 0.5) -> npt.NDArray[Any]:
        """Class label of each score: the positive class where ``score >= threshold``."""
        positive = np.asarray(scores, dtype=np.float64) >= threshold
        return np.asarray(self.classes, dtype=object)[positive.astype(np.intp)]

    def _prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        schema = self.schema
        names = schema.names
        absent = [name for name in names if name not in frame.columns]
        if absent:
            raise SchemaError(f"missing feature columns: {absent}")
        numeric_ok = all(frame[name].dtype == np.float64 for name in schema.numeric)
        categorical_ok = all(frame[name].dtype == object for name in schema.categorical)
        if not (numeric_ok and categorical_ok):
            return coerce_features(frame, schema)
        features = frame[names]
        # SimpleImputer sees NaN but not None as missing in object columns.
        replacements: dict[str, pd.Series] = {}
        for name in schema.categorical:
            values = features[name].to_numpy()
            missing = pd.isna(values)
            if missing.any():
                values = values.copy()
                values[missing] = np.nan
                replacements[name] = pd.Series(values, index=features.index, dtype=object)
        if replacements:
            features = features.assign(**replacements)
        return features


def load_model(model_dir: str | Path) -> LoadedModel:
    """Shorthand for :meth:`LoadedModel.load`."""
    return LoadedModel.load(model_dir)


def model_kind(metadata: dict[str, Any]) -> ModelKind:
    """The kind a model's metadata declares (``task``; models from before kinds: binary)."""
    kind = metadata.get("task", "binary")
    if kind not in MODEL_KINDS:
        raise ModelError(f"unknown model task {kind!r}; expected one of {list(MODEL_KINDS)}")
    return kind


def _read_metadata(path: Path) -> dict[str, Any]:
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot read {path}: {error}") from error
    if not isinstance(metadata, dict):
        raise ModelError(f"{path} must hold a JSON object")
    absent = [key for key in ("name", "version", "pipeline_sha256") if key not in metadata]
    if absent:
        # A model written before pipeline_sha256 existed has no integrity check to trust.
        raise ModelError(f"{path} lacks {absent}; retrain it with `scorestream train`")
    try:
        kind = model_kind(metadata)
    except ModelError as error:
        raise ModelError(f"{path}: {error}") from None
    classes = metadata.get("classes")
    if kind == "binary" and (not isinstance(classes, list) or len(classes) != 2):
        raise ModelError(f"{path}: 'classes' must list the two target values")
    if kind == "multiclass" and (not isinstance(classes, list) or len(classes) < 2):
        raise ModelError(f"{path}: 'classes' must list every target value")
    return metadata


def _check_pipeline(
    pipeline: Any, schema: FeatureSchema, path: Path, metadata: dict[str, Any]
) -> None:
    kind = model_kind(metadata)
    if kind == "regression":
        if not hasattr(pipeline, "predict"):
            raise ModelError(f"{path} does not hold a regressor with predict")
    else:
        if not hasattr(pipeline, "predict_proba"):
            raise ModelError(f"{path} does not hold a classifier with predict_proba")
        classes = getattr(pipeline, "classes_", None)
        expected = len(metadata.get("classes") or [])
        if classes is None or len(classes) != expected:
            raise ModelError(
                f"{path} does not hold a fitted {kind} classifier of {expected} classes"
            )
    seen = getattr(pipeline, "feature_names_in_", None)
    if seen is not None and set(map(str, seen)) != set(schema.names):
        raise ModelError(
            f"{path} was fitted on features {sorted(map(str, seen))}, but the schema lists "
            f"{sorted(schema.names)}"
        )
