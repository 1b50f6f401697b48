"""Where a worker's model comes from, and how it notices that a new version is current.

A :class:`ModelSource` turns a reference into the local model directory that is current
for it now. The worker (and the bridge's schema) call :meth:`ModelSource.resolve` every few
seconds and load a new version beside the old one when the answer changes:

- a model directory (``MODEL_DIR``, or a path): that directory; retraining it in place
  (``scorestream train`` replaces it atomically) is picked up as a new version;
- ``name``, ``name@alias`` or ``name@version`` in a models directory
  (:class:`~scorestream.streams.model.versions.RegistrySource`): follows the alias;
- ``models:/name@alias`` in an MLflow registry (optional extra ``scorestream[mlflow]``).
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from scorestream.exceptions import ModelError

if TYPE_CHECKING:
    from scorestream.settings import Settings

#: Prefix of a reference to a model version in an MLflow registry.
MLFLOW_PREFIX = "models:/"


@dataclass(frozen=True)
class ResolvedModel:
    """What a reference names right now: a model version and its local directory."""

    reference: str
    name: str
    version: str
    path: Path


class ModelSource(Protocol):
    """A reference that can be resolved, again and again, to the version current for it."""

    reference: str

    def resolve(self) -> ResolvedModel:
        """The version the reference names now (cheap: called every few seconds).

        Raises
        ------
        ModelError
            If the reference names nothing (unknown model, alias or version).
        """
        ...


class DirectorySource:
    """One model directory: whatever version it holds now (a retrain in place swaps it)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.reference = str(self.path)

    def resolve(self) -> ResolvedModel:
        metadata = self.path / "metadata.json"
        try:
            data = json.loads(metadata.read_text(encoding="utf-8"))
            name, version = str(data["name"]), str(data["version"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ModelError(
                f"{self.path} is not a model directory ({metadata}: {error}); "
                "train one with `scorestream train`"
            ) from None
        return ResolvedModel(self.reference, name, version, self.path)


def is_model_dir(path: str | Path) -> bool:
    """Whether ``path`` is a single model directory (it has a ``metadata.json``)."""
    return (Path(path) / "metadata.json").is_file()


def open_source(reference: str, settings: Settings) -> ModelSource:
    """The :class:`ModelSource` of ``reference`` (empty: ``settings.model_dir``).

    Raises
    ------
    ModelError
        If an MLflow reference is given without the ``mlflow`` extra installed.
    """
    from scorestream.streams.model.versions import ModelRegistry, RegistrySource

    if not reference:
        return DirectorySource(settings.model_dir)
    if reference.startswith(MLFLOW_PREFIX):
        try:
            # Imported by name: the module needs the optional extra scorestream[mlflow].
            module = importlib.import_module("scorestream.streams.model.mlflow_source")
        except ImportError as error:
            raise ModelError(
                f"{reference} needs the MLflow client: pip install 'scorestream[mlflow]' ({error})"
            ) from None
        source: ModelSource = module.MlflowSource(reference, settings)
        return source
    if is_model_dir(reference):
        return DirectorySource(reference)
    return RegistrySource(ModelRegistry(settings.models_dir), reference)
