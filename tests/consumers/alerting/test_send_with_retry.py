"""Alert e-mail sending on the project's retry helper: backoff, attempts, giving up."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest

import scorestream.consumers.alerting.delivery as delivery
from scorestream.settings import Settings


def _failing(times: int, error: Exception) -> tuple[list[int], object]:
    calls: list[int] = []

    def send_email(message: EmailMessage, settings: Settings) -> None:
        calls.append(1)
        if len(calls) <= times:
            raise error

    return calls, send_email


def test_retries_with_backoff_until_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    calls, send_email = _failing(4, smtplib.SMTPServerDisconnected("gone"))
    monkeypatch.setattr(delivery, "send_email", send_email)
    waits: list[float] = []
    attempts = delivery.send_with_retry(
        EmailMessage(), Settings(), max_backoff_s=3.0, sleep=waits.append
    )
    assert attempts == 5 == len(calls)
    # 1 s, 2 s, then the 3 s cap, each with equal jitter: [ceiling / 2, ceiling].
    for wait, ceiling in zip(waits, [1.0, 2.0, 3.0, 3.0], strict=True):
        assert ceiling / 2 <= wait <= ceiling


def test_gives_up_after_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    _, send_email = _failing(10**9, ConnectionRefusedError("refused"))
    monkeypatch.setattr(delivery, "send_email", send_email)
    with pytest.raises(ConnectionRefusedError):
        delivery.send_with_retry(
            EmailMessage(), Settings(), give_up_after_s=-1.0, sleep=lambda _: None
        )


def test_other_errors_are_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    calls, send_email = _failing(1, ValueError("a bug, not an outage"))
    monkeypatch.setattr(delivery, "send_email", send_email)
    with pytest.raises(ValueError):
        delivery.send_with_retry(EmailMessage(), Settings(), sleep=lambda _: None)
    assert len(calls) == 1
