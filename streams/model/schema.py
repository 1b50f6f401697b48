"""The model's feature schema: which fields a record carries, their types and valid ranges.

The schema is inferred from the training data and saved next to the model as
``schema.json``. The validator in :mod:`scorestream.streams.validation` enforces it on every record.
Users may edit ``schema.json`` (for example to widen ``allowed_min``/``allowed_max``); the
model itself does not depend on the bounds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from scorestream.exceptions import SchemaError

#: Columns that identify and time a record; never features of the model.
ID_COLUMN = "id"
EVENT_TIME_COLUMN = "event_time"
RESERVED_COLUMNS: frozenset[str] = frozenset({ID_COLUMN, EVENT_TIME_COLUMN})

FeatureKind = Literal["numeric", "categorical"]
FeatureDtype = Literal["float", "int", "bool", "string"]

#: A categorical feature keeps at most this many categories in the schema (most frequent);
#: rarer ones are still accepted at scoring time, like any unknown category.
MAX_CATEGORIES = 1000


class FeatureSpec(BaseModel):
    """One feature of the model.

    Attributes
    ----------
    name : str
        Field name in the input record and column name in the training data.
    kind : {"numeric", "categorical"}
        How the pipeline treats the feature.
    dtype : {"float", "int", "bool", "string"}
        JSON type a record must use (``int`` also accepts integral floats such as ``3.0``).
    nullable : bool
        Whether the training data had missing values; only then may a record send ``null``
        (or leave the field out).
    observed_min, observed_max : float or None
        Range seen in the training data (numeric features).
    observed_mean, observed_std : float or None
        Mean and standard deviation in the training data (numeric features); the unit of
        drift injection and a quick reference for humans.
    allowed_min, allowed_max : float or None
        Validation bounds. Inferred as the observed range widened by its span on each
        side, but not below 0 when the observed minimum is at least 0. ``None`` means
        unbounded.
    categories : list of str
        Categories seen in training, most frequent first (categorical features).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: FeatureKind
    dtype: FeatureDtype
    nullable: bool
    observed_min: float | None = None
    observed_max: float | None = None
    observed_mean: float | None = None
    observed_std: float | None = None
    allowed_min: float | None = None
    allowed_max: float | None = None
    categories: list[str] = []

    @model_validator(mode="after")
    def _check_consistency(self) -> FeatureSpec:
        if (self.kind == "categorical") != (self.dtype == "string"):
            raise ValueError(
                f"feature {self.name!r}: kind {self.kind!r} does not go with dtype {self.dtype!r}"
            )
        if (
            self.allowed_min is not None
            and self.allowed_max is not None
            and self.allowed_min > self.allowed_max
        ):
            raise ValueError(f"feature {self.name!r}: allowed_min is greater than allowed_max")
        return self


class FeatureSchema(BaseModel):
    """The features of a model, in the order the pipeline receives them, and its target.

    Examples
    --------
    >>> frame = pd.DataFrame({"age": [30, 40, 50], "region": ["north", "south", "north"],
    ...                       "default": [0, 1, 0]})
    >>> schema = FeatureSchema.from_frame(frame, target="default")
    >>> schema.numeric, schema.categorical
    (['age'], ['region'])
    >>> schema.feature("age").allowed_min, schema.feature("age").allowed_max
    (10.0, 70.0)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: list[FeatureSpec]
    target: str | None = None

    @model_validator(mode="after")
    def _check_names(self) -> FeatureSchema:
        names = [spec.name for spec in self.features]
        if len(set(names)) != len(names):
            raise ValueError("feature names must be unique")
        clashes = (set(names) & RESERVED_COLUMNS) | ({self.target} & set(names))
        if clashes:
            raise ValueError(f"not allowed as feature names: {sorted(c for c in clashes if c)}")
        return self

    @property
    def names(self) -> list[str]:
        """All feature names, in pipeline order."""
        return [spec.name for spec in self.features]

    @property
    def numeric(self) -> list[str]:
        """Names of the numeric features."""
        return [spec.name for spec in self.features if spec.kind == "numeric"]

    @property
    def categorical(self) -> list[str]:
        """Names of the categorical features."""
        return [spec.name for spec in self.features if spec.kind == "categorical"]

    def feature(self, name: str) -> FeatureSpec:
        """Return the spec of feature ``name`` (KeyError if there is none)."""
        for spec in self.features:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def reference_std(self) -> dict[str, float]:
        """Training standard deviation of each numeric feature that has one."""
        return {
            spec.name: spec.observed_std
            for spec in self.features
            if spec.kind == "numeric" and spec.observed_std is not None
        }

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        target: str | None,
        *,
        exclude: Iterable[str] = RESERVED_COLUMNS,
    ) -> FeatureSchema:
        """Infer the schema of every column of ``frame`` except ``target`` and ``exclude``.

        Parameters
        ----------
        frame : pandas.DataFrame
            Training data.
        target : str or None
            Name of the label column (not a feature).
        exclude : iterable of str
            Other columns that are not features; by default ``id`` and ``event_time``.

        Raises
        ------
        SchemaError
            If a column has a type the pipeline cannot use (dates, nested values), a
            feature is entirely missing, or no features are left.
        """
        skipped = set(exclude) | ({target} if target is not None else set())
        features = [
            _infer_feature(str(name), frame[name]) for name in frame.columns if name not in skipped
        ]
        if not features:
            raise SchemaError("the data has no feature columns besides the target, id and time")
        try:
            return cls(features=features, target=target)
        except ValidationError as error:
            raise SchemaError(f"invalid feature schema: {error}") from error

    def save(self, path: str | Path) -> None:
        """Write the schema as indented JSON."""
        Path(path).write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> FeatureSchema:
        """Read a schema written by :meth:`save` (SchemaError if it is not valid)."""
        try:
            return cls.model_validate_json(Path(path).read_bytes())
        except (OSError, ValidationError) as error:
            raise SchemaError(f"cannot read feature schema {path}: {error}") from error


def coerce_features(frame: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    """Return the feature columns of ``frame`` in schema order, typed as the pipeline expects.

    Numeric features become float64 (missing: NaN; booleans: 0/1); categorical features
    become object columns of ``str`` with NaN for missing, because scikit-learn's
    ``SimpleImputer`` recognises NaN but not ``None`` in object columns.

    Raises
    ------
    SchemaError
        If a feature column is absent or a numeric column holds non-numbers.
    """
    absent = [name for name in schema.names if name not in frame.columns]
    if absent:
        raise SchemaError(f"missing feature columns: {absent}")
    columns: dict[str, pd.Series] = {}
    for spec in schema.features:
        column = frame[spec.name]
        if spec.kind == "numeric":
            try:
                values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError) as error:
                raise SchemaError(f"feature {spec.name!r} is not numeric: {error}") from error
            columns[spec.name] = pd.Series(values, index=frame.index, dtype=np.float64)
        else:
            missing = column.isna().to_numpy()
            as_text = column.astype(object).to_numpy(dtype=object, copy=True)
            present = ~missing
            as_text[present] = [str(value) for value in as_text[present]]
            as_text[missing] = np.nan
            columns[spec.name] = pd.Series(as_text, index=frame.index, dtype=object)
    return pd.DataFrame(columns, index=frame.index)


def _infer_feature(name: str, column: pd.Series) -> FeatureSpec:
    present = column.dropna()
    if present.empty:
        raise SchemaError(f"column {name!r} has no values; drop it before training")
    nullable = bool(len(present) < len(column))
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) or _all_bool(present):
        return FeatureSpec(
            name=name,
            kind="numeric",
            dtype="bool",
            nullable=nullable,
            observed_min=float(present.astype(bool).min()),
            observed_max=float(present.astype(bool).max()),
            observed_mean=float(present.astype(float).mean()),
            observed_std=_std(present.astype(float)),
        )
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        raise SchemaError(f"column {name!r} holds dates or durations; derive numbers from it")
    if pd.api.types.is_numeric_dtype(dtype):
        values = present.astype(float)
        if not np.isfinite(values.to_numpy()).all():
            raise SchemaError(f"column {name!r} holds infinite values")
        is_int = pd.api.types.is_integer_dtype(dtype)
        return _numeric_spec(name, "int" if is_int else "float", nullable, values)
    if pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        kinds = {type(value) for value in present.to_numpy()}
        if isinstance(dtype, pd.CategoricalDtype) or kinds <= {str}:
            counts = present.astype(str).value_counts()
            # Ties broken by name so that the same data always gives the same schema.
            ranked = sorted(counts.items(), key=lambda item: (-int(item[1]), str(item[0])))
            return FeatureSpec(
                name=name,
                kind="categorical",
                dtype="string",
                nullable=nullable,
                categories=[str(category) for category, _ in ranked[:MAX_CATEGORIES]],
            )
        raise SchemaError(
            f"column {name!r} mixes value types {sorted(kind.__name__ for kind in kinds)}"
        )
    raise SchemaError(f"column {name!r} has unsupported dtype {dtype}")


def _numeric_spec(name: str, dtype: FeatureDtype, nullable: bool, values: pd.Series) -> FeatureSpec:
    low, high = float(values.min()), float(values.max())
    # A constant column has no span; widen by its magnitude so that validation is not
    # stricter than "about the same size as in training".
    span = high - low if high > low else max(abs(high), 1.0)
    allowed_min = low - span
    if low >= 0:
        allowed_min = max(allowed_min, 0.0)
    return FeatureSpec(
        name=name,
        kind="numeric",
        dtype=dtype,
        nullable=nullable,
        observed_min=low,
        observed_max=high,
        observed_mean=float(values.mean()),
        observed_std=_std(values),
        allowed_min=allowed_min,
        allowed_max=high + span,
    )


def _std(values: pd.Series) -> float | None:
    std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
    return std if math.isfinite(std) else None


def _all_bool(present: pd.Series) -> bool:
    # Object columns of Python booleans (e.g. read from JSON lines with missing values).
    return present.dtype == object and all(type(value) is bool for value in present.to_numpy())
