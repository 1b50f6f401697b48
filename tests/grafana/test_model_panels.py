"""The dashboards keep models apart, and the Model comparison panels say what the rows say.

On the synthetic data (``scorestream.grafana.sample_models``): two drift models, whose
rows the ``model``/``version`` variables separate; the comparison rows of two challengers,
which the panels must show per challenger unchanged; multi-class and regression outputs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scorestream.grafana.macros import expand
from scorestream.grafana.sample_data import (
    ChdbDatabase,
    Fixture,
    Result,
    build_fixture,
    dashboard_context,
    in_database,
    in_window,
    parse_time,
    to_series,
)

DASHBOARDS = Path(__file__).resolve().parents[2] / "grafana" / "provisioning" / "dashboards"


@pytest.fixture(scope="module")
def fixture_data() -> Fixture:
    return build_fixture()


@pytest.fixture(scope="module")
def db(fixture_data: Fixture) -> Iterator[ChdbDatabase]:
    database = ChdbDatabase(fixture_data, "scoring_models")
    yield database
    database.close()


def run(db: ChdbDatabase, file: str, title: str, choices: dict[str, Any] | None = None) -> Result:
    dashboard = json.loads((DASHBOARDS / file).read_text())
    query = next(
        target["rawSql"]
        for panel in dashboard["panels"]
        if panel["title"] == title
        for target in panel["targets"]
    )
    ctx = dashboard_context(dashboard, db, choices)
    return db.query(in_database(expand(query, ctx), db.database))


def test_drift_overview_shows_one_model_version_at_a_time(db: ChdbDatabase) -> None:
    # Default: the first named model, its most recent version.
    loans = run(db, "drift-overview.json", "Latest daily drift check")
    assert "alcohol" not in loans.column("feature") and "income" in loans.column("feature")
    wine = run(db, "drift-overview.json", "Latest daily drift check", {"model": "wine"})
    levels = dict(zip(wine.column("feature"), wine.column("level"), strict=True))
    assert levels.keys() == {"alcohol", "_score", "_model"}
    assert levels["_model"] == "error"
    checked = run(db, "drift-overview.json", "Features checked", {"model": "wine"})
    assert checked.rows == [[3]]


def test_drift_overview_colours_the_error_level() -> None:
    dashboard = json.loads((DASHBOARDS / "drift-overview.json").read_text())
    panel = next(p for p in dashboard["panels"] if p["title"] == "Latest daily drift check")
    level = next(o for o in panel["fieldConfig"]["overrides"] if o["matcher"]["options"] == "level")
    mapping = level["properties"][0]["value"][0]["options"]
    assert set(mapping) == {"ok", "warning", "drift", "error"}


def test_agreement_per_challenger_is_the_stored_rows(
    db: ChdbDatabase, fixture_data: Fixture
) -> None:
    series = to_series(run(db, "model-comparison.json", "Agreement rate per challenger"))
    rows = [r for r in fixture_data.tables["model_comparisons"] if r["check_kind"] == "rolling_1h"]
    assert set(series) == {f"{r['challenger_name']}@{r['challenger_version']}" for r in rows}
    for name, (times, values) in series.items():
        truth: dict[Any, float] = {}
        for r in rows:
            if f"{r['challenger_name']}@{r['challenger_version']}" == name:
                at = parse_time(r["period_end"])
                truth[at] = min(truth.get(at, 1.0), r["agreement_rate"])
        assert times == sorted(truth)
        np.testing.assert_allclose(values, [truth[t] for t in times])


def test_challenger_variable_narrows_the_panels(db: ChdbDatabase) -> None:
    chosen = run(
        db,
        "model-comparison.json",
        "Latest comparisons",
        {"challenger": ["loan-default-small"], "window": "daily"},
    )
    assert chosen.column("challenger") == ["loan-default-small@s1"] * len(chosen.rows)
    assert set(chosen.column("model_kind")) == {"binary"}


def test_other_kinds_have_their_own_panels(db: ChdbDatabase, fixture_data: Fixture) -> None:
    classes = to_series(run(db, "scoring-operations.json", "Predicted class (multi-class models)"))
    assert set(classes) == {"wine: class_0", "wine: class_1", "wine: class_2"}
    wine = [r for r in fixture_data.tables["scores"] if r["model_kind"] == "multiclass"]
    assert sum(sum(values) for _, values in classes.values()) == len(wine)
    regression = to_series(
        run(db, "scoring-operations.json", "Prediction quantiles (regression models)")
    )
    assert set(regression) == {"p05 diabetes", "p50 diabetes", "p95 diabetes"}
    assert np.median(regression["p50 diabetes"][1]) > 100  # a prediction, not a probability
    # And it stays out of the probability panels.
    histogram = run(db, "scoring-operations.json", "Score histogram")
    scores = in_window(fixture_data.tables["scores"])  # the dashboard's 36 hours
    binary = {r["id"] for r in scores if r["model_kind"] != "regression"}
    assert sum(histogram.column("records")) == len(binary)
