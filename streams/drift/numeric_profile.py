"""Numeric reference profiles: quantile bins, point masses, under/overflow and missing."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from scorestream.streams.drift.values import RawValues, as_float_array, fmt, readonly

__all__ = ["POINT_MASS_SHARE", "NumericFeatureProfile"]

#: A single value holding at least this share of the reference (and at least ``1/B``) gets
#: a bin of its own.
POINT_MASS_SHARE = 0.1


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
        value). A value holding at least :data:`POINT_MASS_SHARE` of the reference (a
        point mass: the zeros of a zero-inflated amount) gets its own bin, from it to the
        next reference value (halfway below it for the maximum), and the remaining values
        share the other bins by their quantiles. ``edges[0]`` is the reference minimum
        and ``edges[-1]`` its maximum.
    reference_counts
        Reference counts in this feature's bin layout.
    interior_means
        Mean of the reference values in each interior bin (the bin midpoint for an empty
        bin), clamped into the bin; used as the bin's position by
        :func:`.statistics.wasserstein_binned`.
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
        object.__setattr__(self, "edges", readonly(edges))
        counts = np.asarray(self.reference_counts, dtype=np.int64)
        if counts.shape != (self.n_bins,):
            raise ValueError(f"{self.name}: expected {self.n_bins} reference counts")
        object.__setattr__(self, "reference_counts", readonly(counts))
        means = np.asarray(self.interior_means, dtype=np.float64)
        if means.shape != (self.n_interior,):
            raise ValueError(f"{self.name}: expected {self.n_interior} interior means")
        object.__setattr__(self, "interior_means", readonly(means))

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
        edges = _edges(finite, n_bins)
        n_interior = max(edges.size - 1, 1)
        interior = _assign_float(edges, finite)
        sums = np.bincount(interior, weights=finite, minlength=n_interior + 2)[1:-1]
        sizes = np.bincount(interior, minlength=n_interior + 2)[1:-1]
        midpoints = (edges[:-1] + edges[1:]) / 2 if edges.size > 1 else edges.copy()
        means = _inside_bins(edges, np.where(sizes > 0, sums / np.maximum(sizes, 1), midpoints))
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
        # Clamped again: profiles saved before the clamp existed may hold means that
        # rounding put a hair outside their bin.
        means = _inside_bins(self.edges, self.interior_means)
        return np.concatenate(([self.edges[0]], means, [self.edges[-1]]))

    def assign(self, values: RawValues) -> NDArray[np.int64]:
        """Map raw values to bin indices (vectorised)."""
        return _assign_float(self.edges, as_float_array(values))

    def labels(self) -> list[str]:
        """A human-readable label per bin."""
        e = self.edges
        if e.size == 1:
            interior = [f"[{fmt(e[0])}, {fmt(e[0])}]"]
        else:
            interior = [f"[{fmt(a)}, {fmt(b)})" for a, b in itertools.pairwise(e)]
            interior[-1] = interior[-1][:-1] + "]"
        return [f"(-inf, {fmt(e[0])})", *interior, f"({fmt(e[-1])}, inf)", "missing"]

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


def _edges(finite: NDArray[np.float64], n_bins: int) -> NDArray[np.float64]:
    """Bin edges of the finite reference values (see :class:`NumericFeatureProfile`)."""
    distinct, sizes = np.unique(finite, return_counts=True)
    if 1 < distinct.size <= n_bins:
        # Few distinct values (flags, small counts): one bin per value, cut halfway
        # between neighbours, or quantile edges would merge e.g. 0 and 1 of a flag.
        middles = (distinct[:-1] + distinct[1:]) / 2
        return np.concatenate(([distinct[0]], middles, [distinct[-1]]))
    # With few bins a value must hold a whole bin's share to need one of its own.
    heavy = np.flatnonzero(sizes >= max(POINT_MASS_SHARE, 1 / n_bins) * finite.size)
    if distinct.size <= 1 or heavy.size == 0:
        # The 0 and 1 quantiles are exactly the min and max, so the reference has no
        # under/overflow by construction; ties collapse duplicate edges.
        return np.unique(np.quantile(finite, np.linspace(0.0, 1.0, n_bins + 1)))
    # Point masses (a zero-inflated amount, a capped value): quantile edges would give such
    # a value one bin together with its neighbours, so that 92 % zeros turning into no
    # zeros moves nothing between bins. Each gets a bin of its own, from the value to the
    # next one, and the other values share the remaining bins by their own quantiles.
    # Those quantiles are observed values ("inverted_cdf"), never interpolated ones, so
    # none can fall inside a point mass's bin.
    rest = finite[~np.isin(finite, distinct[heavy])]
    cuts = [distinct[0], distinct[-1]]
    for i in heavy:
        if i < distinct.size - 1:
            # [v, next value): the same cuts as quantile edges on integer data, so that a
            # shift by less than the gap between values stays inside the bins.
            cuts += [distinct[i], distinct[i + 1]]
        else:
            # The maximum closes the last bin, so its own bin starts halfway below it.
            cuts.append((distinct[i - 1] + distinct[i]) / 2)
    if rest.size:
        levels = np.linspace(0.0, 1.0, max(n_bins - heavy.size, 1) + 1)
        # Inner quantiles only: the rest's own min and max would cut off near-empty bins
        # next to the point masses' cuts.
        cuts.extend(np.quantile(rest, levels[1:-1], method="inverted_cdf"))
    return np.unique(np.asarray(cuts, dtype=np.float64))


def _inside_bins(edges: NDArray[np.float64], means: NDArray[np.float64]) -> NDArray[np.float64]:
    """Bin means clamped into their bins, so positions never decrease.

    ``sums / sizes`` of a bin holding one repeated decimal (0.1 * 10 / 10) can round to a
    hair beyond the bin's edge and, with the next bin's mean, run backwards.
    """
    if edges.size == 1:
        return np.full_like(means, edges[0])
    return np.clip(means, edges[:-1], edges[1:])


def _assign_float(edges: NDArray[np.float64], x: NDArray[np.float64]) -> NDArray[np.int64]:
    n_interior = max(edges.size - 1, 1)
    # side="right" puts a value equal to an edge in the bin that starts there.
    idx = np.searchsorted(edges, x, side="right").astype(np.int64)
    last = edges[-1]
    idx[x == last] = n_interior  # the last interior bin is closed at the reference max
    idx[x > last] = n_interior + 1
    idx[~np.isfinite(x)] = n_interior + 2
    return idx
