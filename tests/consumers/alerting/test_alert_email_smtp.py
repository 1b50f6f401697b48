"""The alert e-mail through the real SMTP server: what lands in the mailbox is what was built.

The delivery consumer sends the alert of a drifted day of the breast-cancer model to the
local stack's SMTP server (aiosmtpd); the stored ``.eml`` is parsed back as a mail client
would and read part by part.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from scorestream.consumers.alerting.delivery import AlertDelivery
from scorestream.consumers.clickhouse import apply_migrations, make_client
from scorestream.settings import Settings
from tests.consumers.alerting.email_support import alert_of, larger_tumours


def received(maildir: Path, before: set[Path], alert_id: str) -> list[EmailMessage]:
    found = []
    for path in sorted(set(maildir.glob("*.eml")) - before):
        mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(mail, EmailMessage)
        if mail["X-Scorestream-Alert-Id"] == alert_id:
            found.append(mail)
    return found


def test_the_alert_email_arrives_whole(settings: Settings, maildir: Path) -> None:
    _, _, alert = alert_of(larger_tumours)
    client = make_client(settings.clickhouse)
    try:
        apply_migrations(client, settings.clickhouse.database)
        before = set(maildir.glob("*.eml"))
        assert AlertDelivery(settings, client).deliver(alert) is True
    finally:
        client.disconnect()

    (mail,) = received(maildir, before, alert.alert_id)
    assert mail["Subject"].startswith("[scorestream] High: drift detected on 2026-03-01")
    assert mail["X-Scorestream-Severity"] == "high"
    text = mail.get_body(preferencelist=("plain",))
    page = mail.get_body(preferencelist=("html",))
    assert text is not None and page is not None
    plain, markup = str(text.get_content()), str(page.get_content())
    first = plain.splitlines()[0]
    assert first.startswith("High severity: 4 of 30 inputs of model cancer drifted on 2026-03-01")
    assert "the model's output moved with them: predicted-positive rate ≈" in first
    assert "p < 0.001" in plain and not re.search(r"\de[+-]\d", plain)
    (link,) = re.findall(r"https?://\S+", plain)
    query = parse_qs(urlsplit(link).query)
    assert (query["from"], query["to"]) == (["1772323200000"], ["1772409600000"])
    # Four charts, inline in the HTML part's multipart/related, none an attachment.
    images = [p for p in mail.walk() if p.get_content_maintype() == "image"]
    assert len(images) == 4
    for image in images:
        assert image.get_content_disposition() == "inline" and image.get_filename() is None
        assert f"cid:{image['Content-ID'].strip('<>')}" in markup
    assert all(p.get_content_disposition() != "attachment" for p in mail.walk())
    assert "high severity" in markup
    assert first[len("High severity: ") :] in html.unescape(markup)
