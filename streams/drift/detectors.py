"""Online change detectors on per-minute feature means (river).

The daily check answers "is today different from the reference?". These detectors answer
"did something just change?" within minutes, from the stream of per-minute means the
worker already computes. They are a hint for the dashboard, not an alert: they have no
multiple-testing control and see only the mean.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from river import drift

from scorestream.streams.drift.accumulator import MinuteFeatureStats
from scorestream.streams.drift.profile import NumericFeatureProfile, ReferenceProfile

__all__ = ["ChangeEvent", "StreamChangeDetectors"]

DetectorName = Literal["page_hinkley", "adwin"]


@dataclass(frozen=True)
class ChangeEvent:
    """A change detected in one feature's stream of means.

    Attributes
    ----------
    feature
        Feature name.
    detector
        ``"page_hinkley"`` or ``"adwin"``.
    n_seen
        Values fed to this feature's detector so far, this one included.
    value
        The value that triggered the detection, in the units fed to the detector
        (standardised when a scale is known).
    time_ms
        Time of the value (e.g. the minute), if given.
    """

    feature: str
    detector: str
    n_seen: int
    value: float
    time_ms: int | None = None


class StreamChangeDetectors:
    """One river drift detector per feature, fed with per-minute (or per-batch) means.

    Parameters
    ----------
    features
        Names of the monitored features (numeric ones and ``"_score"``).
    detector
        ``"page_hinkley"`` (:class:`river.drift.PageHinkley`, a CUSUM on the mean) or
        ``"adwin"`` (:class:`river.drift.ADWIN`, adaptive windowing).
    scales
        Optional ``{feature: (mean, std)}``; values are standardised with it so that one
        set of detector parameters (thresholds in standard deviations) fits every feature.
    **params
        Passed to the river detector, e.g. ``threshold=20`` for Page-Hinkley.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> detectors = StreamChangeDetectors(["x"], threshold=10.0)
    >>> means = np.r_[rng.normal(0, 0.1, 120), rng.normal(1, 0.1, 60)]
    >>> events = [e for i, m in enumerate(means) if (e := detectors.update("x", m, i))]
    >>> [(e.feature, e.time_ms) for e in events]
    [('x', 130)]

    """

    def __init__(
        self,
        features: Iterable[str],
        detector: DetectorName = "page_hinkley",
        scales: Mapping[str, tuple[float, float]] | None = None,
        **params: Any,
    ) -> None:
        if detector not in ("page_hinkley", "adwin"):
            raise ValueError(f"unknown detector {detector!r}")
        self.detector = detector
        self.params = params
        self.scales = dict(scales or {})
        self._detectors = {name: self._new() for name in features}
        self._seen = dict.fromkeys(self._detectors, 0)

    @classmethod
    def from_profile(
        cls, profile: ReferenceProfile, detector: DetectorName = "page_hinkley", **params: Any
    ) -> StreamChangeDetectors:
        """Detectors for every numeric feature (and the score), standardised by the reference."""
        numeric = [f for f in profile if isinstance(f, NumericFeatureProfile)]
        scales = {f.name: (f.mean, f.std) for f in numeric if f.std > 0}
        return cls([f.name for f in numeric], detector, scales, **params)

    def _new(self) -> drift.PageHinkley | drift.ADWIN:
        if self.detector == "adwin":
            return drift.ADWIN(**self.params)
        return drift.PageHinkley(**self.params)

    @property
    def features(self) -> list[str]:
        """Monitored feature names."""
        return list(self._detectors)

    def update(self, name: str, value: float, time_ms: int | None = None) -> ChangeEvent | None:
        """Feed one mean; return an event if the detector fires. NaN values are skipped."""
        if math.isnan(value):
            return None
        if name in self.scales:
            mean, std = self.scales[name]
            value = (value - mean) / std
        detector = self._detectors[name]
        detector.update(value)
        self._seen[name] += 1
        if detector.drift_detected:
            return ChangeEvent(name, self.detector, self._seen[name], float(value), time_ms)
        return None

    def update_from_stats(self, stats: Iterable[MinuteFeatureStats]) -> list[ChangeEvent]:
        """Feed the means of closed minutes (rows of monitored features, in order)."""
        events = []
        for row in stats:
            if row.feature in self._detectors:
                event = self.update(row.feature, row.mean, row.minute_ms)
                if event is not None:
                    events.append(event)
        return events
