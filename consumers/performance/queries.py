"""The realised-performance pieces of each (model, version, day), computed in ClickHouse.

Scores (``scores FINAL``, or ``challenger_scores FINAL``) are joined by id to labels
(``labels FINAL``: one row per id, the latest label), so a replayed score or a replaced label
never counts twice. Per (model name, version, day of ``event_time``), one GROUP BY returns
the counts and sums of :mod:`scorestream.streams.performance`'s pieces, and they are
assembled here:

- binary (``model_kind`` ``binary``, or empty on rows from before kinds): per (score bin x
  true class) the count, the sum of scores, the predicted positives at the threshold, and the
  sums of the clipped log loss and of the Brier term; bin ``floor(score * n_bins)`` clamped,
  the same IEEE product numpy computes, so SQL and Python put every score in the same bin;
- multi-class: per (true class x predicted class) the count and the sum of the clipped log
  loss of the true class's probability (``class_probabilities`` at the true class's index in
  ``class_labels``);
- regression: the count, the sums of the error (prediction minus ``value``), of its absolute
  value and of its square, and the mean and ``varPopStable`` of the true value (18.16's
  ``varPop`` is the cancelling one: it returns 0 for 1e9 + 0..9).

Records with a non-finite score (or, for regression, value) are left out, as the pieces'
``from_arrays`` leave them out. So is every label the daily labels check
(:mod:`scorestream.consumers.labels.check`) rejects as ``label_type_mismatch``, by the
check's own rule and whether or not the check has run yet: a regression label that is not a
number (``value`` NaN), a multi-class label not among the score's ``class_labels``, and a
binary label that is neither of the model's classes (when the caller names both, as the
performance check does). A label rejected as ``label_without_score`` has no score to join.

Each query returns at most ``2 x n_bins`` (binary) or ``classes^2`` rows per model and day,
whatever the number of labelled records: the metric's cost is flat, ClickHouse's scan is the
only part that grows.

All SQL runs on ClickHouse 18.16; values travel as query parameters, identifiers pass
:func:`check_identifier`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any, NamedTuple

import numpy as np

from scorestream.consumers.clickhouse import Executor
from scorestream.contract import LABELS, SCORES
from scorestream.contract.tables import check_identifier
from scorestream.streams.performance import (
    BINARY_BINS,
    DEFAULT_THRESHOLD,
    LOG_LOSS_EPS,
    BinaryPieces,
    MulticlassPieces,
    RegressionPieces,
)

__all__ = [
    "PieceKey",
    "binary_pieces",
    "multiclass_pieces",
    "regression_pieces",
]


class PieceKey(NamedTuple):
    """Which records a piece counts: one model version's records of one day."""

    model_name: str
    model_version: str
    day: date


def _joined(database: str, scores_table: str, kinds: str, model_filter: str) -> str:
    """Scores of ``[start, end)`` joined by id to their (latest) labels.

    The labels are the left side, streamed; the period's scores are the right side, which
    ClickHouse holds in memory: a day's scores, not every label ever received.
    """
    db = check_identifier(database)
    scores = check_identifier(scores_table)
    labels = check_identifier(LABELS.name)
    return (
        f"(SELECT id, label AS true_label, value AS true_value FROM {db}.{labels} FINAL) "  # noqa: S608
        "ALL INNER JOIN "
        "(SELECT id, model_name, model_version, toDate(event_time) AS day, score, "
        "label AS predicted, class_labels, class_probabilities "
        f"FROM {db}.{scores} FINAL "
        f"WHERE event_time >= %(start)s AND event_time < %(end)s AND {kinds}{model_filter}) "
        "USING id"
    )


def _filters(model_name: str | None, model_version: str | None) -> tuple[str, dict[str, Any]]:
    text, params = "", {}
    if model_name is not None:
        text += " AND model_name = %(model_name)s"
        params["model_name"] = model_name
    if model_version is not None:
        text += " AND model_version = %(model_version)s"
        params["model_version"] = model_version
    return text, params


def _clipped(expression: str) -> str:
    """``expression`` clipped to ``[eps, 1 - eps]`` (as ``ratios.clipped_log_loss``)."""
    return f"greatest(least({expression}, 1 - %(eps)s), %(eps)s)"


def binary_pieces(
    client: Executor,
    database: str,
    start: datetime,
    end: datetime,
    *,
    positive_label: str = "1",
    negative_label: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    n_bins: int = BINARY_BINS,
    model_name: str | None = None,
    model_version: str | None = None,
    scores_table: str = SCORES.name,
) -> dict[PieceKey, BinaryPieces]:
    """Binary pieces of every (model, version, day) with labelled records in ``[start, end)``.

    Parameters
    ----------
    positive_label
        The true class that counts as positive (the model's second class, as text).
    negative_label
        The other class: when given, a record whose label is neither is left out (a label
        that slipped past validation); when None, every other label counts as negative.
    threshold
        The model's threshold: predicted positive when ``score >= threshold``.
    model_name, model_version
        Only this model / version (all when None).
    scores_table
        ``scores`` (champions) or ``challenger_scores``.
    """
    model_filter, params = _filters(model_name, model_version)
    joined = _joined(database, scores_table, "model_kind IN ('binary', '')", model_filter)
    known = ""
    if negative_label is not None:
        known = " AND true_label IN (%(positive)s, %(negative)s)"
        params["negative"] = negative_label
    truth = _clipped("if(true_label = %(positive)s, score, 1 - score)")
    rows = client.execute(
        "SELECT model_name, model_version, day, "  # noqa: S608
        "toUInt32(least(greatest(floor(score * %(n_bins)s), 0), %(last_bin)s)) AS bin, "
        "true_label = %(positive)s AS positive, count(), sum(score), "
        "sum(score >= %(threshold)s), "
        f"sum(-log({truth})), sum((score - positive) * (score - positive)) "
        f"FROM {joined} WHERE isFinite(score){known} "
        "GROUP BY model_name, model_version, day, bin, positive",
        {
            **params,
            "start": start,
            "end": end,
            "positive": positive_label,
            "threshold": float(threshold),
            "n_bins": int(n_bins),
            "last_bin": int(n_bins) - 1,
            "eps": LOG_LOSS_EPS,
        },
    )
    groups: dict[PieceKey, list[tuple[Any, ...]]] = defaultdict(list)
    for name, version, day, *cell in rows:
        groups[PieceKey(str(name), str(version), day)].append(tuple(cell))
    return {
        key: _binary_from_cells(cells, float(threshold), int(n_bins))
        for key, cells in sorted(groups.items())
    }


def _binary_from_cells(cells: list[tuple[Any, ...]], threshold: float, n_bins: int) -> BinaryPieces:
    positives = np.zeros(n_bins, dtype=np.int64)
    negatives = np.zeros(n_bins, dtype=np.int64)
    sums = np.zeros(n_bins, dtype=np.float64)
    log_loss = brier = 0.0
    tp = fp = tn = fn = 0
    for b, positive, count, score_sum, predicted, loss, squared in cells:
        (positives if positive else negatives)[b] += int(count)
        sums[b] += float(score_sum)
        log_loss += float(loss)
        brier += float(squared)
        if positive:
            tp, fn = tp + int(predicted), fn + int(count) - int(predicted)
        else:
            fp, tn = fp + int(predicted), tn + int(count) - int(predicted)
    return BinaryPieces(
        positives=tuple(int(v) for v in positives),
        negatives=tuple(int(v) for v in negatives),
        score_sums=tuple(float(v) for v in sums),
        log_loss_sum=log_loss,
        brier_sum=brier,
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        threshold=threshold,
        n_bins=n_bins,
    )


def multiclass_pieces(
    client: Executor,
    database: str,
    start: datetime,
    end: datetime,
    *,
    model_name: str | None = None,
    model_version: str | None = None,
    scores_table: str = SCORES.name,
) -> dict[PieceKey, MulticlassPieces]:
    """Multi-class pieces of every (model, version, day) with labelled records in the period."""
    model_filter, params = _filters(model_name, model_version)
    joined = _joined(database, scores_table, "model_kind = 'multiclass'", model_filter)
    truth = _clipped("class_probabilities[indexOf(class_labels, true_label)]")
    # A true class the model does not have is the labels check's ``label_type_mismatch``
    # (the same rule: not in the score's ``class_labels``): a rejected label, never counted.
    known = "indexOf(class_labels, true_label) > 0"
    rows = client.execute(
        "SELECT model_name, model_version, day, true_label, predicted, count(), "  # noqa: S608
        f"sum(-log({truth})) "
        f"FROM {joined} WHERE isFinite(score) AND {known} "
        "GROUP BY model_name, model_version, day, true_label, predicted",
        {**params, "start": start, "end": end, "eps": LOG_LOSS_EPS},
    )
    cells: dict[PieceKey, dict[tuple[str, str], int]] = defaultdict(dict)
    losses: dict[PieceKey, list[float]] = defaultdict(lambda: [0.0, 0])
    for name, version, day, true_label, predicted, count, loss in rows:
        key = PieceKey(str(name), str(version), day)
        cells[key][(str(true_label), str(predicted))] = int(count)
        losses[key][0] += float(loss)
        losses[key][1] += int(count)
    return {
        key: MulticlassPieces.from_cells(cells[key], losses[key][0], int(losses[key][1]))
        for key in sorted(cells)
    }


def regression_pieces(
    client: Executor,
    database: str,
    start: datetime,
    end: datetime,
    *,
    model_name: str | None = None,
    model_version: str | None = None,
    scores_table: str = SCORES.name,
) -> dict[PieceKey, RegressionPieces]:
    """Regression pieces of every (model, version, day) with labelled records in the period."""
    model_filter, params = _filters(model_name, model_version)
    joined = _joined(database, scores_table, "model_kind = 'regression'", model_filter)
    rows = client.execute(
        "SELECT model_name, model_version, day, count(), sum(score - true_value), "  # noqa: S608
        "sum(abs(score - true_value)), sum((score - true_value) * (score - true_value)), "
        "avg(true_value), varPopStable(true_value) * count() "
        f"FROM {joined} WHERE isFinite(score) AND isFinite(true_value) "
        "GROUP BY model_name, model_version, day "
        "ORDER BY model_name, model_version, day",
        {**params, "start": start, "end": end},
    )
    return {
        PieceKey(str(name), str(version), day): RegressionPieces(
            n=int(n),
            sum_error=float(error),
            sum_abs_error=float(absolute),
            sum_squared_error=float(squared),
            mean_y=float(mean),
            m2_y=float(m2),
        )
        for name, version, day, n, error, absolute, squared, mean, m2 in rows
    }
