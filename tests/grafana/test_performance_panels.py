"""The Model performance dashboard says what the stored rows say.

On the synthetic data (``scorestream.grafana.sample_performance``): a month of the loan
model's daily verdicts (a concept shift nine days before the end, a rollout to ``v2`` on the
last day), its two challengers' rows (``challenger_daily``), an estimate-only multi-class
model, and the labels of the loan model's records, arriving late. Every panel's SQL is
expanded as the plugin expands it and run on chDB against the real migrations (the same
queries run on ClickHouse 18.16 in ``test_dashboards.py``); the answers are checked against
the rows and the labels the fixture wrote, counted again in Python.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scorestream.consumers.drift_check.check import DAILY
from scorestream.consumers.performance.check import CHALLENGER_DAILY, LEVELS
from scorestream.grafana.macros import expand
from scorestream.grafana.sample_data import (
    ChdbDatabase,
    Fixture,
    Result,
    build_fixture,
    dashboard_context,
    in_database,
    parse_time,
    time_range,
    to_series,
)
from scorestream.grafana.sample_models import CHALLENGERS, LOAN_MODEL, OTHER_MODEL
from scorestream.grafana.sample_performance import CONCEPT_SHIFT_AT, POSITIVE

DASHBOARD = json.loads(
    (
        Path(__file__).resolve().parents[2]
        / "grafana"
        / "provisioning"
        / "dashboards"
        / "model-performance.json"
    ).read_text()
)
STATS = (
    "Metrics alerting (latest checked day)",
    "Days alerting in range",
    "Label coverage (latest checked day)",
    "Median label delay (range)",
)


@pytest.fixture(scope="module")
def fixture_data() -> Fixture:
    return build_fixture()


@pytest.fixture(scope="module")
def db(fixture_data: Fixture) -> Iterator[ChdbDatabase]:
    database = ChdbDatabase(fixture_data, "scoring_performance")
    yield database
    database.close()


def run(db: ChdbDatabase, title: str, choices: dict[str, Any] | None = None) -> Result:
    query = next(p["targets"][0]["rawSql"] for p in DASHBOARD["panels"] if p["title"] == title)
    ctx = dashboard_context(DASHBOARD, db, choices)
    return db.query(in_database(expand(query, ctx), db.database))


def stored(fixture: Fixture, kind: str, name: str) -> list[dict[str, Any]]:
    return [
        r
        for r in fixture.tables["model_performance"]
        if r["check_kind"] == kind and r["model_name"] == name
    ]


def main_versions(fixture: Fixture) -> dict[datetime, str]:
    """Of each day, the loan model's version that scored the most records."""
    scored = {
        (r["period_start"], r["model_version"]): r["n"]
        for r in stored(fixture, DAILY, LOAN_MODEL)
        if r["source"] == "reference"
    }
    best: dict[datetime, str] = {}
    # Ascending by records scored: the day's largest version is written last.
    for day, version in sorted(scored, key=lambda key: scored[key]):
        best[parse_time(day)] = version
    return best


def by_day(rows: list[dict[str, Any]], metric: str, source: str) -> dict[datetime, Any]:
    return {
        parse_time(r["period_start"]): r
        for r in rows
        if r["metric"] == metric and r["source"] == source
    }


def test_the_model_variable_lists_champions_and_the_metric_their_judged_metrics(
    db: ChdbDatabase,
) -> None:
    ctx = dashboard_context(DASHBOARD, db)
    # Challengers have rows of their own, under their own names: not models to choose.
    assert (ctx.options or {})["model"] == [LOAN_MODEL, OTHER_MODEL]
    assert ctx.variables["model"] == LOAN_MODEL
    assert (ctx.options or {})["metric"] == ["accuracy", "roc_auc"]
    wine = dashboard_context(DASHBOARD, db, {"model": OTHER_MODEL})
    assert (wine.options or {})["metric"] == ["accuracy", "macro_f1"]


@pytest.mark.parametrize("metric", ["accuracy", "roc_auc"])
def test_realised_against_estimated_is_the_main_versions_rows(
    db: ChdbDatabase, fixture_data: Fixture, metric: str
) -> None:
    result = run(db, "Realised against estimated", {"metric": metric})
    rows = stored(fixture_data, DAILY, LOAN_MODEL)
    main = main_versions(fixture_data)
    assert main[max(main)] == "v1"  # the rollout day: v2 scored its last hours only
    start, end = time_range(DASHBOARD)
    days = sorted(d for d in main if start <= d <= end)
    assert [parse_time(t) for t in result.column("time")] == days
    ours = [r for r in rows if r["model_version"] == main[parse_time(r["period_start"])]]
    sources = {s: by_day(ours, metric, s) for s in ("realised", "estimated", "reference")}
    for day, realised, estimated, low, high, reference in result.rows:
        day = parse_time(day)
        judged = sources["realised"].get(day)
        if judged is None or judged["level"] == "insufficient":
            assert realised is None, day  # a gap, not a figure from a handful of labels
        else:
            assert realised == pytest.approx(judged["value"])
        row = sources["estimated"][day]
        assert (estimated, low, high) == pytest.approx(
            (row["value"], row["band_low"], row["band_high"])
        )
        assert reference == pytest.approx(sources["reference"][day]["value"])
    series = to_series(result)
    # The story of the sample: the estimate cannot see the concept shift; realised can.
    shifted = [
        v
        for t, v in zip(*series["realised"], strict=True)
        if t >= CONCEPT_SHIFT_AT and math.isfinite(v)
    ]
    before = [v for t, v in zip(*series["realised"], strict=True) if t < CONCEPT_SHIFT_AT]
    assert shifted and max(shifted) < min(before)
    assert all(math.isfinite(v) for v in series["estimated"][1])


def test_the_verdict_grid_codes_each_days_level(db: ChdbDatabase, fixture_data: Fixture) -> None:
    result = run(db, "Verdict per metric")
    main = main_versions(fixture_data)
    truth = {
        (parse_time(r["period_start"]), r["metric"]): LEVELS.index(r["level"]) + 1
        for r in stored(fixture_data, DAILY, LOAN_MODEL)
        if r["source"] == "reference" and r["model_version"] == main[parse_time(r["period_start"])]
    }
    got = {(parse_time(t), m): v for t, m, v in result.rows}
    assert got == truth
    assert got[(max(main), "accuracy")] == LEVELS.index("alert") + 1
    panel = next(p for p in DASHBOARD["panels"] if p["title"] == "Verdict per metric")
    texts = panel["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert {int(code): o["text"] for code, o in texts.items()} == {
        i + 1: level for i, level in enumerate(LEVELS)
    }


def test_challengers_realised_beside_the_champions(db: ChdbDatabase, fixture_data: Fixture) -> None:
    series = to_series(run(db, "Realised: champion and challengers", {"metric": "roc_auc"}))
    names = {f"{name}@{version}" for name, version, _, _ in CHALLENGERS}
    assert set(series) == {f"{LOAN_MODEL} (champion)", *names}
    for name, version, _, _ in CHALLENGERS:
        rows = by_day(stored(fixture_data, CHALLENGER_DAILY, name), "roc_auc", "realised")
        judged = {d: r["value"] for d, r in rows.items() if r["level"] != "insufficient"}
        times, values = series[f"{name}@{version}"]
        assert dict(zip(times, values, strict=True)) == pytest.approx(judged)
    champion = dict(zip(*series[f"{LOAN_MODEL} (champion)"], strict=True))
    main = main_versions(fixture_data)
    ours = [
        r
        for r in stored(fixture_data, DAILY, LOAN_MODEL)
        if r["model_version"] == main[parse_time(r["period_start"])]
    ]
    rows = by_day(ours, "roc_auc", "realised")
    assert champion == pytest.approx(
        {d: r["value"] for d, r in rows.items() if r["level"] != "insufficient"}
    )


def _labelled(fixture: Fixture, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
    """(event day, scored, label delay or None, score, positive or None) per record."""
    labels = {r["id"]: r for r in fixture.tables["labels"]}
    records = []
    for r in {r["id"]: r for r in fixture.tables["scores"]}.values():
        event = parse_time(r["event_time"])
        if r["model_name"] != LOAN_MODEL or not start <= event <= end:
            continue
        label = labels.get(r["id"])
        delay = (parse_time(label["label_time"]) - event).total_seconds() if label else None
        positive = label["label"] == POSITIVE if label else None
        day = event.replace(hour=0, minute=0, second=0)
        records.append((day, r["score"], delay, positive))
    return records


def test_label_coverage_and_delay_are_the_labels_joined_to_the_scores(
    db: ChdbDatabase, fixture_data: Fixture
) -> None:
    records = _labelled(fixture_data, *time_range(DASHBOARD))
    scored: dict[datetime, int] = defaultdict(int)
    delays: dict[datetime, list[float]] = defaultdict(list)
    for day, _, delay, _ in records:
        scored[day] += 1
        if delay is not None:
            delays[day].append(delay)
    coverage = dict(zip(*to_series(run(db, "Label coverage"))["coverage"], strict=True))
    assert coverage == pytest.approx({d: len(delays[d]) / n for d, n in scored.items()})
    assert 0.8 < coverage[min(coverage)] < 0.9 and coverage[max(coverage)] < 0.2  # late labels

    def exact(values: list[float], q: float) -> float:  # quantileExact: the floor(q n)-th
        return sorted(values)[int(q * len(values))]

    delay = to_series(run(db, "Label delay"))
    for name, q in (("p50", 0.5), ("p90", 0.9)):
        times, values = delay[name]
        assert dict(zip(times, values, strict=True)) == {d: exact(v, q) for d, v in delays.items()}
    everything = [d for values in delays.values() for d in values]
    assert run(db, "Median label delay (range)").rows == [[exact(everything, 0.5)]]


def test_calibration_is_the_observed_positive_rate_per_tenth_of_the_score(
    db: ChdbDatabase, fixture_data: Fixture
) -> None:
    records = [r for r in _labelled(fixture_data, *time_range(DASHBOARD)) if r[3] is not None]
    bins: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    for _, score, _, positive in records:
        bins[min(math.floor(score * 10), 9)].append((score, positive))
    result = run(db, "Calibration (binary models)")
    assert result.columns == ["score_range", "predicted", "observed"]
    cells = [cell for _, cell in sorted(bins.items())]
    assert result.column("predicted") == pytest.approx([np.mean([s for s, _ in c]) for c in cells])
    assert result.column("observed") == pytest.approx([np.mean([p for _, p in c]) for c in cells])
    assert result.column("score_range")[:2] == ["0 to 0.1", "0.1 to 0.2"]
    # The concept shift flattened the label rule: high scores are positive less often.
    top = result.rows[-1]
    assert top[2] < top[1]
    # A multi-class model has no calibration of a positive class.
    assert run(db, "Calibration (binary models)", {"model": OTHER_MODEL}).rows == []


def test_an_estimate_without_labels_has_no_realised_line(db: ChdbDatabase) -> None:
    result = run(db, "Realised against estimated", {"model": OTHER_MODEL, "metric": "macro_f1"})
    assert len(result.rows) == 1
    assert result.column("realised") == [None]
    assert result.column("estimated")[0] is not None


def test_the_latest_verdicts_are_the_last_checked_days_rows(
    db: ChdbDatabase, fixture_data: Fixture
) -> None:
    result = run(db, "Latest verdicts")
    last = max(r["period_start"] for r in stored(fixture_data, DAILY, LOAN_MODEL))
    names = {LOAN_MODEL} | {name for name, *_ in CHALLENGERS}
    expected = [
        r
        for r in fixture_data.tables["model_performance"]
        if r["period_start"] == last and r["model_name"] in names
    ]
    assert len(result.rows) == len(expected)
    roles = result.column("role")
    assert roles == sorted(roles, reverse=True) and roles[0] == "champion"
    assert set(result.column("version")) == {f"{LOAN_MODEL}@v1", f"{LOAN_MODEL}@v2"} | {
        f"{name}@{version}" for name, version, *_ in CHALLENGERS
    }
    alerting = {
        (r["model_version"], r["metric"])
        for r in expected
        if r["check_kind"] == DAILY and r["source"] == "reference" and r["level"] == "alert"
    }
    assert run(db, "Metrics alerting (latest checked day)").rows == [[len(alerting)]]
    days = {
        r["period_start"]
        for r in stored(fixture_data, DAILY, LOAN_MODEL)
        if r["source"] == "reference"
        and r["level"] == "alert"
        and time_range(DASHBOARD)[0] <= parse_time(r["period_start"])
    }
    assert run(db, "Days alerting in range").rows == [[len(days)]]


def test_stats_say_no_check_yet_on_a_new_install() -> None:
    empty = ChdbDatabase(Fixture(), "scoring_performance_empty")
    try:
        for title in STATS:
            panel = next(p for p in DASHBOARD["panels"] if p["title"] == title)
            ctx = dashboard_context(DASHBOARD, empty)
            sql = in_database(expand(panel["targets"][0]["rawSql"], ctx), empty.database)
            assert empty.query(sql).rows == [], title  # Grafana shows noValue, not 0
            defaults = panel["fieldConfig"]["defaults"]
            assert defaults["noValue"] in ("no check yet", "no label yet")
            assert defaults["thresholds"]["steps"][0]["color"] not in ("green", "red")
    finally:
        empty.close()


def test_the_dashboard_opens_on_a_month_of_days() -> None:
    assert DASHBOARD["time"] == {"from": "now-30d", "to": "now"}
    start, end = time_range(DASHBOARD)
    assert end - start == timedelta(days=30)
