"""One check's verdicts from summed counts: the input features as one family, the outputs alone.

The pure part of a drift check, shared by the daily check (which reads the counts from
ClickHouse, :mod:`scorestream.consumers.drift_check.check`) and the Python API (which counts
DataFrames, :mod:`scorestream.drift_api`): both call :func:`evaluate` and
:func:`evaluate_outputs` on :class:`PeriodCounts`, and describe each decision with
:func:`feature_row`, so the two cannot disagree on a statistic, a threshold or a verdict.

The model's outputs (``_score``, and a multi-class model's ``_predicted_class``) are checked
like features but are left out of the Benjamini-Hochberg family: they move whenever an input
moves, so flagging them would name two culprits for one cause.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from scorestream.streams.drift.decision import (
    DriftThresholds,
    FeatureDecision,
    decide,
    other_share_growth,
)
from scorestream.streams.drift.profile import (
    OUTPUT_FEATURES,
    SCORE_FEATURE,
    FeatureProfile,
    ReferenceProfile,
)
from scorestream.streams.drift.statistics import FeatureDrift, compare

__all__ = [
    "PeriodCounts",
    "evaluate",
    "evaluate_outputs",
    "feature_row",
    "with_rejections",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodCounts:
    """A feature's bins and moments summed over a period, and its out-of-range rejections.

    ``total`` and ``total_sq`` are the sum and sum of squares of the present (non-missing)
    numeric values; NaN when they are not known (bins counted elsewhere), which skips the
    mean test and reports no current mean.
    """

    counts: np.ndarray
    count: int
    missing: int
    total: float
    total_sq: float
    #: Records rejected as beyond the feature's allowed range: never binned, but data
    #: about the stream (the ones that drifted furthest), counted as out of range.
    rejected: int = 0


def _known(value: float) -> float | None:
    return value if math.isfinite(value) else None


def with_rejections(
    profile: ReferenceProfile, counts: dict[str, PeriodCounts], rejections: Mapping[str, int]
) -> dict[str, PeriodCounts]:
    """``counts`` with each numeric feature's out-of-range rejections attached."""
    merged = dict(counts)
    for name, n in rejections.items():
        if name not in profile.names or name in OUTPUT_FEATURES or n <= 0:
            continue
        feature = profile[name]
        current = merged.get(name) or PeriodCounts(
            np.zeros(feature.n_bins, dtype=np.int64), 0, 0, 0.0, 0.0
        )
        merged[name] = dataclasses.replace(current, rejected=current.rejected + n)
    return merged


def evaluate(
    profile: ReferenceProfile,
    counts: Mapping[str, PeriodCounts],
    thresholds: DriftThresholds,
    reference_rejected: Mapping[str, int] | None = None,
    unavailable: Mapping[str, str] | None = None,
) -> tuple[list[FeatureDecision], FeatureDecision | None]:
    """Statistics and verdicts: the features as one family, the score on its own.

    ``reference_rejected`` names the features whose reference counts are a stream
    baseline (``consumers/drift_check/baseline.py``), with that baseline's out-of-range
    rejections. A feature absent from ``counts`` had no records (zero counts).

    A feature whose statistics raise (counts in another bin layout, a profile this code
    cannot compare), or that ``unavailable`` names with the reason (a column absent from a
    DataFrame), gets an ``"error"`` decision carrying the message, outside the
    Benjamini-Hochberg family; the other features keep their verdicts.
    """
    results: dict[str, FeatureDrift] = {}
    failed: dict[str, FeatureDecision] = {
        name: FeatureDecision.failed(name, reason) for name, reason in (unavailable or {}).items()
    }
    growth: dict[str, float | None] = {}
    for name in profile.names:
        if name in failed:
            continue
        feature = profile[name]
        current = counts.get(name)
        if current is None:
            current = PeriodCounts(np.zeros(feature.n_bins, dtype=np.int64), 0, 0, 0.0, 0.0)
        try:
            results[name] = compare(
                feature,
                current.counts,
                value_sum=_known(current.total),
                value_sumsq=_known(current.total_sq),
                rejected_out_of_range=current.rejected,
                reference_rejected=(reference_rejected or {}).get(name),
            )
            growth[name] = other_share_growth(feature, current.counts)
        except Exception as exc:  # one feature's failure must not cost the others their verdict
            log.exception("drift check of feature %s failed", name)
            failed[name] = FeatureDecision.failed(name, f"{type(exc).__name__}: {exc}")
    names = [n for n in profile.names if n not in OUTPUT_FEATURES]
    decided = dict(
        zip(
            [n for n in names if n in results],
            decide([results[n] for n in names if n in results], thresholds, growth),
            strict=True,
        )
    )
    decisions = [decided.get(n) or failed[n] for n in names]
    score_decision: FeatureDecision | None = None
    if SCORE_FEATURE in results:
        score_decision = decide([results[SCORE_FEATURE]], thresholds)[0]
    elif SCORE_FEATURE in failed:
        score_decision = failed[SCORE_FEATURE]
    return decisions, score_decision


def evaluate_outputs(
    profile: ReferenceProfile, counts: Mapping[str, PeriodCounts], thresholds: DriftThresholds
) -> list[FeatureDecision]:
    """Verdicts of the model outputs besides the score (``_predicted_class``), each alone."""
    decisions = []
    for name in sorted(OUTPUT_FEATURES - {SCORE_FEATURE}):
        if name not in profile:
            continue
        feature = profile[name]
        current = counts.get(name)
        observed = current.counts if current is not None else np.zeros(feature.n_bins, np.int64)
        try:
            drift = compare(feature, observed)
            decisions.append(decide([drift], thresholds)[0])
        except Exception as exc:  # its failure must not cost the other verdicts
            log.exception("drift check of output %s failed", name)
            decisions.append(FeatureDecision.failed(name, f"{type(exc).__name__}: {exc}"))
    return decisions


def _finite(value: float | None) -> float:
    return float(value) if value is not None and math.isfinite(value) else float("nan")


def feature_row(
    feature: FeatureProfile, decision: FeatureDecision, current: PeriodCounts | None
) -> dict[str, Any]:
    """What a check keeps of one decision: statistics, verdict and both histograms.

    The per-feature columns of a ``drift_checks`` row (NaN for a statistic that could not
    be computed); the check adds the period and the model, the Python API the reasons.
    """
    current_counts = (
        [int(v) for v in current.counts] if current is not None else [0] * feature.n_bins
    )
    drift = decision.drift
    nan = float("nan")
    if drift is None:
        # An errored feature: what is known, NaN for the statistics it could not get.
        stats: dict[str, Any] = {
            "kind": feature.kind,
            "n_reference": int(feature.count),
            "n_current": int(sum(current_counts)),
            "test": "",
            **dict.fromkeys(("statistic", "p_value", "p_adjusted", "psi", "js_distance"), nan),
            **dict.fromkeys(("wasserstein", "ref_mean", "cur_mean"), nan),
            "ref_missing_rate": float(feature.missing_rate),
            "cur_missing_rate": nan,
        }
    else:
        stats = {
            "kind": drift.kind,
            "n_reference": int(drift.ref_count),
            "n_current": int(drift.cur_count),
            "test": drift.test,
            "statistic": _finite(drift.statistic),
            "p_value": _finite(drift.pvalue),
            "p_adjusted": _finite(decision.qvalue),
            "psi": _finite(drift.psi),
            "js_distance": _finite(drift.js),
            "wasserstein": _finite(drift.wasserstein),
            "ref_mean": _finite(drift.ref_mean),
            "cur_mean": _finite(drift.cur_mean),
            "ref_missing_rate": _finite(drift.ref_missing_rate),
            "cur_missing_rate": _finite(drift.cur_missing_rate),
        }
    return {
        "feature": decision.feature,
        **stats,
        "level": decision.level,
        "reference_counts": [int(v) for v in feature.reference_counts],
        "current_counts": current_counts,
        "bin_labels": list(feature.labels()),
        "error": decision.error,
    }
