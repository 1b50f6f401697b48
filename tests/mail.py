"""E-mails a test sent: the SMTP server's maildir is shared by every test of the run.

Each test's settings send alerts to the test's own address (``tests/fixtures/services.py``):
tests running side by side (``pytest -n 2``) may e-mail the same alert id at the same time.
"""

from __future__ import annotations

import email
from email.message import Message
from pathlib import Path

from scorestream.settings import Settings


def mails_to(
    settings: Settings, maildir: Path, before: set[Path], alert_id: str | None = None
) -> list[Message]:
    """The e-mails to ``settings.alert_email_to`` (of ``alert_id``) not in ``before``."""
    found = [
        email.message_from_bytes(path.read_bytes())
        for path in sorted(set(maildir.glob("*.eml")) - before)
    ]
    return [
        mail
        for mail in found
        if mail["To"] == settings.alert_email_to
        and (alert_id is None or mail["X-Scorestream-Alert-Id"] == alert_id)
    ]
