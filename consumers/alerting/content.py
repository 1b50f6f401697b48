"""Everything the alert e-mail says, gathered once; the text and HTML parts only lay it out.

Both parts are rendered from one :class:`Content`, so the plain-text part is as complete
as the HTML one: the same verdict, model, findings, output effect, steps and link.
"""

from __future__ import annotations

from dataclasses import dataclass

from scorestream.consumers.alerting.findings import Finding, describe
from scorestream.consumers.alerting.model_output import OutputEffect, effect
from scorestream.consumers.alerting.next_steps import Step, steps
from scorestream.consumers.alerting.readable import count
from scorestream.consumers.alerting.verdict import Verdict, day_of, verdict
from scorestream.contract import AlertMessage
from scorestream.grafana.links import DRIFT_OVERVIEW, dashboard_url

KIND_NAMES = {
    "binary": "binary classifier",
    "multiclass": "multi-class classifier",
    "regression": "regression model",
}


@dataclass(frozen=True)
class Content:
    """What the e-mail says, section by section."""

    alert: AlertMessage
    verdict: Verdict
    model: tuple[tuple[str, str], ...]
    findings: tuple[Finding, ...]
    output: OutputEffect | None
    steps: tuple[Step, ...]
    link: str | None

    @property
    def day(self) -> str:
        return day_of(self.alert)

    @property
    def errors(self) -> list[str]:
        """``feature: message`` of each feature that could not be checked."""
        return [f"{f['feature']}: {f.get('error', '')}" for f in self.alert.errored]


def dashboard_link(alert: AlertMessage) -> str | None:
    """The drift overview on the checked period and model: ``from``/``to`` in epoch
    milliseconds (what Grafana reads), ``var-model``/``var-version`` (its variables)."""
    if not alert.grafana_url:
        return None
    variables = (
        {"model": alert.model_name, "version": alert.model_version} if alert.model_name else {}
    )
    return dashboard_url(
        alert.grafana_url, DRIFT_OVERVIEW, start=alert.start, end=alert.end, variables=variables
    )


def model_facts(alert: AlertMessage) -> tuple[tuple[str, str], ...]:
    """``(label, value)`` lines naming the model and the checked period."""
    info = alert.model_info
    kind = KIND_NAMES.get(alert.model_kind, "")
    target = info.get("target")
    what = f"{kind} of '{target}'" if kind and target else kind
    classes = list(info.get("classes") or [])
    if alert.model_kind == "binary" and len(classes) == 2:
        what += f", positive class '{classes[1]}'"
    version = alert.model_version
    created = str(info.get("created_at") or "")[:10]
    if created:
        version += f", trained {created}"
    facts = [("Model", alert.model_name or "(unnamed)"), ("Version", version)]
    if what:
        facts.append(("Kind", what))
    period = f"{day_of(alert)} (UTC)" if alert.check_kind == "daily" else day_of(alert)
    facts.append(
        (
            "Checked",
            f"{period}: {count(alert.records)} records, {alert.features_checked} inputs",
        )
    )
    return tuple(facts)


def gather(alert: AlertMessage) -> Content:
    """The e-mail's content for ``alert``."""
    classes = list(alert.model_info.get("classes") or [])
    output = effect(alert.outputs, alert.model_kind, classes)
    said = verdict(alert, output)
    link = dashboard_link(alert)
    return Content(
        alert=alert,
        verdict=said,
        model=model_facts(alert),
        findings=tuple(describe(row, alert.features_checked) for row in alert.drifted),
        output=output,
        steps=tuple(steps(alert, said.severity, link)),
        link=link,
    )
