"""The effect of the day's drift on the model's output: what the team actually feels.

From the ``drift_checks`` rows of the model's outputs that the alert carries (``_score``
binned on the reference's score quantiles, and a multi-class model's ``_predicted_class``),
so no query: the average score and, for a binary model, the predicted-positive rate
(score ≥ 0.5, the worker's threshold) before and after, the share of records in the top
tenth of training's scores, and the score distribution band by band.

The predicted-positive rate is read off the score bins: exact when 0.5 is a bin edge,
otherwise the bin holding 0.5 is split linearly (an estimate, marked "≈"). The reference
bins are deciles of the training scores, so that bin holds a tenth of training's records
at most.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scorestream.consumers.alerting.findings import SPECIAL_CATEGORIES, shares
from scorestream.consumers.alerting.readable import (
    bin_bounds,
    change,
    number,
    percent,
    probability,
    range_label,
)
from scorestream.streams.drift.profile import PREDICTED_CLASS_FEATURE, SCORE_FEATURE

#: A binary model predicts the positive class where the score is at least this
#: (:meth:`scorestream.streams.model.registry.LoadedModel.predict_labels`).
POSITIVE_THRESHOLD = 0.5
#: Words for each output check level.
STEADY = {"ok": "held steady", "warning": "moved a little", "drift": "moved"}
SCORE_NAMES = {
    "binary": "score (probability of {positive})",
    "multiclass": "confidence (probability of the predicted class)",
    "regression": "prediction",
}


@dataclass(frozen=True)
class Rate:
    """A share read off bins; ``exact`` is false when a bin had to be split."""

    value: float
    exact: bool

    def text(self) -> str:
        return percent(self.value) if self.exact else f"≈{percent(self.value)}"


@dataclass(frozen=True)
class OutputEffect:
    """What the model's output did, in rows of (what, training, this period).

    Attributes
    ----------
    level
        The output's own check level (``ok``, ``warning``, ``drift``, ``error``).
    summary
        One sentence: "the model's output moved: predicted-positive rate 12.0% → 18.4%".
    key_change
        The figure the verdict line quotes: "predicted-positive rate 12.0% → 18.4%".
    rows
        ``(what, training, this period)`` for the comparison table.
    bands
        ``(score band, training share, this period's share)``, the score distribution.
    """

    level: str
    summary: str
    key_change: str
    rows: tuple[tuple[str, str, str], ...]
    bands: tuple[tuple[str, float, float], ...]

    @property
    def moved(self) -> bool:
        return self.level == "drift"


def _row(outputs: Sequence[dict[str, Any]], feature: str) -> dict[str, Any] | None:
    return next((row for row in outputs if row.get("feature") == feature), None)


def _share_above(labels: list[str], counts: Sequence[float], threshold: float) -> Rate | None:
    """The share of non-missing scores at or above ``threshold``, from numeric bins."""
    bins = [(bin_bounds(label), float(n)) for label, n in zip(labels, counts, strict=True)]
    present = [(bounds, n) for bounds, n in bins if bounds is not None]
    total = sum(n for _, n in present)
    if not present or total <= 0:
        return None
    above, exact = 0.0, True
    for (low, high), n in present:
        # Outer bins of a probability stop at 0 and 1.
        low, high = max(low, 0.0), min(high, 1.0)
        if low >= threshold:
            above += n
        elif high > threshold and n > 0:
            above += n * (high - threshold) / (high - low)
            exact = False
    return Rate(above / total, exact)


def _top_tenth(row: dict[str, Any], noun: str) -> tuple[str, float, float] | None:
    """Training's top tenth of scores (the last decile bin and above it): its share now."""
    bounds = [bin_bounds(label) for label in row.get("bin_labels") or []]
    interior = [i for i, b in enumerate(bounds) if b is not None and math.isfinite(b[0] + b[1])]
    overflow = [i for i, b in enumerate(bounds) if b is not None and b[1] == math.inf]
    if len(interior) < 5 or len(bounds) != len(row.get("current_counts") or []):
        return None  # not deciles: no "top tenth" to speak of
    top = [interior[-1], *overflow]
    ref, cur = shares(row["reference_counts"]), shares(row["current_counts"])
    start = bounds[interior[-1]][0]  # type: ignore[index]
    return f"{noun} ≥ {probability(start)}", float(ref[top].sum()), float(cur[top].sum())


def _probability_band(label: str) -> str:
    """A score bin of a classifier, to three decimals: ``"0.022 to 0.829"``; the bins
    beyond 0.001 of either end read ``"under 0.001"`` and ``"over 0.999"``."""
    bounds = bin_bounds(label)
    if bounds is None:
        return label
    low, high = bounds
    if high <= 0.001:
        return "under 0.001"
    if low >= 0.999:
        return "over 0.999"
    if math.isinf(low):
        return f"under {high:.3f}"
    if math.isinf(high):
        return f"over {low:.3f}"
    return f"{max(low, 0.0):.3f} to {min(high, 1.0):.3f}"


def _bands(row: dict[str, Any], kind: str) -> tuple[tuple[str, float, float], ...]:
    """The score distribution per band; neighbouring bins that read alike are added up."""
    labels = list(row.get("bin_labels") or [])
    ref, cur = shares(row.get("reference_counts") or []), shares(row.get("current_counts") or [])
    if len(labels) != len(ref) or len(ref) != len(cur):
        return ()
    name = _probability_band if kind in ("binary", "multiclass") else range_label
    bands: list[tuple[str, float, float]] = []
    for label, r, c in zip(labels, ref, cur, strict=True):
        text = name(label)
        if bands and bands[-1][0] == text:
            bands[-1] = (text, bands[-1][1] + float(r), bands[-1][2] + float(c))
        else:
            bands.append((text, float(r), float(c)))
    return tuple(band for band in bands if band[1] > 0 or band[2] > 0)


def _class_rows(row: dict[str, Any]) -> list[tuple[str, str, str, float]]:
    labels = list(row.get("bin_labels") or [])
    ref, cur = shares(row.get("reference_counts") or []), shares(row.get("current_counts") or [])
    if len(labels) != len(ref) or len(ref) != len(cur):
        return []
    found = []
    for i in np.argsort(-np.abs(cur - ref))[:5]:
        if ref[i] == 0 and cur[i] == 0:
            continue
        name = SPECIAL_CATEGORIES.get(labels[i], f"'{labels[i]}'")
        found.append((f"predicted {name}", percent(ref[i]), percent(cur[i]), cur[i] - ref[i]))
    return found


def effect(
    outputs: Sequence[dict[str, Any]], kind: str, classes: Sequence[Any]
) -> OutputEffect | None:
    """The output's effect for a model of ``kind``; ``None`` when the alert has no score row."""
    score = _row(outputs, SCORE_FEATURE)
    if score is None:
        return None
    level = str(score.get("level", ""))
    positive = f"'{classes[1]}'" if kind == "binary" and len(classes) > 1 else "the positive class"
    name = SCORE_NAMES.get(kind, "score").format(positive=positive)
    rows: list[tuple[str, str, str]] = []
    ref_mean, cur_mean = score.get("ref_mean"), score.get("cur_mean")
    key = f"average {name.split(' (')[0]} {change(ref_mean, cur_mean)}"
    rows.append((f"average {name}", number(ref_mean), number(cur_mean)))
    if kind == "binary":
        labels = list(score.get("bin_labels") or [])
        before = _share_above(labels, score.get("reference_counts") or [], POSITIVE_THRESHOLD)
        after = _share_above(labels, score.get("current_counts") or [], POSITIVE_THRESHOLD)
        if before is not None and after is not None:
            what = f"predicted {positive} (score ≥ {number(POSITIVE_THRESHOLD)})"
            rows.append((what, before.text(), after.text()))
            key = f"predicted-positive rate {before.text()} → {after.text()}"
    if kind in ("binary", "multiclass"):
        top = _top_tenth(score, "score" if kind == "binary" else "confidence")
        if top is not None:
            rows.append(
                (f"records in training's top tenth ({top[0]})", percent(top[1]), percent(top[2]))
            )
    predicted = _row(outputs, PREDICTED_CLASS_FEATURE)
    if predicted is not None:
        classes_moved = _class_rows(predicted)
        rows += [(what, a, b) for what, a, b, _ in classes_moved]
        if classes_moved and str(predicted.get("level")) == "drift":
            level = "drift"
            what, a, b, _ = classes_moved[0]
            key = f"{what} {a} → {b}"
    if level == "error":
        summary = f"The model's output could not be checked: {score.get('error', '')}"
    else:
        summary = f"The model's output {STEADY.get(level, 'was checked')}: {key}."
    return OutputEffect(level, summary, key, tuple(rows), _bands(score, kind))
