"""The models part of the synthetic dashboard data: names, other kinds, challengers.

Added to :func:`scorestream.grafana.sample_data.build_fixture` (with its own random
generator, so the rest of the data stays what it was):

- every drift row named (``model_name``, ``model_id``) as the loan model's, and a second
  model (``wine``) with daily checks of its own, one of them an ``error``: the drift
  dashboards' model variables must keep them apart;
- scores of a multi-class model (``wine``: predicted class, class probabilities) and of a
  regression model (``diabetes``), whose outputs move after :data:`DRIFT_AT`;
- two challengers of the loan model, one close to it and one that drifts away after
  :data:`DRIFT_AT`, and their ``model_comparisons`` rows per day and rolling window,
  computed from those scores the way the comparison job defines them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from scorestream.grafana.sample_data import DRIFT_AT, END, START, Fixture, Row, _dt
from scorestream.streams.drift.statistics import psi

LOAN_MODEL = "loan-default"
OTHER_MODEL = "wine"
REGRESSION_MODEL = "diabetes"
CHALLENGERS = (("loan-default-hgb", "c1", 0.03, 0.0), ("loan-default-small", "s1", 0.05, 0.12))
LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)
WINE_CLASSES = ("class_0", "class_1", "class_2")


def add_models(fixture: Fixture, seed: int = 11) -> None:
    """Name the drift rows, add the other kinds' scores and the comparisons."""
    rng = np.random.default_rng(seed)
    for table in ("drift_stats", "drift_checks", "drift_events"):
        for row in fixture.tables[table]:
            row["model_name"] = LOAN_MODEL
            row["model_id"] = f"{LOAN_MODEL}@{row['model_version']}"
    _add_other_drift_model(fixture)
    for row in fixture.tables["scores"]:
        row.update(model_kind="binary", class_labels=[], class_probabilities=[])
    champion = [row for row in fixture.tables["scores"] if row["model_name"] == LOAN_MODEL]
    fixture.tables["scores"] += _other_kinds(rng)
    fixture.tables["model_comparisons"] = _comparisons(champion, rng)


def _add_other_drift_model(fixture: Fixture) -> None:
    checks = fixture.tables["drift_checks"]
    daily = [r for r in checks if r["check_kind"] == "daily" and r["feature"] in ("age", "_score")]
    for row in daily:
        feature = "alcohol" if row["feature"] == "age" else row["feature"]
        checks.append(
            {
                **row,
                "feature": feature,
                "model_name": OTHER_MODEL,
                "model_version": "w3",
                "model_id": f"{OTHER_MODEL}@w3",
            }
        )
    # A version whose reference profile was not found: one error row, purple on the table.
    last = daily[-1]
    checks.append(
        {
            **last,
            "feature": "_model",
            "model_name": OTHER_MODEL,
            "model_version": "w3",
            "model_id": f"{OTHER_MODEL}@w3",
            "level": "error",
            "drifted": 0,
            "test": "",
            "n_current": 0,
            "reference_counts": [],
            "current_counts": [],
            "bin_labels": [],
        }
    )


def _other_kinds(rng: np.random.Generator) -> list[Row]:
    rows: list[Row] = []
    minutes = int((END - START).total_seconds() // 60)
    for m in range(0, minutes, 2):
        event = START + timedelta(minutes=m, seconds=float(rng.uniform(0, 60)))
        drifted = event >= DRIFT_AT
        alpha = np.array([4.0, 3.0, 2.0 + (3.0 if drifted else 0.0)])
        probabilities = rng.dirichlet(alpha)
        top = int(np.argmax(probabilities))
        rows.append(
            _score_row(
                f"wine-{m}",
                event,
                OTHER_MODEL,
                "w3",
                "multiclass",
                float(probabilities[top]),
                WINE_CLASSES[top],
                list(WINE_CLASSES),
                [float(p) for p in probabilities],
            )
        )
        prediction = float(rng.normal(150 + (25 if drifted else 0), 40))
        rows.append(
            _score_row(
                f"diab-{m}", event, REGRESSION_MODEL, "r1", "regression", prediction, "", [], []
            )
        )
    return rows


def _score_row(
    record_id: str,
    event: datetime,
    name: str,
    version: str,
    kind: str,
    score: float,
    label: str,
    class_labels: list[str],
    probabilities: list[float],
) -> Row:
    scored = event + timedelta(milliseconds=40)
    return {
        "id": record_id,
        "event_time": _dt(event),
        "event_time_ms": int(event.timestamp() * 1000),
        "scored_at": _dt(scored),
        "scored_at_ms": int(scored.timestamp() * 1000),
        "model_name": name,
        "model_version": version,
        "score": score,
        "label": label,
        "latency_ms": 40,
        "source_partition": 0,
        "source_offset": 0,
        "model_kind": kind,
        "class_labels": class_labels,
        "class_probabilities": probabilities,
    }


def _exact_quantiles(x: np.ndarray, levels: Sequence[float]) -> list[float]:
    """``quantilesExact``, as the comparison job stores them: the floor(q * n)-th smallest."""
    ordered = np.sort(x)
    return [float(ordered[min(int(q * len(x)), len(x) - 1)]) for q in levels]


def _comparisons(champion: list[Row], rng: np.random.Generator) -> list[Row]:
    times = np.array([datetime.fromisoformat(r["event_time"]) for r in champion])
    versions = np.array([r["model_version"] for r in champion])
    scores = np.array([r["score"] for r in champion])
    after = times >= DRIFT_AT.replace(tzinfo=None)
    challengers = {}
    for name, version, noise, bias in CHALLENGERS:
        # The small model answers like the champion until the inputs drift, then less so.
        shifted = scores + np.where(after, bias, 0.0) + rng.normal(0, noise, scores.size)
        challengers[(name, version)] = np.clip(shifted, 0.0, 1.0)
    rows: list[Row] = []
    start, end = START.replace(tzinfo=None), END.replace(tzinfo=None)
    periods = [("daily", start, start + timedelta(days=1))]
    at = start + timedelta(hours=1)
    while at <= end:
        for kind, hours in (("rolling_1h", 1), ("rolling_24h", 24)):
            periods.append((kind, at - timedelta(hours=hours), at))
        at += timedelta(minutes=30)
    for kind, begin, finish in periods:
        inside = (times >= begin) & (times < finish)
        for champion_version in sorted(set(versions[inside])):
            chosen = inside & (versions == champion_version)
            if chosen.sum() < 20:
                continue
            ours = scores[chosen]
            edges = np.unique(
                [ours.min(), *_exact_quantiles(ours, [k / 10 for k in range(1, 10)]), ours.max()]
            )
            for (name, version), theirs_all in challengers.items():
                theirs = theirs_all[chosen]
                difference = theirs - ours
                rows.append(
                    {
                        "check_kind": kind,
                        "period_start": _dt(begin),
                        "period_end": _dt(finish),
                        "checked_at": _dt(finish + timedelta(minutes=1)),
                        "model_kind": "binary",
                        "champion_name": LOAN_MODEL,
                        "champion_version": champion_version,
                        "challenger_name": name,
                        "challenger_version": version,
                        "n_paired": int(chosen.sum()),
                        "agreement_rate": float(np.mean((ours >= 0.5) == (theirs >= 0.5))),
                        "tolerance": 0.0,
                        "mean_difference": float(difference.mean()),
                        "difference_quantiles": _exact_quantiles(difference, LEVELS),
                        "quantile_levels": list(LEVELS),
                        "score_psi": psi(_bins(edges, ours), _bins(edges, theirs)),
                    }
                )
    return rows


def _bins(edges: np.ndarray, x: np.ndarray) -> Any:
    k = max(len(edges) - 1, 1)
    index = np.searchsorted(edges, x, side="right")
    index = np.where(x == edges[-1], k, index)
    index = np.where(x > edges[-1], k + 1, index)
    return np.bincount(index, minlength=k + 3)
