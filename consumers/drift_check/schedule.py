"""When drift checks run: one day on demand, or everything on a schedule.

``scorestream drift-check [--date DAY]`` runs :func:`check_day` once (then delivers the
alert). ``scorestream drift-check --schedule`` runs :class:`DriftCheckScheduler`, the one
scheduler of the system, as a process of its own: the daily check at each time of
``DRIFT_CHECK_SCHEDULE`` (cron, UTC), catching up days missed while it was down, rolling
checks every few minutes, and the alert delivery loop.

Run ONE scheduler per deployment (the compose file has one replica). A second one started
by mistake is harmless but wasteful: its ``drift_checks`` rows replace the first one's
(same sorting key, read with ``FINAL``), and its copy of an alert lands on the same
``drift.alerts`` partition (keyed by alert id), where delivery finds it already in
``alert_deliveries`` and skips it.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime, timedelta

from scorestream.consumers.alerting.delivery import REFUSED_RETRY_S, AlertDelivery, DeliveryLog
from scorestream.consumers.clickhouse import Executor, make_client
from scorestream.consumers.drift_check.check import (
    ROLLING,
    CheckResult,
    DriftChecker,
    Period,
    connect,
)
from scorestream.consumers.drift_check.publish import alert_message, publish_alert
from scorestream.settings import Settings
from scorestream.streams.model.registry import LoadedModel
from scorestream.topics import ensure_topics

log = logging.getLogger(__name__)


def yesterday(now: datetime | None = None) -> date:
    return ((now or datetime.now(UTC)) - timedelta(days=1)).date()


def check_day(
    settings: Settings, model: LoadedModel, day: date, client: Executor | None = None
) -> CheckResult:
    """Check ``day``; publish its alert if a feature drifted or errored, once."""
    client = client or connect(settings)
    result = DriftChecker(client, settings.clickhouse.database, model).run(Period.day(day))
    # A feature that could not be checked is news too: its drift would go unseen.
    if result.drifted or result.errored:
        if DeliveryLog(client, settings.clickhouse.database).delivered(result.period.alert_id):
            log.info("alert %s was already delivered; not sending it again", result.period.alert_id)
        else:
            ensure_topics(settings, [settings.topics.drift_alerts])
            publish_alert(settings, alert_message(result, settings.grafana_public_url))
    return result


class DriftCheckScheduler:
    """The daily check on a cron schedule, rolling checks, and alert delivery."""

    def __init__(
        self,
        settings: Settings,
        model: LoadedModel,
        *,
        rolling_every_s: float = 300,
        catch_up_days: int = 7,
    ) -> None:
        self.settings = settings
        self.model = model
        self.rolling_every_s = rolling_every_s
        self.catch_up_days = catch_up_days
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        from croniter import croniter

        client = connect(self.settings)
        checker = DriftChecker(client, self.settings.clickhouse.database, self.model)
        ensure_topics(self.settings, [self.settings.topics.drift_alerts])
        delivery = threading.Thread(
            target=AlertDelivery(self.settings, make_client(self.settings.clickhouse)).run,
            # A refused alert is logged and stays pending; the loop goes on.
            kwargs={"stop": self.stopping.is_set, "refused_retry_s": REFUSED_RETRY_S},
            name="alert-delivery",
            daemon=True,
        )
        delivery.start()
        schedule = croniter(self.settings.drift_check_schedule, datetime.now(UTC))
        next_daily: datetime = schedule.get_next(datetime)
        self._catch_up(checker, client)
        next_rolling = datetime.now(UTC)
        while not self.stopping.is_set():
            now = datetime.now(UTC)
            if now >= next_daily:
                check_day(self.settings, self.model, yesterday(now), client)
                self._catch_up(checker, client)
                next_daily = schedule.get_next(datetime)
            if now >= next_rolling:
                for kind in ROLLING:
                    checker.run(Period.rolling(kind, now))
                next_rolling = now + timedelta(seconds=self.rolling_every_s)
            wake = min(next_daily, next_rolling)
            self.stopping.wait(max(0.5, (wake - datetime.now(UTC)).total_seconds()))
        delivery.join(timeout=10)

    def _catch_up(self, checker: DriftChecker, client: Executor) -> None:
        today = datetime.now(UTC).date()
        for day in checker.missed_days(today, self.catch_up_days):
            log.info("catching up the daily check of %s, missed while down", day)
            check_day(self.settings, self.model, day, client)
