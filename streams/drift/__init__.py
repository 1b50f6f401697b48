"""Drift monitoring from mergeable bins: profiles, per-minute counts, statistics, decisions.

The pure-math part: no Kafka, no ClickHouse. A :class:`ReferenceProfile` fixes each
feature's bins; workers count batches into per-minute partials with
:class:`MinuteBinAccumulator`; a check sums the partials of a window, runs
:func:`compare` per feature and grades the results with :func:`decide`.
"""

from scorestream.streams.drift.accumulator import (
    MINUTE_MS,
    MinuteBinAccumulator,
    MinuteFeatureStats,
)
from scorestream.streams.drift.decision import LEVELS, DriftThresholds, FeatureDecision, decide
from scorestream.streams.drift.detectors import ChangeEvent, StreamChangeDetectors
from scorestream.streams.drift.multiple_testing import benjamini_hochberg
from scorestream.streams.drift.profile import (
    SCORE_FEATURE,
    CategoricalFeatureProfile,
    FeatureProfile,
    NumericFeatureProfile,
    ReferenceProfile,
)
from scorestream.streams.drift.statistics import (
    FeatureDrift,
    chi_square,
    compare,
    jensen_shannon,
    ks_binned,
    psi,
    wasserstein_binned,
    wasserstein_binned_bound,
)

__all__ = [
    "LEVELS",
    "MINUTE_MS",
    "SCORE_FEATURE",
    "CategoricalFeatureProfile",
    "ChangeEvent",
    "DriftThresholds",
    "FeatureDecision",
    "FeatureDrift",
    "FeatureProfile",
    "MinuteBinAccumulator",
    "MinuteFeatureStats",
    "NumericFeatureProfile",
    "ReferenceProfile",
    "StreamChangeDetectors",
    "benjamini_hochberg",
    "chi_square",
    "compare",
    "decide",
    "jensen_shannon",
    "ks_binned",
    "psi",
    "wasserstein_binned",
    "wasserstein_binned_bound",
]
