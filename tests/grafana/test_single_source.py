"""One source of truth: the dashboards follow the daily check and share uids with the e-mail.

- every PSI / Jensen-Shannon colouring of the dashboards is the daily check's own warning
  and alert threshold (``DriftThresholds``), not a copy that can drift apart;
- the dashboards' uids and the links between them and from the alert e-mail come from
  ``scorestream.grafana.links``;
- ``grafana/`` is a package that stands alone (no ``tests`` imports), and the application
  image carries the links module the alert consumer needs.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from scorestream.grafana import links
from scorestream.grafana.dashboards import drift
from scorestream.streams.drift.decision import DriftThresholds

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "grafana"
DASHBOARDS = GRAFANA / "provisioning" / "dashboards"


def _checked_in() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


# Every place the dashboards colour PSI or Jensen-Shannon: (file, panel, table column or None
# for the panel's own thresholds, statistic).
DRIFT_COLOURINGS = [
    ("drift-overview.json", "Highest PSI in range (rolling)", None, "psi"),
    ("drift-overview.json", "PSI per feature", None, "psi"),
    ("drift-overview.json", "Jensen-Shannon distance per feature", None, "js"),
    ("drift-overview.json", "Drift heatmap: features over time (PSI)", None, "psi"),
    ("drift-overview.json", "Latest daily drift check", "psi", "psi"),
    ("drift-overview.json", "Latest daily drift check", "js_distance", "js"),
    ("feature-detail.json", "Drift statistics of this feature", None, "psi"),
    ("feature-detail.json", "Daily checks of this feature", "psi", "psi"),
    ("model-comparison.json", "Highest score PSI in range", None, "psi"),
    ("model-comparison.json", "Score PSI per challenger", None, "psi"),
    ("model-comparison.json", "Latest comparisons", "score_psi", "psi"),
]


def _thresholds_of(panel: dict[str, Any], column: str | None) -> dict[str, Any]:
    if column is None:
        return panel["fieldConfig"]["defaults"]["thresholds"]
    for override in panel["fieldConfig"]["overrides"]:
        if override["matcher"]["options"] == column:
            for prop in override["properties"]:
                if prop["id"] == "thresholds":
                    return prop["value"]
    raise AssertionError(f"{panel['title']}: no thresholds for {column}")


@pytest.mark.parametrize(("file", "title", "column", "statistic"), DRIFT_COLOURINGS)
def test_drift_colours_are_the_daily_checks_thresholds(
    file: str, title: str, column: str | None, statistic: str
) -> None:
    # The scheduler decides with DriftThresholds() (drift_check: thresholds or defaults):
    # a value the check alerts on must be red on the dashboards, and only such a value.
    check = DriftThresholds()
    panel = next(p for p in _checked_in()[file]["panels"] if p["title"] == title)
    steps = {s["color"]: s["value"] for s in _thresholds_of(panel, column)["steps"]}
    if steps.get(drift.NO_VALUE_COLOUR, 0) is None:
        # A stat that may have no value keeps the None step for that: green from 0.
        del steps[drift.NO_VALUE_COLOUR]
        assert steps["green"] == 0
        steps["green"] = None
    assert steps == {
        "green": None,
        "orange": getattr(check, f"{statistic}_warn"),
        "red": getattr(check, f"{statistic}_alert"),
    }


def test_every_drift_colouring_is_checked() -> None:
    # A new PSI/JS colouring must join DRIFT_COLOURINGS (and so follow the check).
    found = set()
    for file, dash in _checked_in().items():
        for panel in dash["panels"]:
            candidates = [(None, panel["fieldConfig"]["defaults"].get("thresholds"))] + [
                (o["matcher"]["options"], p["value"])
                for o in panel["fieldConfig"]["overrides"]
                for p in o["properties"]
                if p["id"] == "thresholds"
            ]
            for column, thresholds in candidates:
                values = {s["value"] for s in (thresholds or {"steps": []})["steps"]}
                if values & {drift.PSI_DRIFT, drift.JS_DRIFT, drift.JS_WARNING}:
                    found.add((file, panel["title"], column))
    assert found == {(f, t, c) for f, t, c, _ in DRIFT_COLOURINGS}


def test_dashboard_uids_and_links_come_from_the_links_module() -> None:
    dashboards = _checked_in()
    assert {d["uid"] for d in dashboards.values()} == {ref.uid for ref in links.DASHBOARDS}
    table = next(
        p
        for p in dashboards["drift-overview.json"]["panels"]
        if p["title"] == "Latest daily drift check"
    )
    (url,) = [
        link["url"]
        for o in table["fieldConfig"]["overrides"]
        for prop in o["properties"]
        if prop["id"] == "links"
        for link in prop["value"]
    ]
    assert url == (
        "/d/scorestream-feature-detail/feature-detail?var-feature=${__value.raw}"
        "&${__url_time_range}"
    )
    assert url.startswith(links.FEATURE_DETAIL.path + "?")


def test_alert_email_links_the_drift_overview_on_the_checked_period() -> None:
    import dataclasses

    from scorestream.consumers.alerting.email_message import dashboard_link
    from scorestream.contract import AlertMessage

    alert = AlertMessage(
        alert_id="daily:2026-03-01T00:00:00",
        check_kind="daily",
        period_start="2026-03-01T00:00:00",
        period_end="2026-03-02T00:00:00",
        model_version="v1",
        records=1000,
        features_checked=3,
        grafana_url="http://grafana:3000/",
        drifted=[],
    )
    # Epoch milliseconds: Grafana 12 does not parse ISO times in from/to (it read
    # "2026-03-01T00:00:00Z" as 2026 ms, i.e. 1970).
    assert dashboard_link(alert) == (
        "http://grafana:3000/d/scorestream-drift-overview/drift-overview"
        "?from=1772323200000&to=1772409600000"
    )
    assert datetime.fromtimestamp(1772323200, tz=UTC) == datetime(2026, 3, 1, tzinfo=UTC)
    assert dashboard_link(dataclasses.replace(alert, grafana_url=None)) is None


def test_dashboard_url_variables_and_aware_times() -> None:
    url = links.dashboard_url(
        "https://g.example",
        links.DRIFT_OVERVIEW,
        start=datetime.fromisoformat("2026-03-01T01:00:00+01:00"),
        end="now",
        variables={"feature": ["income", "a b"], "window": "rolling_1h"},
    )
    assert url == (
        "https://g.example/d/scorestream-drift-overview/drift-overview?from=1772323200000"
        "&to=now&var-feature=income&var-feature=a%20b&var-window=rolling_1h"
    )


def test_public_grafana_url_defaults_to_the_one_the_services_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from scorestream.settings import Settings

    for name in ("GRAFANA_URL", "GRAFANA_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)

    internal = Settings(grafana_url="http://grafana:3000")
    assert internal.grafana_public_url == "http://grafana:3000"
    both = Settings(grafana_url="http://grafana:3000", grafana_public_url="https://g.example")
    assert (both.grafana_url, both.grafana_public_url) == (
        "http://grafana:3000",
        "https://g.example",
    )
    assert Settings().grafana_public_url is None


def test_the_alert_links_the_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # check_day's own wiring, with the check, the delivery log and Kafka stubbed out: the
    # URL put into the alert (the e-mail's link) is the public one, not the services' one.
    from types import SimpleNamespace

    from scorestream.consumers.drift_check import schedule
    from scorestream.consumers.drift_check.check import CheckResult, Period
    from scorestream.settings import Settings
    from scorestream.streams.drift.decision import FeatureDecision

    drifted = FeatureDecision("income", "drift", 0.0, None, ("mean moved",))
    result = CheckResult(Period.day(date(2026, 3, 1)), "v", [drifted], None, [], model_name="m")
    monkeypatch.setattr(schedule, "check_models", lambda *args: [result])
    monkeypatch.setattr(schedule, "run_comparisons", lambda *args: [])
    monkeypatch.setattr(schedule, "run_labels_check", lambda *args: None)
    monkeypatch.setattr(schedule, "run_performance_checks", lambda *args, **kwargs: {})
    monkeypatch.setattr(schedule, "importance_entry", lambda *args: None)
    monkeypatch.setattr(
        schedule, "DeliveryLog", lambda *args: SimpleNamespace(delivered=lambda _: False)
    )
    monkeypatch.setattr(schedule, "ensure_topics", lambda *args: None)
    linked: list[str | None] = []
    monkeypatch.setattr(
        schedule, "alert_message", lambda _, url, *rest, **kw: linked.append(url) or url
    )
    monkeypatch.setattr(schedule, "publish_alert", lambda *args: None)
    settings = Settings(grafana_url="http://grafana:3000", grafana_public_url="https://g.example")
    schedule.check_day(settings, SimpleNamespace(), date(2026, 3, 1), client=object())  # type: ignore[arg-type]
    assert linked == ["https://g.example"]


def test_grafana_package_does_not_import_the_tests() -> None:
    for path in GRAFANA.rglob("*.py"):
        text = path.read_text()
        assert "sys.path" not in text, path
        assert not re.search(r"^\s*(from|import)\s+(tests|grafana_)", text, re.M), path


def test_application_image_gets_the_links_module() -> None:
    # The alert consumer imports scorestream.grafana.links: the image must contain it (and
    # need not contain the dashboard builders).
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^COPY grafana/__init__\.py grafana/links\.py \./grafana/$", dockerfile, re.M)
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert {"!grafana/__init__.py", "!grafana/links.py"} <= set(ignored)
    assert (REPO / "scorestream" / "grafana").resolve() == GRAFANA
