"""Compare current data with a profile: the daily check's grading, without Kafka or ClickHouse.

The counts go through :func:`~scorestream.streams.drift.evaluation.evaluate` and
:func:`~scorestream.streams.drift.evaluation.evaluate_outputs`, the functions the daily
check calls on the counts it reads from ClickHouse: the same statistics, the same
Benjamini-Hochberg family, the same thresholds (:class:`DriftThresholds` defaults unless
given), the same verdict.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from scorestream.exceptions import DataError
from scorestream.streams.drift.decision import DriftThresholds
from scorestream.streams.drift.evaluation import evaluate, evaluate_outputs, with_rejections
from scorestream.streams.drift.profile import ReferenceProfile

from .frames import checked_frame, counts_of_frame, counts_of_mapping
from .profile import Profile
from .report import DriftReport

__all__ = ["compare"]


def _check_rejected(profile: Profile, rejected: Mapping[str, int]) -> None:
    unknown = sorted(str(name) for name in rejected if name not in profile.features)
    if unknown:
        raise DataError(f"rejections given for features the profile does not have: {unknown}")
    for name, n in rejected.items():
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise DataError(f"rejections of {name!r} must be a count (a whole number >= 0)")


def compare(
    profile: Profile | ReferenceProfile,
    current: pd.DataFrame | Mapping[str, object],
    *,
    scores: ArrayLike | None = None,
    predicted_classes: ArrayLike | None = None,
    rejected: Mapping[str, int] | None = None,
    thresholds: DriftThresholds | None = None,
) -> DriftReport:
    """Compare current data with a reference profile, as the daily drift check does.

    Parameters
    ----------
    profile
        The reference (:meth:`Profile.from_frame`, :meth:`Profile.load`).
    current
        A DataFrame of current records (columns absent from the profile are ignored), or
        counts per feature: a :class:`~scorestream.streams.drift.evaluation.PeriodCounts`
        (bins, sums and sums of squares, as the daily check reads them), or just the bins
        in the profile's layout (then the mean test is skipped).
    scores, predicted_classes
        With a DataFrame: the model's outputs per row, when the profile has them.
    rejected
        Per numeric feature, records refused upstream as beyond its allowed range (the
        daily check reads them from ``rejected_records``): counted as out of range.
    thresholds
        Significance level and effect-size thresholds; the daily check's defaults if
        ``None``.

    Returns
    -------
    DriftReport
        A verdict per feature (``ok``, ``warning``, ``drift``, or ``error`` with the
        reason for a feature that could not be compared) and for the whole data set.

    Raises
    ------
    DataError
        The current data has no rows or duplicate columns; outputs given that the profile
        lacks, or of the wrong length; counts or rejections of a feature the profile does
        not have.
    TypeError
        ``current`` is neither a DataFrame nor a mapping.
    """
    if isinstance(profile, ReferenceProfile):
        profile = Profile(profile)
    if not isinstance(profile, Profile):
        raise TypeError(f"expected a Profile, not {type(profile).__name__}")
    reference = profile.reference
    if isinstance(current, pd.DataFrame):
        frame = checked_frame(current, "current")
        counts, errors = counts_of_frame(reference, frame, scores, predicted_classes)
    elif isinstance(current, Mapping):
        if scores is not None or predicted_classes is not None:
            raise TypeError("scores and predicted_classes go with a DataFrame, not with counts")
        counts, errors = counts_of_mapping(reference, current)
    else:
        raise TypeError(
            f"current must be a pandas DataFrame or counts per feature, "
            f"not {type(current).__name__}"
        )
    if not counts:
        raise DataError(f"nothing to compare: {'; '.join(errors.values())}")
    _check_rejected(profile, rejected or {})
    # Only what was given is compared: the model's outputs when they were.
    checked = ReferenceProfile(
        tuple(f for f in reference if f.name in counts or f.name in errors),
        reference.n_bins,
        reference.max_categories,
    )
    counts = with_rejections(checked, counts, rejected or {})
    t = thresholds or DriftThresholds()
    decisions, score = evaluate(checked, counts, t, unavailable=errors)
    outputs = ([score] if score is not None else []) + evaluate_outputs(checked, counts, t)
    return DriftReport.build(checked, counts, decisions, outputs, t)
