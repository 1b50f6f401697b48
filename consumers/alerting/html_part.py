"""The e-mail's HTML part: the verdict in a coloured band, then one block per section.

Laid out with :mod:`.html_layout` (tables and inline styles, no external anything); the
charts are ``cid:`` references to the message's related image parts.
"""

from __future__ import annotations

from collections.abc import Mapping

from scorestream.consumers.alerting import (
    comparison_section,
    importance_section,
    performance_section,
)
from scorestream.consumers.alerting import html_layout as h
from scorestream.consumers.alerting.content import Content
from scorestream.consumers.alerting.findings import Finding
from scorestream.consumers.alerting.readable import percent
from scorestream.consumers.alerting.verdict import SEVERITY_COLOURS


def _verdict(content: Content) -> str:
    background, colour = SEVERITY_COLOURS[content.verdict.severity]
    badge = h.badge(f"{content.verdict.severity} severity", "#ffffff", background)
    sentence = (
        f"<p style='margin:8px 0 0 0;font-size:17px;line-height:1.4;font-weight:bold;"
        f"color:{colour};'>{h.esc(content.verdict.sentence)}</p>"
    )
    return h.block(badge + sentence, padding="18px 24px", background=background)


def _model(content: Content) -> str:
    rows = "".join(
        f"<tr><td style='padding:2px 12px 2px 0;color:{h.MUTED};font-size:13px;'>"
        f"{h.esc(label)}</td><td style='padding:2px 0;font-size:13px;'>{h.esc(value)}</td></tr>"
        for label, value in content.model
    )
    table = f"<table role='presentation' cellpadding='0' cellspacing='0' border='0'>{rows}</table>"
    return h.block(table, padding="12px 24px", background=h.PAPER)


def _finding(finding: Finding, cid: str | None) -> str:
    parts = [h.subheading(finding.headline), h.bullets(list(finding.facts))]
    if finding.evidence:
        parts.append(h.paragraph(f"How sure: {finding.evidence}.", muted=True))
    if cid:
        parts.append(h.image(cid, f"{finding.feature}: share of records per range"))
    if finding.details:
        parts.append(h.paragraph(f"Details: {finding.details}", muted=True, small=True))
    return "".join(parts)


def _output(content: Content) -> str:
    output, day = content.output, content.day
    parts = [h.heading("Effect on the model's output")]
    if output is None:
        parts.append(
            h.paragraph("Not available: this alert carries no check of the model's output.")
        )
        return h.block("".join(parts))
    parts.append(h.paragraph(output.summary))
    if output.rows:
        parts.append(h.table(["", "training", day], list(output.rows)))
    if output.bands:
        # Bars relative to the largest share, so that ten bands of 10% are not ten dots.
        scale = max(max(ref, cur) for _, ref, cur in output.bands) or 1.0
        cells = "".join(
            "<tr>"
            "<td style='padding:2px 8px 2px 0;font-size:12px;white-space:nowrap;'>"
            f"{h.esc(band)}</td>"
            f"<td style='padding:2px 4px;font-size:12px;text-align:right;'>{percent(ref)}</td>"
            f"<td style='padding:2px 4px;'>{h.bar(ref / scale, h.REFERENCE_COLOUR)}</td>"
            f"<td style='padding:2px 4px;font-size:12px;text-align:right;'>{percent(cur)}</td>"
            f"<td style='padding:2px 4px;'>{h.bar(cur / scale, h.CURRENT_COLOUR)}</td>"
            "</tr>"
            for band, ref, cur in output.bands
        )
        head = (
            f"<tr><th style='text-align:left;font-size:12px;padding:2px 8px 2px 0;'>score band</th>"
            f"<th colspan='2' style='text-align:left;font-size:12px;color:{h.REFERENCE_COLOUR};'>"
            f"training</th><th colspan='2' style='text-align:left;font-size:12px;"
            f"color:{h.CURRENT_COLOUR};'>{h.esc(day)}</th></tr>"
        )
        parts.append(h.paragraph("Share of records per score band:", muted=True))
        parts.append(
            "<table role='presentation' cellpadding='0' cellspacing='0' border='0'>"
            f"{head}{cells}</table>"
        )
    return h.block("".join(parts))


def _steps(content: Content) -> str:
    parts = [h.heading("What to do next")]
    for number, step in enumerate(content.steps, start=1):
        parts.append(h.subheading(f"{number}. {step.title}"))
        parts.append(h.paragraph(step.text))
        if step.command.startswith(("http://", "https://")):
            parts.append(h.button(step.command, "Open the drift dashboard on this day"))
        elif step.command:
            parts.append(h.code(step.command))
    return h.block("".join(parts))


def render(content: Content, chart_cids: Mapping[str, str], comparison_cid: str | None) -> str:
    """The HTML part; ``chart_cids`` maps each drifted feature to its chart's Content-ID."""
    alert = content.alert
    blocks = [_verdict(content), _model(content)]
    if content.findings:
        findings = "".join(_finding(f, chart_cids.get(f.feature)) for f in content.findings)
        blocks.append(h.block(h.heading("What changed") + findings))
    if alert.muted:
        blocks.append(
            h.block(
                h.paragraph(
                    f"Also drifted, not reported (DRIFT_MUTED_FEATURES): {', '.join(alert.muted)}.",
                    muted=True,
                )
            )
        )
    blocks.append(_output(content))
    performance = performance_section.html_section(alert)
    if performance:
        blocks.append(h.block(performance))
    ranking = importance_section.html_section(alert)
    if ranking:
        blocks.append(h.block(ranking))
    if content.errors:
        blocks.append(
            h.block(
                h.heading("Could not be checked")
                + h.paragraph("These features got no verdict; their drift would go unseen:")
                + h.bullets(content.errors)
            )
        )
    comparison = comparison_section.html_section(alert.comparisons, comparison_cid)
    if comparison:
        blocks.append(h.block(comparison))
    blocks.append(_steps(content))
    blocks.append(
        h.block(
            h.paragraph(f"scorestream alert {alert.alert_id}", muted=True, small=True),
            padding="8px 24px",
            background=h.PAPER,
        )
    )
    return h.page(content.verdict.subject, "".join(blocks))
