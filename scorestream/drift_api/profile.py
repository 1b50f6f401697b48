"""A reference profile for the Python API: built from a DataFrame as training builds it.

:meth:`Profile.from_frame` infers which columns are numeric and which categorical with the
training code (:class:`~scorestream.streams.model.schema.FeatureSchema`), types them as the
pipeline is fed (:func:`~scorestream.streams.model.schema.coerce_features`) and bins them with
:meth:`ReferenceProfile.from_frame <scorestream.streams.drift.profile.ReferenceProfile.from_frame>`,
so a profile built here is the ``reference_profile.json`` that ``scorestream train`` would
write for the same data, and :meth:`Profile.load` reads a deployed model's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from numpy.typing import ArrayLike

from scorestream.exceptions import DataError, SchemaError
from scorestream.streams.drift.decision import DriftThresholds
from scorestream.streams.drift.profile import OUTPUT_FEATURES, ReferenceProfile
from scorestream.streams.model.schema import RESERVED_COLUMNS, FeatureSchema, coerce_features

from .frames import checked_frame, not_numbers

if TYPE_CHECKING:
    from .report import DriftReport

__all__ = ["PROFILE_FILE", "Profile"]

#: The profile's file in a model directory (as ``scorestream train`` writes it).
PROFILE_FILE = "reference_profile.json"


def _columns_of(
    frame: pd.DataFrame,
    numeric: Sequence[str] | None,
    categorical: Sequence[str] | None,
    target: str | None,
    exclude: Iterable[str],
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The feature columns, typed, and which are numeric and which categorical."""
    if numeric is None and categorical is None:
        try:
            schema = FeatureSchema.from_frame(frame, target, exclude=exclude)
            return coerce_features(frame, schema), schema.numeric, schema.categorical
        except SchemaError as error:
            raise DataError(
                f"cannot profile the reference data: {error} (leave a column out with "
                "exclude=[...], or name the features with numeric=[...] and categorical=[...])"
            ) from error
    numeric, categorical = list(numeric or ()), list(categorical or ())
    absent = [name for name in (*numeric, *categorical) if name not in frame.columns]
    if absent:
        raise DataError(f"the reference data has no columns {absent}")
    for name in numeric:
        bad = not_numbers(frame[name])
        if bad is not None:
            raise DataError(
                f"reference column {name!r} holds {bad[0]:,} values that are not numbers "
                f"(e.g. {str(bad[1])[:40]!r}); name it in categorical=[...] instead"
            )
    return frame, numeric, categorical


@dataclass(frozen=True, eq=False)
class Profile:
    """The bins of every feature of a reference data set, to compare other data with.

    Build one with :meth:`from_frame` (a DataFrame) or :meth:`load` (a saved profile or a
    model directory), then :meth:`compare` current data with it.

    Attributes
    ----------
    reference
        The profile itself, as the worker counts records into it and the daily check
        reads it.
    """

    reference: ReferenceProfile

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        numeric: Sequence[str] | None = None,
        categorical: Sequence[str] | None = None,
        target: str | None = None,
        exclude: Iterable[str] = RESERVED_COLUMNS,
        scores: ArrayLike | None = None,
        predicted_classes: ArrayLike | None = None,
        n_bins: int = 10,
        max_categories: int = 50,
    ) -> Profile:
        """Profile reference (training) data, one row per record.

        Parameters
        ----------
        frame
            The reference data.
        numeric, categorical
            The feature columns, if you name them (any other column is left out). By
            default every column except ``target`` and ``exclude`` is a feature, numeric
            (numbers and booleans) or categorical (text), as ``scorestream train`` decides.
        target
            A label column, not a feature.
        exclude
            Other columns that are not features; by default ``id`` and ``event_time``.
        scores, predicted_classes
            The model's score and (multi-class) predicted class of each row, to compare
            the model's outputs too (``"_score"``, ``"_predicted_class"``).
        n_bins, max_categories
            Quantile bins per numeric feature; categories kept per categorical one.

        Raises
        ------
        DataError
            No rows, duplicate columns, a named column absent, a column that cannot be a
            feature (dates, mixed types, no value at all when the kinds are inferred).
        """
        frame = checked_frame(frame, "reference")
        features, numeric_names, categorical_names = _columns_of(
            frame, numeric, categorical, target, exclude
        )
        try:
            reference = ReferenceProfile.from_frame(
                features,
                numeric=numeric_names,
                categorical=categorical_names,
                scores=scores,
                predicted_classes=predicted_classes,
                n_bins=n_bins,
                max_categories=max_categories,
            )
        except (KeyError, ValueError) as error:
            raise DataError(f"cannot profile the reference data: {error}") from error
        return cls(reference)

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        """Read a profile saved by :meth:`save`, or a model directory's reference profile."""
        path = Path(path)
        file = path / PROFILE_FILE if path.is_dir() else path
        try:
            return cls(ReferenceProfile.load(file))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise DataError(f"cannot read a reference profile from {file}: {error}") from error

    def save(self, path: str | Path) -> None:
        """Write the profile as JSON (the format of a model's ``reference_profile.json``)."""
        self.reference.save(path)

    @property
    def features(self) -> tuple[str, ...]:
        """The input features, in profile order (numeric, then categorical)."""
        return tuple(n for n in self.reference.names if n not in OUTPUT_FEATURES)

    @property
    def outputs(self) -> tuple[str, ...]:
        """The model outputs profiled: ``"_score"``, ``"_predicted_class"``, or none."""
        return tuple(n for n in self.reference.names if n in OUTPUT_FEATURES)

    def compare(
        self,
        current: pd.DataFrame | Mapping[str, object],
        *,
        scores: ArrayLike | None = None,
        predicted_classes: ArrayLike | None = None,
        rejected: Mapping[str, int] | None = None,
        thresholds: DriftThresholds | None = None,
    ) -> DriftReport:
        """``compare(self, current, ...)``: see :func:`scorestream.drift_api.compare`."""
        from .compare import compare

        return compare(
            self,
            current,
            scores=scores,
            predicted_classes=predicted_classes,
            rejected=rejected,
            thresholds=thresholds,
        )

    def __repr__(self) -> str:
        names = self.features
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        rows = max((f.count for f in self.reference), default=0)
        outputs = f", outputs: {', '.join(self.outputs)}" if self.outputs else ""
        return f"Profile({len(names)} features: {shown}; {rows:,} reference rows{outputs})"
