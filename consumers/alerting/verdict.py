"""The e-mail's first line: how serious the day is, and why, in one sentence.

Severity says what the reader must weigh, in three steps:

- **high**: the model is affected: its output moved (the score, or a multi-class model's
  predicted classes, drifted), or a performance metric fell below its reference band;
- **medium**: inputs drifted, but the model's output held (or was not checked);
- **low**: nothing drifted, but some features could not be checked (the check was blind
  on them).
"""

from __future__ import annotations

from dataclasses import dataclass

from scorestream.consumers.alerting import performance_section
from scorestream.consumers.alerting.model_output import OutputEffect
from scorestream.contract import AlertMessage

HIGH, MEDIUM, LOW = "high", "medium", "low"
#: Colours of the severity badge (background, text), readable in light and dark clients.
SEVERITY_COLOURS = {
    HIGH: ("#c0392b", "#ffffff"),
    MEDIUM: ("#e67e22", "#ffffff"),
    LOW: ("#7f8c8d", "#ffffff"),
}


@dataclass(frozen=True)
class Verdict:
    """Severity, the verdict sentence, and the subject of the e-mail."""

    severity: str
    sentence: str
    subject: str

    @property
    def line(self) -> str:
        """The verdict line: ``High severity: ...``."""
        return f"{self.severity.capitalize()} severity: {self.sentence}"


def day_of(alert: AlertMessage) -> str:
    """The checked period as a reader names it: the day, or the period's start."""
    return alert.period_start[:10] if alert.check_kind == "daily" else alert.period_start


def model_label(alert: AlertMessage) -> str:
    """``model loans`` (or the version, for alerts from before models had names)."""
    return (
        f"model {alert.model_name}" if alert.model_name else f"model version {alert.model_version}"
    )


def severity(alert: AlertMessage, output: OutputEffect | None) -> str:
    if alert.performance_alerts or (output is not None and output.moved and alert.drifted):
        return HIGH
    if alert.drifted:
        return MEDIUM
    return LOW


def _names(rows: list[dict[str, object]]) -> str:
    return ", ".join(str(row["feature"]) for row in rows)


def _subject(alert: AlertMessage, level: str) -> str:
    drifted, errored = alert.drifted, alert.errored
    names = _names(drifted)
    day = day_of(alert)
    # The model is named first: two models can alert on the same day.
    on = f"{day}, model {alert.model_name}" if alert.model_name else day
    subject = f"drift detected on {on}: {names}" if drifted else f"drift check on {on}"
    if errored:
        subject += f"{';' if drifted else ':'} {len(errored)} features could not be checked"
    part = performance_section.subject_part(alert)
    if part:
        subject = f"{part} on {on}" + (f"; {subject}" if drifted or errored else "")
    return f"[scorestream] {level.capitalize()}: {subject}"


def verdict(alert: AlertMessage, output: OutputEffect | None) -> Verdict:
    """The day's verdict: severity, one sentence, the subject."""
    level = severity(alert, output)
    day, model = day_of(alert), model_label(alert)
    drifted, errored = alert.drifted, alert.errored
    parts = []
    headline = performance_section.headline(alert)
    if headline:
        parts.append(f"{model} performed worse on {day}: " + "; ".join(headline))
    if drifted:
        inputs = (
            f"{len(drifted)} of {alert.features_checked} inputs of {model} drifted on {day} "
            f"({_names(drifted)})"
        )
        if headline:
            inputs = f"{len(drifted)} inputs drifted too ({_names(drifted)})"
        if output is None:
            inputs += "; the model's output was not checked"
        elif output.moved:
            inputs += f", and the model's output moved with them: {output.key_change}"
        elif output.level == "warning":
            inputs += f"; the model's output moved only a little ({output.key_change})"
        elif output.level != "error":
            inputs += f"; the model's output held steady ({output.key_change})"
        parts.append(inputs)
    if errored:
        blind = f"{len(errored)} of {alert.features_checked} inputs could not be checked"
        if not parts:
            blind += f" on {day} ({_names(errored)}); {model} showed no drift in the others"
        else:
            blind += f" ({_names(errored)})"
        parts.append(blind)
    if not parts:
        parts.append(f"{model} was checked on {day}: nothing to report")
    sentence = ". ".join(p[0].upper() + p[1:] for p in parts) + "."
    return Verdict(level, sentence, _subject(alert, level))
