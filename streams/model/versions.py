"""A registry of model versions in a directory, with aliases that name a version.

Layout (``MODELS_DIR``)::

    models/
        <name>/
            <version>/        a model directory (see :mod:`.train`), immutable once written
            aliases.json      {"champion": "<version>", ...}, replaced atomically
            aliases.log       one JSON line per alias change (who can roll back to what)

A version's name is its content version (:func:`.train.pipeline_version`), so registering
the same model twice is a no-op and two different models can never share a version. The
alias file is the only thing that changes; it is written to a temporary file and renamed
over the old one, so a worker polling it never reads half a file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scorestream.exceptions import ModelError
from scorestream.streams.model.source import ResolvedModel

ALIASES_FILE = "aliases.json"
ALIASES_LOG = "aliases.log"
#: The alias a worker follows when a reference names only the model.
DEFAULT_ALIAS = "champion"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


def check_name(name: str, what: str = "model name") -> str:
    """``name`` if it is safe as one path component (letters, digits, ``_ . -``).

    >>> check_name("churn-v2")
    'churn-v2'
    >>> check_name("../etc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    scorestream.exceptions.ModelError: invalid model name '../etc': use letters, ...
    """
    if not _NAME.match(name) or name in {".", ".."}:
        raise ModelError(
            f"invalid {what} {name!r}: use letters, digits, '_', '.' and '-' (at most 64)"
        )
    return name


@dataclass(frozen=True)
class VersionInfo:
    """One registered version, as ``models list`` shows it."""

    name: str
    version: str
    path: Path
    created_at: str
    kind: str
    metrics: dict[str, Any]
    aliases: tuple[str, ...]


class ModelRegistry:
    """Model versions and aliases under one root directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # --- reading -------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Registered model names, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _NAME.match(p.name))

    def versions(self, name: str) -> list[VersionInfo]:
        """Every version of ``name``, oldest first."""
        model_root = self._model_root(name)
        aliases = self.aliases(name)
        infos = []
        for path in model_root.iterdir() if model_root.is_dir() else ():
            metadata = _metadata(path)
            if metadata is None:
                continue
            infos.append(
                VersionInfo(
                    name=name,
                    version=path.name,
                    path=path,
                    created_at=str(metadata.get("created_at", "")),
                    kind=str(metadata.get("task", "binary")),
                    metrics=dict(metadata.get("metrics") or {}),
                    aliases=tuple(sorted(a for a, v in aliases.items() if v == path.name)),
                )
            )
        return sorted(infos, key=lambda info: (info.created_at, info.version))

    def version_dir(self, name: str, version: str) -> Path:
        """The directory of one version.

        Raises
        ------
        ModelError
            If ``name`` has no such version.
        """
        path = self._model_root(name) / check_name(version, "version")
        if _metadata(path) is None:
            raise ModelError(f"model {name!r} has no version {version!r}")
        return path

    def aliases(self, name: str) -> dict[str, str]:
        """Alias -> version of ``name`` (empty before the first alias is set)."""
        path = self._model_root(name) / ALIASES_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise ModelError(f"cannot read {path}: {error}") from error
        if not isinstance(data, dict):
            raise ModelError(f"{path} must hold a JSON object of alias -> version")
        return {str(k): str(v) for k, v in data.items()}

    def resolve(self, reference: str) -> ResolvedModel:
        """``name`` (its champion), ``name@alias`` or ``name@version`` -> the version now.

        Raises
        ------
        ModelError
            If the model, alias or version does not exist.
        """
        name, _, target = reference.partition("@")
        target = target or DEFAULT_ALIAS
        aliases = self.aliases(name)
        if target in aliases:
            version = aliases[target]
        elif _metadata(self._model_root(name) / check_name(target, "alias or version")):
            version = target
        else:
            known = ", ".join(sorted(aliases)) or "none"
            raise ModelError(
                f"model {name!r} in {self.root} has no alias or version {target!r} "
                f"(aliases: {known})"
            )
        return ResolvedModel(reference, name, version, self.version_dir(name, version))

    # --- writing -------------------------------------------------------------------------
    def add(self, model_dir: str | Path, *, name: str | None = None) -> ResolvedModel:
        """Copy a model directory in as a new version (a no-op if that version exists).

        The directory is loaded first (:meth:`LoadedModel.load`: integrity, allow-listed
        types), so that nothing unloadable is ever registered.

        Raises
        ------
        ModelError
            If the directory does not load, or a different model already holds its version.
        """
        from scorestream.streams.model.registry import LoadedModel

        model = LoadedModel.load(model_dir)
        name = check_name(name or model.name)
        model_root = self._model_root(name)
        target = model_root / model.version
        if _metadata(target) is not None:
            existing = _metadata(target) or {}
            if existing.get("pipeline_sha256") != model.metadata["pipeline_sha256"]:
                raise ModelError(f"{target} exists and holds a different pipeline")
            return ResolvedModel(f"{name}@{model.version}", name, model.version, target)
        model_root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{model.version}.", dir=model_root))
        try:
            for source in Path(model_dir).iterdir():
                if source.is_file():
                    shutil.copy2(source, staging / source.name)
            if name != model.name:
                _rename_model(staging, name)
            for path in staging.iterdir():
                path.chmod(0o444)
            staging.chmod(0o555)
            staging.rename(target)
        except OSError as error:
            shutil.rmtree(staging, ignore_errors=True)
            if _metadata(target) is not None:  # a concurrent add of the same version
                return ResolvedModel(f"{name}@{model.version}", name, model.version, target)
            raise ModelError(f"cannot register {model_dir} as {target}: {error}") from error
        return ResolvedModel(f"{name}@{model.version}", name, model.version, target)

    def set_alias(self, name: str, alias: str, version: str, *, action: str = "set") -> str | None:
        """Point ``alias`` of ``name`` at ``version``; returns the version it named before."""
        check_name(alias, "alias")
        self.version_dir(name, version)
        aliases = self.aliases(name)
        previous = aliases.get(alias)
        aliases[alias] = version
        model_root = self._model_root(name)
        _write_atomically(model_root / ALIASES_FILE, json.dumps(aliases, indent=2) + "\n")
        entry = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "action": action,
            "alias": alias,
            "version": version,
            "previous": previous,
        }
        with open(model_root / ALIASES_LOG, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")
        return previous

    def history(self, name: str, alias: str = DEFAULT_ALIAS) -> list[str]:
        """The versions ``alias`` named, oldest first, with rollbacks undone."""
        path = self._model_root(name) / ALIASES_LOG
        stack: list[str] = []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return stack
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line torn by a crash mid-write: the alias file is the truth
            if entry.get("alias") != alias:
                continue
            if entry.get("action") == "rollback":
                if stack:
                    stack.pop()
            else:
                stack.append(str(entry["version"]))
        return stack

    def rollback(self, name: str, alias: str = DEFAULT_ALIAS) -> str:
        """Point ``alias`` back at the version it named before its last change.

        Raises
        ------
        ModelError
            If the alias has no earlier version.
        """
        stack = self.history(name, alias)
        if len(stack) < 2:
            raise ModelError(f"{name}@{alias} has no earlier version to roll back to")
        self.set_alias(name, alias, stack[-2], action="rollback")
        return stack[-2]

    def _model_root(self, name: str) -> Path:
        return self.root / check_name(name)


class RegistrySource:
    """A :class:`~.source.ModelSource` that follows ``name@alias`` in a :class:`ModelRegistry`."""

    def __init__(self, registry: ModelRegistry, reference: str) -> None:
        self.registry = registry
        self.reference = reference

    def resolve(self) -> ResolvedModel:
        return self.registry.resolve(self.reference)


def _metadata(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _rename_model(model_dir: Path, name: str) -> None:
    # The name is metadata only: the version (a hash of the pipeline) does not change.
    path = model_dir / "metadata.json"
    metadata = json.loads(path.read_text(encoding="utf-8"))
    metadata["name"] = name
    path.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")


def _write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
