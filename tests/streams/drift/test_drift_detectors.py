"""River change detectors on per-minute means."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scorestream.streams.drift.accumulator import MINUTE_MS, MinuteBinAccumulator
from scorestream.streams.drift.detectors import StreamChangeDetectors
from scorestream.streams.drift.profile import SCORE_FEATURE, ReferenceProfile


def _minute_stats(level_shift_at: int, minutes: int, seed: int) -> tuple[ReferenceProfile, list]:
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame({"x": rng.normal(50, 10, 5_000), "c": rng.choice(["a", "b"], 5_000)})
    profile = ReferenceProfile.from_frame(reference, ["x"], ["c"], scores=rng.random(5_000))
    acc = MinuteBinAccumulator(profile)
    rows = []
    for minute in range(minutes):
        n = 200
        loc = 50 + (10 if minute >= level_shift_at else 0)  # +1 reference std
        frame = pd.DataFrame({"x": rng.normal(loc, 10, n), "c": rng.choice(["a", "b"], n)})
        acc.add(np.full(n, minute * MINUTE_MS), frame, rng.random(n))
        rows += acc.flush_all()  # the whole minute was added: one row per feature
    return profile, rows


@pytest.mark.parametrize("detector", ["page_hinkley", "adwin"])
def test_level_shift_is_detected_soon_after_it_happens(detector: str) -> None:
    profile, rows = _minute_stats(level_shift_at=120, minutes=240, seed=1)
    params = {"threshold": 10.0} if detector == "page_hinkley" else {"clock": 1}
    detectors = StreamChangeDetectors.from_profile(profile, detector, **params)  # type: ignore[arg-type]
    assert detectors.features == ["x", SCORE_FEATURE]
    events = detectors.update_from_stats(rows)
    assert events, "no change detected"
    first = events[0]
    assert first.feature == "x" and first.detector == detector
    assert first.time_ms is not None
    assert 120 * MINUTE_MS <= first.time_ms <= 150 * MINUTE_MS


@pytest.mark.parametrize("detector", ["page_hinkley", "adwin"])
def test_stationary_stream_raises_no_event(detector: str) -> None:
    profile, rows = _minute_stats(level_shift_at=10**9, minutes=240, seed=2)
    detectors = StreamChangeDetectors.from_profile(profile, detector)  # type: ignore[arg-type]
    assert detectors.update_from_stats(rows) == []


def test_update_skips_nan_and_validates() -> None:
    detectors = StreamChangeDetectors(["x"], scales={"x": (10.0, 2.0)})
    assert detectors.update("x", float("nan")) is None
    assert detectors.update("x", 12.0) is None
    with pytest.raises(KeyError):
        detectors.update("unknown", 1.0)
    with pytest.raises(ValueError, match="unknown detector"):
        StreamChangeDetectors(["x"], detector="cusum")  # type: ignore[arg-type]
