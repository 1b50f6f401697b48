"""Challengers get their day's performance rows too, and never an e-mail.

Real ClickHouse 18.16, Kafka and SMTP. A logistic champion and a gradient-boosting
challenger on 8 of the features of scikit-learn's breast cancer data (both trained by
``train_model``, so both have a ``calibration.json``; the challenger is registered, as
``--challenger`` needs) score the same 600 records; the challenger's rows go to
``challenger_scores`` (a crashed batch replayed), 500 of the records get their true label.
The daily check must write the challenger's realised figures (equal to scikit-learn's on its
stored scores) and estimate beside the champion's, under their own check kind, and must not
alert on a challenger, even one that is clearly worse than its holdout figures.
"""

from __future__ import annotations

import email
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics
from sklearn.datasets import load_breast_cancer

from scorestream.consumers.alerting.delivery import deliver_pending
from scorestream.consumers.clickhouse import apply_migrations
from scorestream.consumers.drift_check.check import DAILY
from scorestream.consumers.drift_check.models import ModelLocator
from scorestream.consumers.drift_check.schedule import check_day
from scorestream.consumers.performance.check import CHALLENGER_DAILY
from scorestream.contract import CHALLENGER_SCORES, LABELS, SCORES
from scorestream.settings import Settings
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.model.train import train_model
from scorestream.streams.model.versions import ModelRegistry
from scorestream.streams.performance import BinaryPieces, binary_metrics
from scorestream.topics import ensure_topics
from tests.consumers.comparison.score_rows import insert, score_rows

pytestmark = pytest.mark.integration

DAY = date(2026, 9, 2)
START = datetime(DAY.year, DAY.month, DAY.day)
N = 600
LABELLED = 500


def cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))


def stored_rows(client: Any, database: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """``model_performance`` of the day by (check kind, model name, metric and source)."""
    rows = client.execute(
        "SELECT check_kind, model_name, metric, source, model_version, value, band_low, "
        f"band_high, n, coverage, level FROM {database}.model_performance FINAL "
        "WHERE period_start = %(start)s",
        {"start": START},
    )
    names = ("version", "value", "band_low", "band_high", "n", "coverage", "level")
    return {(r[0], r[1], f"{r[2]}/{r[3]}"): dict(zip(names, r[4:], strict=True)) for r in rows}


def truth(client: Any, database: str, table: str, name: str) -> pd.DataFrame:
    """The stored scores of ``name`` joined to the stored labels, in pandas."""
    scores = client.execute(
        f"SELECT id, score FROM {database}.{table} FINAL WHERE model_name = %(name)s",
        {"name": name},
    )
    labels = client.execute(f"SELECT id, label FROM {database}.labels FINAL")
    return pd.DataFrame(scores, columns=["id", "score"]).merge(
        pd.DataFrame(labels, columns=["id", "label"]), on="id"
    )


def assert_realised(rows: dict[str, dict[str, Any]], stored: pd.DataFrame) -> None:
    """Realised accuracy equals scikit-learn's; ROC AUC within the pieces' binning bound."""
    y, s = stored["label"].astype(int).to_numpy(), stored["score"].to_numpy()
    assert len(stored) == LABELLED
    accuracy, auc = rows["accuracy/realised"], rows["roc_auc/realised"]
    assert accuracy["n"] == auc["n"] == LABELLED
    assert accuracy["coverage"] == pytest.approx(LABELLED / N)
    assert accuracy["value"] == pytest.approx(metrics.accuracy_score(y, s >= 0.5), abs=1e-12)
    bound = binary_metrics(BinaryPieces.from_arrays(s, y)).auc_binning_error
    assert abs(auc["value"] - metrics.roc_auc_score(y, s)) <= bound + 1e-12


def test_challengers_get_realised_and_estimated_rows_and_no_alert(
    settings: Settings, ch_client: Any, maildir: Path, tmp_path: Path
) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    ensure_topics(settings)
    frame = cancer()
    train_model(frame, "target", tmp_path / "cancer", name="cancer", seed=0)
    champion = LoadedModel.load(tmp_path / "cancer")
    subset = [*frame.columns[:8], "target"]
    train_model(
        frame[subset], "target", tmp_path / "small", name="cancer-small", classifier="hgb", seed=0
    )
    registry = ModelRegistry(tmp_path / "models")
    challenger = LoadedModel.load(registry.add(tmp_path / "small").path)
    assert (challenger.path / "calibration.json").is_file()

    rng = np.random.default_rng(8)
    day = frame.iloc[rng.choice(len(frame), N)].reset_index(drop=True)
    ids = [f"r{k}" for k in range(N)]
    ours = champion.predict(day[champion.schema.names])
    insert(
        ch_client,
        database,
        SCORES,
        score_rows(ids, START, "cancer", champion.version, "binary", ours.scores, ours.labels),
    )
    # A broken challenger: fed another record's inputs (its feature columns misaligned), so
    # its realised figures fall far below its holdout's. Still no e-mail: it is a shadow.
    shuffled = day[challenger.schema.names].sample(frac=1.0, random_state=1)
    theirs = challenger.predict(shuffled.reset_index(drop=True))
    rows = score_rows(
        ids, START, "cancer-small", challenger.version, "binary", theirs.scores, theirs.labels
    )
    insert(ch_client, database, CHALLENGER_SCORES, rows)
    insert(ch_client, database, CHALLENGER_SCORES, rows[:50])  # a replayed batch
    ms = int(START.timestamp() * 1000)
    labels = [
        {"id": i, "label": str(int(y)), "value": float(y), "label_time": START,
         "label_time_ms": ms, "received_at": START, "received_at_ms": ms,
         "model_name": "", "model_version": ""}
        for i, y in zip(ids[:LABELLED], day["target"][:LABELLED], strict=True)
    ]  # fmt: skip
    ch_client.execute(
        LABELS.insert_sql(database), [tuple(r[c] for c in LABELS.inserted) for r in labels]
    )
    before = set(maildir.glob("*.eml"))

    check_day(
        settings, champion, DAY, ch_client, locator=ModelLocator(tmp_path / "models", champion)
    )

    stored = stored_rows(ch_client, database)
    kinds = {(kind, name) for kind, name, _ in stored}
    assert kinds == {(DAILY, "cancer"), (CHALLENGER_DAILY, "cancer-small")}
    mine = {k[2]: v for k, v in stored.items() if k[:2] == (CHALLENGER_DAILY, "cancer-small")}
    theirs_champion = {k[2]: v for k, v in stored.items() if k[:2] == (DAILY, "cancer")}
    # The same metrics and sources for both: realised, estimated (calibration.json), reference.
    assert (
        set(mine)
        == set(theirs_champion)
        == {
            f"{metric}/{source}"
            for metric in ("roc_auc", "accuracy")
            for source in ("realised", "estimated", "reference")
        }
    )
    assert {row["version"] for row in mine.values()} == {challenger.version}
    assert_realised(mine, truth(ch_client, database, CHALLENGER_SCORES.name, "cancer-small"))
    assert_realised(theirs_champion, truth(ch_client, database, SCORES.name, "cancer"))
    # The replayed batch counts once: the estimate covers the 600 records scored.
    assert mine["accuracy/estimated"]["n"] == N
    assert mine["accuracy/reference"]["value"] == challenger.metadata["metrics"]["accuracy"]
    # The broken challenger is judged (and fails) on its own rows ...
    assert mine["accuracy/reference"]["level"] == "alert"
    assert theirs_champion["accuracy/reference"]["level"] in ("ok", "warn")
    # ... but only the champion is e-mailed about, and it has nothing to say.
    assert deliver_pending(settings) == 0
    for path in set(maildir.glob("*.eml")) - before:  # other tests may share the maildir
        alert_id = email.message_from_bytes(path.read_bytes())["X-Scorestream-Alert-Id"] or ""
        assert not alert_id.endswith((champion.version, challenger.version)), alert_id
