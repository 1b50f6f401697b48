"""When drift checks run: one day on demand, or everything on a schedule.

``scorestream drift-check [--date DAY]`` runs :func:`check_day` once (then delivers the
alert). ``scorestream drift-check --schedule`` runs :class:`DriftCheckScheduler`, the one
scheduler of the system, as a process of its own: the daily check at each time of
``DRIFT_CHECK_SCHEDULE`` (cron, UTC), catching up days missed while it was down, rolling
checks every few minutes, and the alert delivery loop.

Every check runs once per model version with counts in its period (see
:mod:`.models`), and then the champion-against-challenger comparisons of the same period
(:mod:`scorestream.consumers.comparison`); a comparison that fails is logged and never stops
the drift check. The daily check then runs the labels check of its day
(:mod:`scorestream.consumers.labels.check`), and the performance verdict of each model
version scored that day (:mod:`scorestream.consumers.performance.check`), under the same
rule, and of each challenger scored in shadow that day (rows for the dashboard, never an
alert). A version whose verdict alerts gets its day's alert even without drift. Each daily
run also computes again the verdicts of the ``LABEL_WINDOW_DAYS`` days before (late
labels): their rows are rewritten, and an alert goes out at most once per day and model:
the alert id is the day's and the model's, and an alert already delivered is not
published again.

Run ONE scheduler per deployment (the compose file has one replica). A second one started
by mistake is harmless but wasteful: its ``drift_checks`` rows replace the first one's
(same sorting key, read with ``FINAL``), and its copy of an alert lands on the same
``drift.alerts`` partition (keyed by alert id), where delivery finds it already in
``alert_deliveries`` and skips it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from scorestream.consumers.alerting.delivery import (
    REFUSED_RETRY_S,
    SCHEDULER_INSTANCE,
    AlertDelivery,
    DeliveryLog,
)
from scorestream.consumers.clickhouse import Executor, make_client
from scorestream.consumers.comparison.compare import ComparisonOptions, compare_period
from scorestream.consumers.drift_check.check import (
    DAILY,
    ROLLING,
    CheckResult,
    DriftChecker,
    Period,
    connect,
    write_rows,
)
from scorestream.consumers.drift_check.completeness import (
    GRACE_S,
    WAIT_COMPLETE_S,
    Completeness,
    assess,
)
from scorestream.consumers.drift_check.models import (
    MODEL_FEATURE,
    ModelKey,
    ModelLocator,
    fold_unnamed,
    missed_days,
    model_error_row,
    models_in_period,
)
from scorestream.consumers.drift_check.publish import (
    alert_message,
    importance_entry,
    publish_alert,
)
from scorestream.consumers.labels.check import LabelsCheckResult, check_labels, locator_classes
from scorestream.consumers.performance.check import (
    PerformanceResult,
    check_performance,
    scored_models,
)
from scorestream.contract import CHALLENGER_SCORES, SCORES
from scorestream.exceptions import ModelError
from scorestream.settings import Settings
from scorestream.streams.drift.decision import FeatureDecision
from scorestream.streams.model.registry import LoadedModel
from scorestream.topics import ensure_topics

log = logging.getLogger(__name__)

#: The ``feature`` of the ``error`` row (and alert) of a day checked while still incomplete
#: because it grew too old to wait for (``catch_up_days``).
INCOMPLETE_FEATURE = "_incomplete"


#: Days before yesterday whose performance verdict each daily run computes again: labels
#: arriving up to this late still update the figures (and alert, once).
LABEL_WINDOW_DAYS = 7


def yesterday(now: datetime | None = None) -> date:
    return ((now or datetime.now(UTC)) - timedelta(days=1)).date()


def check_models(
    settings: Settings,
    period: Period,
    client: Executor,
    locator: ModelLocator,
    now: datetime | None = None,
) -> list[CheckResult]:
    """Check every model version with counts in ``period``, each against its own reference.

    A version whose reference cannot be found gets one ``error`` row (feature ``_model``)
    and an errored result; a check that raises is logged; neither stops the others. A
    period without any counts is checked for the default model (``MODEL_DIR``), whose rows
    then say "0 records".
    """
    database = settings.clickhouse.database
    keys = fold_unnamed(models_in_period(client, database, period.start, period.end), locator)
    if not keys and locator.default is not None:
        keys = [ModelKey(locator.default.name, locator.default.version)]
    checked_at = (now or datetime.now(UTC)).replace(tzinfo=None, microsecond=0)
    results = []
    for key in keys:
        try:
            model = locator.load(key)
        except ModelError as error:
            message = f"no reference profile for model {key}: {error}"
            log.error("%s check %s: %s", period.kind, period.start.isoformat(), message)
            row = model_error_row(period.kind, period.start, period.end, key, message, checked_at)
            write_rows(client, database, [row])
            decision = FeatureDecision.failed(MODEL_FEATURE, message)
            results.append(
                CheckResult(period, key.version, [decision], None, [row], model_name=key.name)
            )
            continue
        try:
            checker = DriftChecker(client, database, model, settings.thresholds.drift)
            results.append(checker.run(period, now))
        except Exception:  # one model's failure must not cost the others their check
            log.exception("%s check %s of model %s failed", period.kind, period.start, key)
    return results


def run_comparisons(
    settings: Settings,
    period: Period,
    client: Executor,
    locator: ModelLocator,
    options: ComparisonOptions | None = None,
) -> list[dict[str, Any]]:
    """Champion against challengers over ``period``; a failure is logged, never raised."""
    try:
        return compare_period(
            client,
            settings.clickhouse.database,
            period.kind,
            period.start,
            period.end,
            reference_edges=locator.score_edges,
            reference_std=locator.score_std,
            options=options,
        )
    except Exception:  # the comparison is extra: it must never stop the drift check
        log.exception("%s comparison of %s failed", period.kind, period.start.isoformat())
        return []


def run_labels_check(
    settings: Settings, day: date, client: Executor, locator: ModelLocator
) -> LabelsCheckResult | None:
    """The labels check of ``day`` (:mod:`scorestream.consumers.labels.check`); a failure
    is logged, never raised: it must not stop the drift check."""
    try:
        return check_labels(
            client,
            settings.clickhouse.database,
            settings.topics.labels,
            day,
            classes_of=locator_classes(locator),
        )
    except Exception:
        log.exception("labels check of %s failed", day.isoformat())
        return None


def run_performance_checks(
    settings: Settings,
    period: Period,
    client: Executor,
    locator: ModelLocator,
    *,
    challengers: bool = False,
) -> dict[ModelKey, PerformanceResult]:
    """The performance verdict of every model version scored in ``period`` (a day).

    ``challengers``: of every version in ``challenger_scores`` instead (rows for the
    dashboard; the callers publish no alert for them). A version that cannot be found or
    whose check fails is logged and left out: the verdict is extra, it must never stop the
    drift check.
    """
    database = settings.clickhouse.database
    table = CHALLENGER_SCORES.name if challengers else SCORES.name
    try:
        scored = scored_models(client, database, period.start.date(), table)
        keys = [ModelKey(n, v) for n, v in scored]
    except Exception:
        log.exception("performance check of %s (%s) failed", period.start.date(), table)
        return {}
    results = {}
    for key in keys:
        try:
            path = locator.model_dir(key)
            results[key] = check_performance(
                client,
                database,
                period,
                key.name,
                key.version,
                path,
                thresholds=settings.thresholds.performance,
                challenger=challengers,
            )
        except Exception:
            log.exception("performance check of %s on %s failed", key, period.start.date())
    return results


def run_all_performance_checks(
    settings: Settings, period: Period, client: Executor, locator: ModelLocator
) -> dict[ModelKey, PerformanceResult]:
    """The champions' verdicts (returned, they may alert) and the challengers' (written for
    the dashboard only)."""
    champions = run_performance_checks(settings, period, client, locator)
    run_performance_checks(settings, period, client, locator, challengers=True)
    return champions


def check_day(
    settings: Settings,
    model: LoadedModel | None,
    day: date,
    client: Executor | None = None,
    *,
    locator: ModelLocator | None = None,
    comparison: ComparisonOptions | None = None,
) -> list[CheckResult]:
    """Check ``day`` for every model, compare the challengers, publish each alert once.

    One alert per model version whose features drifted or errored or whose performance
    verdict alerts, carrying the day's comparisons of that version as champion (for the
    e-mail's "Model comparison") and its verdict. Returns one result per model version
    checked, each with its performance verdict, plus one (without features) per version
    whose verdict alerts but which had no drift counts.
    """
    client = client or connect(settings)
    locator = locator or ModelLocator(settings.models_dir, model)
    period = Period.day(day)
    results = check_models(settings, period, client, locator)
    comparisons = run_comparisons(settings, period, client, locator, comparison)
    run_labels_check(settings, day, client, locator)
    performance = run_all_performance_checks(settings, period, client, locator)
    results = with_performance(period, results, performance)
    publish_alerts(settings, client, results, comparisons, locator)
    return results


def check_complete_day(
    settings: Settings,
    model: LoadedModel | None,
    day: date,
    client: Executor | None = None,
    *,
    locator: ModelLocator | None = None,
    comparison: ComparisonOptions | None = None,
    wait_s: float = WAIT_COMPLETE_S,
    grace_s: float = GRACE_S,
) -> tuple[Completeness, list[CheckResult]]:
    """:func:`check_day`, only once ``day`` is complete (:mod:`.completeness`).

    Waits up to ``wait_s`` for it; an incomplete day is not checked at all: no
    ``drift_checks`` row is written (a row would mark the day checked), no alert, and the
    result list is empty. The caller re-checks it later.
    """
    client = client or connect(settings)
    state = assess(settings, client, day, wait_s=wait_s, grace_s=grace_s)
    if not state.complete:
        log.warning("daily check of %s postponed: %s", day.isoformat(), state.summary())
        return state, []
    return state, check_day(settings, model, day, client, locator=locator, comparison=comparison)


def check_incomplete_day(
    settings: Settings,
    model: LoadedModel | None,
    day: date,
    state: Completeness,
    client: Executor,
    *,
    locator: ModelLocator,
    comparison: ComparisonOptions | None = None,
) -> list[CheckResult]:
    """The check of a day that never completed, with an explicit "checked incomplete" alert.

    The verdict on what is there is kept, and each model version checked (the default one
    when none) gets an ``error`` row (feature ``_incomplete``) saying how incomplete the day
    was: an error alerts, so the e-mail says the verdict may be wrong.
    """
    results = check_day(settings, model, day, client, locator=locator, comparison=comparison)
    keys = [ModelKey(r.model_name, r.model_version) for r in results]
    if not keys and locator.default is not None:
        keys = [ModelKey(locator.default.name, locator.default.version)]
    period = Period.day(day)
    message = f"checked incomplete: {state.summary()}"
    checked_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    flagged = []
    for key in keys:
        row = model_error_row(DAILY, period.start, period.end, key, message, checked_at)
        row["feature"] = INCOMPLETE_FEATURE
        write_rows(client, settings.clickhouse.database, [row])
        decision = FeatureDecision.failed(INCOMPLETE_FEATURE, message)
        flagged.append(CheckResult(period, key.version, [decision], None, [row], key.name))
    log.error("daily check of %s: %s", day.isoformat(), message)
    publish_alerts(settings, client, flagged, [], locator)
    return results + flagged


def recheck_performance(
    settings: Settings, day: date, client: Executor, locator: ModelLocator
) -> dict[ModelKey, PerformanceResult]:
    """The performance verdict of ``day`` again, for the labels that arrived since.

    Rewrites the day's ``model_performance`` rows; a version that alerts now gets the
    day's alert, unless that alert (its id is the day's and the model's) was delivered
    already: late labels never send a second e-mail.
    """
    period = Period.day(day)
    performance = run_all_performance_checks(settings, period, client, locator)
    publish_alerts(settings, client, with_performance(period, [], performance), [], locator)
    return performance


def with_performance(
    period: Period, results: list[CheckResult], performance: dict[ModelKey, PerformanceResult]
) -> list[CheckResult]:
    """``results`` with each version's verdict attached, plus a result without features for
    each version whose verdict alerts but that had no drift check (it gets its alert too)."""
    attached = [
        replace(r, performance=performance.get(ModelKey(r.model_name, r.model_version)))
        for r in results
    ]
    checked = {ModelKey(r.model_name, r.model_version) for r in results}
    return attached + [
        CheckResult(period, key.version, [], None, [], model_name=key.name, performance=verdict)
        for key, verdict in sorted(performance.items())
        if verdict.alerting and key not in checked
    ]


def publish_alerts(
    settings: Settings,
    client: Executor,
    results: list[CheckResult],
    comparisons: list[dict[str, Any]],
    locator: ModelLocator | None = None,
) -> None:
    """Publish the alert of each result that is alerting (drift of a feature not muted,
    an error, or its performance verdict), once: an alert already delivered is not
    published again. With ``locator``, the alert carries the version's importance of its
    drifted features."""
    for result in results:
        muted = settings.muted_features(result.model_name)
        if not result.alerting_unless(muted):
            continue
        if DeliveryLog(client, settings.clickhouse.database).delivered(result.alert_id):
            log.info("alert %s was already delivered; not sending it again", result.alert_id)
            continue
        ours = [
            c
            for c in comparisons
            if c["champion_version"] == result.model_version
            and c["champion_name"] in (result.model_name, "")
        ]
        ensure_topics(settings, [settings.topics.drift_alerts])
        verdict = result.performance
        summary = verdict.summary() if verdict is not None else None
        key = ModelKey(result.model_name, result.model_version)
        drifted = [d.feature for d in result.drifted if d.feature not in muted]
        importance = importance_entry(locator, key, drifted) if locator is not None else None
        alert = alert_message(
            result,
            settings.grafana_public_url,
            ours,
            summary,
            importance=importance,
            muted=muted,
        )
        publish_alert(settings, alert)


class DriftCheckScheduler:
    """The daily check on a cron schedule, rolling checks, and alert delivery."""

    def __init__(
        self,
        settings: Settings,
        model: LoadedModel | None,
        *,
        rolling_every_s: float = 300,
        catch_up_days: int = 7,
        comparison_tolerance: float | None = None,
        label_window_days: int = LABEL_WINDOW_DAYS,
        wait_complete_s: float = WAIT_COMPLETE_S,
        grace_s: float = GRACE_S,
    ) -> None:
        self.settings = settings
        self.model = model
        self.rolling_every_s = rolling_every_s
        self.catch_up_days = catch_up_days
        # Days whose performance verdict the daily run computes again, for late labels.
        self.label_window_days = label_window_days
        self.comparison = ComparisonOptions(tolerance=comparison_tolerance)
        self.wait_complete_s = wait_complete_s
        self.grace_s = grace_s
        # Days found incomplete: re-checked at every rolling tick until complete, or until
        # older than ``catch_up_days`` (then checked with a "checked incomplete" alert).
        # In memory: after a restart, the catch-up finds the days with counts but no check.
        self.incomplete: set[date] = set()
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        from croniter import croniter

        client = connect(self.settings)
        locator = ModelLocator(self.settings.models_dir, self.model)
        ensure_topics(self.settings, [self.settings.topics.drift_alerts])
        delivery = threading.Thread(
            target=AlertDelivery(
                self.settings, make_client(self.settings.clickhouse), SCHEDULER_INSTANCE
            ).run,
            # A refused alert is logged and stays pending; the loop goes on.
            kwargs={"stop": self.stopping.is_set, "refused_retry_s": REFUSED_RETRY_S},
            name="alert-delivery",
            daemon=True,
        )
        delivery.start()
        schedule = croniter(self.settings.drift_check_schedule, datetime.now(UTC))
        next_daily: datetime = schedule.get_next(datetime)
        self._catch_up(client, locator)
        next_rolling = datetime.now(UTC)
        while not self.stopping.is_set():
            now = datetime.now(UTC)
            if now >= next_daily:
                self._check_day(yesterday(now), client, locator)
                self._catch_up(client, locator)
                self._recheck_labelled(yesterday(now), client, locator)
                next_daily = schedule.get_next(datetime)
            if now >= next_rolling:
                for day in sorted(self.incomplete):
                    self._check_day(day, client, locator)
                for kind in ROLLING:
                    period = Period.rolling(kind, now)
                    check_models(self.settings, period, client, locator, now)
                    run_comparisons(self.settings, period, client, locator, self.comparison)
                next_rolling = now + timedelta(seconds=self.rolling_every_s)
            wake = min(next_daily, next_rolling)
            self.stopping.wait(max(0.5, (wake - datetime.now(UTC)).total_seconds()))
        delivery.join(timeout=10)

    def _check_day(self, day: date, client: Executor, locator: ModelLocator) -> None:
        """Check ``day`` once complete; an incomplete one is kept for the next runs."""
        try:
            state, _ = check_complete_day(
                self.settings,
                self.model,
                day,
                client,
                locator=locator,
                comparison=self.comparison,
                wait_s=self.wait_complete_s,
                grace_s=self.grace_s,
            )
        except Exception:  # Kafka or ClickHouse away: the scheduler lives on, tries again
            log.exception("daily check of %s failed; it is tried again", day.isoformat())
            self.incomplete.add(day)
            return
        if state.complete:
            self.incomplete.discard(day)
            return
        if (datetime.now(UTC).date() - day).days <= self.catch_up_days:
            self.incomplete.add(day)
            return
        self.incomplete.discard(day)
        check_incomplete_day(
            self.settings,
            self.model,
            day,
            state,
            client,
            locator=locator,
            comparison=self.comparison,
        )

    def _recheck_labelled(self, last: date, client: Executor, locator: ModelLocator) -> None:
        """The performance verdicts of the days before ``last``, for labels that came late."""
        for back in range(1, self.label_window_days + 1):
            recheck_performance(self.settings, last - timedelta(days=back), client, locator)

    def _catch_up(self, client: Executor, locator: ModelLocator) -> None:
        today = datetime.now(UTC).date()
        since = today - timedelta(days=self.catch_up_days)
        for day in missed_days(client, self.settings.clickhouse.database, since, today):
            log.info("catching up the daily check of %s, missed while down", day)
            self._check_day(day, client, locator)
