"""Reference profiles: the fixed bin layout every drift count is made in.

A profile is built once, from the training (reference) data, and saved next to the model.
Workers count each batch into the same bins with :func:`numpy.bincount`, so counts from any
number of partitions, workers and minutes add up, and ClickHouse can store them as
``Array(UInt64)``.

Layouts (the last bin is always *missing*):

- numeric: ``[underflow, interior_1, ..., interior_k, overflow, missing]``. Edges are the
  reference quantiles at ``0, 1/B, ..., 1`` (deduplicated; a feature with at most ``B``
  distinct values gets one bin per value instead). Interior bin ``i`` is
  ``[e_{i-1}, e_i)``, the last one closed at the reference maximum. *Underflow* is
  ``< e_0`` (the reference minimum) and *overflow* ``> e_k`` (the reference maximum), so
  both are empty in the reference by construction.
- categorical: ``[category_1, ..., category_k, other, missing]``, categories most frequent
  first (ties by name), at most ``max_categories``.

*Missing* means ``None``, ``NaN``, and, for numerics, infinities and values that are not
numbers: a record that validation let through should still be counted, not crash the worker.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "SCORE_FEATURE",
    "CategoricalFeatureProfile",
    "FeatureProfile",
    "NumericFeatureProfile",
    "RawValues",
    "ReferenceProfile",
    "as_float_array",
]

#: Name under which the model score (probability) is profiled, as a numeric feature.
SCORE_FEATURE = "_score"

#: Raw feature values as they come: arrays, Series, or plain lists that may hold ``None``.
RawValues = ArrayLike | pd.Series | Sequence[Any]

_FORMAT = "scorestream.reference_profile"
_VERSION = 1


def as_float_array(values: RawValues) -> NDArray[np.float64]:
    """Convert raw values to float64, with anything that is not a number as NaN.

    Numeric numpy arrays are converted without a per-value loop; other inputs (object
    arrays, lists with ``None``, nullable pandas dtypes) go through :func:`pandas.to_numeric`.

    Examples
    --------
    >>> as_float_array([1, None, "2.5", "x"])
    array([1. , nan, 2.5, nan])

    """
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values.astype(np.float64, copy=False)
    series = _as_series(values)
    if not pd.api.types.is_numeric_dtype(series.dtype):
        series = pd.to_numeric(series, errors="coerce")
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _as_series(values: RawValues) -> pd.Series:
    if isinstance(values, pd.Series):
        return values
    return pd.Series(np.asarray(values, dtype=object))


def _readonly(array: NDArray[Any]) -> NDArray[Any]:
    # Profiles are shared by every batch of a worker: an accidental in-place edit would
    # silently shift all later counts, so arrays are frozen.
    array = np.array(array, copy=True)
    array.setflags(write=False)
    return array


def _fmt(value: float) -> str:
    return f"{value:.6g}"


@dataclass(frozen=True, eq=False)
class NumericFeatureProfile:
    """Reference profile of one numeric feature.

    Parameters
    ----------
    name
        Feature name (column in the input frame).
    edges
        Strictly increasing bin edges: reference quantiles at ``0, 1/B, ..., 1``,
        deduplicated; or, when the reference has at most ``B`` distinct values, those
        values' minimum, the midpoints between neighbours, and the maximum (one bin per
        value). ``edges[0]`` is the reference minimum and ``edges[-1]`` its maximum.
    reference_counts
        Reference counts in this feature's bin layout.
    interior_means
        Mean of the reference values in each interior bin (the bin midpoint for an empty
        bin); used as the bin's position by :func:`.statistics.wasserstein_binned`.
    count
        Number of reference rows, missing included.
    mean, std
        Mean and population standard deviation of the non-missing reference values.
    missing_rate
        Share of reference rows that were missing.

    Examples
    --------
    >>> import numpy as np
    >>> feature = NumericFeatureProfile.from_values("x", np.arange(10.0), n_bins=2)
    >>> feature.edges
    array([0. , 4.5, 9. ])
    >>> feature.labels()
    ['(-inf, 0)', '[0, 4.5)', '[4.5, 9]', '(9, inf)', 'missing']
    >>> feature.assign(np.array([-1.0, 0.0, 4.5, 9.0, 9.5, np.nan]))
    array([0, 1, 2, 2, 3, 4])

    """

    kind: ClassVar[Literal["numeric"]] = "numeric"

    name: str
    edges: NDArray[np.float64]
    reference_counts: NDArray[np.int64]
    interior_means: NDArray[np.float64]
    count: int
    mean: float
    std: float
    missing_rate: float

    def __post_init__(self) -> None:
        edges = np.asarray(self.edges, dtype=np.float64)
        if edges.ndim != 1 or edges.size == 0 or not np.all(np.isfinite(edges)):
            raise ValueError(f"{self.name}: edges must be a non-empty 1-d array of finite floats")
        if np.any(np.diff(edges) <= 0):
            raise ValueError(f"{self.name}: edges must be strictly increasing")
        object.__setattr__(self, "edges", _readonly(edges))
        counts = np.asarray(self.reference_counts, dtype=np.int64)
        if counts.shape != (self.n_bins,):
            raise ValueError(f"{self.name}: expected {self.n_bins} reference counts")
        object.__setattr__(self, "reference_counts", _readonly(counts))
        means = np.asarray(self.interior_means, dtype=np.float64)
        if means.shape != (self.n_interior,):
            raise ValueError(f"{self.name}: expected {self.n_interior} interior means")
        object.__setattr__(self, "interior_means", _readonly(means))

    @classmethod
    def from_values(cls, name: str, values: RawValues, n_bins: int = 10) -> NumericFeatureProfile:
        """Profile reference values on ``n_bins`` quantile bins.

        Raises
        ------
        ValueError
            If no reference value is a finite number.
        """
        if n_bins < 1:
            raise ValueError("n_bins must be at least 1")
        x = as_float_array(values)
        finite = x[np.isfinite(x)]
        if finite.size == 0:
            raise ValueError(f"{name}: no finite reference values to profile")
        distinct = np.unique(finite)
        if 1 < distinct.size <= n_bins:
            # Few distinct values (flags, small counts): one bin per value, cut halfway
            # between neighbours, or quantile edges would merge e.g. 0 and 1 of a flag.
            middles = (distinct[:-1] + distinct[1:]) / 2
            edges = np.concatenate(([distinct[0]], middles, [distinct[-1]]))
        else:
            # The 0 and 1 quantiles are exactly the min and max, so the reference has no
            # under/overflow by construction; ties collapse duplicate edges.
            edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, n_bins + 1)))
        n_interior = max(edges.size - 1, 1)
        interior = _assign_float(edges, finite)
        sums = np.bincount(interior, weights=finite, minlength=n_interior + 2)[1:-1]
        sizes = np.bincount(interior, minlength=n_interior + 2)[1:-1]
        midpoints = (edges[:-1] + edges[1:]) / 2 if edges.size > 1 else edges.copy()
        means = np.where(sizes > 0, sums / np.maximum(sizes, 1), midpoints)
        counts = np.bincount(_assign_float(edges, x), minlength=n_interior + 3)
        return cls(
            name=name,
            edges=edges,
            reference_counts=counts.astype(np.int64),
            interior_means=means,
            count=int(x.size),
            mean=float(finite.mean()),
            std=float(finite.std()),
            missing_rate=float((x.size - finite.size) / x.size),
        )

    @property
    def n_interior(self) -> int:
        """Number of interior bins (one for a constant reference)."""
        return max(self.edges.size - 1, 1)

    @property
    def n_bins(self) -> int:
        """Total number of bins: underflow, interior, overflow and missing."""
        return self.n_interior + 3

    @property
    def missing_index(self) -> int:
        """Index of the *missing* bin (the last one)."""
        return self.n_bins - 1

    def positions(self) -> NDArray[np.float64]:
        """Positions of the non-missing bins for the Wasserstein distance.

        Interior bins sit at the reference mean inside the bin, underflow at the reference
        minimum and overflow at the reference maximum.
        """
        return np.concatenate(([self.edges[0]], self.interior_means, [self.edges[-1]]))

    def assign(self, values: RawValues) -> NDArray[np.int64]:
        """Map raw values to bin indices (vectorised)."""
        return _assign_float(self.edges, as_float_array(values))

    def labels(self) -> list[str]:
        """A human-readable label per bin."""
        e = self.edges
        if e.size == 1:
            interior = [f"[{_fmt(e[0])}, {_fmt(e[0])}]"]
        else:
            interior = [f"[{_fmt(a)}, {_fmt(b)})" for a, b in itertools.pairwise(e)]
            interior[-1] = interior[-1][:-1] + "]"
        return [f"(-inf, {_fmt(e[0])})", *interior, f"({_fmt(e[-1])}, inf)", "missing"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form; floats round-trip exactly through :mod:`json`."""
        return {
            "name": self.name,
            "kind": self.kind,
            "edges": [float(v) for v in self.edges],
            "reference_counts": [int(v) for v in self.reference_counts],
            "interior_means": [float(v) for v in self.interior_means],
            "count": int(self.count),
            "mean": float(self.mean),
            "std": float(self.std),
            "missing_rate": float(self.missing_rate),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericFeatureProfile:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=str(data["name"]),
            edges=np.asarray(data["edges"], dtype=np.float64),
            reference_counts=np.asarray(data["reference_counts"], dtype=np.int64),
            interior_means=np.asarray(data["interior_means"], dtype=np.float64),
            count=int(data["count"]),
            mean=float(data["mean"]),
            std=float(data["std"]),
            missing_rate=float(data["missing_rate"]),
        )


def _assign_float(edges: NDArray[np.float64], x: NDArray[np.float64]) -> NDArray[np.int64]:
    n_interior = max(edges.size - 1, 1)
    # side="right" puts a value equal to an edge in the bin that starts there.
    idx = np.searchsorted(edges, x, side="right").astype(np.int64)
    last = edges[-1]
    idx[x == last] = n_interior  # the last interior bin is closed at the reference max
    idx[x > last] = n_interior + 1
    idx[~np.isfinite(x)] = n_interior + 2
    return idx


@dataclass(frozen=True, eq=False)
class CategoricalFeatureProfile:
    """Reference profile of one categorical feature.

    Values are compared as strings (``str(value)``), so a column must reach the worker
    with the same types as in the reference (``1`` and ``1.0`` are different categories).

    Parameters
    ----------
    name
        Feature name (column in the input frame).
    categories
        Reference categories, most frequent first.
    reference_counts
        Reference counts in this feature's bin layout.
    count
        Number of reference rows, missing included.
    missing_rate
        Share of reference rows that were missing.

    Examples
    --------
    >>> feature = CategoricalFeatureProfile.from_values("c", ["a", "b", "a", None])
    >>> feature.labels()
    ['a', 'b', 'other', 'missing']
    >>> feature.assign(["b", "a", "z", None, float("nan")])
    array([1, 0, 2, 3, 3])
    >>> feature.reference_counts
    array([2, 1, 0, 1])

    """

    kind: ClassVar[Literal["categorical"]] = "categorical"

    name: str
    categories: tuple[str, ...]
    reference_counts: NDArray[np.int64]
    count: int
    missing_rate: float
    _lookup: pd.Index = field(init=False, repr=False)

    def __post_init__(self) -> None:
        categories = tuple(str(c) for c in self.categories)
        if len(set(categories)) != len(categories):
            raise ValueError(f"{self.name}: categories must be unique")
        object.__setattr__(self, "categories", categories)
        counts = np.asarray(self.reference_counts, dtype=np.int64)
        if counts.shape != (self.n_bins,):
            raise ValueError(f"{self.name}: expected {self.n_bins} reference counts")
        object.__setattr__(self, "reference_counts", _readonly(counts))
        object.__setattr__(self, "_lookup", pd.Index(categories, dtype=object))

    @classmethod
    def from_values(
        cls, name: str, values: RawValues, max_categories: int = 50
    ) -> CategoricalFeatureProfile:
        """Profile reference values, keeping the ``max_categories`` most frequent."""
        if max_categories < 0:
            raise ValueError("max_categories must be non-negative")
        codes, strings = _factorize(values)
        present = codes[codes >= 0]
        per_value = np.bincount(present, minlength=strings.size)
        # Distinct raw values may share a string (1 and "1"): add them up by string.
        frequencies = pd.Series(per_value, index=strings).groupby(level=0).sum()
        # Ties are broken by name so that the same data always gives the same layout.
        order = sorted(frequencies.items(), key=lambda item: (-int(item[1]), str(item[0])))
        categories = tuple(str(c) for c, _ in order[:max_categories])
        provisional = cls(
            name=name,
            categories=categories,
            reference_counts=np.zeros(len(categories) + 2, dtype=np.int64),
            count=0,
            missing_rate=0.0,
        )
        counts = np.bincount(provisional.assign(values), minlength=provisional.n_bins)
        n = codes.size
        return cls(
            name=name,
            categories=categories,
            reference_counts=counts.astype(np.int64),
            count=n,
            missing_rate=float((n - present.size) / n) if n else 0.0,
        )

    @property
    def n_bins(self) -> int:
        """Total number of bins: categories, other and missing."""
        return len(self.categories) + 2

    @property
    def missing_index(self) -> int:
        """Index of the *missing* bin (the last one)."""
        return self.n_bins - 1

    def assign(self, values: RawValues) -> NDArray[np.int64]:
        """Map raw values to bin indices with a hash lookup (no per-value Python loop)."""
        codes, strings = _factorize(values)
        # Look up each distinct value once, then gather: a batch has few distinct values.
        table = self._lookup.get_indexer(pd.Index(strings)).astype(np.int64)
        table[table < 0] = len(self.categories)
        # Code -1 (missing) picks the appended last entry, the missing bin.
        table = np.append(table, len(self.categories) + 1)
        return table[codes]

    def labels(self) -> list[str]:
        """A human-readable label per bin."""
        return [*self.categories, "other", "missing"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "name": self.name,
            "kind": self.kind,
            "categories": list(self.categories),
            "reference_counts": [int(v) for v in self.reference_counts],
            "count": int(self.count),
            "missing_rate": float(self.missing_rate),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalFeatureProfile:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=str(data["name"]),
            categories=tuple(str(c) for c in data["categories"]),
            reference_counts=np.asarray(data["reference_counts"], dtype=np.int64),
            count=int(data["count"]),
            missing_rate=float(data["missing_rate"]),
        )


def _factorize(values: RawValues) -> tuple[NDArray[np.intp], NDArray[Any]]:
    # Codes per value (-1 for None/NaN) and the distinct values as strings; hashing the
    # raw values in C is several times faster than converting every value to str first.
    codes, uniques = pd.factorize(_as_series(values), use_na_sentinel=True)
    strings = pd.Series(np.asarray(uniques, dtype=object), dtype=object).astype(str)
    return np.asarray(codes, dtype=np.intp), strings.to_numpy(dtype=object)


FeatureProfile = NumericFeatureProfile | CategoricalFeatureProfile


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """Bin layouts and reference counts of every monitored feature.

    Parameters
    ----------
    features
        Feature profiles, numeric first, then categorical, then the score (if profiled).
    n_bins
        Number of quantile bins requested for numeric features (before deduplication).
    max_categories
        Largest number of categories kept per categorical feature.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> frame = pd.DataFrame({"x": rng.normal(size=1000), "c": rng.choice(["a", "b"], 1000)})
    >>> profile = ReferenceProfile.from_frame(frame, ["x"], ["c"], scores=rng.random(1000))
    >>> profile.names
    ('x', 'c', '_score')
    >>> counts = profile.count(frame.head(10), scores=np.full(10, 0.5))
    >>> {name: int(c.sum()) for name, c in counts.items()}
    {'x': 10, 'c': 10, '_score': 10}

    """

    features: tuple[FeatureProfile, ...]
    n_bins: int = 10
    max_categories: int = 50
    _by_name: dict[str, FeatureProfile] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_name = {f.name: f for f in self.features}
        if len(by_name) != len(self.features):
            raise ValueError("feature names must be unique")
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "_by_name", by_name)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        numeric: Sequence[str],
        categorical: Sequence[str],
        scores: ArrayLike | None = None,
        n_bins: int = 10,
        max_categories: int = 50,
    ) -> ReferenceProfile:
        """Profile reference data.

        Parameters
        ----------
        frame
            Reference (training) data, one row per record.
        numeric, categorical
            Names of the numeric and categorical feature columns.
        scores
            Model scores of the reference rows; profiled as the numeric feature ``"_score"``.
        n_bins
            Quantile bins per numeric feature.
        max_categories
            Categories kept per categorical feature; rarer ones fall into *other*.
        """
        names = [*numeric, *categorical]
        if len(set(names)) != len(names):
            raise ValueError("a feature is listed twice")
        if SCORE_FEATURE in names:
            raise ValueError(f"{SCORE_FEATURE!r} is reserved for the model score")
        absent = [name for name in names if name not in frame.columns]
        if absent:
            raise KeyError(f"reference frame lacks columns {absent}")
        features: list[FeatureProfile] = [
            NumericFeatureProfile.from_values(name, frame[name], n_bins) for name in numeric
        ]
        features += [
            CategoricalFeatureProfile.from_values(name, frame[name], max_categories)
            for name in categorical
        ]
        if scores is not None:
            score_values = as_float_array(scores)
            if score_values.shape != (len(frame),):
                raise ValueError("scores must have one value per reference row")
            features.append(NumericFeatureProfile.from_values(SCORE_FEATURE, score_values, n_bins))
        return cls(features=tuple(features), n_bins=n_bins, max_categories=max_categories)

    @property
    def names(self) -> tuple[str, ...]:
        """Feature names in profile order."""
        return tuple(f.name for f in self.features)

    def __getitem__(self, name: str) -> FeatureProfile:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[FeatureProfile]:
        return iter(self.features)

    def __len__(self) -> int:
        return len(self.features)

    def count(
        self, frame: pd.DataFrame, scores: ArrayLike | None = None
    ) -> dict[str, NDArray[np.int64]]:
        """Count a batch into every feature's bins.

        A feature column absent from ``frame`` counts as missing in every row. ``"_score"``
        is counted only when ``scores`` is given.
        """
        counts: dict[str, NDArray[np.int64]] = {}
        for feature in self.features:
            values = self.values_of(feature, frame, scores)
            if values is None:
                continue
            counts[feature.name] = np.bincount(
                feature.assign(values), minlength=feature.n_bins
            ).astype(np.int64)
        return counts

    def values_of(
        self, feature: FeatureProfile, frame: pd.DataFrame, scores: ArrayLike | None
    ) -> RawValues | None:
        """The raw values of ``feature`` in a batch (all-missing if the column is absent).

        Returns ``None`` for the score when no scores are given.
        """
        if feature.name == SCORE_FEATURE:
            if scores is None:
                return None
            score_values = as_float_array(scores)
            if score_values.shape != (len(frame),):
                raise ValueError("scores must have one value per row")
            return score_values
        if feature.name in frame.columns:
            return frame[feature.name]
        return np.full(len(frame), np.nan)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (see :meth:`from_dict`)."""
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "n_bins": self.n_bins,
            "max_categories": self.max_categories,
            "features": [f.to_dict() for f in self.features],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceProfile:
        """Inverse of :meth:`to_dict`."""
        if data.get("format") != _FORMAT or data.get("version") != _VERSION:
            raise ValueError(
                f"not a {_FORMAT} version {_VERSION} document: "
                f"format={data.get('format')!r}, version={data.get('version')!r}"
            )
        features: list[FeatureProfile] = []
        for item in data["features"]:
            if item["kind"] == NumericFeatureProfile.kind:
                features.append(NumericFeatureProfile.from_dict(item))
            elif item["kind"] == CategoricalFeatureProfile.kind:
                features.append(CategoricalFeatureProfile.from_dict(item))
            else:
                raise ValueError(f"unknown feature kind {item['kind']!r}")
        return cls(
            features=tuple(features),
            n_bins=int(data["n_bins"]),
            max_categories=int(data["max_categories"]),
        )

    def save(self, path: str | Path) -> None:
        """Write the profile as a JSON file."""
        text = json.dumps(self.to_dict(), allow_nan=False, indent=1)
        Path(path).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> ReferenceProfile:
        """Read a profile written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
