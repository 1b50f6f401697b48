"""Train a binary classifier on a table and write it as a self-describing model directory.

A model directory holds everything the scoring worker and the drift check need::

    model_dir/
        pipeline.skops          the fitted scikit-learn Pipeline (skops format, no pickle)
        schema.json             feature schema: types, nullability, validation bounds
        reference_profile.json  training-data bins for drift statistics (incl. scores)
        metadata.json           name, version, target, classes, metrics, library versions

Only binary classification is supported: the target must have exactly two distinct values
(booleans, 0/1, or two strings). The score of a record is the predicted probability of the
positive class, by default the larger of the two values (``1``, ``True``, or the later
string in sort order; choose with ``positive_class``). Multiclass or regression targets are
refused with a :class:`~scorestream.exceptions.SchemaError`, because a single score per
record and score-drift statistics only make sense for two classes.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import tempfile
import uuid
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from scorestream.exceptions import ModelError, SchemaError
from scorestream.streams.model.archive import check_archive_bounds, file_sha256
from scorestream.streams.model.schema import FeatureSchema, coerce_features

PIPELINE_FILE = "pipeline.skops"
SCHEMA_FILE = "schema.json"
PROFILE_FILE = "reference_profile.json"
METADATA_FILE = "metadata.json"
MODEL_FILES: tuple[str, ...] = (PIPELINE_FILE, SCHEMA_FILE, PROFILE_FILE, METADATA_FILE)
# The member of a skops archive that describes the object tree.
_SKOPS_SCHEMA_MEMBER = "schema.json"

#: Version of the model directory layout, stored in ``metadata.json``.
MODEL_FORMAT = 2  # 2: metadata.json has pipeline_sha256

Classifier = Literal["logistic", "hgb"]


@dataclass(frozen=True)
class HoldoutMetrics:
    """Quality of the model on the held-out rows (positive-class scores, threshold 0.5)."""

    roc_auc: float
    log_loss: float
    accuracy: float
    n_train: int
    n_test: int

    def as_dict(self) -> dict[str, float | int]:
        """Plain-dict form, as stored in ``metadata.json``."""
        return asdict(self)


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
        ``[negative, positive]`` label values.
    features : list of str
        Feature names in pipeline order.
    metrics : HoldoutMetrics
        Holdout quality.
    pipeline : sklearn.pipeline.Pipeline
        The fitted pipeline, as written to ``pipeline.skops``.
    """

    model_dir: Path
    name: str
    version: str
    target: str
    classes: list[Any]
    features: list[str]
    metrics: HoldoutMetrics
    pipeline: Any = field(repr=False, compare=False)

    def summary(self) -> str:
        """A few human-readable lines: what was written and how good it is."""
        metrics = self.metrics
        return (
            f"model {self.name!r} version {self.version} -> {self.model_dir}\n"
            f"target {self.target!r} (positive class {self.classes[1]!r}), "
            f"{len(self.features)} features\n"
            f"holdout: ROC AUC {metrics.roc_auc:.3f}, log loss {metrics.log_loss:.3f}, "
            f"accuracy {metrics.accuracy:.3f} "
            f"({metrics.n_train} train / {metrics.n_test} test rows)"
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
    classifier: Classifier = "logistic",
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
        classifier=classifier,
        seed=seed,
        test_size=test_size,
        positive_class=positive_class,
    )


def train_model(
    frame: pd.DataFrame,
    target: str,
    model_dir: str | Path,
    *,
    name: str = "model",
    classifier: Classifier = "logistic",
    seed: int = 0,
    test_size: float = 0.2,
    positive_class: Any = None,
) -> TrainReport:
    """Train a binary classifier on ``frame`` and write the model directory.

    Every column except ``target``, ``id`` and ``event_time`` is a feature. Numeric
    features are median-imputed and standardised, categorical ones filled with
    ``"missing"`` and one-hot encoded (unknown categories ignored at scoring time). The
    model is fitted on a stratified ``1 - test_size`` share of the rows and evaluated on
    the rest. Rows without a target value are dropped.

    Parameters
    ----------
    frame : pandas.DataFrame
        Training data.
    target : str
        Label column with exactly two distinct values.
    model_dir : str or pathlib.Path
        Directory to write; replaced atomically if it already holds a model.
    name : str
        Model name stored in the metadata and carried by every score.
    classifier : {"logistic", "hgb"}
        ``LogisticRegression`` or ``HistGradientBoostingClassifier``.
    seed : int
        Seed of the split and the classifier; the same data and seed give the same
        pipeline and the same version.
    test_size : float
        Share of rows held out for the metrics.
    positive_class : optional
        Label whose probability is the score; default the larger label.

    Returns
    -------
    TrainReport

    Raises
    ------
    SchemaError
        If the target is absent or not binary, or the features cannot be used.
    ModelError
        If ``model_dir`` exists and is not a model directory, or cannot be written.
    """
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
    from sklearn.model_selection import train_test_split

    if target not in frame.columns:
        raise SchemaError(f"target column {target!r} is not in the data")
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be between 0 and 1, got {test_size}")
    model_dir = Path(model_dir)
    _check_writable(model_dir)

    labelled = frame[frame[target].notna()].reset_index(drop=True)
    n_dropped = len(frame) - len(labelled)
    classes = _binary_classes(labelled[target], positive_class)
    schema = FeatureSchema.from_frame(labelled, target)
    features = coerce_features(labelled, schema)
    labels = (labelled[target] == classes[1]).to_numpy().astype(np.int64)

    if int(labels.sum()) < 2 or int(len(labels) - labels.sum()) < 2:
        raise SchemaError("each target class needs at least two rows to split and evaluate")
    try:
        train_x, test_x, train_y, test_y = train_test_split(
            features, labels, test_size=test_size, random_state=seed, stratify=labels
        )
    except ValueError as error:
        raise SchemaError(f"cannot split {len(labels)} rows for training: {error}") from error

    pipeline = build_pipeline(schema, classifier, seed)
    pipeline.fit(train_x, train_y)
    test_scores = pipeline.predict_proba(test_x)[:, 1]
    metrics = HoldoutMetrics(
        roc_auc=float(roc_auc_score(test_y, test_scores)),
        log_loss=float(log_loss(test_y, test_scores, labels=[0, 1])),
        accuracy=float(accuracy_score(test_y, (test_scores >= 0.5).astype(np.int64))),
        n_train=len(train_y),
        n_test=len(test_y),
    )
    train_scores = pipeline.predict_proba(train_x)[:, 1]

    from scorestream.streams.drift.profile import ReferenceProfile

    profile = ReferenceProfile.from_frame(
        train_x.reset_index(drop=True),
        numeric=schema.numeric,
        categorical=schema.categorical,
        scores=train_scores,
    )

    staging = _staging_dir(model_dir)
    try:
        import skops.io

        skops.io.dump(pipeline, staging / PIPELINE_FILE)
        version = pipeline_version(staging / PIPELINE_FILE)
        pipeline_sha256 = file_sha256(staging / PIPELINE_FILE)
        schema.save(staging / SCHEMA_FILE)
        profile.save(staging / PROFILE_FILE)
        metadata = {
            "format": MODEL_FORMAT,
            "name": name,
            "version": version,
            # The version covers what skops reads; this covers every byte of the file.
            "pipeline_sha256": pipeline_sha256,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "target": target,
            "classes": classes,
            "positive_class": classes[1],
            "features": schema.names,
            "classifier": classifier,
            "seed": seed,
            "test_size": test_size,
            "rows_without_target": n_dropped,
            "metrics": metrics.as_dict(),
            "libraries": library_versions(),
        }
        (staging / METADATA_FILE).write_text(
            json.dumps(metadata, indent=2) + "\n", encoding="utf-8"
        )
        _replace_dir(staging, model_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return TrainReport(
        model_dir=model_dir,
        name=name,
        version=version,
        target=target,
        classes=classes,
        features=schema.names,
        metrics=metrics,
        pipeline=pipeline,
    )


def build_pipeline(schema: FeatureSchema, classifier: Classifier, seed: int) -> Any:
    """Return the unfitted preprocessing + classifier Pipeline for ``schema``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    model: Any
    if classifier == "logistic":
        model = LogisticRegression(max_iter=2000, random_state=seed)
    elif classifier == "hgb":
        model = HistGradientBoostingClassifier(random_state=seed)
    else:
        raise ValueError(f"classifier must be 'logistic' or 'hgb', got {classifier!r}")
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
    return Pipeline([("preprocess", ColumnTransformer(transformers)), ("classifier", model)])


def pipeline_version(path: str | Path) -> str:
    """Short content hash of a ``pipeline.skops`` file: the model's version.

    skops names array members and tags shared objects by their memory address at the time
    of writing, and zip members carry a timestamp, so the file's bytes differ between two
    dumps of the same pipeline. The hash is taken over a canonical form instead: array
    members by content, object tags renumbered in order of appearance. Training twice on
    the same data with the same seed and library versions thus gives the same version.
    Members skops does not reference are not covered: ``metadata.json``'s
    ``pipeline_sha256`` (:func:`.archive.file_sha256`) is the file's integrity check.

    Raises
    ------
    ModelError
        If the file is unreadable or exceeds the bounds of :func:`.archive.check_archive_bounds`.
    """
    check_archive_bounds(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = {
                name: hashlib.sha256(archive.read(name)).hexdigest()
                for name in archive.namelist()
                if name != _SKOPS_SCHEMA_MEMBER
            }
            tree = json.loads(archive.read(_SKOPS_SCHEMA_MEMBER))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise ModelError(f"cannot read model pipeline {path}: {error}") from error
    object_tags: dict[Any, int] = {}

    def canonical(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: object_tags.setdefault(value, len(object_tags))
                if key == "__id__"
                else canonical(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [canonical(item) for item in node]
        if isinstance(node, str):
            return members.get(node, node)
        return node

    canonical_form = json.dumps(canonical(tree), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical_form.encode("utf-8")).hexdigest()[:12]


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
