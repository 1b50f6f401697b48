"""The performance part of the synthetic dashboard data: history, labels and verdicts.

Added to :func:`scorestream.grafana.sample_data.build_fixture` after the models (with its own
random generator, so the rest of the data stays what it was):

- :data:`HISTORY_DAYS` days of the loan model's scores before ``START`` (version ``v1``, as
  before the drift): the Model performance dashboard opens on 30 days;
- true labels of the loan model's records: :data:`LABEL_RATE` of them get one, after a
  lognormal delay (median :data:`DELAY_MEDIAN`); only labels that have arrived by ``END``,
  the sample's "now", are stored. The scores are calibrated (a record is positive with the
  probability of its score) until :data:`CONCEPT_SHIFT_AT`; from then on the label rule
  changes (:func:`positive_rate`): a concept shift, which the realised figures see and the
  estimate cannot;
- ``model_performance`` rows as the daily check writes them, for every day it has run on by
  ``END`` (at 00:15 after the day, again on each of the next ``LABEL_WINDOW_DAYS`` days, with
  the labels arrived by then): realised ROC AUC and accuracy from the labelled records'
  pieces, an estimate from the scores (CBPE in closed form: the scores are the calibrated
  probabilities), the reference of a holdout of :data:`HOLDOUT` records and the verdict;
  the same for the two challengers of :mod:`.sample_models` (``challenger_daily``; one has
  no calibration, so no estimate), and an estimate without labels for the multi-class
  ``wine`` model on the first day.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from scorestream.consumers.drift_check.check import DAILY
from scorestream.consumers.drift_check.schedule import LABEL_WINDOW_DAYS
from scorestream.consumers.performance.check import (
    CHALLENGER_DAILY,
    MIN_LABELS,
    Z_ALERT,
    Z_WARN,
)
from scorestream.grafana.sample_data import DRIFT_AT, END, START, Fixture, Row, _dt
from scorestream.grafana.sample_models import CHALLENGERS, LOAN_MODEL, OTHER_MODEL
from scorestream.streams.performance import DEFAULT_THRESHOLD, BinaryPieces, binary_metrics

HISTORY_DAYS = 28
HISTORY_PER_DAY = 600
LABEL_RATE = 0.9
DELAY_MEDIAN = timedelta(hours=40)
DELAY_SIGMA = 0.8
CONCEPT_SHIFT_AT = START - timedelta(days=9)
HOLDOUT = 2000
HOLDOUT_SEED = 1
#: The challenger of :data:`CHALLENGERS` that has no ``calibration.json``.
UNCALIBRATED = "loan-default-small"
#: When the daily check runs after the day it checks.
CHECK_DELAY = timedelta(days=1, minutes=15)
POSITIVE, NEGATIVE = "default", "repaid"

Floats = npt.NDArray[np.float64]


def positive_rate(scores: Floats, shifted: npt.NDArray[np.bool_]) -> Floats:
    """P(positive | score): the score itself, and flatter after the concept shift."""
    return np.where(shifted, 0.25 + 0.5 * scores, scores)


def add_performance(fixture: Fixture, seed: int = 13) -> None:
    """Add the history of scores, the labels and the ``model_performance`` rows."""
    rng = np.random.default_rng(seed)
    fixture.tables["scores"] += _history(rng)
    loans = [r for r in fixture.tables["scores"] if r["model_name"] == LOAN_MODEL]
    times = np.array([datetime.fromisoformat(r["event_time"]) for r in loans])
    scores = np.array([r["score"] for r in loans])
    shifted = times >= CONCEPT_SHIFT_AT.replace(tzinfo=None)
    positive = rng.random(scores.size) < positive_rate(scores, shifted)
    delays = rng.lognormal(math.log(DELAY_MEDIAN.total_seconds()), DELAY_SIGMA, scores.size)
    arrives = times + np.array([timedelta(seconds=int(d)) for d in delays])
    now = END.replace(tzinfo=None)
    labelled = (rng.random(scores.size) < LABEL_RATE) & (arrives <= now)
    fixture.tables["labels"] = [
        _label(row["id"], bool(y), at)
        for row, y, at, keep in zip(loans, positive, arrives, labelled, strict=True)
        if keep
    ]
    days = sorted({t.replace(hour=0, minute=0, second=0, microsecond=0) for t in times})
    versions = np.array([r["model_version"] for r in loans])
    never = np.array(now + timedelta(days=1), dtype=object)  # after every check
    arrived = np.where(labelled, arrives, never)
    # The holdout has its own generator: a holdout figure close to the model's expected one.
    held = np.random.default_rng(HOLDOUT_SEED)
    holdout = held.beta(2.0, 6.0, HOLDOUT)
    holdout_truth = held.random(HOLDOUT) < holdout
    after_drift = times >= DRIFT_AT.replace(tzinfo=None)
    # (scores of the day's records, reference) of the champion and of each challenger.
    references = {LOAN_MODEL: _reference(holdout, holdout_truth)}
    challenger_scores = {}
    for name, version, noise, bias in CHALLENGERS:
        theirs = scores + np.where(after_drift, bias, 0.0) + rng.normal(0, noise, scores.size)
        challenger_scores[(name, version)] = np.clip(theirs, 0.0, 1.0)
        noisy = np.clip(holdout + held.normal(0, noise, HOLDOUT), 0.0, 1.0)
        references[name] = _reference(noisy, holdout_truth)
    rows: list[Row] = []
    for day in days:
        checked_at = _last_check(day, now)
        if checked_at is None:
            continue
        on_day = (times >= day) & (times < day + timedelta(days=1))
        known = on_day & (arrived <= checked_at)
        for version in sorted(set(versions[on_day])):
            mine = on_day & (versions == version)
            rows += _Day(DAILY, day, checked_at, LOAN_MODEL, version).binary(
                scores[mine],
                scores[known & mine],
                positive[known & mine],
                references[LOAN_MODEL],
                estimate=True,
            )
        for (name, version), theirs in challenger_scores.items():
            rows += _Day(CHALLENGER_DAILY, day, checked_at, name, version).binary(
                theirs[on_day],
                theirs[known],
                positive[known],
                references[name],
                estimate=name != UNCALIBRATED,
            )
    rows += _wine(fixture)
    fixture.tables["model_performance"] = rows


def _history(rng: np.random.Generator) -> list[Row]:
    rows = []
    first = START - timedelta(days=HISTORY_DAYS)
    for k in range(HISTORY_DAYS * HISTORY_PER_DAY):
        event = first + timedelta(seconds=float(rng.uniform(0, HISTORY_DAYS * 86_400)))
        score = float(rng.beta(2.0, 6.0))
        scored = event + timedelta(milliseconds=45)
        rows.append(
            {
                "id": f"hist-{k}",
                "event_time": _dt(event),
                "event_time_ms": int(event.timestamp() * 1000),
                "scored_at": _dt(scored),
                "scored_at_ms": int(scored.timestamp() * 1000),
                "model_name": LOAN_MODEL,
                "model_version": "v1",
                "score": score,
                "label": POSITIVE if score >= DEFAULT_THRESHOLD else NEGATIVE,
                "latency_ms": 45,
                "source_partition": k % 4,
                "source_offset": 10_000_000 + k,
                "model_kind": "binary",
                "class_labels": [],
                "class_probabilities": [],
            }
        )
    return rows


def _label(record_id: str, positive: bool, at: datetime) -> Row:
    received = at + timedelta(seconds=30)
    return {
        "id": record_id,
        "label": POSITIVE if positive else NEGATIVE,
        "value": math.nan,  # a class name, not a number (the contract's rule)
        "label_time": _dt(at),
        "label_time_ms": int(at.replace(tzinfo=START.tzinfo).timestamp() * 1000),
        "received_at": _dt(received),
        "received_at_ms": int(received.replace(tzinfo=START.tzinfo).timestamp() * 1000),
        "model_name": "",
        "model_version": "",
    }


def _last_check(day: datetime, now: datetime) -> datetime | None:
    """When the daily check last ran on ``day`` by ``now`` (None: not yet)."""
    first = day + CHECK_DELAY
    if first > now:
        return None
    last = first + timedelta(days=LABEL_WINDOW_DAYS)
    while last > now:
        last -= timedelta(days=1)
    return last


def _reference(scores: Floats, truth: npt.NDArray[np.bool_]) -> dict[str, float]:
    m = binary_metrics(BinaryPieces.from_arrays(scores, truth))
    return {"roc_auc": m.roc_auc, "accuracy": m.accuracy}


def _auc_se(auc: float, positives: float, negatives: float) -> float:
    """Hanley and McNeil's standard error, as the check computes it."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    return math.sqrt(max(var / (positives * negatives), 0.0))


def _expected_auc(p: Floats) -> float:
    """ROC AUC with the calibrated probabilities as soft labels (ties count as ordered)."""
    q = np.sort(p)
    negatives_below = np.cumsum(1 - q) - (1 - q)
    pairs = q.sum() * (1 - q).sum() - float(np.sum(q * (1 - q)))
    return float(np.sum(q * negatives_below) / pairs)


class _Day:
    """One model version's rows of one checked day, as the check writes them."""

    def __init__(self, kind: str, day: datetime, checked_at: datetime, name: str, version: str):
        self.kind, self.day, self.checked_at = kind, day, checked_at
        self.name, self.version = name, version

    def row(
        self,
        metric: str,
        source: str,
        value: float,
        band: Sequence[float],
        n: int,
        coverage: float,
        level: str,
        model_kind: str = "binary",
    ) -> Row:
        return {
            "check_kind": self.kind,
            "period_start": _dt(self.day),
            "period_end": _dt(self.day + timedelta(days=1)),
            "checked_at": _dt(self.checked_at),
            "model_name": self.name,
            "model_version": self.version,
            "model_kind": model_kind,
            "metric": metric,
            "source": source,
            "value": float(value),
            "band_low": float(band[0]),
            "band_high": float(band[1]),
            "n": int(n),
            "coverage": float(coverage),
            "level": level,
        }

    def binary(
        self,
        scored: Floats,
        labelled: Floats,
        truth: npt.NDArray[np.bool_],
        reference: dict[str, float],
        *,
        estimate: bool,
    ) -> list[Row]:
        n, k = scored.size, labelled.size
        coverage = k / n
        realised: dict[str, float] = {}
        if k:
            m = binary_metrics(BinaryPieces.from_arrays(labelled, truth))
            realised = {"roc_auc": m.roc_auc, "accuracy": m.accuracy}
        p = scored
        expected = {
            "accuracy": float(np.mean(np.where(p >= DEFAULT_THRESHOLD, p, 1 - p))),
            "roc_auc": _expected_auc(p),
        }
        rows = []
        for metric, ref in reference.items():
            ref_se = _se(metric, ref, HOLDOUT / 2, HOLDOUT / 2)
            verdict = ("insufficient", math.nan, (math.nan, math.nan))
            value = realised.get(metric, math.nan)
            if math.isfinite(value):
                se = _se(metric, value, float(truth.sum()), float((~truth).sum()))
                spread = math.hypot(se, ref_se)
                band = _clip(ref - Z_ALERT * spread, ref + Z_ALERT * spread)
                level = "insufficient"
                if k >= MIN_LABELS:
                    level = _level(value, band[0], ref - Z_WARN * spread)
                    verdict = (level, value, band)
                rows.append(self.row(metric, "realised", value, band, k, coverage, level))
            if estimate:
                e = expected[metric]
                half = Z_ALERT * _se(metric, e, float(p.sum()), float((1 - p).sum()))
                own = _clip(e - half, e + half)
                below = math.hypot(e - own[0], Z_ALERT * ref_se)
                band = _clip(ref - below, ref + math.hypot(own[1] - e, Z_ALERT * ref_se))
                level = _level(e, band[0], ref - Z_WARN / Z_ALERT * below)
                rows.append(self.row(metric, "estimated", e, own, n, coverage, level))
                if verdict[0] == "insufficient":
                    verdict = (level, e, band)
            rows.append(self.row(metric, "reference", ref, verdict[2], n, coverage, verdict[0]))
        return rows


def _se(metric: str, value: float, positives: float, negatives: float) -> float:
    if metric == "roc_auc":
        return _auc_se(value, positives, negatives)
    return math.sqrt(value * (1 - value) / (positives + negatives))


def _clip(low: float, high: float) -> tuple[float, float]:
    return max(low, 0.0), min(high, 1.0)


def _level(value: float, low: float, warn_low: float) -> str:
    return "alert" if value < low else "warn" if value < warn_low else "ok"


def _expected_multiclass(probabilities: Floats) -> dict[str, float]:
    """Expected accuracy and macro F1 if the class probabilities are calibrated: a record
    predicted c is right with its top probability and of each other class with that
    class's probability."""
    top = probabilities.argmax(axis=1)
    right = probabilities.max(axis=1)
    f1 = []
    for c in range(probabilities.shape[1]):
        tp = right[top == c].sum()
        fp = (1 - right[top == c]).sum()
        fn = probabilities[top != c, c].sum()
        f1.append(2 * tp / (2 * tp + fp + fn))
    return {"accuracy": float(right.mean()), "macro_f1": float(np.mean(f1))}


def _wine(fixture: Fixture) -> list[Row]:
    """The multi-class model's estimate of the first day; no label has come. Its holdout
    figures are those expected of the hours before the drift."""
    rows = [
        r
        for r in fixture.tables["scores"]
        if r["model_name"] == OTHER_MODEL and r["event_time"] < _dt(START + timedelta(days=1))
    ]
    probabilities = np.array([r["class_probabilities"] for r in rows])
    before = np.array([r["event_time"] < _dt(DRIFT_AT) for r in rows])
    expected = _expected_multiclass(probabilities)
    reference = _expected_multiclass(probabilities[before])
    first = START.replace(tzinfo=None)
    day = _Day(DAILY, first, first + CHECK_DELAY, OTHER_MODEL, "w3")
    out = []
    for metric, value in expected.items():
        ref, n = reference[metric], len(rows)
        half = Z_ALERT * math.sqrt(value * (1 - value) / n)
        spread = math.hypot(half, Z_ALERT * math.sqrt(ref * (1 - ref) / int(before.sum())))
        level = _level(value, ref - spread, ref - spread * Z_WARN / Z_ALERT)
        own, verdict = (value - half, value + half), _clip(ref - spread, ref + spread)
        out.append(day.row(metric, "estimated", value, own, n, 0.0, level, "multiclass"))
        out.append(day.row(metric, "reference", ref, verdict, n, 0.0, level, "multiclass"))
    return out
