"""Deliver ``drift.alerts`` by e-mail, once each, whatever fails in between.

This is the consuming side of ``drift.alerts`` only; the drift check publishes
(:mod:`scorestream.consumers.drift_check.publish`).

The consumer commits an alert's offset only after the e-mail went out and the delivery was
recorded in ``alert_deliveries``; before sending, it looks there. So a crash replays an
alert without sending it twice (except in the instant between the SMTP server's "250" and
the record, where the stable Message-ID lets mail clients drop the copy), a second check of
the same period sends nothing, and an SMTP outage only delays the e-mail: sending is
retried with exponential backoff and jitter until the server takes it.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage

import httpx

from scorestream.consumers.alerting.email_message import build_alert_email
from scorestream.consumers.clickhouse import Executor, check_identifier, make_client
from scorestream.contract import ALERT_DELIVERIES, AlertMessage, decode_alert
from scorestream.exceptions import DecodeError
from scorestream.retry import Backoff, retry_sync
from scorestream.settings import Settings

log = logging.getLogger(__name__)


def send_email(message: EmailMessage, settings: Settings, timeout_s: float = 30.0) -> None:
    """One attempt to hand ``message`` to the SMTP server of ``settings``."""
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout_s) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user and settings.smtp_password is not None:
            smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
        smtp.send_message(message)


def send_with_retry(
    message: EmailMessage,
    settings: Settings,
    *,
    max_backoff_s: float = 60.0,
    give_up_after_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Send, retrying on any SMTP or network error; return the number of attempts.

    Retries forever by default: an alert is worth waiting for, and the Kafka offset stays
    uncommitted meanwhile, so nothing is lost if the process stops while SMTP is down.
    """
    _, attempts = retry_sync(
        lambda: send_email(message, settings),
        what=f"e-mailing the alert via SMTP {settings.smtp_host}:{settings.smtp_port}",
        # 1 s, 2 s, 4 s ... up to max_backoff_s, with equal jitter.
        policy=Backoff(initial_s=1.0, max_s=max_backoff_s),
        log=log,
        retry_on=(OSError, smtplib.SMTPException),
        give_up_after_s=give_up_after_s,
        sleep=sleep,
    )
    return attempts


class DeliveryLog:
    """The ``alert_deliveries`` table: which alerts were e-mailed."""

    def __init__(self, client: Executor, database: str) -> None:
        self.client = client
        self.database = check_identifier(database)

    def delivered(self, alert_id: str) -> bool:
        rows = self.client.execute(
            f"SELECT count() FROM {self.database}.alert_deliveries FINAL "  # noqa: S608
            "WHERE alert_id = %(id)s",
            {"id": alert_id},
        )
        return int(rows[0][0]) > 0

    def record(self, alert: AlertMessage, message: EmailMessage) -> None:
        self.client.execute(
            ALERT_DELIVERIES.insert_sql(self.database),
            [
                (
                    alert.alert_id,
                    alert.check_kind,
                    alert.start,
                    datetime.now(UTC).replace(tzinfo=None, microsecond=0),
                    str(message["Message-ID"]),
                    str(message["To"]),
                )
            ],
        )


def annotate_grafana(alert: AlertMessage, settings: Settings) -> None:
    """Write the alert as a Grafana annotation (best effort: the e-mail is what counts)."""
    if not settings.grafana_url or settings.grafana_token is None:
        return
    start = alert.start.replace(tzinfo=UTC)
    end = alert.end.replace(tzinfo=UTC)
    # One POST of Grafana's HTTP API (a client library for it pulled in urllib3-future,
    # which breaks other tools in the same environment).
    try:
        response = httpx.post(
            settings.grafana_url.rstrip("/") + "/api/annotations",
            json={
                "time": int(start.timestamp() * 1000),
                "timeEnd": int(end.timestamp() * 1000),
                "tags": ["scorestream", "drift"],
                "text": "Drift: " + ", ".join(f["feature"] for f in alert.drifted),
            },
            headers={"Authorization": f"Bearer {settings.grafana_token.get_secret_value()}"},
            timeout=10.0,
        )
        response.raise_for_status()
    except Exception as exc:
        log.warning("could not write the Grafana annotation: %r", exc)


class AlertDelivery:
    """Consumes ``drift.alerts``; e-mails each alert not yet delivered; then commits."""

    def __init__(self, settings: Settings, client: Executor) -> None:
        self.settings = settings
        self.log = DeliveryLog(client, settings.clickhouse.database)

    def deliver(self, alert: AlertMessage) -> bool:
        """E-mail ``alert`` unless already delivered; True if it was sent now."""
        if not alert.drifted or self.log.delivered(alert.alert_id):
            return False
        message = build_alert_email(
            alert, self.settings.alert_email_from, self.settings.alert_email_to
        )
        attempts = send_with_retry(message, self.settings)
        self.log.record(alert, message)
        annotate_grafana(alert, self.settings)
        log.info(
            "alert %s e-mailed to %s after %d attempt(s)",
            alert.alert_id,
            self.settings.alert_email_to,
            attempts,
        )
        return True

    def run(
        self, *, until_idle_s: float | None = None, stop: Callable[[], bool] = lambda: False
    ) -> int:
        """Deliver alerts until ``stop()``, or until nothing arrived for ``until_idle_s``."""
        from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition

        consumer = KafkaConsumer(
            self.settings.topics.drift_alerts,
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=f"{self.settings.topic_prefix}scorestream-alerts",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=10,
            max_poll_interval_ms=24 * 3600 * 1000,
        )
        sent = 0
        idle_since = time.monotonic()
        try:
            while not stop():
                batches = consumer.poll(timeout_ms=1000)
                if not batches:
                    if until_idle_s is not None and time.monotonic() - idle_since > until_idle_s:
                        break
                    continue
                idle_since = time.monotonic()
                for tp, records in batches.items():
                    for record in records:
                        try:
                            alert = decode_alert(record.value)
                        except DecodeError as exc:
                            log.error(
                                "skipping undecodable alert at %s:%d: %s", tp, record.offset, exc
                            )
                        else:
                            sent += self.deliver(alert)
                        consumer.commit(
                            {
                                TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(
                                    record.offset + 1, None, -1
                                )
                            }
                        )
        finally:
            consumer.close(autocommit=False)
        return sent


def deliver_pending(settings: Settings, idle_s: float = 10.0) -> int:
    """Deliver every alert waiting on ``drift.alerts``; return how many were e-mailed."""
    return AlertDelivery(settings, make_client(settings.clickhouse)).run(until_idle_s=idle_s)
