"""Rows of ``scores`` / ``challenger_scores`` as the sink writes them, and the numpy truth.

The worker's challenger side is another branch; these tests insert the rows the sink would
(column order of the contract's ``TableSpec``) and compute what a comparison must find
straight from the stored scores, with numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from scorestream.contract import CHALLENGER_SCORES, SCORES, TableSpec


def score_rows(
    ids: Sequence[str],
    start: datetime,
    model_name: str,
    model_version: str,
    kind: str,
    scores: npt.ArrayLike,
    labels: Sequence[Any],
    probabilities: npt.NDArray[np.float64] | None = None,
    class_labels: Sequence[str] = (),
    scored_at_ms: int = 1,
) -> list[tuple[Any, ...]]:
    """One row per record, event times spread evenly over the 24 hours from ``start``."""
    values = np.asarray(scores, dtype=np.float64)
    step = 86_400 / max(len(ids), 1)
    rows = []
    for k, (record_id, score, label) in enumerate(zip(ids, values, labels, strict=True)):
        event_time = start + timedelta(seconds=int(k * step))
        event_ms = int(event_time.timestamp() * 1000)
        row = {
            "id": record_id,
            "event_time": event_time,
            "event_time_ms": event_ms,
            "scored_at": event_time,
            "scored_at_ms": scored_at_ms,
            "model_name": model_name,
            "model_version": model_version,
            "score": float(score),
            "label": "" if kind == "regression" else str(label),
            "latency_ms": 5,
            "source_partition": 0,
            "source_offset": k,
            "model_kind": kind,
            "class_labels": list(class_labels),
            "class_probabilities": [] if probabilities is None else list(probabilities[k]),
        }
        rows.append(tuple(row[c] for c in SCORES.inserted))
    return rows


def insert(client: Any, database: str, spec: TableSpec, rows: list[tuple[Any, ...]]) -> None:
    assert spec in (SCORES, CHALLENGER_SCORES)
    client.execute(spec.insert_sql(database), rows)


def stored_pairs(
    client: Any, database: str, start: datetime, end: datetime, challenger: str
) -> pd.DataFrame:
    """The stored champion and challenger scores of ``[start, end)``, joined by id in pandas."""

    def read(table: str, extra: str = "") -> pd.DataFrame:
        rows = client.execute(
            f"SELECT id, score, label FROM {database}.{table} FINAL "
            f"WHERE event_time >= %(start)s AND event_time < %(end)s{extra}",
            {"start": start, "end": end, "name": challenger},
        )
        return pd.DataFrame(rows, columns=["id", "score", "label"])

    champion = read("scores")
    other = read("challenger_scores", " AND model_name = %(name)s")
    return champion.merge(other, on="id", suffixes=("_champion", "_challenger"))


def bin_counts(edges: npt.NDArray[np.float64], x: npt.NDArray[np.float64]) -> npt.NDArray[Any]:
    """Counts in ``[underflow, interior..., overflow, missing]``, written out independently."""
    n_interior = max(len(edges) - 1, 1)
    index = np.empty(len(x), dtype=np.int64)
    for k, value in enumerate(x):
        if not np.isfinite(value):
            index[k] = n_interior + 2
        elif value > edges[-1]:
            index[k] = n_interior + 1
        elif value == edges[-1]:
            index[k] = n_interior
        else:
            index[k] = int(np.sum(edges <= value))
    return np.bincount(index, minlength=n_interior + 3)


def psi_numpy(a: npt.NDArray[Any], b: npt.NDArray[Any], eps: float = 1e-4) -> float:
    keep = (a > 0) | (b > 0)
    p = np.maximum(a[keep] / a.sum(), eps)
    q = np.maximum(b[keep] / b.sum(), eps)
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum((q - p) * np.log(q / p)))


def exact_quantiles(x: npt.NDArray[np.float64], levels: Sequence[float]) -> list[float]:
    """ClickHouse's ``quantilesExact``: the floor(q * n)-th smallest value."""
    ordered = np.sort(x)
    return [float(ordered[min(int(q * len(x)), len(x) - 1)]) for q in levels]


def expected_row(
    pairs: pd.DataFrame,
    kind: str,
    edges: npt.NDArray[np.float64] | None,
    tolerance: float | None,
    levels: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95),
) -> dict[str, Any]:
    """What the comparison row of ``pairs`` must hold, from numpy alone."""
    champion = pairs["score_champion"].to_numpy()
    challenger = pairs["score_challenger"].to_numpy()
    difference = challenger - champion
    if edges is None:
        deciles = exact_quantiles(champion, [k / 10 for k in range(1, 10)])
        edges = np.unique([champion.min(), *deciles, champion.max()])
    if kind == "regression":
        tolerance = 0.1 * float(champion.std()) if tolerance is None else tolerance
        agreement = float(np.mean(np.abs(difference) <= tolerance))
    else:
        tolerance = 0.0
        agreement = float(np.mean(pairs["label_champion"] == pairs["label_challenger"]))
    return {
        "n_paired": len(pairs),
        "agreement_rate": agreement,
        "tolerance": tolerance,
        "mean_difference": float(difference.mean()),
        "difference_quantiles": exact_quantiles(difference, levels),
        "score_psi": psi_numpy(bin_counts(edges, champion), bin_counts(edges, challenger)),
    }
