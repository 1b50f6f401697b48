"""The day's scores as fine, mergeable counts: predicted class x score bin.

Estimation reads counts, never rows, so it costs the same at 10^4 or 10^8 scored records:
the counts of a day are one aggregate query over ``scores`` (:func:`histogram_query`), and
the counts of two periods, partitions or workers add up (:meth:`ScoreHistogram.merge`).

Why not the drift bins: the worker's ``_score`` counts use the reference profile's 10-20
quantile bins, too coarse for a calibrated map that may rise from 0.1 to 0.9 inside one of
them. :data:`BINS` equal bins of width 0.001 are fine enough that the binning error is
small and, because the calibration is monotone, bounded exactly
(:meth:`ScoreHistogram.binning_bound`). Scores are probabilities, so ``[0, 1]`` covers all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from scorestream.contract.tables import check_identifier

#: Equal-width score bins over [0, 1].
BINS = 1000


class Executor(Protocol):
    """What a ClickHouse client offers (``clickhouse_driver.Client.execute``)."""

    def execute(self, query: str, params: Any = None) -> Any: ...


@dataclass(frozen=True)
class ScoreHistogram:
    """Counts of scores per predicted class (rows) and score bin (columns).

    Parameters
    ----------
    classes : tuple of str
        Predicted classes, as the ``label`` column holds them; binary models have one row,
        ``("",)``: the predicted class follows from the score and the threshold.
    counts : numpy.ndarray of shape (len(classes), BINS)
        Number of scores in each bin ``floor(score * BINS)`` (1.0 in the last bin).

    Examples
    --------
    >>> h = ScoreHistogram.from_scores([0.1, 0.1004, 0.95])
    >>> h.n, int(h.counts[0, 100]), int(h.counts[0, 950])
    (3, 2, 1)
    >>> h.merge(h).n
    6
    """

    classes: tuple[str, ...]
    counts: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        if self.counts.shape != (len(self.classes), BINS):
            raise ValueError(f"counts must have shape ({len(self.classes)}, {BINS})")

    @property
    def n(self) -> int:
        """Number of scores counted."""
        return int(self.counts.sum())

    @staticmethod
    def bin_of(scores: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The bin of each score (clipped to [0, 1] first)."""
        values = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
        return np.minimum(np.floor(values * BINS).astype(np.int64), BINS - 1)

    @staticmethod
    def midpoints() -> npt.NDArray[np.float64]:
        """The centre of every bin: the score a bin's rows are taken to have."""
        return (np.arange(BINS, dtype=np.float64) + 0.5) / BINS

    @staticmethod
    def edges() -> npt.NDArray[np.float64]:
        """The ``BINS + 1`` bin edges."""
        return np.arange(BINS + 1, dtype=np.float64) / BINS

    @classmethod
    def from_scores(
        cls, scores: npt.ArrayLike, predicted: Sequence[Any] | None = None
    ) -> ScoreHistogram:
        """Count raw scores (and, multiclass, their predicted classes)."""
        bins = cls.bin_of(scores)
        if predicted is None:
            counts = np.bincount(bins, minlength=BINS).astype(np.int64)[None, :]
            return cls(("",), counts)
        labels = np.asarray([str(v) for v in predicted], dtype=object)
        classes = tuple(sorted(set(labels.tolist())))
        index = {c: i for i, c in enumerate(classes)}
        rows = np.asarray([index[v] for v in labels], dtype=np.int64)
        counts = np.zeros((len(classes), BINS), dtype=np.int64)
        np.add.at(counts, (rows, bins), 1)
        return cls(classes, counts)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, int, int]], *, binary: bool) -> ScoreHistogram:
        """Build from ``(label, bin, count)`` rows, as :func:`histogram_query` returns them."""
        cells: dict[str, npt.NDArray[np.int64]] = {}
        for label, bin_index, count in rows:
            key = "" if binary else str(label)
            row = cells.setdefault(key, np.zeros(BINS, dtype=np.int64))
            row[min(max(int(bin_index), 0), BINS - 1)] += int(count)
        if not cells:
            cells[""] = np.zeros(BINS, dtype=np.int64)
        classes = tuple(sorted(cells))
        return cls(classes, np.stack([cells[c] for c in classes]))

    def merge(self, other: ScoreHistogram) -> ScoreHistogram:
        """The counts of both (of two periods, partitions or workers)."""
        classes = tuple(sorted(set(self.classes) | set(other.classes)))
        counts = np.zeros((len(classes), BINS), dtype=np.int64)
        for source in (self, other):
            for i, name in enumerate(source.classes):
                counts[classes.index(name)] += source.counts[i]
        return ScoreHistogram(classes, counts)


def histogram_query(database: str, table: str = "scores") -> str:
    """One aggregate query: a model version's ``(label, bin, count)`` of one day.

    Parameters ``name``, ``version`` and ``day`` (a :class:`datetime.date`). ``FINAL``
    counts a record replayed into ``scores`` once. Runs on ClickHouse 18.16.

    Examples
    --------
    >>> "GROUP BY label, bin" in histogram_query("scoring")
    True
    """
    db = check_identifier(database)
    name = check_identifier(table)
    return (
        f"SELECT label, toUInt32(least(floor(greatest(score, 0) * {BINS}), {BINS - 1})) AS bin, "  # noqa: S608
        f"count() FROM {db}.{name} FINAL "
        "WHERE model_name = %(name)s AND model_version = %(version)s "
        "AND toDate(event_time) = %(day)s "
        "GROUP BY label, bin"
    )


def read_histogram(
    client: Executor,
    database: str,
    *,
    name: str,
    version: str,
    day: date,
    binary: bool,
    table: str = "scores",
) -> ScoreHistogram:
    """The day's :class:`ScoreHistogram` of one model version, from ClickHouse."""
    rows = client.execute(
        histogram_query(database, table), {"name": name, "version": version, "day": day}
    )
    return ScoreHistogram.from_rows(rows, binary=binary)
