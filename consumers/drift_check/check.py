"""The drift check: sum a period's bins from ClickHouse, test every feature, keep the verdict.

A check costs the same whatever the traffic: it reads ``features x minutes`` partial rows
(summed in ClickHouse with ``sumForEach``), never the records. Every check writes one
``drift_checks`` row per feature; the daily check's alert is built and published by
:mod:`scorestream.consumers.drift_check.publish`, and e-mailed once by
:mod:`scorestream.consumers.alerting`. Rolling checks (last hour, last 24 hours) write rows
for the dashboards and never alert; the last hour is compared with the same hour of the
previous days when there is enough of them (:mod:`.baseline`).

The statistics and verdicts are the pure drift mathematics of
:mod:`scorestream.streams.drift` (:mod:`~scorestream.streams.drift.evaluation` grades a whole
check, the same function the Python API calls); this module only reads their inputs from
ClickHouse and writes their outputs back.

The model's outputs (``_score``, and a multi-class model's ``_predicted_class``) are checked
and stored like features but are left out of the Benjamini-Hochberg family and of the
alert: they move whenever an input moves, so flagging them would name two culprits for one
cause.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from scorestream.consumers.clickhouse import (
    Executor,
    apply_migrations,
    check_identifier,
    make_client,
)
from scorestream.consumers.drift_check.baseline import (
    REFERENCE,
    BaselinePolicy,
    time_of_day_baseline,
)
from scorestream.contract import DRIFT_CHECKS
from scorestream.contract.drift import model_id
from scorestream.settings import Settings
from scorestream.streams.drift.decision import DriftThresholds, FeatureDecision
from scorestream.streams.drift.evaluation import (
    PeriodCounts,
    evaluate,
    evaluate_outputs,
    feature_row,
    with_rejections,
)
from scorestream.streams.drift.profile import ReferenceProfile
from scorestream.streams.model.registry import LoadedModel

if TYPE_CHECKING:  # the performance check imports this module (Period)
    from scorestream.consumers.performance.check import PerformanceResult

log = logging.getLogger(__name__)

DAILY = "daily"
ROLLING = {"rolling_1h": timedelta(hours=1), "rolling_24h": timedelta(hours=24)}


@dataclass(frozen=True)
class Period:
    """A half-open time range ``[start, end)`` in UTC, with the kind of check over it."""

    kind: str
    start: datetime
    end: datetime

    @classmethod
    def day(cls, day: date) -> Period:
        start = datetime(day.year, day.month, day.day)
        return cls(DAILY, start, start + timedelta(days=1))

    @classmethod
    def rolling(cls, kind: str, now: datetime) -> Period:
        end = now.replace(second=0, microsecond=0, tzinfo=None)
        return cls(kind, end - ROLLING[kind], end)

    @property
    def alert_id(self) -> str:
        return f"{self.kind}:{self.start:%Y-%m-%dT%H:%M}"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check."""

    period: Period
    model_version: str
    decisions: list[FeatureDecision]
    score: FeatureDecision | None
    rows: list[dict[str, Any]]
    model_name: str = ""
    #: What the e-mail says about the model (:func:`model_info`); None when not loaded.
    model_info: dict[str, Any] | None = None
    #: The version's performance verdict of the period (daily checks), when one was made.
    performance: PerformanceResult | None = None

    @property
    def alerting(self) -> bool:
        """Whether the period's alert is due: drift, a feature that could not be checked
        (its drift would go unseen), or a performance verdict that alerts."""
        return self.alerting_unless(frozenset())

    def alerting_unless(self, muted: frozenset[str]) -> bool:
        """:attr:`alerting`, with the drift of the ``muted`` features not counting."""
        verdict = self.performance
        reported = [d for d in self.drifted if d.feature not in muted]
        return bool(reported or self.errored or (verdict is not None and verdict.alerting))

    @property
    def alert_id(self) -> str:
        """One alert per period and model version: two models never share an e-mail."""
        return f"{self.period.alert_id}:{model_id(self.model_name, self.model_version)}"

    @property
    def drifted(self) -> list[FeatureDecision]:
        return [d for d in self.decisions if d.level == "drift"]

    @property
    def errored(self) -> list[FeatureDecision]:
        """Features (the score included) that could not be checked."""
        everything = self.decisions + ([self.score] if self.score is not None else [])
        return [d for d in everything if d.level == "error"]

    @property
    def records(self) -> int:
        return max((row["n_current"] for row in self.rows), default=0)


def read_period_counts(
    client: Executor,
    database: str,
    period: Period,
    model_version: str,
    model_name: str | None = None,
) -> dict[str, PeriodCounts]:
    """Sum the partial ``drift_stats`` rows of ``period`` per feature (parameters only).

    With ``model_name``, only that model's rows, and the unnamed rows of the version
    (written before models were named in them).
    """
    db = check_identifier(database)
    named = "" if model_name is None else " AND model_name IN (%(name)s, '')"
    rows = client.execute(
        f"SELECT feature, sumForEach(counts), sum(count), sum(missing), sum(sum), sum(sumsq) "  # noqa: S608
        f"FROM {db}.drift_stats FINAL "
        f"WHERE minute >= %(start)s AND minute < %(end)s AND model_version = %(version)s{named} "
        "GROUP BY feature",
        {"start": period.start, "end": period.end, "version": model_version, "name": model_name},
    )
    return {
        feature: PeriodCounts(
            np.asarray(counts, dtype=np.int64),
            int(count),
            int(missing),
            float(total),
            float(total_sq),
        )
        for feature, counts, count, missing, total, total_sq in rows
    }


def read_rejections(client: Executor, database: str, period: Period) -> dict[str, int]:
    """Records rejected as ``out_of_range`` in ``period``, per field (parameters only).

    By ``ingested_at``, the table's partition key, so a day reads one partition.
    """
    db = check_identifier(database)
    rows = client.execute(
        f"SELECT field, count() FROM {db}.rejected_records FINAL "  # noqa: S608
        "WHERE reason = %(reason)s AND ingested_at >= %(start)s AND ingested_at < %(end)s "
        "GROUP BY field",
        {"reason": "out_of_range", "start": period.start, "end": period.end},
    )
    return {str(field): int(n) for field, n in rows}


def check_rows(
    period: Period,
    model_version: str,
    profile: ReferenceProfile,
    decisions: list[FeatureDecision],
    counts: dict[str, PeriodCounts],
    checked_at: datetime,
    model_name: str = "",
    baselines: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One ``drift_checks`` row per decision; ``baselines`` per feature (else reference)."""
    rows = []
    for decision in decisions:
        row = feature_row(profile[decision.feature], decision, counts.get(decision.feature))
        rows.append(
            {
                "check_kind": period.kind,
                "period_start": period.start,
                "period_end": period.end,
                "checked_at": checked_at,
                "model_version": model_version,
                "model_name": model_name,
                "model_id": model_id(model_name, model_version),
                **row,
                "drifted": int(decision.level == "drift"),
                "baseline": (baselines or {}).get(decision.feature, REFERENCE),
            }
        )
    return rows


def model_info(model: LoadedModel) -> dict[str, Any]:
    """What a reader of the alert needs to know of the model: kind, target, classes, date."""
    metadata = model.metadata
    return {
        "kind": model.kind,
        "target": metadata.get("target"),
        "classes": list(metadata.get("classes") or []),
        "created_at": metadata.get("created_at"),
    }


def write_rows(client: Executor, database: str, rows: list[dict[str, Any]]) -> None:
    client.execute(
        DRIFT_CHECKS.insert_sql(database),
        [tuple(row[c] for c in DRIFT_CHECKS.inserted) for row in rows],
    )


def connect(settings: Settings) -> Executor:
    """A client with the schema in place (the check may run before any sink did)."""
    client = make_client(settings.clickhouse)
    apply_migrations(client, settings.clickhouse.database, cluster=settings.clickhouse.cluster)
    return client


class DriftChecker:
    """Runs checks of one model against the bins in one ClickHouse database."""

    def __init__(
        self,
        client: Executor,
        database: str,
        model: LoadedModel,
        thresholds: DriftThresholds | None = None,
        baseline_policy: BaselinePolicy | None = None,
    ) -> None:
        self.client = client
        self.database = check_identifier(database)
        self.model = model
        self.thresholds = thresholds or DriftThresholds()
        self.baseline_policy = baseline_policy or BaselinePolicy()

    def period_counts(self, period: Period) -> dict[str, PeriodCounts]:
        """A period's summed bins, with its out-of-range rejections attached."""
        return with_rejections(
            self.model.profile,
            read_period_counts(
                self.client, self.database, period, self.model.version, self.model.name
            ),
            read_rejections(self.client, self.database, period),
        )

    def run(self, period: Period, now: datetime | None = None) -> CheckResult:
        checked_at = (now or datetime.now(UTC)).replace(tzinfo=None, microsecond=0)
        counts = self.period_counts(period)
        # Windows shorter than a day: the same window on previous days, see baseline.py.
        baseline = time_of_day_baseline(
            self.model.profile, period, self.period_counts, self.baseline_policy
        )
        decisions, score = evaluate(baseline.profile, counts, self.thresholds, baseline.rejected)
        outputs = evaluate_outputs(baseline.profile, counts, self.thresholds)
        everything = decisions + ([score] if score is not None else []) + outputs
        rows = check_rows(
            period,
            self.model.version,
            baseline.profile,
            everything,
            counts,
            checked_at,
            model_name=self.model.name,
            baselines=baseline.kinds,
        )
        write_rows(self.client, self.database, rows)
        result = CheckResult(
            period,
            self.model.version,
            decisions,
            score,
            rows,
            model_name=self.model.name,
            model_info=model_info(self.model),
        )
        log.info(
            "%s check %s of %s@%s: %d records, %d features drifted (%s), "
            "%d could not be checked (%s)",
            period.kind,
            period.start.isoformat(),
            self.model.name,
            self.model.version,
            result.records,
            len(result.drifted),
            ", ".join(d.feature for d in result.drifted) or "none",
            len(result.errored),
            ", ".join(d.feature for d in result.errored) or "none",
        )
        return result

    def checked_days(self, since: date) -> set[date]:
        """Days with a daily check already stored, from ``since`` on."""
        rows = self.client.execute(
            f"SELECT DISTINCT toDate(period_start) FROM {self.database}.drift_checks FINAL "  # noqa: S608
            "WHERE check_kind = %(kind)s AND period_start >= %(since)s "
            "AND model_version = %(version)s AND model_name IN (%(name)s, '')",
            {
                "kind": DAILY,
                "since": datetime(since.year, since.month, since.day),
                "version": self.model.version,
                "name": self.model.name,
            },
        )
        return {row[0] for row in rows}

    def days_with_data(self, since: date, until: date) -> set[date]:
        rows = self.client.execute(
            f"SELECT DISTINCT toDate(minute) FROM {self.database}.drift_stats "  # noqa: S608
            "WHERE minute >= %(since)s AND minute < %(until)s",
            {
                "since": datetime(since.year, since.month, since.day),
                "until": datetime(until.year, until.month, until.day),
            },
        )
        return {row[0] for row in rows}

    def missed_days(self, today: date, lookback_days: int = 7) -> list[date]:
        """Complete days with data but no daily check: periods missed while down."""
        since = today - timedelta(days=lookback_days)
        return sorted(self.days_with_data(since, today) - self.checked_days(since))
