"""The outcome of a comparison: verdicts, statistics, and its JSON form.

The JSON document (:meth:`DriftReport.to_dict`, :meth:`DriftReport.to_json`), version 1.
Fields are only ever added; a change of meaning gets a new ``version``::

    {
      "format": "scorestream.drift_report",
      "version": 1,
      "verdict": "drift",            # the worst level of the input features: "ok",
                                     # "warning", "drift"; "error" if none could be compared
      "summary": "drift in 1 of 30 features (mean radius), 269 records",
      "records": 269,                # current records (the largest n_current)
      "reference_records": 300,      # reference rows (the largest n_reference)
      "features_checked": 30,        # input features with a verdict (errors excluded)
      "drifted": ["mean radius"],    # input features at level "drift", profile order
      "warnings": [],                # ... at level "warning"
      "errors": {},                  # feature -> why it could not be compared
      "thresholds": {"alpha": 0.01, "psi_warn": 0.1, ...},   # DriftThresholds, all fields
      "features": [ROW, ...],        # the input features, profile order
      "outputs": [ROW, ...]          # "_score", "_predicted_class", when compared
    }

    ROW = {                          # in this order
      "feature": "mean radius",
      "kind": "numeric" | "categorical",
      "n_reference", "n_current",             # records, missing included
      "test": "ks" | "chi2" | "",             # the distribution test ("" for level "error")
      "statistic", "p_value", "p_adjusted",   # its statistic, p, and BH-corrected p
      "psi", "js_distance", "wasserstein",    # effect sizes (wasserstein: numeric only)
      "ref_mean", "cur_mean",                 # numeric only
      "ref_missing_rate", "cur_missing_rate",
      "level": "ok" | "warning" | "drift" | "error",
      "reference_counts": [...], "current_counts": [...], "bin_labels": [...],
      "error": "",                   # why there is no verdict (level "error"), else ""
      "reasons": ["ks q=2.12e-09 < 0.01; PSI 0.503 >= 0.2, ..."],  # one line per finding
      "missing_qvalue": 0.8,         # BH-corrected p of the missing-rate test (numeric)
      "statistics": {...}            # every statistic, side tests included (FeatureDrift:
                                     # mean_shift, cur_out_of_range_rate, unseen_growth and
                                     # their p-values, ...), null for level "error"
    }

A statistic that does not apply or could not be computed is ``null``. The row's fields up
to ``error`` are the columns of the daily check's ``drift_checks`` row, computed
by the same function (:func:`~scorestream.streams.drift.evaluation.feature_row`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from scorestream.streams.drift.decision import LEVELS, DriftThresholds, FeatureDecision
from scorestream.streams.drift.evaluation import PeriodCounts, feature_row
from scorestream.streams.drift.profile import ReferenceProfile

__all__ = ["FORMAT", "VERSION", "DriftReport"]

FORMAT = "scorestream.drift_report"
VERSION = 1

Verdict = Literal["ok", "warning", "drift", "error"]


def _plain(value: Any) -> Any:
    """JSON-ready: NaN and infinities become ``None``, containers are walked."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _row(
    profile: ReferenceProfile, decision: FeatureDecision, counts: Mapping[str, PeriodCounts]
) -> dict[str, Any]:
    return {
        **feature_row(profile[decision.feature], decision, counts.get(decision.feature)),
        "reasons": list(decision.reasons),
        "missing_qvalue": decision.missing_qvalue,
        "statistics": None if decision.drift is None else decision.drift.to_dict(),
    }


@dataclass(frozen=True, eq=False)
class DriftReport:
    """Verdicts of one comparison: per input feature, per model output, and overall.

    Attributes
    ----------
    decisions
        The input features' decisions (one Benjamini-Hochberg family), profile order.
    output_decisions
        The model outputs' decisions, each graded alone (never part of the verdict).
    rows
        One row per decision, input features first (see the module's JSON shape).
    thresholds
        The thresholds the decisions were made with.
    """

    decisions: tuple[FeatureDecision, ...]
    output_decisions: tuple[FeatureDecision, ...]
    rows: tuple[dict[str, Any], ...]
    thresholds: DriftThresholds

    @classmethod
    def build(
        cls,
        profile: ReferenceProfile,
        counts: Mapping[str, PeriodCounts],
        decisions: Sequence[FeatureDecision],
        outputs: Sequence[FeatureDecision],
        thresholds: DriftThresholds,
    ) -> DriftReport:
        rows = tuple(_row(profile, d, counts) for d in (*decisions, *outputs))
        return cls(tuple(decisions), tuple(outputs), rows, thresholds)

    @property
    def levels(self) -> dict[str, str]:
        """Level per feature, the model's outputs included."""
        return {row["feature"]: row["level"] for row in self.rows}

    @property
    def verdict(self) -> Verdict:
        """The worst level of the input features; ``"error"`` if none could be compared."""
        graded = [d.level for d in self.decisions if d.level != "error"]
        if not graded:
            return "error"
        return max(graded, key=LEVELS.index)

    @property
    def drifted(self) -> list[str]:
        """Input features at level ``drift`` (what the daily check e-mails about)."""
        return [d.feature for d in self.decisions if d.level == "drift"]

    @property
    def warnings(self) -> list[str]:
        """Input features at level ``warning``."""
        return [d.feature for d in self.decisions if d.level == "warning"]

    @property
    def errors(self) -> dict[str, str]:
        """Features (outputs included) that could not be compared, and why."""
        return {
            d.feature: d.error
            for d in (*self.decisions, *self.output_decisions)
            if d.level == "error"
        }

    @property
    def records(self) -> int:
        """Current records compared (the most of any feature)."""
        return max((int(row["n_current"]) for row in self.rows), default=0)

    @property
    def reference_records(self) -> int:
        return max((int(row["n_reference"]) for row in self.rows), default=0)

    @property
    def summary(self) -> str:
        """One line: the verdict, which features, how many records."""
        checked = sum(d.level != "error" for d in self.decisions)
        if self.drifted:
            said = f"drift in {len(self.drifted)} of {checked} features ({', '.join(self.drifted)})"
        elif self.warnings:
            said = f"warning on {len(self.warnings)} of {checked} features "
            said += f"({', '.join(self.warnings)}), no drift"
        elif checked:
            said = f"no drift in {checked} features"
        else:
            said = "no feature could be compared"
        if self.errors:
            said += f"; {len(self.errors)} could not be compared ({', '.join(self.errors)})"
        return f"{said}, {self.records:,} records"

    def __getitem__(self, feature: str) -> dict[str, Any]:
        """The row of one feature (or output)."""
        for row in self.rows:
            if row["feature"] == feature:
                return row
        raise KeyError(feature)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (see the module docstring for its shape)."""
        n_inputs = len(self.decisions)
        return _plain(
            {
                "format": FORMAT,
                "version": VERSION,
                "verdict": self.verdict,
                "summary": self.summary,
                "records": self.records,
                "reference_records": self.reference_records,
                "features_checked": sum(d.level != "error" for d in self.decisions),
                "drifted": self.drifted,
                "warnings": self.warnings,
                "errors": self.errors,
                "thresholds": dataclasses.asdict(self.thresholds),
                "features": list(self.rows[:n_inputs]),
                "outputs": list(self.rows[n_inputs:]),
            }
        )

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text (strict: no NaN)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)

    def to_html(self, charts: Literal["all", "flagged", "none"] = "flagged") -> str:
        """A self-contained HTML page: inline CSS, charts as ``data:`` URIs, no script.

        ``charts``: a histogram of each feature that is not ``ok`` (``"flagged"``), of
        every feature (``"all"``: about a quarter of a second each), or none.
        """
        from .html import render

        return render(self, charts)

    def to_frame(self) -> pd.DataFrame:
        """One row per feature and output, the scalar fields, indexed by feature."""
        skip = {"bin_labels", "reference_counts", "current_counts", "statistics", "reasons"}
        frame = pd.DataFrame([{k: v for k, v in r.items() if k not in skip} for r in self.rows])
        return frame.set_index("feature")

    def save(self, path: str | Path, charts: Literal["all", "flagged", "none"] = "flagged") -> Path:
        """Write the report as JSON (``.json``) or as an HTML page (``.html``, ``.htm``)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".json":
            path.write_text(self.to_json() + "\n", encoding="utf-8")
        elif suffix in (".html", ".htm"):
            path.write_text(self.to_html(charts), encoding="utf-8")
        else:
            raise ValueError(f"cannot tell the format of {path.name}: name it .json or .html")
        return path

    def _repr_html_(self) -> str:
        # Notebooks show the page, with charts only where something moved.
        return self.to_html()

    def __repr__(self) -> str:
        return f"DriftReport(verdict={self.verdict!r}, {self.summary})"
