"""The e-mail's plain-text part: every section of the HTML one, in aligned plain text."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from scorestream.consumers.alerting import (
    comparison_section,
    importance_section,
    performance_section,
)
from scorestream.consumers.alerting.content import Content
from scorestream.consumers.alerting.readable import percent


def text_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  "
) -> list[str]:
    """Columns padded to their widest cell; the first left-aligned, the others right."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = str(cells[0]).ljust(widths[0])
        rest = [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return indent + "   ".join([first, *rest]).rstrip()

    return [line(header), *(line(row) for row in rows)]


#: Lines of prose are wrapped here: plain-text readers show long lines as they come.
WIDTH = 78


def _wrap(text: str, indent: str = "") -> list[str]:
    """Prose wrapped at :data:`WIDTH`; words (a URL, a command) are never broken."""
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _section(title: str) -> list[str]:
    return ["", title.upper(), "-" * len(title)]


def render(content: Content) -> str:
    """The plain-text part."""
    alert, day = content.alert, content.day
    # One line, unwrapped: what a preview pane, a filter or a pager shows first.
    lines = [content.verdict.line, ""]
    width = max(len(label) for label, _ in content.model)
    lines += [f"{label + ':':<{width + 1}} {value}" for label, value in content.model]

    if content.findings:
        lines += _section("What changed")
        for finding in content.findings:
            lines += ["", finding.headline]
            lines += [f"  - {fact}" for fact in finding.facts]
            if finding.evidence:
                lines += _wrap(f"How sure: {finding.evidence}.", "  ")
            if finding.details:
                lines += _wrap(f"Details: {finding.details}", "  ")
        lines += ["", "  (The e-mail's HTML part has a chart of each feature.)"]

    if alert.muted:
        lines += _section("Muted")
        lines += _wrap(
            f"Also drifted, not reported (DRIFT_MUTED_FEATURES): {', '.join(alert.muted)}."
        )

    lines += _section("Effect on the model's output")
    output = content.output
    if output is None:
        lines.append("Not available: this alert carries no check of the model's output.")
    else:
        lines += _wrap(output.summary)
        if output.rows:
            lines += ["", *text_table(["", "training", day], list(output.rows))]
        if output.bands:
            bands = [(band, percent(ref), percent(cur)) for band, ref, cur in output.bands]
            lines += ["", "  Share of records per score band:"]
            lines += text_table(["band", "training", day], bands)

    performance = performance_section.text_lines(alert)
    if performance:
        lines += _section("Performance") + performance[1:]
    lines += importance_section.text_lines(alert)

    if content.errors:
        lines += _section("Could not be checked")
        lines.append("These features got no verdict; their drift would go unseen:")
        lines += [f"- {error}" for error in content.errors]

    comparisons = comparison_section.text_lines(alert.comparisons)
    if comparisons:
        lines += _section(comparison_section.TITLE) + comparisons[1:]

    lines += _section("What to do next")
    for number, step in enumerate(content.steps, start=1):
        lines += ["", f"{number}. {step.title}", *_wrap(step.text, "   ")]
        if step.command:
            lines.append(f"   {step.command}")

    lines += ["", "--", f"scorestream alert {alert.alert_id}"]
    return "\n".join(lines) + "\n"
