"""Deliver ``drift.alerts`` by e-mail, once each, whatever fails in between.

This is the consuming side of ``drift.alerts`` only; the drift check publishes
(:mod:`scorestream.consumers.drift_check.publish`).

The consumer commits an alert's offset only after the e-mail went out and the delivery was
recorded in ``alert_deliveries``; before sending, it looks there. So a crash replays an
alert without sending it twice (except in the instant between the SMTP server's "250" and
the record, where the stable Message-ID lets mail clients drop the copy), a second check of
the same period sends nothing, and an SMTP outage only delays the e-mail: sending is
retried with exponential backoff and jitter until the server takes it.

An outage (no connection, a timeout, a dropped connection, a 4xx reply) is retried; a
permanent refusal (a 5xx reply such as 535 for the credentials, 550 for a recipient, or a
server without the STARTTLS/AUTH the settings ask for) is not: retrying cannot change it.
The alert then stays pending (not in ``alert_deliveries``, its offset not committed): a
one-shot ``drift-check`` exits with the reason, the scheduler logs it and tries the alert
again every ``REFUSED_RETRY_S`` seconds, so that fixed settings deliver it.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import httpx

from scorestream.consumers.alerting.email_message import build_alert_email
from scorestream.consumers.clickhouse import Executor, make_client
from scorestream.contract import ALERT_DELIVERIES, AlertMessage, decode_alert
from scorestream.contract.tables import check_identifier
from scorestream.exceptions import (
    AlertsPendingError,
    DecodeError,
    DeliveryRefusedError,
    SmtpUnavailableError,
)
from scorestream.retry import Backoff, retry_sync
from scorestream.settings import Settings

log = logging.getLogger(__name__)


#: Seconds the scheduler waits before it tries a refused alert again.
REFUSED_RETRY_S = 900.0

#: Session timeout of the alerts group's members: how long a dead member with an instance
#: id of its own (or none) holds its partitions.
SESSION_TIMEOUT_MS = 10_000

#: How long a one-shot delivery waits for partitions held by another member: a killed
#: member's session (45 s, kafka-python's default, in releases before this one) and a join.
ASSIGNMENT_WAIT_S = 60.0

#: Static member ids in the alerts group: a one-shot ``drift-check`` replacing one killed
#: mid-delivery takes its partitions at once; the scheduler keeps its own.
ONE_SHOT_INSTANCE = "drift-check"
SCHEDULER_INSTANCE = "drift-check-scheduler"


def send_email(message: EmailMessage, settings: Settings, timeout_s: float = 30.0) -> None:
    """One attempt to hand ``message`` to the SMTP server of ``settings``.

    Raises
    ------
    DeliveryRefusedError
        If the server refused for good (see :func:`permanent_refusal`).
    OSError, smtplib.SMTPException
        On an outage or a temporary refusal: worth retrying.
    """
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout_s) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user and settings.smtp_password is not None:
                smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except (smtplib.SMTPException, ssl.SSLCertVerificationError) as exc:
        reason = permanent_refusal(exc)
        if reason is None:
            raise
        raise DeliveryRefusedError(
            f"the SMTP server {settings.smtp_host}:{settings.smtp_port} refused the alert "
            f"e-mail: {reason}"
        ) from exc


def permanent_refusal(exc: BaseException) -> str | None:
    """Why ``exc`` is a refusal that retrying cannot change; None for an outage or a 4xx."""
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return None
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        # Permanent only if every recipient got a 5xx: a 4xx for one is worth a retry.
        replies = exc.recipients.items()
        if replies and all(500 <= code < 600 for _, (code, _) in replies):
            return "; ".join(
                f"{address}: {code} {_text(text)}" for address, (code, text) in replies
            )
        return None
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        return f"{code} {_text(exc.smtp_error)}" if 500 <= code < 600 else None
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"its TLS certificate is not trusted ({exc.verify_message})"
    # The server lacks what the settings ask for (STARTTLS, AUTH, a common AUTH mechanism).
    return " ".join(str(exc).split()) or type(exc).__name__


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def send_with_retry(
    message: EmailMessage,
    settings: Settings,
    *,
    max_backoff_s: float = 60.0,
    give_up_after_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Send, retrying on an outage or a 4xx reply; return the number of attempts.

    Retries forever by default: an alert is worth waiting for, and the Kafka offset stays
    uncommitted meanwhile, so nothing is lost if the process stops while SMTP is down. A
    permanent refusal raises :class:`DeliveryRefusedError` at once.
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
                "text": (f"Drift in {alert.model}: " if alert.model_name else "Drift: ")
                + ", ".join(
                    [f["feature"] for f in alert.drifted]
                    + [str(v.get("sentence", "")) for v in alert.performance_alerts]
                ),
            },
            headers={"Authorization": f"Bearer {settings.grafana_token.get_secret_value()}"},
            timeout=10.0,
        )
        response.raise_for_status()
    except Exception as exc:
        log.warning("could not write the Grafana annotation: %r", exc)


class AlertDelivery:
    """Consumes ``drift.alerts``; e-mails each alert not yet delivered; then commits.

    ``instance_id`` makes the consumer a static member of the alerts group: a run that
    replaces a killed one (same id) takes its partitions back at once instead of waiting
    for the dead member's session to time out. ``smtp_give_up_s``: how long one alert's
    sending retries an SMTP outage before :class:`SmtpUnavailableError` (None: forever).
    """

    def __init__(
        self,
        settings: Settings,
        client: Executor,
        instance_id: str | None = None,
        smtp_give_up_s: float | None = None,
    ) -> None:
        self.settings = settings
        self.log = DeliveryLog(client, settings.clickhouse.database)
        self.instance_id = instance_id
        self.smtp_give_up_s = smtp_give_up_s

    def deliver(self, alert: AlertMessage) -> bool:
        """E-mail ``alert`` unless already delivered; True if it was sent now."""
        # A day whose performance verdict alerts is news even without drift, and so is a
        # feature that could not be checked: the check was blind there.
        news = alert.drifted or alert.performance_alerts or alert.errored
        if not news or self.log.delivered(alert.alert_id):
            return False
        message = build_alert_email(
            alert, self.settings.alert_email_from, self.settings.alert_email_to
        )
        try:
            attempts = send_with_retry(message, self.settings, give_up_after_s=self.smtp_give_up_s)
        except DeliveryRefusedError as exc:
            raise DeliveryRefusedError(
                f"{exc}; alert {alert.alert_id} stays pending (not delivered)"
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            # Only with smtp_give_up_s: the outage outlasted it. Nothing was recorded and the
            # offset stays uncommitted, so the next run sends the alert.
            why = " ".join(str(exc).split())
            raise SmtpUnavailableError(
                f"SMTP {self.settings.smtp_host}:{self.settings.smtp_port} still failing after "
                f"{self.smtp_give_up_s or 0:.0f} s ({type(exc).__name__}: {why}); alert "
                f"{alert.alert_id} stays pending (not delivered)"
            ) from exc
        self.log.record(alert, message)
        annotate_grafana(alert, self.settings)
        log.info(
            "alert %s e-mailed to %s after %d attempt(s)",
            alert.alert_id,
            self.settings.alert_email_to,
            attempts,
        )
        return True

    def _consumer(self) -> Any:
        from kafka import KafkaConsumer

        return KafkaConsumer(
            self.settings.topics.drift_alerts,
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=alerts_group(self.settings.topic_prefix),
            group_instance_id=self.instance_id,
            # Short: a dead member with another id holds the partitions this long at most.
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=SESSION_TIMEOUT_MS // 4,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=10,
            # Sending retries for as long as SMTP is down: never leave the group for that.
            max_poll_interval_ms=24 * 3600 * 1000,
        )

    def _handle(self, consumer: Any, batches: dict[Any, list[Any]]) -> int:
        """Deliver a poll's alerts in order, committing each; return how many were sent."""
        from kafka import OffsetAndMetadata, TopicPartition

        sent = 0
        for tp, records in batches.items():
            for record in records:
                try:
                    alert = decode_alert(record.value)
                except DecodeError as exc:
                    log.error("skipping undecodable alert at %s:%d: %s", tp, record.offset, exc)
                else:
                    sent += self.deliver(alert)
                consumer.commit(
                    {
                        TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(
                            record.offset + 1, None, -1
                        )
                    }
                )
        return sent

    def run(
        self,
        *,
        stop: Callable[[], bool] = lambda: False,
        refused_retry_s: float | None = None,
    ) -> int:
        """Deliver alerts until ``stop()`` (the scheduler's loop); return how many were sent.

        A permanent refusal raises :class:`DeliveryRefusedError`, or, with
        ``refused_retry_s``, is logged and the alert tried again after that many seconds.
        Either way the alert's offset is not committed: it stays pending.
        """
        from kafka import TopicPartition

        consumer = self._consumer()
        sent = 0
        try:
            while not stop():
                batches = consumer.poll(timeout_ms=1000)
                if not batches:
                    continue
                try:
                    sent += self._handle(consumer, batches)
                except DeliveryRefusedError as exc:
                    if refused_retry_s is None:
                        raise
                    log.error("%s; next attempt in %.0f s", exc, refused_retry_s)
                    # Every record of this poll not committed yet is read again, later.
                    for tp in batches:
                        _rewind_to_committed(consumer, TopicPartition(tp.topic, tp.partition))
                    waited_until = time.monotonic() + refused_retry_s
                    while not stop() and time.monotonic() < waited_until:
                        time.sleep(min(1.0, max(0.0, waited_until - time.monotonic())))
        finally:
            consumer.close(autocommit=False)
        return sent

    def drain(self, wait_s: float = ASSIGNMENT_WAIT_S) -> int:
        """Deliver every alert on ``drift.alerts`` below the end offsets seen at the start
        (this run's and every earlier run's); return how many were e-mailed.

        Ends when each partition is handled up to that offset, by this consumer or by
        another member of the group (its committed offset). While an SMTP outage lasts it
        keeps retrying; but when partitions with pending alerts are still not ours after
        ``wait_s`` (another member holds them), it raises :class:`AlertsPendingError`; so it
        does when an SMTP outage outlasts ``smtp_give_up_s``.
        """
        from kafka import TopicPartition
        from kafka.errors import FencedInstanceIdError

        consumer = self._consumer()
        topic = self.settings.topics.drift_alerts
        targets: dict[Any, int] = {}
        started = time.monotonic()
        seen: set[Any] = set()
        sent = 0
        try:
            partitions = consumer.partitions_for_topic(topic) or set()
            every = [TopicPartition(topic, p) for p in sorted(partitions)]
            targets = consumer.end_offsets(every) if every else {}
            while True:
                left = _left(consumer, targets)
                if not left:
                    return sent
                assigned = consumer.assignment()
                if assigned != seen:
                    # A (re)assignment: the wait for the others' partitions starts again.
                    seen, started = set(assigned), time.monotonic()
                theirs = set(left) - assigned
                if theirs and time.monotonic() - started > wait_s:
                    pending = sum(left.values())
                    owned = ", ".join(str(tp.partition) for tp in sorted(theirs))
                    raise AlertsPendingError(
                        f"{pending} alert message(s) on {topic} not handled: partition(s) "
                        f"{owned} not assigned to this run within {wait_s:.0f} s (another "
                        "delivery holds them, e.g. a running drift-check --schedule, which "
                        "delivers them); alert e-mails sent by this run: "
                        f"{sent}",
                        pending=pending,
                        sent=sent,
                    )
                batches = consumer.poll(timeout_ms=1000)
                if not batches:
                    continue
                try:
                    sent += self._handle(consumer, batches)
                except SmtpUnavailableError as exc:
                    # Counted from the committed offsets: the consumer's position is already
                    # past the rest of this poll, which is not handled either.
                    pending = sum(
                        target - (consumer.committed(tp) or 0) for tp, target in targets.items()
                    )
                    raise AlertsPendingError(
                        f"{exc}; {pending} alert message(s) on {topic} not handled; alert "
                        f"e-mails sent by this run: {sent}",
                        pending=pending,
                        sent=sent,
                    ) from exc
        except FencedInstanceIdError:
            # A newer run with the same instance id took the partitions: it delivers them.
            raise AlertsPendingError(
                f"another delivery with the instance id {self.instance_id} (a newer "
                f"drift-check) took over {topic} and delivers the alerts left; alert "
                f"e-mails sent by this run: {sent}",
                pending=-1,  # not ours to count any more
                sent=sent,
            ) from None
        finally:
            consumer.close(autocommit=False)


def _left(consumer: Any, targets: dict[Any, int]) -> dict[Any, int]:
    """Partition -> messages below its target offset not handled yet (by us or anyone)."""
    assigned = consumer.assignment()
    left: dict[Any, int] = {}
    for tp, target in targets.items():
        # Not ours: another member's progress, or nobody's yet (the group's committed offset).
        done = consumer.position(tp) if tp in assigned else consumer.committed(tp)
        if done is None:
            done = 0  # nothing committed: everything from the beginning is pending
        if done < target:
            left[tp] = target - done
    return left


def _rewind_to_committed(consumer: Any, partition: Any) -> None:
    committed = consumer.committed(partition)
    if committed is None:
        consumer.seek_to_beginning(partition)
    else:
        consumer.seek(partition, committed)


def alerts_group(topic_prefix: str) -> str:
    """The consumer group of alert delivery under ``topic_prefix``."""
    return f"{topic_prefix}scorestream-alerts"


def deliver_pending(
    settings: Settings,
    wait_s: float = ASSIGNMENT_WAIT_S,
    smtp_give_up_s: float | None = None,
) -> int:
    """Deliver every alert waiting on ``drift.alerts``; return how many were e-mailed.

    A one-shot ``drift-check``'s delivery: a static member of the alerts group with the id
    :data:`ONE_SHOT_INSTANCE`, so it takes over at once from a run killed mid-delivery.
    Raises :class:`AlertsPendingError` when alerts stay undelivered (see
    :meth:`AlertDelivery.drain`), with ``smtp_give_up_s`` also when SMTP stays down that long.
    """
    delivery = AlertDelivery(
        settings, make_client(settings.clickhouse), ONE_SHOT_INSTANCE, smtp_give_up_s
    )
    return delivery.drain(wait_s)
