"""Seasonal traffic: each hour its own distribution, each whole day the reference's mix.

Used by ``test_drift_baseline.py`` and by ``bench/compare_evidently.py`` (the same hours).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from scorestream.consumers.drift_check.check import PeriodCounts
from scorestream.streams.drift.profile import ReferenceProfile

HOURS = np.arange(24)
#: Records per hour: a daily cycle, 5,760 a day.
VOLUME = np.rint(240 + 160 * np.cos(2 * np.pi * (HOURS - 14) / 24)).astype(int)
CHANNELS = np.array(["web", "app", "store"])
START = datetime(2026, 5, 1)


def hour_frame(rng: np.random.Generator, hour: int, n: int, shift: float = 0.0) -> pd.DataFrame:
    """``n`` records of ``hour``: the amount's mean follows the clock, the store is a
    daytime channel; ``shift`` moves the amount by that many of its sd."""
    mean = 1.5 * np.sin(2 * np.pi * (hour - 8) / 24)
    store = 0.3 if 9 <= hour < 19 else 0.02
    probs = np.array([0.6 - store / 2, 0.4 - store / 2, store])
    return pd.DataFrame(
        {
            "amount": rng.normal(mean + shift, 1.0, n),
            "channel": rng.choice(CHANNELS, n, p=probs),
        }
    )


def reference_frame(rng: np.random.Generator, size: int = 50_000) -> pd.DataFrame:
    """The daily mix: hours drawn in proportion to their traffic."""
    hours = rng.choice(HOURS, size, p=VOLUME / VOLUME.sum())
    return pd.concat(
        [hour_frame(rng, int(h), int(np.sum(hours == h))) for h in HOURS], ignore_index=True
    )


def reference(rng: np.random.Generator, size: int = 50_000) -> ReferenceProfile:
    return ReferenceProfile.from_frame(reference_frame(rng, size), ["amount"], ["channel"])


def period_counts(profile: ReferenceProfile, frame: pd.DataFrame) -> dict[str, PeriodCounts]:
    """What ``drift_stats`` would sum for these records."""
    bins = profile.count(frame)
    x = frame["amount"].to_numpy()
    return {
        "amount": PeriodCounts(bins["amount"], len(frame), 0, float(x.sum()), float(x @ x)),
        "channel": PeriodCounts(bins["channel"], len(frame), 0, 0.0, 0.0),
    }


def hours(
    rng: np.random.Generator, days: int, shifted: datetime | None = None
) -> dict[datetime, pd.DataFrame]:
    """Every hour's records for ``days`` days; the hour starting at ``shifted`` +0.5 sd."""
    frames = {}
    for day in range(days):
        for hour in HOURS:
            start = START + timedelta(days=day, hours=int(hour))
            shift = 0.5 if start == shifted else 0.0
            frames[start] = hour_frame(rng, int(hour), int(VOLUME[hour]), shift)
    return frames
