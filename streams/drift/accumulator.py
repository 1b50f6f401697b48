"""Per-minute bin counts, accumulated batch by batch on the worker.

Each worker keeps, for every minute of event time touched since the last flush and every
profiled feature, the bin counts and the power sums of the values. A flush emits them as
:class:`MinuteFeatureStats` rows (topic ``drift.stats``, table ``scoring.drift_stats``) and
starts again from zero. Rows are *partials*: several workers, partitions, flushes or
restarts may each emit a row for the same (minute, feature), and readers sum them, so no
coordination is needed anywhere and a late record needs no special case.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection
from dataclasses import dataclass
from operator import itemgetter

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
class _MinuteState:
    """One minute's counts of every feature, laid end to end (see ``_offsets``).

    One vector per minute rather than one object per (minute, feature): a batch spanning
    many minutes (a backfill, or records a second apart) then costs a few array additions
    per minute instead of a few Python objects per minute and feature.
    """

    counts: NDArray[np.int64]
    sums: NDArray[np.float64]
    sumsqs: NDArray[np.float64]
    #: Features counted at all (the score and predicted class only when given).
    touched: NDArray[np.bool_]

    def merge(self, other: _MinuteState) -> None:
        self.counts += other.counts
        self.sums += other.sums
        self.sumsqs += other.sumsqs
        self.touched |= other.touched


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
        # Keyed by (input partition, minute start): a batch's records of several partitions
        # are binned in one pass and kept apart (see add's ``partitions``).
        self._open: dict[tuple[int, int], _MinuteState] = {}
        # Minutes force-closed by max_open_minutes, held until the next emit; a minute that
        # reopens meanwhile is merged with them then, so each emit has one row per minute.
        self._held: dict[tuple[int, int], _MinuteState] = {}
        self._max_event_time_ms: int | None = None
        # Feature i's bins are counts[_offsets[i] : _offsets[i + 1]] of a minute's vector.
        sizes = [feature.n_bins for feature in profile]
        self._offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).tolist()

    @property
    def open_minutes(self) -> list[int]:
        """Start (epoch ms) of every open minute, oldest first (once, whatever the partitions)."""
        return sorted({start for _, start in self._open})

    @property
    def holds_counts(self) -> bool:
        """Whether anything was counted since the last flush."""
        return bool(self._open or self._held)

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
        partitions: ArrayLike | None = None,
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
        partitions
            Input partition of each row (non-negative), when each partition's counts must be
            emitted apart (:meth:`flush_partitions`); ``None``: all are partition 0.
        """
        times = np.asarray(event_time_ms, dtype=np.int64)
        if times.shape != (len(frame),):
            raise ValueError("event_time_ms must have one value per row")
        if times.size == 0:
            return
        keys_of_rows = times // MINUTE_MS
        if partitions is not None:
            parts = np.asarray(partitions, dtype=np.int64)
            if parts.shape != times.shape or int(parts.min()) < 0 or int(times.min()) < 0:
                raise ValueError(
                    "partitions must have one non-negative value per row, and event times "
                    "must not be before 1970"
                )
            # One key per (partition, minute), unique'd in one pass: minutes fit in 32 bits.
            keys_of_rows = keys_of_rows | (parts << 32)
        minutes, inverse = np.unique(keys_of_rows, return_inverse=True)
        inverse = inverse.ravel()
        n_minutes = minutes.size
        if partitions is None:
            starts = [(0, minute * MINUTE_MS) for minute in minutes.tolist()]
        else:
            starts = [(key >> 32, (key & _MINUTE_BITS) * MINUTE_MS) for key in minutes.tolist()]
        batch_max = int(times.max())
        if self._max_event_time_ms is None or batch_max > self._max_event_time_ms:
            self._max_event_time_ms = batch_max

        n_features = len(self._offsets) - 1
        width = self._offsets[-1]
        touched = np.zeros(n_features, dtype=bool)
        sums = np.zeros((n_minutes, n_features))
        sumsqs = np.zeros((n_minutes, n_features))
        # Every feature's (minute, bin) pairs as one index into (minute, vector position).
        keys: list[NDArray[np.int64]] = []
        row_base = inverse.astype(np.int64) * width
        for index, feature in enumerate(self.profile):
            raw = self.profile.values_of(feature, frame, scores, labels)
            if raw is None:
                continue
            touched[index] = True
            if isinstance(feature, NumericFeatureProfile):
                values = as_float_array(raw)
                bins = feature.assign(values)
                present = bins != feature.missing_index
                x = np.where(present, values, 0.0)
                # bincount with weights returns float64 (numpy's stubs say intp).
                sums[:, index] = np.bincount(inverse, weights=x, minlength=n_minutes)
                sumsqs[:, index] = np.bincount(inverse, weights=x * x, minlength=n_minutes)
            else:
                bins = feature.assign(raw)
            keys.append(row_base + (bins + self._offsets[index]))
        if not keys:
            return
        # One bincount counts every feature of every minute of the batch at once.
        counts = np.bincount(np.concatenate(keys), minlength=n_minutes * width).reshape(
            n_minutes, width
        )
        for u, start in enumerate(starts):
            state = self._open.get(start)
            if state is None:
                self._open[start] = _MinuteState(
                    counts[u].astype(np.int64), sums[u].copy(), sumsqs[u].copy(), touched.copy()
                )
            else:
                state.counts += counts[u]
                state.sums += sums[u]
                state.sumsqs += sumsqs[u]
                state.touched |= touched

        excess = len(self._open) - self.max_open_minutes
        if excess > 0:
            # The oldest in one pass: a min() over the open minutes for each one set aside
            # cost about 1 µs per record while a backlog spanning days was drained.
            for start in heapq.nsmallest(excess, self._open, key=itemgetter(1)):
                _merge_into(self._held, start, self._open.pop(start))

    def flush_all(self) -> list[MinuteFeatureStats]:
        """Emit and forget everything counted since the last flush, as partials.

        One row per (partition, minute, feature) touched, ordered by partition, minute, then
        in profile order (without ``partitions``: one row per (minute, feature)).
        """
        return [row for rows in self.flush_partitions().values() for row in rows]

    def flush_partitions(
        self, only: Collection[int] | None = None
    ) -> dict[int, list[MinuteFeatureStats]]:
        """:meth:`flush_all`, each partition's rows apart, partitions in ascending order;
        ``only``: those partitions' (the others' counts are kept for a later flush).

        >>> import numpy as np, pandas as pd
        >>> from scorestream.streams.drift.profile import ReferenceProfile
        >>> profile = ReferenceProfile.from_frame(pd.DataFrame({"x": np.arange(9.0)}), ["x"], [])
        >>> acc = MinuteBinAccumulator(profile)
        >>> acc.add(np.array([0, 0, 61_000]), pd.DataFrame({"x": [1.0, 2.0, 3.0]}),
        ...         partitions=[3, 0, 3])
        >>> def rows(flushed):
        ...     return {p: [(r.minute_ms, r.count) for r in rs] for p, rs in flushed.items()}
        >>> rows(acc.flush_partitions(only=[3])), rows(acc.flush_partitions())
        ({3: [(0, 1), (60000, 1)]}, {0: [(0, 1)]})
        """
        held = self._take(self._held, only)
        for key, state in self._take(self._open, only).items():
            _merge_into(held, key, state)
        out: dict[int, list[MinuteFeatureStats]] = {}
        if not held:
            return out
        # Every (partition, minute) at once: a backfill flushes thousands of them, and numpy
        # calls and list conversions per minute cost more than the rows themselves.
        keys = sorted(held)
        states = [held[key] for key in keys]
        offsets = self._offsets
        counts = np.stack([state.counts for state in states])
        totals = np.add.reduceat(counts, offsets[:-1], axis=1).tolist()
        sums = np.stack([state.sums for state in states]).tolist()
        sumsqs = np.stack([state.sumsqs for state in states]).tolist()
        touched = np.stack([state.touched for state in states])
        every = list(range(len(offsets) - 1))
        features = [
            (f.name, f.kind, offsets[i], offsets[i + 1]) for i, f in enumerate(self.profile)
        ]
        for row, ((partition, start), vector, touched_here) in enumerate(
            zip(keys, counts.tolist(), touched.tolist(), strict=True)
        ):
            indices = every if all(touched_here) else [i for i in every if touched_here[i]]
            rows = out.setdefault(partition, [])
            total, total_sum, total_sumsq = totals[row], sums[row], sumsqs[row]
            for index in indices:
                name, kind, low, high = features[index]
                bins = vector[low:high]
                rows.append(
                    MinuteFeatureStats(
                        start,
                        name,
                        kind,
                        bins,
                        total[index],
                        bins[-1],
                        total_sum[index],
                        total_sumsq[index],
                    )
                )
        return out

    def discard(self, only: Collection[int] | None = None) -> None:
        """Forget what was counted since the last flush (of ``only`` those partitions): counts
        whose records will be replayed."""
        self._take(self._held, only)
        self._take(self._open, only)

    @staticmethod
    def _take(
        states: dict[tuple[int, int], _MinuteState], only: Collection[int] | None
    ) -> dict[tuple[int, int], _MinuteState]:
        """Remove and return the states of ``only`` those partitions (None: all)."""
        if only is None:
            taken = dict(states)
            states.clear()
            return taken
        wanted = set(only)
        return {key: states.pop(key) for key in [k for k in states if k[0] in wanted]}


#: The epoch-minute part of an open minute's key (below the partition's 32 bits).
_MINUTE_BITS = (1 << 32) - 1


def _merge_into(
    target: dict[tuple[int, int], _MinuteState], start: tuple[int, int], state: _MinuteState
) -> None:
    seen = target.get(start)
    if seen is None:
        target[start] = state
    else:
        seen.merge(state)
