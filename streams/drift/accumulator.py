"""Per-minute bin counts, accumulated batch by batch on the worker.

Each worker keeps, for every minute of event time touched since the last flush and every
profiled feature, the bin counts and the power sums of the values. A flush emits them as
:class:`MinuteFeatureStats` rows (topic ``drift.stats``, table ``scoring.drift_stats``) and
starts again from zero. Rows are *partials*: several workers, partitions, flushes or
restarts may each emit a row for the same (minute, feature), and readers sum them, so no
coordination is needed anywhere and a late record needs no special case.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from scorestream.contract.drift import MINUTE_MS, MinuteFeatureStats
from scorestream.streams.drift.profile import (
    NumericFeatureProfile,
    ReferenceProfile,
    as_float_array,
)

__all__ = [
    "MINUTE_MS",
    "MinuteBinAccumulator",
    "MinuteFeatureStats",
]


@dataclass
class _FeatureState:
    counts: NDArray[np.int64]
    sum: float = 0.0
    sumsq: float = 0.0


class MinuteBinAccumulator:
    """Accumulate per-(minute, feature) bin counts from batches of scored records.

    Parameters
    ----------
    profile
        Reference profile giving each feature's bin layout.
    max_open_minutes
        When more minutes are open, the oldest are set aside (held) until the next
        :meth:`flush_all`, which merges each with whatever reopened it, so one flush still
        has one row per (minute, feature).

    Notes
    -----
    Records that arrive for a minute already flushed are **not dropped**: they form a new
    partial for that minute, emitted by the next :meth:`flush_all`. Readers sum rows per
    (minute, feature), so the totals stay exact; only the number of rows grows.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from scorestream.streams.drift.profile import ReferenceProfile
    >>> profile = ReferenceProfile.from_frame(pd.DataFrame({"x": np.arange(100.0)}), ["x"], [])
    >>> acc = MinuteBinAccumulator(profile)
    >>> acc.add(np.array([0, 30_000, 61_000]), pd.DataFrame({"x": [1.0, 2.0, np.nan]}))
    >>> [(s.minute_ms, s.count, s.missing, s.sum) for s in acc.flush_all()]
    [(0, 2, 0, 3.0), (60000, 1, 1, 0.0)]
    >>> acc.add(np.array([5_000]), pd.DataFrame({"x": [7.0]}))  # late: a new partial
    >>> [(s.minute_ms, s.count) for s in acc.flush_all()]
    [(0, 1)]

    """

    def __init__(self, profile: ReferenceProfile, max_open_minutes: int = 180) -> None:
        if max_open_minutes < 1:
            raise ValueError("max_open_minutes must be at least 1")
        self.profile = profile
        self.max_open_minutes = max_open_minutes
        self._open: dict[int, dict[str, _FeatureState]] = {}
        # Minutes force-closed by max_open_minutes, held until the next emit; a minute that
        # reopens meanwhile is merged with them then, so each emit has one row per minute.
        self._held: dict[int, dict[str, _FeatureState]] = {}
        self._max_event_time_ms: int | None = None

    @property
    def open_minutes(self) -> list[int]:
        """Start (epoch ms) of every open minute, oldest first."""
        return sorted(self._open)

    @property
    def max_event_time_ms(self) -> int | None:
        """Largest event time seen, a natural watermark; ``None`` before any record."""
        return self._max_event_time_ms

    def add(
        self,
        event_time_ms: ArrayLike,
        frame: pd.DataFrame,
        scores: ArrayLike | None = None,
        labels: ArrayLike | None = None,
    ) -> None:
        """Add a batch.

        Parameters
        ----------
        event_time_ms
            Event time of each row, epoch milliseconds.
        frame
            The rows' feature values (a feature column may be absent: counted as missing).
        scores
            Model score of each row; ``"_score"`` is skipped when ``None``.
        labels
            Predicted class of each row; ``"_predicted_class"`` (profiled for multi-class
            models only) is skipped when ``None``.
        """
        times = np.asarray(event_time_ms, dtype=np.int64)
        if times.shape != (len(frame),):
            raise ValueError("event_time_ms must have one value per row")
        if times.size == 0:
            return
        minutes, inverse = np.unique(times // MINUTE_MS, return_inverse=True)
        inverse = inverse.ravel()
        n_minutes = minutes.size
        starts = [int(m) * MINUTE_MS for m in minutes]
        batch_max = int(times.max())
        if self._max_event_time_ms is None or batch_max > self._max_event_time_ms:
            self._max_event_time_ms = batch_max

        for feature in self.profile:
            raw = self.profile.values_of(feature, frame, scores, labels)
            if raw is None:
                continue
            nb = feature.n_bins
            sums: NDArray[np.float64]
            sumsqs: NDArray[np.float64]
            if isinstance(feature, NumericFeatureProfile):
                values = as_float_array(raw)
                bins = feature.assign(values)
                present = bins != feature.missing_index
                x = np.where(present, values, 0.0)
                # bincount with weights returns float64 (numpy's stubs say intp).
                sums = np.bincount(inverse, weights=x, minlength=n_minutes).astype(np.float64)
                sumsqs = np.bincount(inverse, weights=x * x, minlength=n_minutes).astype(np.float64)
            else:
                bins = feature.assign(raw)
                sums = sumsqs = np.zeros(n_minutes)
            # One bincount over (minute, bin) pairs counts every minute of the batch at once.
            counts = np.bincount(inverse * nb + bins, minlength=n_minutes * nb).reshape(
                n_minutes, nb
            )
            for u, start in enumerate(starts):
                states = self._open.setdefault(start, {})
                state = states.get(feature.name)
                if state is None:
                    states[feature.name] = _FeatureState(
                        counts[u].astype(np.int64), float(sums[u]), float(sumsqs[u])
                    )
                else:
                    state.counts += counts[u]
                    state.sum += float(sums[u])
                    state.sumsq += float(sumsqs[u])

        while len(self._open) > self.max_open_minutes:
            start = min(self._open)
            _merge_into(self._held.setdefault(start, {}), self._open.pop(start))

    def flush_all(self) -> list[MinuteFeatureStats]:
        """Emit and forget everything counted since the last flush, as partials.

        One row per (minute, feature) touched, ordered by minute, then in profile order.
        """
        return self._emit_minutes(list(self._open))

    def _emit_minutes(self, open_starts: list[int]) -> list[MinuteFeatureStats]:
        """Emit the held minutes and the given open ones, one row per (minute, feature)."""
        held, self._held = self._held, {}
        for start in open_starts:
            _merge_into(held.setdefault(start, {}), self._open.pop(start))
        rows = []
        for start in sorted(held):
            rows += self._rows(start, held[start])
        return rows

    def _rows(self, start: int, states: dict[str, _FeatureState]) -> list[MinuteFeatureStats]:
        rows = []
        for feature in self.profile:
            state = states.get(feature.name)
            if state is None:
                continue
            rows.append(
                MinuteFeatureStats(
                    minute_ms=start,
                    feature=feature.name,
                    kind=feature.kind,
                    counts=[int(v) for v in state.counts],
                    count=int(state.counts.sum()),
                    missing=int(state.counts[-1]),
                    sum=state.sum,
                    sumsq=state.sumsq,
                )
            )
        return rows


def _merge_into(target: dict[str, _FeatureState], source: dict[str, _FeatureState]) -> None:
    for name, state in source.items():
        seen = target.get(name)
        if seen is None:
            target[name] = state
        else:
            seen.counts += state.counts
            seen.sum += state.sum
            seen.sumsq += state.sumsq
