"""Every model kind end to end: train or register -> produce -> worker -> sink -> drift check.

scikit-learn's wine (multi-class) and diabetes (regression) are trained with
``scorestream train --task ... --register``; a user's own random forest on the breast
cancer data is saved with ``skops.io.dump`` and registered with ``scorestream models
register``. Each is scored by a real worker on the real broker, and the rows in ClickHouse
are compared with a direct ``predict_proba``/``predict`` of the same records.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scorestream.child_process import run_cli
from scorestream.settings import Settings
from scorestream.streams.drift.profile import PREDICTED_CLASS_FEATURE, SCORE_FEATURE
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.model.versions import ModelRegistry
from scorestream.topics import ensure_topics
from tests.fixtures.worker import WorkerFactory
from tests.kafka_io import binned_count, collect

pytestmark = pytest.mark.integration


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = run_cli(list(args), env, timeout_s=300)
    assert result.returncode == 0, result.stderr
    return result


def _records(frame: pd.DataFrame, day: str, path: Path) -> pd.DataFrame:
    """The frame's features as records with ids and one event every 10 s of ``day``.

    Returns the records as read back from the file: exactly what the worker scores (JSON
    keeps 15 significant digits here, not every bit of a float).
    """
    records = frame.copy()
    records.insert(0, "id", [f"r{i}" for i in range(len(frame))])
    start = pd.Timestamp(f"{day}T00:00:00")
    times = [(start + pd.Timedelta(seconds=10 * i)).isoformat() for i in range(len(frame))]
    records.insert(1, "event_time", times)
    records.to_json(path, orient="records", lines=True, double_precision=15)
    return pd.read_json(path, lines=True, dtype=False)


def _score_and_check(
    settings: Settings,
    env: dict[str, str],
    start_worker: WorkerFactory,
    ch_client: Any,
    version_dir: Path,
    records: pd.DataFrame,
    records_file: Path,
    day: str,
) -> tuple[pd.DataFrame, dict[str, int], dict[str, str]]:
    """Score the records end to end; the stored scores, drift counts and check levels."""
    n = len(records)
    ensure_topics(settings)
    _cli(env, "produce", "--file", str(records_file), "--quiet")
    start_worker("--model-dir", str(version_dir))
    messages = collect(settings, settings.topics.scores, until=lambda m: len(m) >= n, timeout_s=180)
    assert len(messages) == n
    collect(
        settings,
        settings.topics.drift_stats,
        until=lambda m: binned_count(m, SCORE_FEATURE) >= n,
        timeout_s=180,
    )
    _cli(env, "sink", "--once")
    database = settings.clickhouse.database
    rows = ch_client.execute(
        f"SELECT id, score, label, model_kind, class_labels, class_probabilities, "
        f"model_version FROM {database}.scores FINAL"
    )
    stored = pd.DataFrame(
        rows, columns=["id", "score", "label", "kind", "classes", "probabilities", "version"]
    ).set_index("id")
    counts = dict(
        ch_client.execute(
            f"SELECT feature, sum(count) FROM {database}.drift_stats FINAL "
            "WHERE feature IN ('_score', '_predicted_class') GROUP BY feature"
        )
    )
    _cli({**env, "MODEL_DIR": str(version_dir)}, "drift-check", "--date", day)
    levels = dict(
        ch_client.execute(
            f"SELECT feature, level FROM {database}.drift_checks FINAL "
            "WHERE check_kind = 'daily' AND period_start = %(day)s",
            {"day": pd.Timestamp(day).to_pydatetime()},
        )
    )
    return stored.loc[records["id"]], counts, levels


def _registry_env(settings_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**settings_env, "MODELS_DIR": str(tmp_path / "models")}


def test_wine_multiclass_end_to_end(
    settings: Settings,
    settings_env: dict[str, str],
    start_worker: WorkerFactory,
    ch_client: Any,
    tmp_path: Path,
) -> None:
    wine = load_wine(as_frame=True).frame
    wine.to_csv(tmp_path / "wine.csv", index=False)
    env = _registry_env(settings_env, tmp_path)
    trained = _cli(
        env,
        *("train", "--data", str(tmp_path / "wine.csv"), "--target", "target"),
        *("--task", "multiclass", "--name", "wine", "--register", "--alias", "champion"),
    )
    assert "macro F1" in trained.stderr
    resolved = ModelRegistry(tmp_path / "models").resolve("wine@champion")
    features = wine.drop(columns="target")
    records = _records(features, "2026-05-11", tmp_path / "wine.jsonl")

    stored, counts, levels = _score_and_check(
        settings,
        env,
        start_worker,
        ch_client,
        resolved.path,
        records,
        tmp_path / "wine.jsonl",
        "2026-05-11",
    )
    pipeline = LoadedModel.load(resolved.path).pipeline
    features = records[features.columns]
    direct = pipeline.predict_proba(features)
    assert set(stored["kind"]) == {"multiclass"}
    assert set(stored["version"]) == {resolved.version}
    assert all(list(c) == ["0", "1", "2"] for c in stored["classes"])
    np.testing.assert_allclose(np.vstack(stored["probabilities"].to_numpy()), direct, atol=1e-12)
    np.testing.assert_allclose(stored["score"].to_numpy(), direct.max(axis=1), atol=1e-12)
    assert list(stored["label"]) == [str(c) for c in pipeline.predict(features)]
    assert counts == {SCORE_FEATURE: len(wine), PREDICTED_CLASS_FEATURE: len(wine)}
    assert {SCORE_FEATURE, PREDICTED_CLASS_FEATURE} <= set(levels)
    assert levels[PREDICTED_CLASS_FEATURE] in {"ok", "warn", "drift"}


def test_diabetes_regression_end_to_end(
    settings: Settings,
    settings_env: dict[str, str],
    start_worker: WorkerFactory,
    ch_client: Any,
    tmp_path: Path,
) -> None:
    diabetes = load_diabetes(as_frame=True).frame
    diabetes.to_csv(tmp_path / "diabetes.csv", index=False)
    env = _registry_env(settings_env, tmp_path)
    trained = _cli(
        env,
        *("train", "--data", str(tmp_path / "diabetes.csv"), "--target", "target"),
        *("--task", "regression", "--name", "diabetes", "--register", "--alias", "champion"),
    )
    assert "RMSE" in trained.stderr
    resolved = ModelRegistry(tmp_path / "models").resolve("diabetes")
    features = diabetes.drop(columns="target")
    records = _records(features, "2026-05-12", tmp_path / "diabetes.jsonl")

    stored, counts, levels = _score_and_check(
        settings,
        env,
        start_worker,
        ch_client,
        resolved.path,
        records,
        tmp_path / "diabetes.jsonl",
        "2026-05-12",
    )
    direct = LoadedModel.load(resolved.path).pipeline.predict(records[features.columns])
    assert set(stored["kind"]) == {"regression"}
    np.testing.assert_allclose(stored["score"].to_numpy(), direct, rtol=1e-12)
    assert set(stored["label"]) == {""}
    assert all(len(p) == 0 for p in stored["probabilities"])
    assert counts == {SCORE_FEATURE: len(diabetes)}
    assert SCORE_FEATURE in levels and PREDICTED_CLASS_FEATURE not in levels


def test_a_users_skops_pipeline_end_to_end(
    settings: Settings,
    settings_env: dict[str, str],
    start_worker: WorkerFactory,
    ch_client: Any,
    tmp_path: Path,
) -> None:
    cancer = load_breast_cancer(as_frame=True).frame
    features = cancer.drop(columns="target")
    # The user's own choice of estimator, fitted on part of the data, saved with skops.
    pipeline = make_pipeline(
        StandardScaler(), ExtraTreesClassifier(n_estimators=40, random_state=1)
    )
    pipeline.fit(features.iloc[:350], cancer["target"].iloc[:350])
    skops.io.dump(pipeline, tmp_path / "extra_trees.skops")
    cancer.iloc[350:].to_parquet(tmp_path / "reference.parquet")
    env = _registry_env(settings_env, tmp_path)
    registered = _cli(
        env,
        *(
            "models",
            "register",
            "--name",
            "cancer",
            "--pipeline",
            str(tmp_path / "extra_trees.skops"),
        ),
        *("--reference", str(tmp_path / "reference.parquet"), "--target", "target"),
        *("--alias", "champion"),
    )
    assert "binary" in registered.stdout and "ROC AUC" in registered.stdout
    resolved = ModelRegistry(tmp_path / "models").resolve("cancer@champion")
    shown = json.loads(_cli(env, "models", "show", "cancer").stdout)
    assert shown["metadata"]["estimator"].endswith("ExtraTreesClassifier")
    # Scored: the held-out rows. The schema's value bounds come from the reference data,
    # so a training row beyond them would (rightly) be rejected as out of range.
    records = _records(features.iloc[350:], "2026-05-13", tmp_path / "cancer.jsonl")

    stored, counts, levels = _score_and_check(
        settings,
        env,
        start_worker,
        ch_client,
        resolved.path,
        records,
        tmp_path / "cancer.jsonl",
        "2026-05-13",
    )
    direct = pipeline.predict_proba(records[features.columns])[:, 1]
    assert set(stored["kind"]) == {"binary"} and set(stored["version"]) == {resolved.version}
    np.testing.assert_allclose(stored["score"].to_numpy(), direct, atol=1e-12)
    assert list(stored["label"]) == [str(int(p >= 0.5)) for p in direct]
    assert counts == {SCORE_FEATURE: len(records)}
    assert SCORE_FEATURE in levels
