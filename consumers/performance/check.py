"""The daily performance verdict of each model version: realised, estimated, reference.

For one day and one model version (:func:`check_performance`):

- **realised** metrics come from the labelled records' mergeable pieces
  (:mod:`.queries`), once at least ``min_labels`` records of the day are labelled;
- **estimated** metrics (classifiers whose version has a ``calibration.json``) come from
  CBPE on the day's score histogram (:mod:`scorestream.streams.estimation`), with its band;
- the **reference** of each metric is the holdout figure in the version's
  ``metadata.json`` (``metrics``), and its band is where a day of this size would put the
  metric if the model were as good as on the holdout:

  - against an estimate: the reference plus the CBPE band's own distances below and above
    the estimate (the calibrator's error and the day's sampling error, at the day's size);
  - against realised figures: the reference plus or minus ``z_alert`` standard errors at the
    day's labelled count: binomial for accuracy (and, as an approximation, macro F1),
    Hanley and McNeil's for ROC AUC (with the day's positives and negatives), the exact
    spread of the absolute error for MAE, and ``RMSE / sqrt(2 n)`` for RMSE (normal
    errors assumed).

  Metrics without a sound band from the pieces (log loss: the pieces hold its sum, not
  its spread; R²) get no verdict and no row.

**Verdict** per metric: the realised value when enough labels arrived, the estimated one
otherwise. ``alert`` when it is worse than the reference band (below it; above it for the
error metrics MAE and RMSE), ``warn`` when it is worse than the narrower ``z_warn`` band
only, ``ok`` otherwise, ``insufficient`` when neither figure exists. The ``reference`` row
carries the verdict; the ``realised`` and ``estimated`` rows their own comparison.

``min_labels``, ``z_alert`` and ``z_warn`` are :class:`PerformanceThresholds` (defaults
below; a thresholds file may change them, see :mod:`scorestream.contract.thresholds`).

Rows go to ``model_performance`` (ReplacingMergeTree): checking the day again after late
labels replaces them.

**Challengers** (versions scored in shadow, ``challenger_scores``) get the same rows with
``check_kind`` :func:`challenger_kind` of the period's (``challenger_daily``), from their own
scores joined to the same labels (``challenger=True``): the check kind is part of the
table's key, so a version that was a challenger in the morning and the champion after a
swap keeps both sets of figures of that day, and the dashboard reads champions and
challengers from one table. Their verdicts are for the dashboard only: the scheduler sends
no alert for them.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from scorestream.consumers.clickhouse import Executor, check_identifier
from scorestream.consumers.drift_check.check import DAILY, Period
from scorestream.consumers.performance import queries
from scorestream.contract import CHALLENGER_SCORES, MODEL_PERFORMANCE, SCORES
from scorestream.contract.thresholds import PerformanceThresholds
from scorestream.streams.estimation.calibration import load_calibration
from scorestream.streams.estimation.cbpe import CBPE, Estimate
from scorestream.streams.estimation.histogram import read_histogram
from scorestream.streams.performance import (
    binary_metrics,
    multiclass_metrics,
    regression_metrics,
)

log = logging.getLogger(__name__)

#: The defaults of :class:`PerformanceThresholds` (see there for their reasons).
DEFAULT_THRESHOLDS = PerformanceThresholds()
MIN_LABELS = DEFAULT_THRESHOLDS.min_labels
Z_ALERT = DEFAULT_THRESHOLDS.z_alert
Z_WARN = DEFAULT_THRESHOLDS.z_warn
#: Metrics where lower is better.
ERROR_METRICS = frozenset({"mae", "rmse", "log_loss", "brier"})
#: The metrics judged per model kind (those with a reference and a band).
JUDGED: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "accuracy"),
    "multiclass": ("accuracy", "macro_f1"),
    "regression": ("mae", "rmse"),
}
#: The verdict levels, from "nothing to judge" to the worst.
LEVELS = ("insufficient", "ok", "warn", "alert")
#: Readable names for the e-mail.
METRIC_NAMES = {
    "roc_auc": "ROC AUC",
    "accuracy": "accuracy",
    "macro_f1": "macro F1",
    "mae": "MAE",
    "rmse": "RMSE",
}


@dataclass(frozen=True)
class MetricVerdict:
    """One metric's day: what was judged, against what."""

    metric: str
    #: ``realised``, ``estimated`` or ``""`` (insufficient).
    source: str
    value: float
    reference: float
    band_low: float
    band_high: float
    level: str
    n: int

    def sentence(self) -> str:
        """E.g. "estimated ROC AUC fell from 0.91 to 0.84, below the band [0.89, 0.93]"."""
        name = METRIC_NAMES.get(self.metric, self.metric)
        worse = "rose" if self.metric in ERROR_METRICS else "fell"
        side = "above" if self.metric in ERROR_METRICS else "below"
        if not self.source:
            return f"{name}: no figure yet (reference {_num(self.reference)})"
        if self.level not in ("alert", "warn"):
            return f"{self.source} {name} {_num(self.value)} (reference {_num(self.reference)})"
        moved = f"{self.source} {name} {worse} from {_num(self.reference)} to {_num(self.value)}"
        band = f"[{_num(self.band_low)}, {_num(self.band_high)}]"
        if self.level == "warn":
            return f"{moved}, inside the band {band} but outside its central 90 %"
        return f"{moved}, {side} the band {band}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None), for the alert message."""
        return {
            key: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for key, v in self.__dict__.items()
        } | {"sentence": self.sentence()}


@dataclass
class PerformanceResult:
    """A model version's verdict of one day."""

    model_name: str
    model_version: str
    model_kind: str
    scored: int
    labelled: int
    verdicts: list[MetricVerdict] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    #: Why there is no estimate (no calibration, a regression model), or "".
    estimate_note: str = ""

    @property
    def alerting(self) -> list[MetricVerdict]:
        return [v for v in self.verdicts if v.level == "alert"]

    def summary(self) -> dict[str, Any]:
        """The alert message's ``performance`` entry."""
        return {
            "model_kind": self.model_kind,
            "scored": self.scored,
            "labelled": self.labelled,
            "verdicts": [v.to_dict() for v in self.verdicts],
            "estimate_note": self.estimate_note,
        }


def _num(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:,.1f}"


def challenger_kind(kind: str) -> str:
    """The ``check_kind`` of a challenger's rows over a period of ``kind``.

    >>> challenger_kind("daily")
    'challenger_daily'
    """
    return f"challenger_{kind}"


#: The ``check_kind`` of the challengers' daily rows.
CHALLENGER_DAILY = challenger_kind(DAILY)


def scored_count(
    client: Executor,
    database: str,
    name: str,
    version: str,
    day: date,
    scores_table: str = SCORES.name,
) -> int:
    """Records of the version scored on ``day`` (FINAL: a replayed record counts once)."""
    db, table = check_identifier(database), check_identifier(scores_table)
    rows = client.execute(
        f"SELECT count() FROM {db}.{table} FINAL WHERE model_name = %(name)s "  # noqa: S608
        "AND model_version = %(version)s AND toDate(event_time) = %(day)s",
        {"name": name, "version": version, "day": day},
    )
    return int(rows[0][0]) if rows else 0


def scored_models(
    client: Executor, database: str, day: date, scores_table: str = SCORES.name
) -> list[tuple[str, str]]:
    """The (name, version) pairs with scores on ``day`` (in ``challenger_scores``: the
    challengers scored in shadow that day)."""
    db, table = check_identifier(database), check_identifier(scores_table)
    rows = client.execute(
        f"SELECT DISTINCT model_name, model_version FROM {db}.{table} "  # noqa: S608
        "WHERE toDate(event_time) = %(day)s",
        {"day": day},
    )
    return sorted((str(n), str(v)) for n, v in rows)


def _realised(
    client: Executor,
    database: str,
    kind: str,
    name: str,
    version: str,
    period: Period,
    meta: Any,
    scores_table: str,
) -> tuple[int, dict[str, float], dict[str, float]]:
    """(labelled count, metric -> value, metric -> standard error) of the day."""
    args = (client, database, period.start, period.end)
    if kind == "binary":
        classes = [str(c) for c in meta.get("classes") or ["0", "1"]]
        found = queries.binary_pieces(
            *args,
            positive_label=classes[-1],
            negative_label=classes[0] if len(classes) == 2 else None,
            model_name=name,
            model_version=version,
            scores_table=scores_table,
        )
        if not found:
            return 0, {}, {}
        total = _merged(list(found.values()))
        m = binary_metrics(total)
        positives, negatives = total.tp + total.fn, total.fp + total.tn
        return (
            m.n,
            {"roc_auc": m.roc_auc, "accuracy": m.accuracy},
            {
                "roc_auc": _auc_se(m.roc_auc, positives, negatives),
                "accuracy": _p_se(m.accuracy, m.n),
            },
        )
    if kind == "multiclass":
        mfound = queries.multiclass_pieces(
            *args, model_name=name, model_version=version, scores_table=scores_table
        )
        if not mfound:
            return 0, {}, {}
        mtotal = _merged(list(mfound.values()))
        mm = multiclass_metrics(mtotal)
        return (
            mm.n,
            {"accuracy": mm.accuracy, "macro_f1": mm.macro_f1},
            {"accuracy": _p_se(mm.accuracy, mm.n), "macro_f1": _p_se(mm.macro_f1, mm.n)},
        )
    rfound = queries.regression_pieces(
        *args, model_name=name, model_version=version, scores_table=scores_table
    )
    if not rfound:
        return 0, {}, {}
    rtotal = _merged(list(rfound.values()))
    rm = regression_metrics(rtotal)
    n = rm.n
    mse = rtotal.sum_squared_error / n if n else math.nan
    spread = max(mse - rm.mae**2, 0.0)
    return (
        n,
        {"mae": rm.mae, "rmse": rm.rmse},
        {"mae": math.sqrt(spread / n) if n else math.nan, "rmse": rm.rmse / math.sqrt(2 * n)},
    )


def _merged(pieces: list[Any]) -> Any:
    """The pieces of a period's days (one day here, but a day can span rows of two keys)."""
    total = pieces[0]
    for more in pieces[1:]:
        total = total + more
    return total


def _p_se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 0.0) / n) if n and math.isfinite(p) else math.nan


def _auc_se(auc: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil's (1982) standard error of a ROC AUC."""
    if not (positives and negatives and math.isfinite(auc)):
        return math.nan
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (
        positives * negatives
    )
    return math.sqrt(max(var, 0.0))


def _reference_se(metric: str, ref: float, n_test: int, day_se: float, n_day: int) -> float:
    """The holdout figure's own standard error (0 when the holdout size is unknown).

    Accuracy and macro F1: binomial at ``n_test``; ROC AUC: Hanley and McNeil's with the
    holdout split evenly between the classes (its split is not stored); MAE and RMSE: the
    day's spread scaled to ``n_test`` records (the holdout's spread is not stored).
    """
    if n_test <= 0:
        return 0.0
    if metric == "roc_auc":
        se = _auc_se(ref, n_test // 2, n_test - n_test // 2)
    elif metric in ("accuracy", "macro_f1"):
        se = _p_se(ref, n_test)
    else:
        se = day_se * math.sqrt(n_day / n_test) if n_day else math.nan
    return se if math.isfinite(se) else 0.0


#: Metrics that live in [0, 1]: their bands are clipped to it.
BOUNDED = frozenset({"roc_auc", "accuracy", "macro_f1"})


def _clip(metric: str, low: float, high: float) -> tuple[float, float]:
    return (max(low, 0.0), min(high, 1.0)) if metric in BOUNDED else (low, high)


def _level(
    metric: str, value: float, low: float, high: float, warn_low: float, warn_high: float
) -> str:
    if not (math.isfinite(value) and math.isfinite(low) and math.isfinite(high)):
        return "insufficient"
    if metric in ERROR_METRICS:
        return "alert" if value > high else "warn" if value > warn_high else "ok"
    return "alert" if value < low else "warn" if value < warn_low else "ok"


def check_performance(
    client: Executor,
    database: str,
    period: Period,
    name: str,
    version: str,
    model_dir: Path,
    *,
    thresholds: PerformanceThresholds = DEFAULT_THRESHOLDS,
    now: datetime | None = None,
    write: bool = True,
    challenger: bool = False,
) -> PerformanceResult:
    """The verdict of one model version over one day, written to ``model_performance``.

    ``challenger``: the version's scores are in ``challenger_scores`` (scored in shadow);
    its rows get the check kind :func:`challenger_kind` of the period's.
    """
    table = CHALLENGER_SCORES.name if challenger else SCORES.name
    check_kind = challenger_kind(period.kind) if challenger else period.kind
    z_alert, z_warn = thresholds.z_alert, thresholds.z_warn
    meta = json.loads((Path(model_dir) / "metadata.json").read_text(encoding="utf-8"))
    kind = str(meta.get("task", "binary"))
    reference: dict[str, float] = {
        k: float(v) for k, v in (meta.get("metrics") or {}).items() if k in JUDGED.get(kind, ())
    }
    day = period.start.date()
    scored = scored_count(client, database, name, version, day, table)
    labelled, realised, errors = _realised(
        client, database, kind, name, version, period, meta, table
    )
    estimate: Estimate | None = None
    note = ""
    if kind == "regression":
        note = "no estimate for regression models: realised only"
    else:
        calibration, note = load_calibration(model_dir)
        if calibration is not None and scored:
            histogram = read_histogram(
                client,
                database,
                name=name,
                version=version,
                day=day,
                binary=kind == "binary",
                table=table,
            )
            estimate = CBPE(calibration).estimate(histogram)
    result = PerformanceResult(name, version, kind, scored, labelled, estimate_note=note)
    coverage = labelled / scored if scored else math.nan
    checked_at = (now or datetime.now(UTC)).replace(tzinfo=None, microsecond=0)

    def row(
        metric: str, source: str, value: float, low: float, high: float, n: int, level: str
    ) -> None:
        result.rows.append(
            {
                "check_kind": check_kind,
                "period_start": period.start,
                "period_end": period.end,
                "checked_at": checked_at,
                "model_name": name,
                "model_version": version,
                "model_kind": kind,
                "metric": metric,
                "source": source,
                "value": value,
                "band_low": low,
                "band_high": high,
                "n": n,
                "coverage": coverage,
                "level": level,
            }
        )

    nan = math.nan
    n_test = int((meta.get("metrics") or {}).get("n_test") or 0)
    for metric, ref in reference.items():
        verdict: MetricVerdict | None = None
        if metric in realised:
            se = errors.get(metric, nan)
            # The day's sampling error and the holdout's: both figures are samples.
            spread = math.hypot(se, _reference_se(metric, ref, n_test, se, labelled))
            low, high = _clip(metric, ref - z_alert * spread, ref + z_alert * spread)
            warn_low, warn_high = ref - z_warn * spread, ref + z_warn * spread
            level = (
                _level(metric, realised[metric], low, high, warn_low, warn_high)
                if labelled >= thresholds.min_labels
                else "insufficient"
            )
            row(metric, "realised", realised[metric], low, high, labelled, level)
            if level != "insufficient":
                verdict = MetricVerdict(
                    metric, "realised", realised[metric], ref, low, high, level, labelled
                )
        if estimate is not None and metric in estimate.metrics:
            e = estimate[metric]
            held = z_alert * _reference_se(metric, ref, n_test, nan, 0)
            below = math.hypot(e.value - e.lower, held)
            above = math.hypot(e.upper - e.value, held)
            low, high = _clip(metric, ref - below, ref + above)
            scale = z_warn / z_alert
            level = _level(metric, e.value, low, high, ref - scale * below, ref + scale * above)
            row(metric, "estimated", e.value, e.lower, e.upper, estimate.n, level)
            if verdict is None and level != "insufficient":
                verdict = MetricVerdict(
                    metric, "estimated", e.value, ref, low, high, level, estimate.n
                )
        if verdict is None:
            verdict = MetricVerdict(metric, "", nan, ref, nan, nan, "insufficient", 0)
        result.verdicts.append(verdict)
        row(metric, "reference", ref, verdict.band_low, verdict.band_high, scored, verdict.level)
    if write and result.rows:
        write_performance(client, database, result.rows)
    return result


def write_performance(client: Executor, database: str, rows: list[dict[str, Any]]) -> None:
    """Insert ``model_performance`` rows (a day's earlier rows are replaced on merge)."""
    client.execute(
        MODEL_PERFORMANCE.insert_sql(database),
        [tuple(r[c] for c in MODEL_PERFORMANCE.inserted) for r in rows],
    )
