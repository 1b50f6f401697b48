"""Model versions from an MLflow model registry: ``models:/name@alias`` or ``models:/name/3``.

Needs the optional extra ``scorestream[mlflow]`` (the ``mlflow-skinny`` client) and
``MLFLOW_TRACKING_URI``. What MLflow stores is a scorestream model directory
(``pipeline.skops``, ``schema.json``, ``reference_profile.json``, ``metadata.json``, plus an
``MLmodel`` file naming the ``scorestream`` flavor) as the artifacts of a registered model
version; :func:`log_model_dir` publishes one.

:meth:`MlflowSource.resolve` asks the registry which version an alias names (one small
request: a worker calls it every few seconds), downloads that version's artifacts once into
``MODELS_DIR/.mlflow/<name>/<MLflow version>/`` and returns that directory, which
:meth:`~scorestream.streams.model.registry.LoadedModel.load` reads like any other: nothing
from MLflow is ever unpickled, the pipeline is loaded by skops with the allow-list. The
version a score carries is the model's content version (from its ``metadata.json``), the
same whichever registry served it; the MLflow version number is in the cache path,
:attr:`MlflowSource.current` and the log line written when it changes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from scorestream.exceptions import ModelError
from scorestream.streams.model.source import MLFLOW_PREFIX, ResolvedModel
from scorestream.streams.model.train import METADATA_FILE, MODEL_FILES, OPTIONAL_MODEL_FILES
from scorestream.streams.model.versions import DEFAULT_ALIAS, check_name

if TYPE_CHECKING:
    from scorestream.settings import Settings

log = logging.getLogger(__name__)

#: Folder of ``MODELS_DIR`` that holds downloaded MLflow versions.
CACHE_DIR = ".mlflow"
#: Where :func:`log_model_dir` puts the model directory among a run's artifacts.
ARTIFACT_PATH = "scorestream_model"
#: The MLflow flavor named in the ``MLmodel`` file of a published model.
FLAVOR = "scorestream"
#: Experiment of the runs that :func:`log_model_dir` creates.
EXPERIMENT = "scorestream"
#: Model-version tags written by :func:`log_model_dir`.
VERSION_TAG = "scorestream.version"
KIND_TAG = "scorestream.kind"

# MLflow's client retries a failed request 7 times with exponential backoff and waits 120 s
# for an answer: a worker polling a registry that is down would stall for minutes. A
# failed poll is cheap to repeat (the worker keeps its model and asks again in a few
# seconds), so these are the defaults unless the environment sets its own. No retry at
# all: urllib3 logs a warning before every retry, which would be one line per poll while
# the registry is down, beside the worker's single "cannot resolve" line.
HTTP_DEFAULTS: dict[str, str] = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
# Error codes of a registry that answered "no such thing".
_NOT_FOUND = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"})
_NUMBER = re.compile(r"[1-9][0-9]{0,9}\Z")
# How deep a model directory may sit inside a version's artifacts (e.g. a pyfunc model
# that carries it among its ``artifacts/``).
_SEARCH_DEPTH = 3


@dataclass(frozen=True)
class MlflowTarget:
    """A parsed ``models:/`` reference: the registered model and an alias or a number."""

    name: str
    alias: str | None = None
    number: str | None = None

    def __str__(self) -> str:
        suffix = f"@{self.alias}" if self.alias else f"/{self.number}"
        return f"{MLFLOW_PREFIX}{self.name}{suffix}"


@dataclass(frozen=True)
class MlflowVersion:
    """One registered model version as the registry describes it."""

    name: str
    number: str
    source: str
    run_id: str | None = None


def parse_reference(reference: str) -> MlflowTarget:
    """``models:/name@alias``, ``models:/name/<number>`` or ``models:/name`` (its champion).

    Examples
    --------
    >>> parse_reference("models:/churn@champion")
    MlflowTarget(name='churn', alias='champion', number=None)
    >>> parse_reference("models:/churn/3")
    MlflowTarget(name='churn', alias=None, number='3')
    >>> parse_reference("models:/churn/Production")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    scorestream.exceptions.ModelError: invalid MLflow reference 'models:/churn/Production': ...

    Raises
    ------
    ModelError
        If the reference has another form (stages are not supported: use an alias).
    """
    if not reference.startswith(MLFLOW_PREFIX):
        raise ModelError(f"{reference!r} is not an MLflow reference ({MLFLOW_PREFIX}...)")
    body = reference[len(MLFLOW_PREFIX) :]
    name, at, alias = body.partition("@")
    number = None
    if not at:
        name, slash, number_text = body.partition("/")
        if slash:
            if not _NUMBER.match(number_text):
                raise ModelError(
                    f"invalid MLflow reference {reference!r}: use models:/<name>@<alias> or "
                    "models:/<name>/<version number> (stages are not supported)"
                )
            number = number_text
        else:
            alias = DEFAULT_ALIAS
    try:
        check_name(name, "MLflow model name")
        if number is None:
            check_name(alias, "MLflow alias")
    except ModelError as error:
        raise ModelError(f"invalid MLflow reference {reference!r}: {error}") from None
    return MlflowTarget(name, alias if number is None else None, number)


class MlflowSource:
    """A :class:`~scorestream.streams.model.source.ModelSource` for ``models:/...``.

    Parameters
    ----------
    reference : str
        ``models:/name@alias``, ``models:/name/<number>`` or ``models:/name``.
    settings : Settings
        ``mlflow_tracking_uri`` (required) and ``models_dir`` (the download cache).

    Attributes
    ----------
    current : MlflowVersion or None
        The MLflow version the last successful :meth:`resolve` returned.
    """

    def __init__(self, reference: str, settings: Settings) -> None:
        self.reference = reference
        self.target = parse_reference(reference)
        if not settings.mlflow_tracking_uri:
            raise ModelError(
                f"{reference} needs the MLflow registry's address: set MLFLOW_TRACKING_URI"
            )
        self.tracking_uri = settings.mlflow_tracking_uri
        self.cache_root = Path(settings.models_dir) / CACHE_DIR / self.target.name
        self.current: MlflowVersion | None = None
        # A version found broken is refused again without downloading it on every poll.
        self._refused: dict[str, str] = {}
        for variable, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(variable, value)
        self._client = MlflowClient(tracking_uri=self.tracking_uri)

    def resolve(self) -> ResolvedModel:
        """The version the reference names now, downloaded (once) into the cache.

        Blocking (one HTTP request, plus a download the first time a version is seen):
        call it from a thread in an event loop.

        Raises
        ------
        ModelError
            If the registry cannot be reached, has no such model, alias or version, or the
            version's artifacts are not a scorestream model directory. One line, no
            traceback worth reading; a polling caller keeps the model it has.
        """
        target = self.target
        if target.number is not None:
            # A version's artifacts never change: a pinned version in the cache needs no
            # request at all.
            cached = self.cache_root / target.number
            if _complete(cached):
                return self._resolved(MlflowVersion(target.name, target.number, ""), cached)
        version = self._lookup()
        refusal = self._refused.get(version.number)
        if refusal is not None:
            raise ModelError(refusal)
        path = self.cache_root / version.number
        if not _complete(path):
            try:
                self._download(version, path)
            except ModelError as error:
                if "is not a scorestream model" in str(error):
                    self._refused[version.number] = str(error)
                raise
        return self._resolved(version, path)

    # --- the registry ----------------------------------------------------------------------
    def _lookup(self) -> MlflowVersion:
        target = self.target
        try:
            if target.alias is not None:
                found = self._client.get_model_version_by_alias(target.name, target.alias)
            else:
                found = self._client.get_model_version(target.name, str(target.number))
        except Exception as error:  # MlflowException, or requests' own errors on some paths
            raise self._error(error) from None
        return MlflowVersion(
            name=target.name,
            number=str(found.version),
            source=str(found.source or ""),
            run_id=found.run_id or None,
        )

    def _download(self, version: MlflowVersion, path: Path) -> None:
        """Download ``version``'s artifacts and rename them into ``path``, atomically."""
        import mlflow.artifacts

        what = f"{self.reference} (MLflow version {version.number})"
        try:
            uri = self._client.get_model_version_download_uri(version.name, version.number)
        except Exception as error:
            raise self._error(error) from None
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{version.number}.", dir=path.parent))
        try:
            try:
                local = mlflow.artifacts.download_artifacts(
                    artifact_uri=uri, dst_path=str(staging), tracking_uri=self.tracking_uri
                )
            except Exception as error:
                raise ModelError(
                    f"{what}: cannot download {uri} from {self.tracking_uri}: {_short(error)}"
                ) from None
            model_dir = _find_model_dir(Path(local))
            if model_dir is None:
                raise ModelError(
                    f"{what} is not a scorestream model: its artifacts ({uri}) hold no "
                    f"directory with {list(MODEL_FILES)}; publish one with "
                    "scorestream.streams.model.mlflow_source.log_model_dir"
                )
            _rename_model(model_dir, version.name)
            try:
                model_dir.rename(path)
            except OSError:
                if not _complete(path):  # not a concurrent download of the same version
                    raise
        except OSError as error:
            raise ModelError(f"{what}: cannot write {path}: {error}") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log.info(
            "%s: downloaded MLflow version %s (%s) into %s",
            self.reference,
            version.number,
            version.source or uri,
            path,
        )

    def _resolved(self, version: MlflowVersion, path: Path) -> ResolvedModel:
        try:
            metadata = json.loads((path / METADATA_FILE).read_text(encoding="utf-8"))
            content_version = str(metadata["version"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ModelError(
                f"{self.reference}: cannot read {path / METADATA_FILE}: {error}"
            ) from None
        if self.current is None or self.current.number != version.number:
            log.info(
                "%s is MLflow version %s: scorestream version %s",
                self.reference,
                version.number,
                content_version,
            )
        self.current = version
        return ResolvedModel(self.reference, self.target.name, content_version, path)

    def _error(self, error: Exception) -> ModelError:
        code = getattr(error, "error_code", None)
        if code in _NOT_FOUND:
            return ModelError(
                f"{self.reference}: not in the MLflow registry at {self.tracking_uri}: "
                f"{_short(error)}"
            )
        return ModelError(
            f"{self.reference}: cannot reach the MLflow registry at {self.tracking_uri}: "
            f"{_short(error)}"
        )


def _complete(path: Path) -> bool:
    return all((path / name).is_file() for name in MODEL_FILES)


def _find_model_dir(root: Path) -> Path | None:
    """``root`` if it is a model directory, else the one model directory below it."""
    if _complete(root):
        return root
    if not root.is_dir():
        return None
    found = [
        path
        for path in root.rglob(METADATA_FILE)
        if len(path.relative_to(root).parts) <= _SEARCH_DEPTH + 1 and _complete(path.parent)
    ]
    return found[0].parent if len(found) == 1 else None


def _rename_model(model_dir: Path, name: str) -> None:
    # Scores carry the registered name, as for the models directory; the version is a
    # hash of the pipeline only, so it does not change.
    path = model_dir / METADATA_FILE
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot read {path}: {error}") from None
    if isinstance(metadata, dict) and metadata.get("name") != name:
        metadata["name"] = name
        path.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")


def _short(error: BaseException) -> str:
    """An exception as one line: MLflow's messages embed urllib3's nested reprs."""
    text = str(getattr(error, "message", None) or error)
    for cause in ("Connection refused", "Name or service not known", "timed out"):
        if cause in text:
            return cause.lower()
    # RestException's text starts with its error code ("RESOURCE_DOES_NOT_EXIST: ...").
    text = re.sub(r"^[A-Z_]+: ", "", " ".join(text.split()))
    return text if len(text) <= 200 else text[:197] + "..."


# --- publishing ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PublishedVersion:
    """A model directory registered in MLflow by :func:`log_model_dir`."""

    name: str
    number: str
    version: str
    run_id: str

    @property
    def reference(self) -> str:
        """The pinned reference of this version, ``models:/name/<number>``."""
        return f"{MLFLOW_PREFIX}{self.name}/{self.number}"


def log_model_dir(
    model_dir: str | Path,
    registered_name: str,
    *,
    tracking_uri: str | None = None,
    alias: str | None = None,
    experiment: str = EXPERIMENT,
) -> PublishedVersion:
    """Publish a scorestream model directory as a new version of an MLflow registered model.

    The directory is loaded first (integrity, allow-listed types), so nothing unloadable
    is published. It becomes the artifacts (``scorestream_model/``) of a new run in
    ``experiment``, with an ``MLmodel`` file of the ``scorestream`` flavor and the holdout
    metrics logged on the run; the registered model is created if needed, the version is
    tagged with the content version and kind, and ``alias`` (if given) is moved to it.

    Parameters
    ----------
    model_dir : str or pathlib.Path
        A model directory written by ``scorestream train`` (or the models registry).
    registered_name : str
        Registered model name (letters, digits, ``_ . -``); the published ``metadata.json``
        carries it as the model name.
    tracking_uri : str, optional
        The MLflow server; default ``MLFLOW_TRACKING_URI``.
    alias : str, optional
        Alias to point at the new version, e.g. ``champion``.
    experiment : str
        Experiment of the run that holds the artifacts.

    Returns
    -------
    PublishedVersion

    Raises
    ------
    ModelError
        If the directory does not load, a name is invalid, or MLflow refuses or cannot be
        reached.
    """
    from mlflow.models import Model

    from scorestream.streams.model.registry import LoadedModel

    model = LoadedModel.load(model_dir)
    check_name(registered_name, "MLflow model name")
    if alias is not None:
        check_name(alias, "MLflow alias")
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise ModelError("publishing to MLflow needs its address: set MLFLOW_TRACKING_URI")
    client = MlflowClient(tracking_uri=uri)
    with tempfile.TemporaryDirectory(prefix="scorestream-mlflow-") as temporary:
        staging = Path(temporary) / ARTIFACT_PATH
        staging.mkdir()
        for name in MODEL_FILES:
            shutil.copy2(Path(model_dir) / name, staging / name)
        for name in OPTIONAL_MODEL_FILES:
            if (Path(model_dir) / name).is_file():
                shutil.copy2(Path(model_dir) / name, staging / name)
        _rename_model(staging, registered_name)
        try:
            found = client.get_experiment_by_name(experiment)
            experiment_id = found.experiment_id if found else client.create_experiment(experiment)
            run = client.create_run(
                experiment_id,
                run_name=f"{registered_name}-{model.version}",
                tags={VERSION_TAG: model.version, KIND_TAG: model.kind},
            )
            run_id = run.info.run_id
            flavor = Model(artifact_path=ARTIFACT_PATH, run_id=run_id)
            flavor.add_flavor(
                FLAVOR,
                version=model.version,
                kind=model.kind,
                files=list(MODEL_FILES),
                loader="scorestream.streams.model.registry.LoadedModel.load",
            )
            flavor.save(str(staging / "MLmodel"))
            for key, value in _numbers(model.metadata.get("metrics")).items():
                client.log_metric(run_id, key, value)
            client.log_artifacts(run_id, str(staging), ARTIFACT_PATH)
            client.set_terminated(run_id)
            if not client.search_registered_models(f"name = '{registered_name}'"):
                client.create_registered_model(registered_name)
            created = client.create_model_version(
                registered_name,
                source=f"runs:/{run_id}/{ARTIFACT_PATH}",
                run_id=run_id,
                tags={VERSION_TAG: model.version, KIND_TAG: model.kind},
                description=f"scorestream model {model.version} ({model.kind})",
            )
            if alias is not None:
                client.set_registered_model_alias(registered_name, alias, created.version)
        except MlflowException as error:
            raise ModelError(
                f"cannot publish {model_dir} to MLflow at {uri}: {_short(error)}"
            ) from None
    published = PublishedVersion(registered_name, str(created.version), model.version, run_id)
    log.info(
        "published %s as %s (scorestream version %s)",
        model_dir,
        published.reference,
        model.version,
    )
    return published


def _numbers(values: Any) -> dict[str, float]:
    if not isinstance(values, dict):
        return {}
    return {
        str(key): float(value)
        for key, value in values.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
