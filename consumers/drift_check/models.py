"""Which models have drift counts in a period, and where each version's reference lives.

Every drift row is keyed by model name and version, so a check runs once per
(``model_name``, ``model_version``) with ``drift_stats`` in its period, against that
version's own reference profile: from the registry (``MODELS_DIR``,
``models/<name>/<version>/``), or from ``MODEL_DIR`` when its name and version match.

Rows written before models were named in them have ``model_name = ''``: they are matched
on the version alone (see :func:`fold_unnamed`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from scorestream.consumers.clickhouse import Executor, check_identifier
from scorestream.exceptions import ModelError
from scorestream.streams.drift.numeric_profile import NumericFeatureProfile
from scorestream.streams.drift.profile import SCORE_FEATURE
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.model.versions import ModelRegistry

log = logging.getLogger(__name__)

#: The ``feature`` of the one ``error`` row written for a model version whose reference
#: profile cannot be found (no feature can be checked without it).
MODEL_FEATURE = "_model"


@dataclass(frozen=True, order=True)
class ModelKey:
    """One model version: ``name`` is ``''`` for rows written before models had names."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name or '?'}@{self.version}"


@dataclass
class ModelLocator:
    """Finds and loads model versions: the registry under ``models_dir``, then ``default``.

    Loaded versions are cached: the scheduler checks the same ones every few minutes, and
    a version directory never changes once written.
    """

    models_dir: Path
    default: LoadedModel | None = None
    _cache: dict[ModelKey, LoadedModel] = field(default_factory=dict, repr=False)

    def _registry(self) -> ModelRegistry:
        return ModelRegistry(self.models_dir)

    def name_of(self, version: str) -> str:
        """The name of the model that has ``version`` (for unnamed rows), or ``''``."""
        if self.default is not None and self.default.version == version:
            return self.default.name
        registry = self._registry()
        for name in registry.names():
            try:
                registry.version_dir(name, version)
            except (ModelError, ValueError):
                continue
            return name
        return ""

    def model_dir(self, key: ModelKey) -> Path:
        """The directory of ``key``.

        Raises
        ------
        ModelError
            If neither ``MODEL_DIR`` nor the registry has this version.
        """
        default = self.default
        if (
            default is not None
            and default.version == key.version
            and key.name in ("", default.name)
        ):
            return default.path
        name = key.name or self.name_of(key.version)
        if not name:
            raise ModelError(
                f"no model has version {key.version!r}: it is neither MODEL_DIR's model nor "
                f"registered under {self.models_dir}"
            )
        try:
            return self._registry().version_dir(name, key.version)
        except ValueError as error:  # a name or version that is not a valid directory name
            raise ModelError(str(error)) from error

    def load(self, key: ModelKey) -> LoadedModel:
        """The loaded version ``key`` (cached). Raises ``ModelError`` as :meth:`model_dir`."""
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        default = self.default
        path = self.model_dir(key)
        model = default if default is not None and path == default.path else LoadedModel.load(path)
        if key.name and model.name != key.name:
            raise ModelError(f"{path} holds model {model.name!r}, not {key.name!r}")
        self._cache[key] = model
        return model

    def score_edges(self, name: str, version: str) -> npt.NDArray[np.float64] | None:
        """Bin edges of the reference score of a version, or None if it cannot be found."""
        score = self._score_profile(name, version)
        return None if score is None else np.asarray(score.edges, dtype=np.float64)

    def score_std(self, name: str, version: str) -> float | None:
        """Standard deviation of the reference score of a version, or None."""
        score = self._score_profile(name, version)
        if score is None or not math.isfinite(score.std):
            return None
        return float(score.std)

    def _score_profile(self, name: str, version: str) -> NumericFeatureProfile | None:
        try:
            profile = self.load(ModelKey(name, version)).profile
        except ModelError as error:
            log.info("no reference profile for %s@%s: %s", name, version, error)
            return None
        if SCORE_FEATURE not in profile:
            return None
        score = profile[SCORE_FEATURE]
        return score if isinstance(score, NumericFeatureProfile) else None


def models_in_period(
    client: Executor, database: str, start: datetime, end: datetime
) -> list[ModelKey]:
    """The (name, version) pairs with ``drift_stats`` rows in ``[start, end)``."""
    db = check_identifier(database)
    rows = client.execute(
        f"SELECT DISTINCT model_name, model_version FROM {db}.drift_stats "  # noqa: S608
        "WHERE minute >= %(start)s AND minute < %(end)s",
        {"start": start, "end": end},
    )
    return sorted(ModelKey(str(name), str(version)) for name, version in rows)


def fold_unnamed(keys: list[ModelKey], locator: ModelLocator) -> list[ModelKey]:
    """Give unnamed keys (rows from before model names) their model's name.

    An unnamed key whose version also appears named is dropped (the named check reads
    both: ``model_name IN (name, '')``); otherwise it takes the name of the model that has
    that version (MODEL_DIR's, or the registry's), or stays unnamed if none does.
    """
    named = {k.version for k in keys if k.name}
    folded = {k for k in keys if k.name}
    for key in keys:
        if not key.name and key.version not in named:
            folded.add(ModelKey(locator.name_of(key.version), key.version))
    return sorted(folded)


def days_by_model(
    client: Executor, database: str, since: date, until: date
) -> dict[date, set[ModelKey]]:
    """Complete days with ``drift_stats`` rows in ``[since, until)``, and their models."""
    db = check_identifier(database)
    rows = client.execute(
        f"SELECT DISTINCT toDate(minute), model_name, model_version FROM {db}.drift_stats "  # noqa: S608
        "WHERE minute >= %(since)s AND minute < %(until)s",
        {"since": _midnight(since), "until": _midnight(until)},
    )
    days: dict[date, set[ModelKey]] = {}
    for day, name, version in rows:
        days.setdefault(day, set()).add(ModelKey(str(name), str(version)))
    return days


def checked_days(client: Executor, database: str, since: date) -> dict[date, set[ModelKey]]:
    """Days from ``since`` on with a daily check stored, and the models checked."""
    db = check_identifier(database)
    rows = client.execute(
        f"SELECT DISTINCT toDate(period_start), model_name, model_version "  # noqa: S608
        f"FROM {db}.drift_checks FINAL "
        "WHERE check_kind = %(kind)s AND period_start >= %(since)s",
        {"kind": "daily", "since": _midnight(since)},
    )
    days: dict[date, set[ModelKey]] = {}
    for day, name, version in rows:
        days.setdefault(day, set()).add(ModelKey(str(name), str(version)))
    return days


def missed_days(client: Executor, database: str, since: date, today: date) -> list[date]:
    """Days with a model's data but not its daily check (per model, unnamed by version)."""
    checked = checked_days(client, database, since)
    missed = []
    for day, models in days_by_model(client, database, since, today).items():
        done = checked.get(day, set())
        versions = {k.version for k in done}
        for key in models:
            covered = key in done or ModelKey("", key.version) in done
            if not covered and not (not key.name and key.version in versions):
                missed.append(day)
                break
    return sorted(missed)


def model_error_row(
    kind: str, start: datetime, end: datetime, key: ModelKey, error: str, checked_at: datetime
) -> dict[str, Any]:
    """The one ``drift_checks`` row of a version whose reference cannot be found."""
    from scorestream.contract.drift import model_id

    nan = float("nan")
    return {
        "check_kind": kind,
        "period_start": start,
        "period_end": end,
        "checked_at": checked_at,
        "feature": MODEL_FEATURE,
        "kind": "",
        "model_version": key.version,
        "model_name": key.name,
        "model_id": model_id(key.name, key.version),
        "n_reference": 0,
        "n_current": 0,
        "test": "",
        **dict.fromkeys(("statistic", "p_value", "p_adjusted", "psi", "js_distance"), nan),
        **dict.fromkeys(("wasserstein", "ref_mean", "cur_mean"), nan),
        **dict.fromkeys(("ref_missing_rate", "cur_missing_rate"), nan),
        "level": "error",
        "drifted": 0,
        "reference_counts": [],
        "current_counts": [],
        "bin_labels": [],
        "error": error,
        "baseline": "reference",
    }


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)
