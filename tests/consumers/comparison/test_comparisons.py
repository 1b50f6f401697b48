"""Champion against challenger on real ClickHouse 18.16, checked against numpy.

Each test trains a champion and a challenger that differs on purpose (another algorithm
and another feature set) on a data set bundled with scikit-learn, stores both models'
scores of the same records as the sink would (with replayed rows, champion-only records
and records outside the day), runs the comparison and compares every stored number with a
direct numpy computation on the scores read back from ClickHouse.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from scorestream.consumers.clickhouse import apply_migrations
from scorestream.consumers.comparison.compare import ComparisonOptions, compare_period
from scorestream.consumers.drift_check.models import ModelLocator
from scorestream.contract import CHALLENGER_SCORES, SCORES
from scorestream.settings import Settings
from scorestream.streams.drift.profile import SCORE_FEATURE
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.model.versions import ModelRegistry
from tests.consumers.comparison.score_rows import (
    expected_row,
    insert,
    score_rows,
    stored_pairs,
)

DAY = datetime(2026, 5, 4)
NEXT_DAY = DAY + timedelta(days=1)


def stored(client: Any, database: str) -> dict[tuple[str, str], dict[str, Any]]:
    columns = (
        "champion_name, challenger_name, model_kind, n_paired, agreement_rate, tolerance, "
        "mean_difference, difference_quantiles, quantile_levels, score_psi, check_kind"
    )
    rows = client.execute(f"SELECT {columns} FROM {database}.model_comparisons FINAL")
    names = [c.strip() for c in columns.split(",")]
    return {(r[0], r[1]): dict(zip(names, r, strict=True)) for r in rows}


def assert_matches(row: dict[str, Any], expected: dict[str, Any]) -> None:
    assert row["n_paired"] == expected["n_paired"]
    assert row["agreement_rate"] == pytest.approx(expected["agreement_rate"], abs=1e-12)
    assert row["tolerance"] == pytest.approx(expected["tolerance"], rel=1e-9)
    assert row["mean_difference"] == pytest.approx(expected["mean_difference"], rel=1e-9)
    assert row["difference_quantiles"] == pytest.approx(expected["difference_quantiles"])
    assert row["score_psi"] == pytest.approx(expected["score_psi"], rel=1e-9)


def store_day(
    client: Any,
    database: str,
    champion: list[tuple[Any, ...]],
    challengers: list[list[tuple[Any, ...]]],
) -> None:
    """Both sides, plus what a comparison must ignore: replays, unpaired and other days."""
    insert(client, database, SCORES, champion)
    for rows in challengers:
        insert(client, database, CHALLENGER_SCORES, rows)
        # A replay of the first 50 records after a crash: the same rows again.
        insert(client, database, CHALLENGER_SCORES, rows[:50])
    insert(client, database, SCORES, champion[:50])


def cancer_frame() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    return frame


def test_binary_challenger_on_the_champions_reference_bins(
    settings: Settings, ch_client: Any, tmp_path: Path
) -> None:
    from sklearn.ensemble import RandomForestClassifier

    from scorestream.streams.model.train import train_model

    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    frame = cancer_frame()
    train_model(frame, "target", tmp_path / "cancer", name="cancer", seed=0)
    registry = ModelRegistry(tmp_path / "models")
    resolved = registry.add(tmp_path / "cancer")
    champion = LoadedModel.load(resolved.path)
    features = frame.drop(columns="target")
    predicted = champion.predict(features)
    # The challenger: another algorithm on a quarter of the features.
    subset = list(features.columns[:8])
    forest = RandomForestClassifier(n_estimators=50, max_depth=3, random_state=0)
    forest.fit(features[subset], frame["target"])
    challenger_scores = forest.predict_proba(features[subset])[:, 1]
    challenger_labels = forest.predict(features[subset])

    ids = [f"r{k}" for k in range(len(frame))]
    # The last 69 records were scored by the champion only (the challenger started late).
    paired = len(frame) - 69
    store_day(
        ch_client,
        database,
        score_rows(
            ids, DAY, "cancer", champion.version, "binary", predicted.scores, list(predicted.labels)
        ),
        [
            score_rows(
                ids[:paired],
                DAY,
                "cancer-forest",
                "f1",
                "binary",
                challenger_scores[:paired],
                list(challenger_labels[:paired]),
            ),
        ],
    )
    locator = ModelLocator(tmp_path / "models")
    rows = compare_period(
        ch_client,
        database,
        "daily",
        DAY,
        NEXT_DAY,
        reference_edges=locator.score_edges,
        reference_std=locator.score_std,
    )
    assert len(rows) == 1
    row = stored(ch_client, database)[("cancer", "cancer-forest")]
    pairs = stored_pairs(ch_client, database, DAY, NEXT_DAY, "cancer-forest")
    assert len(pairs) == paired
    edges = np.asarray(champion.profile[SCORE_FEATURE].edges)  # type: ignore[union-attr]
    assert_matches(row, expected_row(pairs, "binary", edges, None))
    assert row["model_kind"] == "binary" and row["check_kind"] == "daily"
    # The challenger really differs, and the comparison says so.
    assert 0.8 < row["agreement_rate"] < 1.0
    assert row["score_psi"] > 0.0

    # Rerunning the period replaces its row.
    compare_period(ch_client, database, "daily", DAY, NEXT_DAY, reference_edges=locator.score_edges)
    count = ch_client.execute(f"SELECT count() FROM {database}.model_comparisons FINAL")
    assert count == [(1,)]


def test_multiclass_challengers_on_deciles_of_the_champions_scores(
    settings: Settings, ch_client: Any
) -> None:
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    data = load_wine(as_frame=True)
    x, y = data.data, data.target
    champion = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(x.iloc[:, :4], y)
    shallow = DecisionTreeClassifier(max_depth=1, random_state=0).fit(x.iloc[:, 4:8], y)
    classes = [str(c) for c in champion.classes_]
    ids = [f"w{k}" for k in range(len(x))]

    def rows(name: str, version: str, model: Any, columns: pd.DataFrame) -> list[Any]:
        probabilities = model.predict_proba(columns)
        return score_rows(
            ids,
            DAY,
            name,
            version,
            "multiclass",
            probabilities.max(axis=1),
            [str(v) for v in model.predict(columns)],
            probabilities,
            classes,
        )

    store_day(
        ch_client,
        database,
        rows("wine", "v1", champion, x),
        [
            rows("wine-tree", "t1", tree, x.iloc[:, :4]),
            rows("wine-stump", "s1", shallow, x.iloc[:, 4:8]),
        ],
    )
    # Yesterday's challenger rows of the same ids: outside the period, never paired.
    yesterday = score_rows(
        ids[:20],
        DAY - timedelta(days=1),
        "wine-tree",
        "t1",
        "multiclass",
        np.full(20, 0.5),
        ["0"] * 20,
    )
    insert(ch_client, database, CHALLENGER_SCORES, yesterday)

    written = compare_period(ch_client, database, "daily", DAY, NEXT_DAY)  # no registry
    assert {(r["challenger_name"], r["n_paired"]) for r in written} == {
        ("wine-tree", len(x)),
        ("wine-stump", len(x)),
    }
    found = stored(ch_client, database)
    for name in ("wine-tree", "wine-stump"):
        pairs = stored_pairs(ch_client, database, DAY, NEXT_DAY, name)
        assert_matches(found[("wine", name)], expected_row(pairs, "multiclass", None, None))
        assert found[("wine", name)]["model_kind"] == "multiclass"
    # The stump sees fewer features with one split: it agrees less than the deeper tree.
    assert (
        found[("wine", "wine-stump")]["agreement_rate"]
        < found[("wine", "wine-tree")]["agreement_rate"]
    )


def test_regression_agreement_within_a_tolerance(settings: Settings, ch_client: Any) -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.tree import DecisionTreeRegressor

    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    champion = Ridge(alpha=0.1).fit(x, y).predict(x)
    challenger = (
        DecisionTreeRegressor(max_depth=4, random_state=0)
        .fit(x[["bmi", "s5", "bp"]], y)
        .predict(x[["bmi", "s5", "bp"]])
    )
    ids = [f"d{k}" for k in range(len(x))]
    store_day(
        ch_client,
        database,
        score_rows(ids, DAY, "diabetes", "r1", "regression", champion, [""] * len(x)),
        [score_rows(ids, DAY, "diabetes-tree", "t1", "regression", challenger, [""] * len(x))],
    )
    pairs = stored_pairs(ch_client, database, DAY, NEXT_DAY, "diabetes-tree")

    # Default: a tenth of the champion's score standard deviation (no profile: the period's).
    compare_period(ch_client, database, "daily", DAY, NEXT_DAY)
    row = stored(ch_client, database)[("diabetes", "diabetes-tree")]
    assert_matches(row, expected_row(pairs, "regression", None, None))
    assert 0.0 < row["agreement_rate"] < 1.0

    # An absolute tolerance, and a rolling window of the first 12 hours' records.
    end = DAY + timedelta(hours=12)
    compare_period(
        ch_client,
        database,
        "rolling_24h",
        DAY - timedelta(hours=12),
        end,
        options=ComparisonOptions(tolerance=25.0),
    )
    rolling = ch_client.execute(
        f"SELECT n_paired, agreement_rate, tolerance FROM {database}.model_comparisons FINAL "
        "WHERE check_kind = 'rolling_24h'"
    )
    half = stored_pairs(ch_client, database, DAY, end, "diabetes-tree")
    want = expected_row(half, "regression", None, 25.0)
    assert rolling == [(want["n_paired"], pytest.approx(want["agreement_rate"]), 25.0)]
    assert 0 < want["n_paired"] < len(x)
