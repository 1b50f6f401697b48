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
- a numeric column without a single finite reference value gets a *missing-only* profile
  (categorical, no categories: ``[other, missing]``, ``note`` says why): there is nothing
  to bin, but a column that starts being filled is drift all the same.

*Missing* means ``None``, ``NaN``, and, for numerics, infinities and values that are not
numbers: a record that validation let through should still be counted, not crash the worker.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from scorestream.streams.drift.categorical_profile import CategoricalFeatureProfile
from scorestream.streams.drift.numeric_profile import NumericFeatureProfile
from scorestream.streams.drift.values import RawValues, as_float_array

__all__ = [
    "OUTPUT_FEATURES",
    "PREDICTED_CLASS_FEATURE",
    "SCORE_FEATURE",
    "CategoricalFeatureProfile",
    "FeatureProfile",
    "NumericFeatureProfile",
    "RawValues",
    "ReferenceProfile",
    "as_float_array",
]
#: Name under which the model score is profiled, as a numeric feature: the positive-class
#: probability (binary), the top probability (multiclass) or the prediction (regression).
SCORE_FEATURE = "_score"
#: Name under which a multi-class model's predicted class is profiled, as a categorical one.
PREDICTED_CLASS_FEATURE = "_predicted_class"
#: The model's outputs: profiled and checked like features, but never input features.
OUTPUT_FEATURES: frozenset[str] = frozenset({SCORE_FEATURE, PREDICTED_CLASS_FEATURE})
_FORMAT = "scorestream.reference_profile"
_VERSION = 1

FeatureProfile = NumericFeatureProfile | CategoricalFeatureProfile

log = logging.getLogger(__name__)


def _numeric_or_missing_only(name: str, values: RawValues, n_bins: int) -> FeatureProfile:
    """A numeric profile, or a missing-only one when the column has no finite value.

    Without any value there are no bins to build, but refusing the whole profile would
    leave every other feature unmonitored, and silently dropping the column would miss the
    day it starts being filled: the missing share is the one thing left to track.
    """
    x = as_float_array(values)
    if np.isfinite(x).any():
        return NumericFeatureProfile.from_values(name, x, n_bins)
    feature = CategoricalFeatureProfile.missing_only(
        name, np.full(x.size, None, dtype=object), "no finite reference value"
    )
    log.warning("reference column %s: %s", name, feature.note)
    return feature


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
        predicted_classes: ArrayLike | None = None,
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
        predicted_classes
            A multi-class model's predicted class of each reference row; profiled as the
            categorical feature ``"_predicted_class"``, every class its own category.
        """
        names = [*numeric, *categorical]
        if len(set(names)) != len(names):
            raise ValueError("a feature is listed twice")
        reserved = sorted(OUTPUT_FEATURES & set(names))
        if reserved:
            raise ValueError(f"{reserved} are reserved for the model's outputs")
        absent = [name for name in names if name not in frame.columns]
        if absent:
            raise KeyError(f"reference frame lacks columns {absent}")
        features: list[FeatureProfile] = [
            _numeric_or_missing_only(name, frame[name], n_bins) for name in numeric
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
        if predicted_classes is not None:
            labels = pd.Series(np.asarray(predicted_classes, dtype=object))
            if len(labels) != len(frame):
                raise ValueError("predicted_classes must have one value per reference row")
            # Every class its own bin, however many: a class that takes over is the news.
            keep = max(max_categories, int(labels.nunique()))
            features.append(
                CategoricalFeatureProfile.from_values(PREDICTED_CLASS_FEATURE, labels, keep)
            )
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
        self,
        frame: pd.DataFrame,
        scores: ArrayLike | None = None,
        labels: ArrayLike | None = None,
    ) -> dict[str, NDArray[np.int64]]:
        """Count a batch into every feature's bins.

        A feature column absent from ``frame`` counts as missing in every row. ``"_score"``
        is counted only when ``scores`` is given, ``"_predicted_class"`` when ``labels`` is.
        """
        counts: dict[str, NDArray[np.int64]] = {}
        for feature in self.features:
            values = self.values_of(feature, frame, scores, labels)
            if values is None:
                continue
            counts[feature.name] = np.bincount(
                feature.assign(values), minlength=feature.n_bins
            ).astype(np.int64)
        return counts

    def values_of(
        self,
        feature: FeatureProfile,
        frame: pd.DataFrame,
        scores: ArrayLike | None,
        labels: ArrayLike | None = None,
    ) -> RawValues | None:
        """The raw values of ``feature`` in a batch (all-missing if the column is absent).

        Returns ``None`` for the score when no scores are given, and for the predicted
        class when no (predicted) labels are.
        """
        if feature.name == PREDICTED_CLASS_FEATURE:
            if labels is None:
                return None
            label_values = np.asarray(labels, dtype=object)
            if label_values.shape != (len(frame),):
                raise ValueError("labels must have one value per row")
            return label_values
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
