"""Inject controlled drift into generated records, to demonstrate and test drift detection.

A drift spec names a feature and a change::

    income=shift:0.5               add 0.5 reference standard deviations to every value
    income=scale:1.5               stretch values around the reference mean by 1.5
    region=weight:north:0.4        make 40 % of the present values "north"
    credit_score=missing:0.3       make about 30 % of the values missing

The producer parses specs with :meth:`DriftSpec.parse` and applies them with
:func:`apply_drift` to every chunk of records from record K on.

Examples
--------
>>> spec = DriftSpec.parse("region=weight:north:0.4")
>>> spec.feature, spec.kind, spec.category, spec.amount
('region', 'weight', 'north', 0.4)
>>> str(spec)
'region=weight:north:0.4'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from scorestream.exceptions import ConfigurationError

DriftKind = Literal["shift", "scale", "weight", "missing"]
DRIFT_KINDS: tuple[DriftKind, ...] = ("shift", "scale", "weight", "missing")

_SYNTAX = (
    "expected FEATURE=shift:STDS, FEATURE=scale:FACTOR, FEATURE=weight:CATEGORY:SHARE "
    "or FEATURE=missing:RATE"
)


@dataclass(frozen=True)
class DriftSpec:
    """One change to one feature's distribution.

    Attributes
    ----------
    feature : str
        Column to change.
    kind : {"shift", "scale", "weight", "missing"}
        ``shift``: add ``amount`` reference standard deviations (numeric).
        ``scale``: multiply the distance from the reference mean by ``amount`` (numeric,
        ``amount >= 0``). ``weight``: set the share of ``category`` among present values
        to ``amount`` (categorical, 0..1). ``missing``: raise the missing rate to
        ``amount`` (any feature, 0..1).
    amount : float
        Size of the change, as above.
    category : str or None
        The category of a ``weight`` spec; it need not exist in the data yet.
    """

    feature: str
    kind: DriftKind
    amount: float
    category: str | None = None

    def __post_init__(self) -> None:
        if not self.feature:
            raise ConfigurationError("a drift spec needs a feature name")
        if self.kind not in DRIFT_KINDS:
            raise ConfigurationError(f"unknown drift kind {self.kind!r}; {_SYNTAX}")
        if not math.isfinite(self.amount):
            raise ConfigurationError(f"drift amount must be a finite number, got {self.amount}")
        if self.kind == "scale" and self.amount < 0:
            raise ConfigurationError(f"scale factor must not be negative, got {self.amount}")
        if self.kind in ("weight", "missing") and not 0.0 <= self.amount <= 1.0:
            raise ConfigurationError(
                f"{self.kind} share must be between 0 and 1, got {self.amount}"
            )
        if (self.kind == "weight") != (self.category is not None):
            raise ConfigurationError("a category goes with weight specs, and only with them")

    @classmethod
    def parse(cls, text: str) -> DriftSpec:
        """Parse ``FEATURE=KIND:ARGS`` (see the module docstring).

        Raises
        ------
        ConfigurationError
            If the text does not follow the syntax or the amount is out of range.

        Examples
        --------
        >>> DriftSpec.parse("income = shift:-0.5")
        DriftSpec(feature='income', kind='shift', amount=-0.5, category=None)
        >>> DriftSpec.parse("income=grow:2")
        Traceback (most recent call last):
        ...
        scorestream.exceptions.ConfigurationError: bad drift spec 'income=grow:2': unknown kind ...
        """
        feature, equals, change = text.partition("=")
        feature = feature.strip()
        if not equals or not feature or not change.strip():
            raise ConfigurationError(f"bad drift spec {text!r}: {_SYNTAX}")
        kind, _, arguments = change.strip().partition(":")
        kind = kind.strip()
        if kind not in DRIFT_KINDS:
            raise ConfigurationError(f"bad drift spec {text!r}: unknown kind {kind!r}; {_SYNTAX}")
        category: str | None = None
        amount_text = arguments
        if kind == "weight":
            # The share is after the last colon, so that a category may contain colons.
            category, colon, amount_text = arguments.rpartition(":")
            if not colon or not category.strip():
                raise ConfigurationError(f"bad drift spec {text!r}: weight needs CATEGORY:SHARE")
            category = category.strip()
        try:
            amount = float(amount_text)
        except ValueError:
            raise ConfigurationError(
                f"bad drift spec {text!r}: {amount_text.strip()!r} is not a number; {_SYNTAX}"
            ) from None
        try:
            return cls(feature=feature, kind=kind, amount=amount, category=category)
        except ValueError as error:
            raise ConfigurationError(f"bad drift spec {text!r}: {error}") from None

    def __str__(self) -> str:
        if self.kind == "weight":
            return f"{self.feature}=weight:{self.category}:{self.amount:g}"
        return f"{self.feature}={self.kind}:{self.amount:g}"


def parse_drift_specs(texts: Iterable[str]) -> list[DriftSpec]:
    """Parse several specs (one per item, e.g. repeated ``--drift`` options)."""
    return [DriftSpec.parse(text) for text in texts]


def reference_moments(profile: Any) -> tuple[dict[str, float], dict[str, float]]:
    """Reference means and standard deviations of the numeric features of a profile.

    Parameters
    ----------
    profile : streams.drift.profile.ReferenceProfile
        A model's reference profile (``reference_profile.json``).

    Returns
    -------
    (dict, dict)
        ``reference_mean`` and ``reference_std`` for :func:`apply_drift`.
    """
    means: dict[str, float] = {}
    stds: dict[str, float] = {}
    for feature in profile.features:
        if getattr(feature, "kind", None) != "numeric":
            continue
        mean, std = float(feature.mean), float(feature.std)
        if math.isfinite(mean):
            means[feature.name] = mean
        if math.isfinite(std) and std > 0:
            stds[feature.name] = std
    return means, stds


def apply_drift(
    frame: pd.DataFrame,
    specs: Sequence[DriftSpec],
    rng: np.random.Generator,
    reference_std: Mapping[str, float] | None = None,
    *,
    reference_mean: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Return a copy of ``frame`` with ``specs`` applied in order.

    Parameters
    ----------
    frame : pandas.DataFrame
        A chunk of records, one row per record.
    specs : sequence of DriftSpec
        Changes to apply.
    rng : numpy.random.Generator
        Source of randomness for ``weight`` and ``missing``.
    reference_std : mapping of str to float, optional
        Standard deviation of each numeric feature in the reference (training) data, the
        unit of ``shift``. Features without one use the chunk's own standard deviation,
        which is noisy for small chunks; pass the reference (:func:`reference_moments`
        or :meth:`FeatureSchema.reference_std`) when you have it.
    reference_mean : mapping of str to float, optional
        Reference mean, the centre of ``scale``; the chunk mean otherwise.

    Integer columns, and float columns holding only whole numbers (an integer feature
    with gaps, as ``pandas.DataFrame(records)`` gives it), stay whole (values are
    rounded). Missing values stay missing.
    Shifted values may leave a feature's allowed range; the validator then rejects them,
    as it would in production.

    Raises
    ------
    ConfigurationError
        If a spec names an absent column, a numeric change targets a non-numeric column
        (or the reverse), or a ``shift`` has no standard deviation to work with.
    """
    drifted = frame.copy()
    for spec in specs:
        if spec.feature not in drifted.columns:
            raise ConfigurationError(f"drift spec {spec}: the data has no column {spec.feature!r}")
        column = drifted[spec.feature]
        if spec.kind == "shift":
            drifted[spec.feature] = _shift(column, spec, reference_std)
        elif spec.kind == "scale":
            drifted[spec.feature] = _scale(column, spec, reference_mean)
        elif spec.kind == "weight":
            drifted[spec.feature] = _weight(column, spec, rng)
        else:
            drifted[spec.feature] = _add_missing(column, spec, rng)
    return drifted


def _numeric_values(column: pd.Series, spec: DriftSpec) -> np.ndarray:
    if pd.api.types.is_bool_dtype(column.dtype) or not pd.api.types.is_numeric_dtype(column.dtype):
        raise ConfigurationError(f"drift spec {spec}: column {spec.feature!r} is not numeric")
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


def _like(column: pd.Series, values: np.ndarray, whole_numbers: bool = False) -> pd.Series:
    """Put float ``values`` back into a Series of ``column``'s kind (integers rounded).

    ``whole_numbers`` marks a float column that held only whole numbers (an integer
    feature with missing values, as a DataFrame built from JSON records has it); its
    values are rounded too, so that an ``int`` feature stays valid for the validator.
    """
    if whole_numbers and not pd.api.types.is_integer_dtype(column.dtype):
        return pd.Series(np.round(values), index=column.index, dtype=np.float64)
    if pd.api.types.is_integer_dtype(column.dtype):
        missing = np.isnan(values)
        whole = np.round(np.nan_to_num(values)).astype(np.int64)
        if isinstance(column.dtype, pd.api.extensions.ExtensionDtype) or missing.any():
            return pd.Series(pd.arrays.IntegerArray(whole, missing), index=column.index)
        return pd.Series(whole, index=column.index)
    return pd.Series(values, index=column.index, dtype=np.float64)


def _whole_numbers(values: np.ndarray) -> bool:
    present = values[~np.isnan(values)]
    return bool(len(present)) and bool(np.all(present == np.round(present)))


def _shift(
    column: pd.Series, spec: DriftSpec, reference_std: Mapping[str, float] | None
) -> pd.Series:
    values = _numeric_values(column, spec)
    std = (reference_std or {}).get(spec.feature)
    if std is None:
        present = values[~np.isnan(values)]
        std = float(present.std(ddof=1)) if len(present) > 1 else math.nan
    if not math.isfinite(std):
        raise ConfigurationError(
            f"drift spec {spec}: no standard deviation for {spec.feature!r}; pass reference_std"
        )
    return _like(column, values + spec.amount * std, _whole_numbers(values))


def _scale(
    column: pd.Series, spec: DriftSpec, reference_mean: Mapping[str, float] | None
) -> pd.Series:
    values = _numeric_values(column, spec)
    mean = (reference_mean or {}).get(spec.feature)
    if mean is None:
        present = values[~np.isnan(values)]
        if len(present) == 0:
            return column.copy()
        mean = float(present.mean())
    return _like(column, mean + (values - mean) * spec.amount, _whole_numbers(values))


def _weight(column: pd.Series, spec: DriftSpec, rng: np.random.Generator) -> pd.Series:
    if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
        raise ConfigurationError(f"drift spec {spec}: column {spec.feature!r} is not categorical")
    values = column.astype(object).to_numpy(copy=True)
    values[pd.isna(values)] = None
    present = np.flatnonzero(pd.notna(values))
    is_target = values[present] == spec.category
    target_rows = present[is_target]
    other_rows = present[~is_target]
    wanted = round(spec.amount * len(present))
    if wanted > len(target_rows):
        # Turn randomly chosen other rows into the category.
        chosen = rng.choice(other_rows, size=wanted - len(target_rows), replace=False)
        values[chosen] = spec.category
    elif wanted < len(target_rows) and len(other_rows) > 0:
        # Give randomly chosen category rows a value resampled from the other rows, so
        # the other categories keep their relative shares.
        chosen = rng.choice(target_rows, size=len(target_rows) - wanted, replace=False)
        values[chosen] = values[rng.choice(other_rows, size=len(chosen), replace=True)]
    return pd.Series(values, index=column.index, dtype=column.dtype)


def _add_missing(column: pd.Series, spec: DriftSpec, rng: np.random.Generator) -> pd.Series:
    missing = column.isna().to_numpy()
    rate = float(missing.mean()) if len(missing) else 0.0
    if rate >= spec.amount:
        return column.copy()
    # Blank present values with the probability that brings the expected rate to `amount`.
    blank = ~missing & (rng.random(len(column)) < (spec.amount - rate) / (1.0 - rate))
    if pd.api.types.is_bool_dtype(column.dtype) and column.dtype == bool:
        values = column.to_numpy(dtype=object)
        values[blank] = None
        return pd.Series(values, index=column.index, dtype=object)
    if pd.api.types.is_integer_dtype(column.dtype):
        return _like(column, np.where(blank, np.nan, column.to_numpy(np.float64, na_value=np.nan)))
    if pd.api.types.is_numeric_dtype(column.dtype):
        return column.mask(blank, np.nan)
    if column.dtype == object:
        values = column.to_numpy(dtype=object).copy()
        values[blank] = None
        return pd.Series(values, index=column.index, dtype=object)
    return column.mask(blank)
