"""What to do next: look, check again, mute, or retrain, with the commands to type.

Each step is a title, a sentence and (when there is one) a command, so the plain-text and
the HTML parts say the same thing. The retraining advice follows the severity: a model
whose output moved needs a new version soon; inputs that moved without the output do not
yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from scorestream.consumers.alerting.verdict import HIGH, MEDIUM, day_of
from scorestream.contract import AlertMessage


@dataclass(frozen=True)
class Step:
    """One thing to do: a title, why and how, and the command to type (or "")."""

    title: str
    text: str
    command: str = ""


def steps(alert: AlertMessage, severity: str, dashboard: str | None) -> list[Step]:
    """The steps for this alert, most urgent first."""
    day = day_of(alert)
    name = alert.model_name or "MODEL"
    feature = alert.drifted[0]["feature"] if alert.drifted else "FEATURE"
    target = alert.model_info.get("target") or "TARGET"
    found: list[Step] = []
    if dashboard:
        found.append(
            Step(
                "Look at the day",
                "The drift dashboard opens on the checked day for this model: every "
                "feature's verdict and histogram, with the hours when the change began.",
                dashboard,
            )
        )
    found.append(
        Step(
            "Check the day again",
            f"Records that arrived late for {day} are included when the day is checked "
            "again; the dashboard shows the new verdict, and no second e-mail is sent.",
            f"scorestream drift-check --date {day}",
        )
    )
    if alert.drifted:
        found.append(
            Step(
                "Mute a feature whose change is expected",
                "A new product or a campaign can change an input on purpose. A muted feature "
                "is still checked and shown on the dashboards, but its drift no longer "
                "sends an e-mail. Set the variable for the drift-check process "
                f"(comma-separated; '{feature}' alone mutes it for every model).",
                f"DRIFT_MUTED_FEATURES={name}:{feature}",
            )
        )
    train = f"scorestream train --data RECENT.parquet --target {target} --name {name} --register"
    if severity == HIGH:
        found.append(
            Step(
                "Retrain soon",
                "The model's output moved (or its performance fell), so its decisions are "
                "no longer those it was validated for. Train on recent data that holds the "
                "new pattern, run the new version as a challenger next to the champion "
                "(the worker's --challenger), and promote it when its comparison holds "
                f"(scorestream models promote {name} VERSION).",
                train,
            )
        )
    elif severity == MEDIUM:
        found.append(
            Step(
                "Retrain only if it lasts",
                "The model's output has not drifted, so its decisions have hardly changed. "
                "Retrain when the drift persists for several days and the output, or the "
                "performance once labels arrive, starts to move.",
                train,
            )
        )
    elif alert.errored:
        found.append(
            Step(
                "No retraining needed",
                "Nothing drifted: fix what kept the features above from being checked (the "
                "messages say why), then check the day again.",
            )
        )
    return found
