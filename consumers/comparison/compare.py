"""Champion against challenger on the same records: one ``model_comparisons`` row per pair.

For a period (a day, the last hour, the last 24 hours), every (champion name and version,
challenger name and version) pair that scored the same records is compared on those
records, joined by id: ``scores FINAL`` (the champion's row of each record) against
``challenger_scores FINAL`` (one row per challenger and record), so replays never count
twice.

Per pair (all definitions also in the README, "Comparing a challenger with the champion"):

- ``n_paired``: records both scored;
- ``agreement_rate``: share of those with the same predicted class (``label``; binary and
  multi-class), or, for regression, with ``|challenger - champion| <= tolerance``;
- ``mean_difference`` and ``difference_quantiles`` of ``challenger score - champion score``
  at ``quantile_levels`` (ClickHouse's ``quantilesExact``: the level-q quantile of n values
  is the ``floor(q * n)``-th smallest, counting from 0; no interpolation);
- ``score_psi``: PSI between the champion's and the challenger's score distributions on the
  same records, on the bins of the champion version's reference score (``_score`` of its
  ``reference_profile.json``) when the profile is found, else on deciles of the champion's
  scores of the period (``quantilesExact``, plus minimum and maximum, deduplicated).

The cost is flat: two aggregating queries per period plus one per pair, each returning at
most a few hundred numbers; no record travels to Python. All SQL runs on ClickHouse 18.16
(values only as query parameters).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from scorestream.consumers.clickhouse import Executor, check_identifier
from scorestream.contract import MODEL_COMPARISONS
from scorestream.streams.drift.statistics import psi

log = logging.getLogger(__name__)

#: Quantile levels of the score difference stored in every row.
QUANTILE_LEVELS: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
#: Regression agreement, by default: |difference| at most this share of the champion's
#: score standard deviation (its reference one when the profile is found, else the
#: period's). Relative, because a prediction in dollars and one in probabilities share no
#: absolute scale; a tenth of a standard deviation is "the same answer" for most uses.
RELATIVE_TOLERANCE = 0.1
#: Bins of the fallback layout (deciles of the champion's scores of the period).
FALLBACK_BINS = 10

#: The champion version's reference score bin edges, or None when its profile is not found.
EdgesLookup = Callable[[str, str], "npt.NDArray[np.float64] | None"]
#: The champion version's reference score standard deviation, or None.
StdLookup = Callable[[str, str], "float | None"]


@dataclass(frozen=True)
class ComparisonOptions:
    """How a comparison is computed.

    Attributes
    ----------
    tolerance
        Regression agreement: an absolute tolerance on ``|challenger - champion|``. ``None``
        (default): ``relative_tolerance`` times the champion's score standard deviation.
    relative_tolerance
        See above.
    quantile_levels
        Levels of the stored difference quantiles.
    """

    tolerance: float | None = None
    relative_tolerance: float = RELATIVE_TOLERANCE
    quantile_levels: tuple[float, ...] = QUANTILE_LEVELS


@dataclass(frozen=True)
class PairSummary:
    """What the first query returns for one pair."""

    champion_name: str
    champion_version: str
    challenger_name: str
    challenger_version: str
    model_kind: str
    n_paired: int
    mean_difference: float
    difference_quantiles: list[float]
    champion_std: float
    champion_edges: npt.NDArray[np.float64]


def _paired(db: str, champion: str = "", challenger: str = "") -> str:
    """The join of both tables on one period (``champion``/``challenger``: extra filters)."""
    return (
        "(SELECT id, model_name AS champion_name, model_version AS champion_version, "  # noqa: S608
        "score AS champion_score, label AS champion_label, model_kind AS kind "
        f"FROM {db}.scores FINAL "
        f"WHERE event_time >= %(start)s AND event_time < %(end)s{champion}) "
        "ALL INNER JOIN "
        "(SELECT id, model_name AS challenger_name, model_version AS challenger_version, "
        "score AS challenger_score, label AS challenger_label "
        f"FROM {db}.challenger_scores FINAL "
        f"WHERE event_time >= %(start)s AND event_time < %(end)s{challenger}) "
        "USING id"
    )


_PAIR_FILTER = (
    " AND model_name = %(champion_name)s AND model_version = %(champion_version)s",
    " AND model_name = %(challenger_name)s AND model_version = %(challenger_version)s",
)


def read_pairs(
    client: Executor,
    database: str,
    start: datetime,
    end: datetime,
    quantile_levels: tuple[float, ...] = QUANTILE_LEVELS,
) -> list[PairSummary]:
    """Every pair of the period with its counts, mean and quantiles (one query)."""
    db = check_identifier(database)
    deciles = [k / FALLBACK_BINS for k in range(1, FALLBACK_BINS)]
    # The levels are numbers of our own, not user input: quantilesExact takes them as
    # literal parameters of the function, which a query parameter cannot be.
    levels = ", ".join(repr(float(q)) for q in quantile_levels)
    decile_levels = ", ".join(repr(q) for q in deciles)
    rows = client.execute(
        "SELECT champion_name, champion_version, challenger_name, challenger_version, "  # noqa: S608
        "any(kind), count(), avg(challenger_score - champion_score), "
        f"quantilesExact({levels})(challenger_score - champion_score), "
        "stddevPop(champion_score), min(champion_score), "
        f"quantilesExact({decile_levels})(champion_score), max(champion_score) "
        f"FROM {_paired(db)} "
        "GROUP BY champion_name, champion_version, challenger_name, challenger_version "
        "ORDER BY champion_name, champion_version, challenger_name, challenger_version",
        {"start": start, "end": end},
    )
    return [
        PairSummary(
            champion_name=str(cn),
            champion_version=str(cv),
            challenger_name=str(hn),
            challenger_version=str(hv),
            # Rows written before model kinds existed are binary.
            model_kind=str(kind) or "binary",
            n_paired=int(n),
            mean_difference=float(mean),
            difference_quantiles=[float(v) for v in quantiles],
            champion_std=float(std),
            champion_edges=np.unique(np.asarray([lo, *inner, hi], dtype=np.float64)),
        )
        for cn, cv, hn, hv, kind, n, mean, quantiles, std, lo, inner, hi in rows
    ]


def _bin_sql(column: str) -> str:
    """Bin index of ``column`` in the layout of ``%(edges)s`` (as ``NumericFeatureProfile``).

    ``[underflow, interior_1 .. interior_k, overflow, missing]``: interior bin i is
    ``[e_(i-1), e_i)``, the last one closed at the maximum edge.
    """
    return (
        f"if(NOT isFinite({column}), %(n_interior)s + 2, "
        f"if({column} > %(last)s, %(n_interior)s + 1, "
        f"if({column} = %(last)s, %(n_interior)s, "
        f"arrayCount(e -> e <= {column}, %(edges)s))))"
    )


def read_pair_bins(
    client: Executor,
    database: str,
    start: datetime,
    end: datetime,
    pair: PairSummary,
    edges: npt.NDArray[np.float64],
    tolerance: float,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int, int]:
    """Champion and challenger score counts per bin, and both agreement counts (one query).

    Returns
    -------
    champion_counts, challenger_counts
        Counts in ``[underflow, interior..., overflow, missing]``.
    same_label, within_tolerance
        Records with the same predicted class; with ``|difference| <= tolerance``.
    """
    db = check_identifier(database)
    n_interior = max(len(edges) - 1, 1)
    rows = client.execute(
        f"SELECT {_bin_sql('champion_score')} AS a, {_bin_sql('challenger_score')} AS b, "  # noqa: S608
        "count(), sum(champion_label = challenger_label), "
        "sum(abs(challenger_score - champion_score) <= %(tolerance)s) "
        f"FROM {_paired(db, *_PAIR_FILTER)} GROUP BY a, b",
        {
            "start": start,
            "end": end,
            "champion_name": pair.champion_name,
            "champion_version": pair.champion_version,
            "challenger_name": pair.challenger_name,
            "challenger_version": pair.challenger_version,
            "edges": [float(e) for e in edges],
            "last": float(edges[-1]),
            "n_interior": n_interior,
            "tolerance": float(tolerance),
        },
    )
    champion = np.zeros(n_interior + 3, dtype=np.int64)
    challenger = np.zeros(n_interior + 3, dtype=np.int64)
    same = within = 0
    for a, b, n, n_same, n_within in rows:
        champion[int(a)] += int(n)
        challenger[int(b)] += int(n)
        same += int(n_same)
        within += int(n_within)
    return champion, challenger, same, within


def tolerance_of(
    pair: PairSummary, options: ComparisonOptions, reference_std: float | None
) -> float:
    """The regression tolerance of ``pair`` (0 for classifiers, which compare labels)."""
    if pair.model_kind != "regression":
        return 0.0
    if options.tolerance is not None:
        return float(options.tolerance)
    std = reference_std if reference_std is not None and reference_std > 0 else pair.champion_std
    return options.relative_tolerance * std


def compare_period(
    client: Executor,
    database: str,
    kind: str,
    start: datetime,
    end: datetime,
    *,
    reference_edges: EdgesLookup = lambda name, version: None,
    reference_std: StdLookup = lambda name, version: None,
    options: ComparisonOptions | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Compare every pair of ``[start, end)`` and write their ``model_comparisons`` rows.

    Rerunning a period replaces its rows (ReplacingMergeTree on the period and the pair,
    read with ``FINAL``). Returns the rows written (column name -> value).
    """
    options = options or ComparisonOptions()
    checked_at = (now or datetime.now(UTC)).replace(tzinfo=None, microsecond=0)
    rows = []
    for pair in read_pairs(client, database, start, end, options.quantile_levels):
        edges = reference_edges(pair.champion_name, pair.champion_version)
        if edges is None or len(edges) == 0:
            edges = pair.champion_edges
        tolerance = tolerance_of(
            pair, options, reference_std(pair.champion_name, pair.champion_version)
        )
        champion, challenger, same, within = read_pair_bins(
            client, database, start, end, pair, edges, tolerance
        )
        agreeing = within if pair.model_kind == "regression" else same
        rows.append(
            {
                "check_kind": kind,
                "period_start": start,
                "period_end": end,
                "checked_at": checked_at,
                "model_kind": pair.model_kind,
                "champion_name": pair.champion_name,
                "champion_version": pair.champion_version,
                "challenger_name": pair.challenger_name,
                "challenger_version": pair.challenger_version,
                "n_paired": pair.n_paired,
                "agreement_rate": agreeing / pair.n_paired,
                "tolerance": tolerance,
                "mean_difference": pair.mean_difference,
                "difference_quantiles": pair.difference_quantiles,
                "quantile_levels": [float(q) for q in options.quantile_levels],
                "score_psi": _finite(psi(champion, challenger)),
            }
        )
    if rows:
        client.execute(
            MODEL_COMPARISONS.insert_sql(database),
            [tuple(row[c] for c in MODEL_COMPARISONS.inserted) for row in rows],
        )
    for row in rows:
        log.info(
            "%s comparison %s: %s@%s vs %s@%s, %d paired, agreement %.3f, PSI %.3f",
            kind,
            start.isoformat(),
            row["champion_name"],
            row["champion_version"],
            row["challenger_name"],
            row["challenger_version"],
            row["n_paired"],
            row["agreement_rate"],
            row["score_psi"],
        )
    return rows


def _finite(value: float) -> float:
    return float(value) if math.isfinite(value) else float("nan")
