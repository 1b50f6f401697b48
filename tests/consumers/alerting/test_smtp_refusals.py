"""A permanent SMTP refusal ends the attempt at once; an outage is retried with backoff.

Every test talks to a real SMTP server (aiosmtpd) started here on a free port.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from scorestream.child_process import run_cli
from scorestream.consumers.alerting.delivery import send_with_retry
from scorestream.consumers.clickhouse import apply_migrations
from scorestream.exceptions import DeliveryRefusedError
from scorestream.settings import Settings
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.synthetic import generate_frame
from tests.consumers.drift_check.drift_stats_rows import write_day

PASSWORD = "s3cret-smtp-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mailbox:
    """aiosmtpd handler: keeps messages; answers RCPT from ``rcpt_replies`` while any are left."""

    def __init__(self, rcpt_replies: list[str] | None = None) -> None:
        self.rcpt_replies = list(rcpt_replies or [])
        self.messages: list[bytes] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.rcpt_replies:
            reply = self.rcpt_replies[0]
            if not reply.startswith("5"):  # a 5xx reply stays; a 4xx one is said once
                self.rcpt_replies.pop(0)
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(mailbox: Mailbox, *, auth_succeeds: bool | None = None) -> Iterator[int]:
    """A real SMTP server on a free port; with ``auth_succeeds`` it offers AUTH."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    port = free_port()
    options: dict[str, Any] = {}
    if auth_succeeds is not None:
        options = {
            "authenticator": lambda *_: AuthResult(success=auth_succeeds, handled=False),
            "auth_require_tls": False,
        }
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def smtp_settings(port: int, user: str | None = "alerts") -> Settings:
    return Settings().model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_user": user,
            "smtp_password": SecretStr(PASSWORD) if user else None,
        }
    )


def alert_email() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "scorestream@example.org"
    message["To"] = "team@example.org"
    message["Subject"] = "drift"
    message.set_content("income drifted")
    return message


def test_a_refused_login_is_not_retried() -> None:
    waits: list[float] = []
    with (
        smtp_server(Mailbox(), auth_succeeds=False) as port,
        pytest.raises(DeliveryRefusedError) as raised,
    ):
        send_with_retry(alert_email(), smtp_settings(port), sleep=waits.append, give_up_after_s=3.0)
    assert waits == []
    assert "535" in str(raised.value) and f"127.0.0.1:{port}" in str(raised.value)
    assert PASSWORD not in str(raised.value)


def test_a_refused_recipient_is_not_retried() -> None:
    waits: list[float] = []
    mailbox = Mailbox(["550 5.1.1 no such mailbox"])
    with smtp_server(mailbox) as port, pytest.raises(DeliveryRefusedError, match="550"):
        send_with_retry(
            alert_email(), smtp_settings(port, None), sleep=waits.append, give_up_after_s=3.0
        )
    assert waits == [] and mailbox.messages == []


def test_a_4xx_reply_is_retried_until_accepted() -> None:
    waits: list[float] = []
    mailbox = Mailbox(["451 4.3.0 try again later"])
    with smtp_server(mailbox) as port:
        attempts = send_with_retry(alert_email(), smtp_settings(port, None), sleep=waits.append)
    assert attempts == 2 and len(waits) == 1
    assert len(mailbox.messages) == 1


def test_no_server_is_an_outage_retried_with_backoff() -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(0.05)

    with pytest.raises(ConnectionRefusedError):
        send_with_retry(
            alert_email(), smtp_settings(free_port(), None), sleep=sleep, give_up_after_s=0.5
        )
    assert len(waits) >= 2


def _drifted_day(settings: Settings, ch_client: Any, model_dir: Path, day: date) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    frame = generate_frame(3000, seed=41, start=f"{day}T00:00:00")
    frame["income"] = frame["income"] * 3
    write_day(ch_client, database, LoadedModel.load(model_dir), day, frame)


def _deliveries(settings: Settings, ch_client: Any) -> int:
    database = settings.clickhouse.database
    return int(ch_client.execute(f"SELECT count() FROM {database}.alert_deliveries FINAL")[0][0])


def test_one_shot_check_exits_with_the_refusal_and_the_alert_stays_pending(
    settings: Settings, settings_env: dict[str, str], ch_client: Any, model_dir: Path
) -> None:
    day = date(2026, 5, 3)
    _drifted_day(settings, ch_client, model_dir, day)
    env = {
        **settings_env,
        "MODEL_DIR": str(model_dir),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_USER": "alerts",
        "SMTP_PASSWORD": PASSWORD,
    }
    command = ["drift-check", "--date", str(day)]

    with smtp_server(Mailbox(), auth_succeeds=False) as port:
        started = time.monotonic()
        refused = run_cli(command, {**env, "SMTP_PORT": str(port)}, timeout_s=90)
    assert refused.returncode != 0
    assert time.monotonic() - started < 60
    assert "Traceback" not in refused.stderr and PASSWORD not in refused.stderr
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("scorestream drift-check: error:") and "535" in last, refused.stderr
    assert _deliveries(settings, ch_client) == 0

    # A later run, with the SMTP credentials fixed, delivers the pending alert once.
    mailbox = Mailbox()
    with smtp_server(mailbox, auth_succeeds=True) as port:
        later = run_cli(command, {**env, "SMTP_PORT": str(port)}, timeout_s=90)
    assert later.returncode == 0, later.stderr
    assert len(mailbox.messages) == 1
    assert _deliveries(settings, ch_client) == 1


def test_the_scheduler_logs_a_refusal_keeps_running_and_the_alert_stays_pending(
    settings: Settings,
    settings_env: dict[str, str],
    ch_client: Any,
    model_dir: Path,
    tmp_path: Path,
) -> None:
    from scorestream.child_process import spawn_cli, terminate

    day = (datetime.now(UTC) - timedelta(days=2)).date()
    _drifted_day(settings, ch_client, model_dir, day)
    env = {
        **settings_env,
        "MODEL_DIR": str(model_dir),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_USER": "alerts",
        "SMTP_PASSWORD": PASSWORD,
    }
    command = ["drift-check", "--schedule", "--rolling-every", "3600"]
    log = tmp_path / "refused.log"
    with smtp_server(Mailbox(), auth_succeeds=False) as port:
        scheduler = spawn_cli(command, {**env, "SMTP_PORT": str(port)}, log)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and "refused" not in log.read_text():
                time.sleep(0.5)
            time.sleep(2)
            assert scheduler.poll() is None, log.read_text()[-3000:]
        finally:
            terminate(scheduler)
    text = log.read_text()
    assert "535" in text and "stays pending" in text, text[-3000:]
    assert "Traceback" not in text and PASSWORD not in text
    assert _deliveries(settings, ch_client) == 0

    mailbox = Mailbox()
    log = tmp_path / "accepted.log"
    with smtp_server(mailbox, auth_succeeds=True) as port:
        scheduler = spawn_cli(command, {**env, "SMTP_PORT": str(port)}, log)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not mailbox.messages:
                time.sleep(0.5)
        finally:
            terminate(scheduler)
    assert len(mailbox.messages) == 1, log.read_text()[-3000:]
    assert _deliveries(settings, ch_client) == 1
