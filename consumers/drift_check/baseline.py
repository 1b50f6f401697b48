"""What a rolling window is compared with: the same time of day on previous days.

The training reference holds a whole day's mix of traffic. A window shorter than a day
holds only its own time of day, and on seasonal traffic (night-time amounts differ from
daytime ones) it differs from the daily mix even when every day matches the reference
exactly: an hourly window compared with the training reference cried wolf on most hours.
A window shorter than a day is therefore compared with the **same window on the previous
days**, summed from the stream's own mergeable ``drift_stats`` bins (the same bin layout, so
nothing is recomputed), when there is enough of that history; otherwise with the training
reference. Each ``drift_checks`` row says which one in its ``baseline`` column.

The baseline is a sample like the current window, so every test must be a two-sample one:
KS, the pooled chi-square and the Welch mean test already are; the share beyond the
training range and the share of unseen categories switch to their two-sample forms when
``reference_rejected`` is given (see :func:`scorestream.streams.drift.statistics.compare`).

What it does not see: drift that began days ago is part of the baseline (the daily check,
against the training reference, still grades it), and day-to-day variation beyond
sampling noise (a holiday) is graded as drift of that hour.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np

from scorestream.streams.drift.profile import (
    FeatureProfile,
    NumericFeatureProfile,
    ReferenceProfile,
)

__all__ = [
    "REFERENCE",
    "SAME_TIME_OF_DAY",
    "Baseline",
    "BaselinePolicy",
    "stream_feature",
    "sum_counts",
    "time_of_day_baseline",
]

#: ``drift_checks.baseline`` of a row compared with the training reference profile.
REFERENCE = "reference"
#: ``drift_checks.baseline`` of a row compared with the same window on previous days.
SAME_TIME_OF_DAY = "same_time_of_day"

if TYPE_CHECKING:  # check.py imports this module: types only, no cycle at run time
    from scorestream.consumers.drift_check.check import Period
    from scorestream.streams.drift.evaluation import PeriodCounts

Reader = Callable[["Period"], Mapping[str, "PeriodCounts"]]


@dataclass(frozen=True)
class BaselinePolicy:
    """How much history a time-of-day baseline needs.

    Parameters
    ----------
    days
        Previous days whose same window is summed.
    min_days
        Fewest of those days with records; fewer and the training reference is used (a
        new deployment, a stream that was down all week).
    min_records
        Fewest baseline records a feature needs (per feature, since a feature may be
        mostly missing); the two-sample tests hold at any size, this keeps their power.
    """

    days: int = 7
    min_days: int = 3
    min_records: int = 500

    def __post_init__(self) -> None:
        if not 1 <= self.min_days <= self.days:
            raise ValueError("need 1 <= min_days <= days")
        if self.min_records < 1:
            raise ValueError("min_records must be positive")


@dataclass(frozen=True)
class Baseline:
    """The profile a period is compared with, and where each feature's counts came from.

    Attributes
    ----------
    profile
        The training profile with the reference counts (and moments) of every feature
        that has a stream baseline replaced by the baseline's; same bin layouts.
    kinds
        Per feature, :data:`REFERENCE` or :data:`SAME_TIME_OF_DAY`.
    rejected
        Per stream-baseline feature, the baseline's records rejected as beyond the allowed
        range (the ``reference_rejected`` of :func:`.check.evaluate`).
    """

    profile: ReferenceProfile
    kinds: Mapping[str, str]
    rejected: Mapping[str, int]

    @classmethod
    def training(cls, profile: ReferenceProfile) -> Baseline:
        return cls(profile, dict.fromkeys(profile.names, REFERENCE), {})


def wants_time_of_day(period: Period) -> bool:
    """A window shorter than a day (a whole day, daily or rolling, holds the daily mix)."""
    return period.end - period.start < timedelta(days=1)


def sum_counts(parts: list[Mapping[str, PeriodCounts]]) -> dict[str, PeriodCounts]:
    """Per feature, the sum of several periods' counts (bins and moments add up)."""
    summed: dict[str, PeriodCounts] = {}
    for part in parts:
        for name, c in part.items():
            s = summed.get(name)
            summed[name] = (
                c
                if s is None
                else dataclasses.replace(
                    s,
                    counts=s.counts + c.counts,
                    count=s.count + c.count,
                    missing=s.missing + c.missing,
                    total=s.total + c.total,
                    total_sq=s.total_sq + c.total_sq,
                    rejected=s.rejected + c.rejected,
                )
            )
    return summed


def stream_feature(feature: FeatureProfile, counts: PeriodCounts) -> FeatureProfile:
    """``feature`` with its reference counts, size, moments and missing rate from ``counts``.

    The bin layout (edges, categories, positions) stays the training one: the baseline was
    counted into it. The standard deviation is the baseline's, so effect sizes in "sd" are
    in the units of the distribution the window is compared with.
    """
    bins = np.asarray(counts.counts, dtype=np.int64)
    if bins.shape != (feature.n_bins,):
        raise ValueError(
            f"{feature.name}: baseline has {bins.size} bins, expected {feature.n_bins}"
        )
    n = int(bins.sum())
    missing_rate = float(bins[-1] / n) if n else 0.0
    if not isinstance(feature, NumericFeatureProfile):
        return dataclasses.replace(
            feature, reference_counts=bins, count=n, missing_rate=missing_rate
        )
    present = float(bins[:-1].sum())
    mean = counts.total / present if present else feature.mean
    # Raw power sums lose precision when |mean| >> sd; the same as the current side's.
    std = float(np.sqrt(max(counts.total_sq / present - mean**2, 0.0))) if present else 0.0
    return dataclasses.replace(
        feature,
        reference_counts=bins,
        count=n,
        mean=float(mean),
        std=std,
        missing_rate=missing_rate,
    )


def time_of_day_baseline(
    profile: ReferenceProfile,
    period: Period,
    read: Reader,
    policy: BaselinePolicy | None = None,
) -> Baseline:
    """The baseline of ``period``: the same window on previous days, else the reference.

    Parameters
    ----------
    profile
        The training reference profile (bin layouts, and the fallback).
    period
        The window to check. Daily checks and windows of a day or more use the reference.
    read
        Reads a period's counts, rejections attached (:meth:`.check.DriftChecker.period_counts`).
    policy
        How much history is needed; :class:`BaselinePolicy` defaults if ``None``.
    """
    policy = policy or BaselinePolicy()
    if not wants_time_of_day(period):
        return Baseline.training(profile)
    days = []
    for k in range(1, policy.days + 1):
        shift = timedelta(days=k)
        counts = read(
            dataclasses.replace(period, start=period.start - shift, end=period.end - shift)
        )
        if any(c.count > 0 for c in counts.values()):
            days.append(counts)
    if len(days) < policy.min_days:
        return Baseline.training(profile)
    summed = sum_counts(days)
    features: list[FeatureProfile] = []
    kinds: dict[str, str] = {}
    rejected: dict[str, int] = {}
    for feature in profile:
        c = summed.get(feature.name)
        try:
            usable = c is not None and int(c.counts.sum()) >= policy.min_records
            stream_version = stream_feature(feature, c) if c is not None and usable else None
        except ValueError:  # history in another bin layout: the window's own check says so
            stream_version = None
        if c is None or stream_version is None:
            features.append(feature)
            kinds[feature.name] = REFERENCE
            continue
        features.append(stream_version)
        kinds[feature.name] = SAME_TIME_OF_DAY
        rejected[feature.name] = c.rejected
    stream = ReferenceProfile(tuple(features), profile.n_bins, profile.max_categories)
    return Baseline(stream, kinds, rejected)
