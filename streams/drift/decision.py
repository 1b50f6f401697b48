"""Turn per-feature drift statistics into ok / warning / drift decisions.

A feature drifts only when the change is both *real* (its p-value, corrected across all
features with Benjamini-Hochberg, is below ``alpha``) and *large enough to matter* (an
effect size reaches its alert threshold). Significance alone would flag every check on a
busy stream, where a million records make a 0.01-std wobble significant; effect size alone
would flag quiet days whose few records are noisy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from scorestream.contract.thresholds import DriftThresholds
from scorestream.streams.drift.multiple_testing import benjamini_hochberg
from scorestream.streams.drift.profile import CategoricalFeatureProfile, FeatureProfile
from scorestream.streams.drift.statistics import FeatureDrift

__all__ = [
    "LEVELS",
    "DriftThresholds",
    "FeatureDecision",
    "Level",
    "decide",
    "other_share_growth",
]

#: ``"error"``: the feature could not be checked (see :meth:`FeatureDecision.failed`).
Level = Literal["ok", "warning", "drift", "error"]

#: Graded levels from least to most severe (``"error"`` is no grade: there is no verdict).
LEVELS: tuple[Level, ...] = ("ok", "warning", "drift")


@dataclass(frozen=True)
class FeatureDecision:
    """The verdict on one feature.

    Attributes
    ----------
    feature
        Feature name.
    level
        ``"ok"``, ``"warning"`` or ``"drift"``.
    qvalue
        Benjamini-Hochberg adjusted p-value of the distribution test.
    missing_qvalue
        Adjusted p-value of the missing-rate test (numeric features), else ``None``.
    reasons
        Human-readable explanation, one line per finding.
    drift
        The statistics the decision was made on (``None`` for ``"error"``).
    error
        Why the feature could not be checked (level ``"error"``), else empty.
    """

    feature: str
    level: Level
    qvalue: float
    missing_qvalue: float | None
    reasons: tuple[str, ...] = field(default=())
    drift: FeatureDrift | None = None
    error: str = ""

    @classmethod
    def failed(cls, feature: str, error: str) -> FeatureDecision:
        """The decision on a feature whose check raised: no verdict, the reason instead."""
        return cls(
            feature, "error", math.nan, None, (f"could not be checked: {error}",), None, error
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the statistics under ``"statistics"``."""
        return {
            "feature": self.feature,
            "level": self.level,
            "qvalue": self.qvalue,
            "missing_qvalue": self.missing_qvalue,
            "reasons": list(self.reasons),
            "statistics": None if self.drift is None else self.drift.to_dict(),
            "error": self.error,
        }


def _valid_p(p: float | None) -> float:
    # An undefined test (empty window) is no evidence: p = 1 keeps it out of the way.
    return 1.0 if p is None or math.isnan(p) else p


def other_share_growth(feature: FeatureProfile, current_counts: ArrayLike) -> float | None:
    """Growth of a categorical feature's *other* share, in share points, else ``None``.

    Share points, not a ratio to the kept categories' share: the kept categories are the
    reference's most frequent, picked on the reference's own noise, so on a flat
    high-cardinality feature their share falls back a little on any new sample; divided by
    a small kept share, that regression alone would look like new values. ``None`` for
    numeric features, missing-only profiles (their *other* is "any value", whose change
    the chi-square test grades as the missing rate) and empty windows.
    """
    if not isinstance(feature, CategoricalFeatureProfile) or not feature.categories:
        return None
    cur = np.asarray(current_counts, dtype=np.float64)
    ref = feature.reference_counts.astype(np.float64)
    if cur.shape != ref.shape or cur.sum() == 0 or ref.sum() == 0:
        return None
    other = feature.other_index
    return float(cur[other] / cur.sum() - ref[other] / ref.sum())


def _effects(
    drift: FeatureDrift, t: DriftThresholds, other_growth: float | None = None
) -> list[tuple[str, float, float, float]]:
    candidates = [
        ("PSI", drift.psi, t.psi_warn, t.psi_alert),
        ("Jensen-Shannon", drift.js, t.js_warn, t.js_alert),
    ]
    if drift.wasserstein is not None:
        candidates.append(
            ("Wasserstein", drift.wasserstein, t.wasserstein_warn, t.wasserstein_alert)
        )
    if other_growth is not None:
        candidates.append(
            (
                "other-share growth (values outside the kept categories)",
                other_growth,
                t.other_share_warn,
                t.other_share_alert,
            )
        )
    return [c for c in candidates if math.isfinite(c[1])]


def _grade(
    significant: bool,
    effects: list[tuple[str, float, float, float]],
    test: str,
    q: float,
    alpha: float,
) -> tuple[Level, list[str]]:
    alerts = [
        f"{name} {value:.3g} >= {alert:g}" for name, value, _, alert in effects if value >= alert
    ]
    warns = [f"{name} {value:.3g} >= {warn:g}" for name, value, warn, _ in effects if value >= warn]
    sig = f"{test} q={q:.3g} {'<' if significant else '>='} {alpha:g}"
    if significant and alerts:
        return "drift", [f"{sig}; " + ", ".join(alerts)]
    if significant and warns:
        return "warning", [f"{sig}; " + ", ".join(warns)]
    if significant:
        sizes = ", ".join(f"{name} {value:.3g}" for name, value, _, _ in effects)
        return "ok", [f"{sig} but the effect is small ({sizes})"]
    if warns:
        return "ok", [f"{', '.join(warns)} but not significant ({sig})"]
    return "ok", []


def decide(
    results: Sequence[FeatureDrift],
    thresholds: DriftThresholds | None = None,
    other_growth: Mapping[str, float | None] | None = None,
) -> list[FeatureDecision]:
    """Grade every feature of one check.

    All p-values of the check (each feature's distribution test and each numeric
    feature's side tests: missing rate, share beyond the reference range, mean difference;
    categorical features': share of unseen values)
    form one Benjamini-Hochberg family. A feature is

    - ``"drift"`` if a test is significant (``q < alpha``) and an effect size reaches its
      alert threshold;
    - ``"warning"`` if a test is significant and an effect size reaches its warning
      threshold;
    - ``"ok"`` otherwise (the reasons still say when a test was significant with a small
      effect, or an effect was large without significance).

    Parameters
    ----------
    results
        Statistics of every feature, from :func:`~scorestream.streams.drift.statistics.compare`.
    thresholds
        Thresholds; :class:`DriftThresholds` defaults if ``None``.
    other_growth
        Per categorical feature, the growth of its *other* share
        (:func:`other_share_growth`), graded as one more effect size.

    Returns
    -------
    list of FeatureDecision
        One per input, same order.

    Examples
    --------
    >>> import numpy as np
    >>> from scorestream.streams.drift.profile import CategoricalFeatureProfile
    >>> from scorestream.streams.drift.statistics import compare
    >>> rng = np.random.default_rng(0)
    >>> feature = CategoricalFeatureProfile.from_values("c", rng.choice(list("abc"), 50_000))
    >>> same = compare(feature, [33_400, 33_300, 33_300, 0, 0, 0])
    >>> moved = compare(feature, [53_400, 23_300, 23_300, 0, 0, 0])
    >>> [d.level for d in decide([same, moved])]
    ['ok', 'drift']

    """
    t = thresholds or DriftThresholds()
    main = [_valid_p(r.pvalue) for r in results]
    # Side tests, each in the same Benjamini-Hochberg family: the missing rate, the share
    # beyond the reference range, the mean difference (numeric features).
    side = [
        _valid_p(p)
        for r in results
        for p in (r.missing_pvalue, r.out_of_range_pvalue, r.mean_pvalue, r.unseen_pvalue)
        if p is not None
    ]
    q = benjamini_hochberg(np.asarray(main + side, dtype=np.float64))
    q_main, q_side = iter(q[: len(main)]), iter(q[len(main) :])

    decisions = []
    for r in results:
        qv = float(next(q_main))
        growth = (other_growth or {}).get(r.feature)
        level, reasons = _grade(qv < t.alpha, _effects(r, t, growth), r.test, qv, t.alpha)
        mq: float | None = None
        for test, p, effect, warn, alert in _side_tests(r, t):
            if p is None:
                continue
            sq = float(next(q_side))
            if test == "missing":
                mq = sq
            effects = [(effect[0], effect[1], warn, alert)] if math.isfinite(effect[1]) else []
            s_level, s_reasons = _grade(sq < t.alpha, effects, test, sq, t.alpha)
            reasons += s_reasons
            level = max(level, s_level, key=LEVELS.index)
        if r.rejected_out_of_range:
            reasons.append(
                f"{r.rejected_out_of_range} records beyond the allowed range were rejected "
                "(counted as out of range)"
            )
        decisions.append(FeatureDecision(r.feature, level, qv, mq, tuple(reasons), r))
    return decisions


def _side_tests(
    r: FeatureDrift, t: DriftThresholds
) -> list[tuple[str, float | None, tuple[str, float], float, float]]:
    """The side tests of a feature, in the order :func:`decide` puts their p-values."""
    nan = math.nan
    return [
        (
            "missing",
            r.missing_pvalue,
            ("missing-rate change", abs(r.cur_missing_rate - r.ref_missing_rate)),
            t.missing_rate_warn,
            t.missing_rate_alert,
        ),
        (
            "out-of-range",
            r.out_of_range_pvalue,
            (
                "share beyond the reference range",
                nan if r.cur_out_of_range_rate is None else r.cur_out_of_range_rate,
            ),
            t.out_of_range_warn,
            t.out_of_range_alert,
        ),
        (
            "mean z-test",
            r.mean_pvalue,
            ("mean shift (sd)", nan if r.mean_shift is None else r.mean_shift),
            t.mean_shift_warn,
            t.mean_shift_alert,
        ),
        (
            "unseen",
            r.unseen_pvalue,
            (
                "share of values unseen in the reference",
                nan if r.unseen_growth is None else r.unseen_growth,
            ),
            t.unseen_share_warn,
            t.unseen_share_alert,
        ),
    ]
