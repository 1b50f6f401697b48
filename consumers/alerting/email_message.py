"""The alert e-mail, for the analytics team that acts on it.

It opens with the verdict and its severity (:mod:`.verdict`), names the model and its
version, says in plain words with readable numbers what changed in each drifted feature
(:mod:`.findings`) and what that did to the model's output (:mod:`.model_output`), then the
performance verdict (:mod:`.performance_section`), the features that could not be checked,
the day's challengers (:mod:`.comparison_section`), and what to do next
(:mod:`.next_steps`), with a link to the drift dashboard on the checked day.

The message is ``multipart/alternative``: a plain-text part as complete as the HTML one
(:mod:`.text_part`), and ``multipart/related`` holding the HTML (:mod:`.html_part`) and its
charts, inline only: each chart is referenced by ``cid:`` and carries no file name and no
``attachment`` disposition, so mail clients show it in the text, not in an attachment list.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from scorestream.consumers.alerting import comparison_section, html_part, text_part
from scorestream.consumers.alerting.charts import histogram_png
from scorestream.consumers.alerting.content import dashboard_link, gather
from scorestream.contract import AlertMessage

# histogram_png is the e-mail's chart, also drawn by the Python API's HTML report.
__all__ = ["build_alert_email", "dashboard_link", "histogram_png"]


def _cid() -> str:
    return make_msgid(domain="scorestream")[1:-1]


def build_alert_email(alert: AlertMessage, sender: str, recipients: str) -> EmailMessage:
    """The alert as a message: plain text, and HTML with its charts inline."""
    content = gather(alert)
    message = EmailMessage()
    message["Subject"] = content.verdict.subject
    message["From"] = sender
    message["To"] = recipients
    message["Date"] = formatdate(usegmt=True)
    # A stable Message-ID lets mail clients drop the copy of a rare re-delivery.
    local = re.sub(r"[^A-Za-z0-9._-]", ".", f"{alert.alert_id}.{alert.model_version}")
    message["Message-ID"] = f"<{local}@scorestream>"
    message["X-Scorestream-Alert-Id"] = alert.alert_id
    message["X-Scorestream-Severity"] = content.verdict.severity
    message.set_content(text_part.render(content))

    # Every drifted row has its histograms; a hand-made alert may not.
    charted = [row for row in alert.drifted if row.get("bin_labels")]
    charts = {str(row["feature"]): _cid() for row in charted}
    comparison_cid = _cid() if alert.comparisons else None
    message.add_alternative(html_part.render(content, charts, comparison_cid), subtype="html")
    html = message.get_body(preferencelist=("html",))
    assert isinstance(html, EmailMessage)
    images = [(charts[str(row["feature"])], histogram_png(row, content.day)) for row in charted]
    if comparison_cid is not None:
        images.append((comparison_cid, comparison_section.difference_png(alert.comparisons)))
    for cid, png in images:
        html.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>", disposition="inline")
    return message
