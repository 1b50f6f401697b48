"""What changed in one drifted feature, in plain words with readable numbers.

Built from the feature's ``drift_checks`` row as the alert carries it (both histograms,
means, missing rates, corrected p-value, effect sizes, the thresholds it crossed), so the
e-mail needs no query: "income rose: mean 66,400 → 89,700 (+35%); more records from
80,000 to 95,000: 10.0% → 31.0%". The statistics' names and thresholds stay available, in
one line of technical details, for whoever wants to check the verdict.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np

from scorestream.consumers.alerting.readable import (
    bin_bounds,
    change,
    count,
    number,
    p_text,
    percent,
    percent_change,
    range_label,
)

#: The significance tests as the e-mail names them (``test`` column, side tests in reasons).
TEST_NAMES = {
    "ks": "Kolmogorov-Smirnov test",
    "chi2": "chi-square test",
    "missing": "missing-rate test",
    "out-of-range": "out-of-range test",
    "mean z-test": "mean z-test",
    "unseen": "unseen-values test",
}
#: A share moving less than this (half a percentage point) is not worth a sentence.
NOTABLE = 0.005
#: Category labels with a meaning of their own in a categorical profile.
SPECIAL_CATEGORIES = {
    "other": "other values (outside training's most common)",
    "unseen": "values never seen in training",
}
_REJECTED = re.compile(r"(\d+) records beyond the allowed range were rejected")
_SIGNIFICANCE = re.compile(r"([\w -]+?) q=(\S+) (<|>=) ([\d.e+-]+)")
_SCIENTIFIC = re.compile(r"-?\d+(?:\.\d+)?e[+-]?\d+")


@dataclass(frozen=True)
class Finding:
    """One drifted feature, said for people.

    Attributes
    ----------
    feature
        Its name.
    headline
        What happened in a few words: ``"income rose"``.
    facts
        The numbers behind it, one short sentence each.
    evidence
        How sure and how large: the corrected p-value and the share of records that moved.
    details
        The statistics and the thresholds crossed, for the engineers.
    """

    feature: str
    headline: str
    facts: tuple[str, ...]
    evidence: str
    details: str


def shares(counts: Sequence[float]) -> np.ndarray:
    """Counts as shares of their total (zeros for an empty histogram)."""
    values = np.asarray(counts, dtype=np.float64)
    total = values.sum()
    return values / total if total > 0 else np.zeros_like(values)


def moved_share(row: dict[str, Any]) -> float | None:
    """The share of records in other bins than the reference would put them (total
    variation distance): "about 27% of records moved"."""
    ref, cur = row.get("reference_counts") or [], row.get("current_counts") or []
    if len(ref) != len(cur) or not sum(cur) or not sum(ref):
        return None
    return float(0.5 * np.abs(shares(ref) - shares(cur)).sum())


def _known(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and math.isfinite(value)


def _where(label: str) -> str:
    """A numeric bin as the place records are: "from 80,000 to 95,000", "above 150,000
    (beyond training's range)"."""
    bounds = bin_bounds(label)
    if bounds is None:
        return label
    if math.isinf(bounds[0]) or math.isinf(bounds[1]):
        return f"{range_label(label)} (beyond anything in training)"
    if bounds[0] == bounds[1]:
        return f"at {range_label(label)}"
    return f"from {range_label(label)}"


def _bin_moves(row: dict[str, Any], label_of: Any) -> list[str]:
    """The largest rise and the largest fall of a bin's share, as sentences."""
    labels = list(row.get("bin_labels") or [])
    ref, cur = shares(row.get("reference_counts") or []), shares(row.get("current_counts") or [])
    if len(labels) != len(ref) or len(ref) != len(cur) or not len(ref):
        return []
    delta = cur - ref
    keep = [i for i, label in enumerate(labels) if label != "missing"]
    moves = []
    up = max(keep, key=lambda i: delta[i], default=None)
    down = min(keep, key=lambda i: delta[i], default=None)
    if up is not None and delta[up] >= NOTABLE:
        moves.append(f"more records {label_of(labels[up])}: {percent_change(ref[up], cur[up])}")
    if down is not None and delta[down] <= -NOTABLE:
        moves.append(
            f"fewer records {label_of(labels[down])}: {percent_change(ref[down], cur[down])}"
        )
    return moves


def _missing(row: dict[str, Any]) -> list[str]:
    ref, cur = row.get("ref_missing_rate"), row.get("cur_missing_rate")
    if not (_known(ref) and _known(cur)) or abs(cur - ref) < NOTABLE:
        return []
    return [f"missing values: {percent_change(ref, cur)}"]


def _rejected(row: dict[str, Any]) -> list[str]:
    found = []
    for reason in row.get("reasons") or []:
        match = _REJECTED.search(reason)
        if match:
            found.append(
                f"{count(int(match.group(1)))} records beyond the allowed range were rejected "
                "(counted as out of range)"
            )
    return found


def _numeric(row: dict[str, Any]) -> tuple[str, list[str]]:
    feature = row["feature"]
    ref, cur = row.get("ref_mean"), row.get("cur_mean")
    facts = []
    verb = "changed shape"
    if _known(ref) and _known(cur):
        facts.append(f"mean {change(ref, cur)}")
        rel = (cur - ref) / abs(ref) if ref else math.copysign(1.0, cur - ref)
        if abs(rel) >= 0.02:
            verb = "rose" if cur > ref else "fell"
    missing = _missing(row)
    if verb == "changed shape" and missing:
        verb = "has more missing values" if missing and _more_missing(row) else "changed"
    facts += _bin_moves(row, _where) + missing + _rejected(row)
    return f"{feature} {verb}", facts


def _more_missing(row: dict[str, Any]) -> bool:
    return float(row.get("cur_missing_rate") or 0) > float(row.get("ref_missing_rate") or 0)


def _category(label: str) -> str:
    return SPECIAL_CATEGORIES.get(label, f"'{label}'")


def _categorical(row: dict[str, Any]) -> tuple[str, list[str]]:
    feature = row["feature"]
    labels = list(row.get("bin_labels") or [])
    ref, cur = shares(row.get("reference_counts") or []), shares(row.get("current_counts") or [])
    if len(labels) != len(ref) or len(ref) != len(cur) or not len(ref):
        return f"{feature} changed", _rejected(row)
    delta = cur - ref
    order = [i for i in np.argsort(-np.abs(delta)) if abs(delta[i]) >= NOTABLE][:4]
    facts = [f"{_category(labels[i])}: {percent_change(ref[i], cur[i])}" for i in order]
    rising = [i for i in order if delta[i] > 0 and labels[i] not in ("missing",)]
    headline = f"{feature} shifted towards {_category(labels[rising[0]])}" if rising else None
    return headline or f"{feature} changed", facts + _rejected(row)


def technical(reasons: Sequence[str]) -> str:
    """The verdict's reasons with readable numbers: ``ks q=0 < 0.01; PSI 0.37 >= 0.2``
    becomes ``Kolmogorov-Smirnov test p < 0.001 (significant at 0.01); PSI 0.37 ≥ 0.2``.

    >>> technical(["ks q=0 < 0.01; PSI 0.37 >= 0.2, Wasserstein 1.2e+01 >= 0.35"])
    'Kolmogorov-Smirnov test p < 0.001 (significant at 0.01); PSI 0.37 ≥ 0.2, Wasserstein 12 ≥ 0.35'
    """

    def significance(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        test = TEST_NAMES.get(name, f"{name} test")
        verdict = "significant" if match.group(3) == "<" else "not significant"
        return f"{test} {p_text(float(match.group(2)))} ({verdict} at {match.group(4)})"

    lines = []
    for reason in reasons:
        if _REJECTED.search(reason):
            continue  # said among the facts, in words
        text = _SIGNIFICANCE.sub(significance, reason)
        text = _SCIENTIFIC.sub(lambda m: number(float(m.group())), text).replace(">=", "≥")
        lines.append(text)
    return "; ".join(lines)


def _decisive(reason: str) -> bool:
    """A reason that made the verdict: a significant test with an effect over a threshold
    (not "... but not significant", nor "... but the effect is small")."""
    return " but " not in reason and ">=" in reason.split(";", 1)[-1]


def effect_sizes(row: dict[str, Any]) -> str:
    """``PSI 0.37, Jensen-Shannon 0.31, Wasserstein 0.52 sd`` (the known ones)."""
    parts = [
        f"{name} {number(row.get(key))}{unit}"
        for name, key, unit in (
            ("PSI", "psi", ""),
            ("Jensen-Shannon", "js_distance", ""),
            ("Wasserstein", "wasserstein", " sd"),
        )
        if _known(row.get(key))
    ]
    return ", ".join(parts)


def describe(row: dict[str, Any], features_checked: int) -> Finding:
    """The plain-words finding of one drifted feature's ``drift_checks`` row."""
    if row.get("kind") == "categorical":
        headline, facts = _categorical(row)
        place = "categories"
    else:
        headline, facts = _numeric(row)
        place = "ranges"
    evidence = []
    moved = moved_share(row)
    if moved is not None:
        evidence.append(f"{percent(moved)} of records are in other {place} than in training")
    p = row.get("p_adjusted")
    if _known(p):
        family = f", corrected for {features_checked} features" if features_checked > 1 else ""
        evidence.append(f"{p_text(p)}{family}")
    test = TEST_NAMES.get(str(row.get("test", "")), str(row.get("test", "")))
    crossed = technical([r for r in row.get("reasons") or [] if _decisive(r)])
    details = f"thresholds crossed: {crossed}" if crossed else f"{test}: {effect_sizes(row)}"
    return Finding(row["feature"], headline, tuple(facts), "; ".join(evidence), details)
