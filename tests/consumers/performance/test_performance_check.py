"""The daily performance verdict on real ClickHouse 18.16, Kafka and SMTP.

A logistic model trained on scikit-learn's breast cancer data (``train_model`` writes its
calibration) scores a day of records, stored as the sink would:

- **covariate shift**: the day over-samples the records the model is unsure of: the
  estimated metrics fall below the reference band and the e-mail says so first, before any
  label arrived;
- **concept shift**: the day looks like the training data, but a third of its labels are
  flipped: the estimate does not move (no alert, the limit of any estimate from scores), the
  realised metrics alert once labels arrive, and labels arriving a week later re-run the
  day: the figures change, no second e-mail is sent.

Each realised figure is compared with scikit-learn's on the stored rows.
"""

from __future__ import annotations

import email
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics
from sklearn.datasets import load_breast_cancer

from scorestream.consumers.alerting.delivery import deliver_pending
from scorestream.consumers.clickhouse import apply_migrations
from scorestream.consumers.drift_check.models import ModelKey, ModelLocator
from scorestream.consumers.drift_check.schedule import check_day, recheck_performance
from scorestream.consumers.performance.check import MIN_LABELS
from scorestream.contract import LABELS, SCORES
from scorestream.settings import Settings
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.model.train import train_model
from scorestream.topics import ensure_topics
from tests.consumers.comparison.score_rows import insert, score_rows
from tests.mail import mails_to

DAY = date(2026, 7, 14)
START = datetime(DAY.year, DAY.month, DAY.day)
N = 3000


def cancer() -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    return frame


def trained(tmp_path: Path) -> LoadedModel:
    train_model(cancer(), "target", tmp_path / "cancer", name="cancer", seed=0)
    return LoadedModel.load(tmp_path / "cancer")


def store_day(
    client: Any, database: str, model: LoadedModel, rows: pd.DataFrame
) -> tuple[list[str], np.ndarray]:
    """Score ``rows`` with ``model`` and store them as the sink would; (ids, scores)."""
    predictions = model.predict(rows[model.schema.names])
    ids = [f"r{k}" for k in range(len(rows))]
    insert(
        client,
        database,
        SCORES,
        score_rows(
            ids, START, "cancer", model.version, "binary", predictions.scores, predictions.labels
        ),
    )
    return ids, np.asarray(predictions.scores)


def store_labels(
    client: Any, database: str, ids: list[str], labels: np.ndarray, received_days: int
) -> None:
    received = START + timedelta(days=received_days)
    ms = int(received.timestamp() * 1000)
    rows = [
        {
            "id": i,
            "label": str(int(y)),
            "value": float(y),
            "label_time": received,
            "label_time_ms": ms,
            "received_at": received,
            "received_at_ms": ms,
            "model_name": "",
            "model_version": "",
        }
        for i, y in zip(ids, labels, strict=True)
    ]
    client.execute(
        LABELS.insert_sql(database), [tuple(r[c] for c in LABELS.inserted) for r in rows]
    )


def performance_rows(client: Any, database: str) -> dict[tuple[str, str], dict[str, Any]]:
    rows = client.execute(
        f"SELECT metric, source, value, band_low, band_high, n, coverage, level "
        f"FROM {database}.model_performance FINAL WHERE period_start = %(start)s",
        {"start": START},
    )
    names = ("value", "band_low", "band_high", "n", "coverage", "level")
    return {(r[0], r[1]): dict(zip(names, r[2:], strict=True)) for r in rows}


def plain(mail: email.message.Message) -> str:
    part = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def stored_truth(client: Any, database: str) -> pd.DataFrame:
    """The stored scores joined to their stored labels, in pandas."""
    scores = client.execute(
        f"SELECT id, score FROM {database}.scores FINAL WHERE toDate(event_time) = %(day)s",
        {"day": DAY},
    )
    labels = client.execute(f"SELECT id, label FROM {database}.labels FINAL")
    return pd.DataFrame(scores, columns=["id", "score"]).merge(
        pd.DataFrame(labels, columns=["id", "label"]), on="id"
    )


def test_a_covariate_shift_alerts_on_the_estimate_before_any_label(
    settings: Settings, ch_client: Any, maildir: Path, tmp_path: Path
) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    ensure_topics(settings)
    model = trained(tmp_path)
    frame = cancer()
    scores = model.predict(frame[model.schema.names]).scores
    unsure = np.flatnonzero((scores > 0.1) & (scores < 0.9))
    sure = np.flatnonzero((scores <= 0.1) | (scores >= 0.9))
    assert len(unsure) >= 10  # the shift needs rows the model is unsure of
    rng = np.random.default_rng(4)
    pick = np.concatenate([rng.choice(unsure, int(0.9 * N)), rng.choice(sure, N - int(0.9 * N))])
    day = frame.iloc[pick].reset_index(drop=True)
    store_day(ch_client, database, model, day)
    before = set(maildir.glob("*.eml"))

    check_day(settings, model, DAY, ch_client)
    rows = performance_rows(ch_client, database)
    reference = model.metadata["metrics"]
    for metric in ("roc_auc", "accuracy"):
        estimated = rows[(metric, "estimated")]
        judged = rows[(metric, "reference")]
        assert judged["value"] == pytest.approx(reference[metric])
        assert estimated["n"] == N and judged["n"] == N and estimated["coverage"] == 0.0
        assert estimated["value"] < reference[metric]
        assert (metric, "realised") not in rows  # no label yet
    # ROC AUC falls below its band; accuracy falls too, but the band of an estimate from a
    # calibrator fitted on 114 held-out rows is wide where the model is unsure: a warning.
    assert rows[("roc_auc", "estimated")]["value"] < rows[("roc_auc", "reference")]["band_low"]
    assert rows[("roc_auc", "reference")]["level"] == "alert"
    assert rows[("accuracy", "reference")]["level"] in ("warn", "alert")
    assert deliver_pending(settings) == 1
    (mail,) = mails_to(settings, maildir, before, f"daily:{DAY}T00:00:cancer@{model.version}")
    text = plain(mail)
    assert "performance below its reference" in mail["Subject"]
    auc = rows[("roc_auc", "estimated")]["value"]
    band = rows[("roc_auc", "reference")]
    assert text.startswith(f"High severity: Model cancer performed worse on {DAY}: ")
    assert (
        f"estimated ROC AUC fell from {reference['roc_auc']:.3f} to {auc:.3f}, below the band "
        f"[{band['band_low']:.3f}, {band['band_high']:.3f}]"
    ) in text.splitlines()[0]

    # The labels arrive: the realised metrics fall inside the estimate's band (the
    # calibration still holds under a covariate shift), and the day sends no second e-mail.
    ids, truth = [f"r{k}" for k in range(N)], day["target"].to_numpy()
    store_labels(ch_client, database, ids, truth, received_days=3)
    recheck_performance(settings, DAY, ch_client, ModelLocator(settings.models_dir, model))
    labelled = performance_rows(ch_client, database)
    check_realised(labelled, stored_truth(ch_client, database), N)
    for metric in ("roc_auc", "accuracy"):
        realised, estimated = labelled[(metric, "realised")], labelled[(metric, "estimated")]
        assert estimated["band_low"] <= realised["value"] <= estimated["band_high"]
    assert deliver_pending(settings) == 0
    assert (
        len(mails_to(settings, maildir, before, f"daily:{DAY}T00:00:cancer@{model.version}")) == 1
    )


def test_a_concept_shift_alerts_once_labels_arrive_and_late_labels_send_nothing_twice(
    settings: Settings, ch_client: Any, maildir: Path, tmp_path: Path
) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    ensure_topics(settings)
    model = trained(tmp_path)
    frame = cancer()
    rng = np.random.default_rng(5)
    day = frame.iloc[rng.choice(len(frame), N)].reset_index(drop=True)
    ids, _ = store_day(ch_client, database, model, day)
    truth = day["target"].to_numpy().copy()
    flipped = rng.random(N) < 0.3  # the concept shift: the label rule changed for a third
    truth[flipped] = 1 - truth[flipped]
    alert_id = f"daily:{DAY}T00:00:cancer@{model.version}"
    before = set(maildir.glob("*.eml"))

    # No label yet: the scores look like the training data, the estimate does not move.
    check_day(settings, model, DAY, ch_client)
    rows = performance_rows(ch_client, database)
    assert {rows[(m, "estimated")]["level"] for m in ("roc_auc", "accuracy")} <= {"ok", "warn"}
    assert rows[("accuracy", "estimated")]["value"] > 0.9
    assert deliver_pending(settings) == 0
    assert mails_to(settings, maildir, before, alert_id) == []

    # Labels of the first records arrive: enough for a realised verdict, which alerts. The
    # scheduler's daily run computes the verdicts of the days before again.
    first = 2 * MIN_LABELS
    store_labels(ch_client, database, ids[:first], truth[:first], received_days=2)
    locator = ModelLocator(settings.models_dir, model)
    verdicts = recheck_performance(settings, DAY, ch_client, locator)
    alerting = {v.metric: v.source for v in verdicts[ModelKey("cancer", model.version)].alerting}
    assert alerting.get("accuracy") == "realised"
    rows = performance_rows(ch_client, database)
    stored = stored_truth(ch_client, database)
    assert len(stored) == first
    check_realised(rows, stored, first)
    assert rows[("accuracy", "reference")]["level"] == "alert"
    assert rows[("accuracy", "realised")]["level"] == "alert"
    assert rows[("accuracy", "estimated")]["value"] > 0.9  # still blind to the concept shift
    assert deliver_pending(settings) == 1
    (mail,) = mails_to(settings, maildir, before, alert_id)
    assert "realised accuracy fell from" in plain(mail).splitlines()[0]

    # The rest a week after scoring: the whole day is checked again, its figures change.
    store_labels(ch_client, database, ids[first:], truth[first:], received_days=7)
    check_day(settings, model, DAY, ch_client)
    late = performance_rows(ch_client, database)
    check_realised(late, stored_truth(ch_client, database), N)
    assert late[("accuracy", "realised")]["value"] != rows[("accuracy", "realised")]["value"]
    assert late[("accuracy", "reference")]["level"] == "alert"
    assert deliver_pending(settings) == 0
    assert len(mails_to(settings, maildir, before, alert_id)) == 1
    count = ch_client.execute(
        f"SELECT count() FROM {database}.model_performance FINAL WHERE period_start = %(s)s",
        {"s": START},
    )
    assert count == [(len(late),)]  # the re-run replaced the day's rows


def check_realised(
    rows: dict[tuple[str, str], dict[str, Any]], stored: pd.DataFrame, n: int
) -> None:
    """The realised rows equal scikit-learn's figures on the stored rows."""
    y = stored["label"].astype(int).to_numpy()
    s = stored["score"].to_numpy()
    auc = rows[("roc_auc", "realised")]
    accuracy = rows[("accuracy", "realised")]
    assert auc["n"] == accuracy["n"] == n
    assert accuracy["coverage"] == pytest.approx(n / N)
    assert accuracy["value"] == pytest.approx(metrics.accuracy_score(y, s >= 0.5), abs=1e-12)
    # The pieces' stated tolerance of a binned ROC AUC: one score bin (1/1000) of ties.
    from scorestream.streams.performance import BinaryPieces, binary_metrics

    bound = binary_metrics(BinaryPieces.from_arrays(s, y)).auc_binning_error
    assert abs(auc["value"] - metrics.roc_auc_score(y, s)) <= bound + 1e-12
