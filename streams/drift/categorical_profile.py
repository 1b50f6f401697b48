"""Categorical reference profiles: the most frequent categories, *other*, *unseen*, *missing*."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from scorestream.streams.drift.values import RawValues, as_series, readonly

__all__ = ["MAX_SEEN", "CategoricalFeatureProfile"]

#: Most distinct reference values outside the kept categories a profile remembers, so
#: that a value never seen in the reference lands in *unseen* rather than *other*. A
#: reference with more has no *unseen* bin (its *other* growth is graded instead).
MAX_SEEN = 100_000


@dataclass(frozen=True, eq=False)
class CategoricalFeatureProfile:
    """Reference profile of one categorical feature.

    Values are compared as strings (``str(value)``), so a column must reach the worker
    with the same types as in the reference (``1`` and ``1.0`` are different categories).

    Bins: the kept categories, *other* (a value of the reference outside them), *unseen*
    (a value the reference never had; only when ``seen`` is known) and *missing*. A new
    value is then told apart from the reference's long tail: at 10 % of a feature whose
    *other* already holds 75 %, it moves *other* by 2.5 points and Jensen-Shannon by
    little, but *unseen* by 10 points.

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
    note
        Why the profile is not an ordinary one, e.g. that of a reference column with no
        value at all (see :meth:`missing_only`); empty otherwise.
    seen
        The reference's values outside ``categories`` (sorted), or ``None`` when they are
        not known (more than :data:`MAX_SEEN`, or a profile saved before they were kept):
        then there is no *unseen* bin and a new value lands in *other*.
    singletons, doubletons
        How many distinct reference values occur exactly once / twice: the Good-Turing
        estimate of the share of new values an i.i.d. day holds is ``singletons / count``
        (see :func:`~scorestream.streams.drift.tail_tests.unseen_test`).

    Examples
    --------
    >>> feature = CategoricalFeatureProfile.from_values("c", ["a", "b", "a", None])
    >>> feature.labels()
    ['a', 'b', 'other', 'unseen', 'missing']
    >>> feature.assign(["b", "a", "z", None, float("nan")])
    array([1, 0, 3, 4, 4])
    >>> feature.reference_counts
    array([2, 1, 0, 0, 1])

    """

    kind: ClassVar[Literal["categorical"]] = "categorical"

    name: str
    categories: tuple[str, ...]
    reference_counts: NDArray[np.int64]
    count: int
    missing_rate: float
    note: str = ""
    seen: tuple[str, ...] | None = None
    singletons: int = 0
    doubletons: int = 0
    _lookup: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        categories = tuple(str(c) for c in self.categories)
        if len(set(categories)) != len(categories):
            raise ValueError(f"{self.name}: categories must be unique")
        object.__setattr__(self, "categories", categories)
        if self.seen is not None:
            seen = tuple(str(v) for v in self.seen)
            if set(seen) & set(categories) or len(set(seen)) != len(seen):
                raise ValueError(f"{self.name}: seen values must be unique and not categories")
            object.__setattr__(self, "seen", seen)
        counts = np.asarray(self.reference_counts, dtype=np.int64)
        if counts.shape != (self.n_bins,):
            raise ValueError(f"{self.name}: expected {self.n_bins} reference counts")
        object.__setattr__(self, "reference_counts", readonly(counts))
        known = categories + (self.seen or ())
        # A dict, not a pandas Index: a batch has a few distinct values, and building an
        # Index to look them up cost more than counting the whole batch.
        object.__setattr__(self, "_lookup", {value: index for index, value in enumerate(known)})

    @classmethod
    def from_values(
        cls, name: str, values: RawValues, max_categories: int = 50, track_unseen: bool = True
    ) -> CategoricalFeatureProfile:
        """Profile reference values, keeping the ``max_categories`` most frequent.

        With ``track_unseen`` (and at most :data:`MAX_SEEN` other values) the profile
        remembers the other reference values and gets an *unseen* bin.
        """
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
        rest = order[max_categories:]
        seen = (
            tuple(sorted(str(c) for c, _ in rest))
            if track_unseen and len(rest) <= MAX_SEEN
            else None
        )
        sizes = frequencies.to_numpy()
        provisional = cls(
            name=name,
            categories=categories,
            reference_counts=np.zeros(len(categories) + 2 + (seen is not None), dtype=np.int64),
            count=0,
            missing_rate=0.0,
            seen=seen,
        )
        counts = np.bincount(provisional.assign(values), minlength=provisional.n_bins)
        n = codes.size
        return cls(
            name=name,
            categories=categories,
            reference_counts=counts.astype(np.int64),
            count=n,
            missing_rate=float((n - present.size) / n) if n else 0.0,
            seen=seen,
            singletons=int(np.sum(sizes == 1)),
            doubletons=int(np.sum(sizes == 2)),
        )

    @classmethod
    def missing_only(cls, name: str, values: RawValues, why: str) -> CategoricalFeatureProfile:
        """A profile that tracks only whether values are present: bins *other*, *missing*.

        For a reference column without a single usable value: there is no distribution to
        compare, but a column that starts to be filled (or stays empty) is still news.
        Any present value lands in *other*.
        """
        profile = cls.from_values(name, values, max_categories=0, track_unseen=False)
        return cls(
            name=name,
            categories=(),
            reference_counts=profile.reference_counts,
            count=profile.count,
            missing_rate=profile.missing_rate,
            note=f"{why}: only the share of missing values is tracked",
        )

    @property
    def tracks_unseen(self) -> bool:
        """Whether the layout has an *unseen* bin (the reference's other values are known)."""
        return self.seen is not None

    @property
    def n_bins(self) -> int:
        """Total number of bins: categories, other, unseen (if tracked) and missing."""
        return len(self.categories) + 2 + self.tracks_unseen

    @property
    def other_index(self) -> int:
        """Index of the *other* bin (right after the categories)."""
        return len(self.categories)

    @property
    def unseen_index(self) -> int | None:
        """Index of the *unseen* bin, ``None`` when the layout has none."""
        return len(self.categories) + 1 if self.tracks_unseen else None

    @property
    def missing_index(self) -> int:
        """Index of the *missing* bin (the last one)."""
        return self.n_bins - 1

    def assign(self, values: RawValues) -> NDArray[np.int64]:
        """Map raw values to bin indices with a hash lookup (no per-value Python loop)."""
        codes, strings = _factorize(values)
        # Look up each distinct value once, then gather: a batch has few distinct values.
        lookup = self._lookup
        table = np.fromiter(
            (lookup.get(value, -1) for value in strings), dtype=np.int64, count=len(strings)
        )
        table[table >= len(self.categories)] = self.other_index  # seen, not kept
        table[table < 0] = self.other_index if self.unseen_index is None else self.unseen_index
        # Code -1 (missing) picks the appended last entry, the missing bin.
        table = np.append(table, self.missing_index)
        return table[codes]

    def labels(self) -> list[str]:
        """A human-readable label per bin."""
        return [*self.categories, "other", *(["unseen"] * self.tracks_unseen), "missing"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "name": self.name,
            "kind": self.kind,
            "categories": list(self.categories),
            "reference_counts": [int(v) for v in self.reference_counts],
            "count": int(self.count),
            "missing_rate": float(self.missing_rate),
            **({"note": self.note} if self.note else {}),
            **(
                {
                    "seen": list(self.seen),
                    "singletons": self.singletons,
                    "doubletons": self.doubletons,
                }
                if self.seen is not None
                else {}
            ),
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
            note=str(data.get("note", "")),
            seen=None if data.get("seen") is None else tuple(str(v) for v in data["seen"]),
            singletons=int(data.get("singletons", 0)),
            doubletons=int(data.get("doubletons", 0)),
        )


def _factorize(values: RawValues) -> tuple[NDArray[np.intp], NDArray[Any]]:
    # Codes per value (-1 for None/NaN) and the distinct values as strings; hashing the
    # raw values in C is several times faster than converting every value to str first.
    codes, uniques = pd.factorize(as_series(values), use_na_sentinel=True)
    distinct = np.asarray(uniques, dtype=object)
    # Strings already (what the worker's validator gives): pandas' astype(str) would copy
    # them through its string dtype for nothing.
    if all(type(value) is str for value in distinct):
        return np.asarray(codes, dtype=np.intp), distinct
    strings = pd.Series(distinct, dtype=object).astype(str)
    return np.asarray(codes, dtype=np.intp), strings.to_numpy(dtype=object)
