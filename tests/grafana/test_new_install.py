"""The dashboards on a new install, before any check ran, and the previews' own data.

A stat over an empty table must not show a number that reads as an answer: ``max()`` of
no rows is 0 (1970, "56 years ago") and a count is 0 (green, "nothing drifted"). Such a
stat returns no row instead, and Grafana shows its ``noValue`` text in the colour of the
base threshold step, which must not be the "all is well" colour.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest

from scorestream.grafana import sample_data
from scorestream.grafana.macros import expand
from scorestream.grafana.sample_data import (
    ChdbDatabase,
    Fixture,
    build_fixture,
    dashboard_context,
    in_database,
)
from scorestream.streams.drift.profile import SCORE_FEATURE
from scorestream.streams.validation import RejectionReason

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "grafana" / "provisioning" / "dashboards"
NO_CHECK = "no check yet"
# The stats that summarise the drift checks: each has nothing to say before one ran.
CHECK_STATS = (
    "Features flagged (latest daily check)",
    "Features checked",
    "Last daily check",
    "Highest PSI in range (rolling)",
)


def _dashboard(name: str) -> dict[str, Any]:
    return dict(json.loads((DASHBOARDS / name).read_text()))


def _panel(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    return next(p for p in dashboard["panels"] if p["title"] == title)


@pytest.fixture(scope="module")
def empty_db() -> Iterator[ChdbDatabase]:
    """The real migrations, and no rows: a new install."""
    db = ChdbDatabase(Fixture(), "scoring_new_install")
    yield db
    db.close()


@pytest.fixture(scope="module")
def loaded_db() -> Iterator[ChdbDatabase]:
    db = ChdbDatabase(build_fixture(), "scoring_loaded")
    yield db
    db.close()


def _run(db: ChdbDatabase, dashboard: dict[str, Any], title: str) -> list[list[Any]]:
    ctx = dashboard_context(dashboard, db, {"feature": ["$__all"]})
    sql = _panel(dashboard, title)["targets"][0]["rawSql"]
    return db.query(in_database(expand(sql, ctx), db.database)).rows


def _base_colour(panel: dict[str, Any]) -> str:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[0]["value"] is None
    return str(steps[0]["color"])


@pytest.mark.parametrize("title", CHECK_STATS)
def test_check_stats_say_no_check_yet_before_any_check(empty_db: ChdbDatabase, title: str) -> None:
    overview = _dashboard("drift-overview.json")
    panel = _panel(overview, title)
    # No row: Grafana shows noValue, not 0 or the epoch.
    assert _run(empty_db, overview, title) == []
    assert panel["fieldConfig"]["defaults"]["noValue"] == NO_CHECK
    # A missing value takes the base step's colour: neutral, never green.
    assert _base_colour(panel) not in ("green", "red")


def test_check_stats_still_answer_once_checks_ran(loaded_db: ChdbDatabase) -> None:
    overview = _dashboard("drift-overview.json")
    flagged = _panel(overview, "Features flagged (latest daily check)")
    assert _run(loaded_db, overview, flagged["title"]) == [[1]]
    # Zero flagged features after a check is good news, and green.
    steps = flagged["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(s["color"], s["value"]) for s in steps[1:]] == [("green", 0), ("red", 1)]
    (last_check,) = _run(loaded_db, overview, "Last daily check")
    assert last_check[0] >= int(sample_data.START.timestamp() * 1000)


def test_feature_detail_opens_on_an_input_feature(loaded_db: ChdbDatabase) -> None:
    # The model score is a monitored "feature" too, but not the one to open on.
    detail = _dashboard("feature-detail.json")
    (feature_var,) = [v for v in detail["templating"]["list"] if v["name"] == "feature"]
    ctx = dashboard_context(detail, loaded_db)
    assert ctx.variables["feature"] != SCORE_FEATURE
    assert ctx.variables["feature"] in sample_data.FEATURES
    assert SCORE_FEATURE in (ctx.options or {})["feature"], "the score stays selectable"
    assert feature_var["sort"] == 0, "Grafana would re-sort the options and put _score first"


def test_preview_fixture_uses_the_products_rejection_reasons() -> None:
    fixture = build_fixture()
    seen = {row["reason"] for row in fixture.tables["rejected_records"]}
    assert seen, "the fixture has rejected records"
    assert seen <= set(get_args(RejectionReason)), seen - set(get_args(RejectionReason))
    assert len(seen) >= 4, "the preview shows several reasons"
