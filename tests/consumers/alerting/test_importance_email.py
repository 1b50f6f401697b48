"""The e-mail ranks the drifted features by the model's importance (real ClickHouse, Kafka, SMTP).

A logistic model on four of scikit-learn's breast cancer features plus a column of pure
noise (``train_model`` stores the permutation importance of each). A day drifts in an
important feature, a minor one and the noise: the daily check's e-mail lists them in the
model's order of importance, the noise apart as barely used; with a performance verdict
that alerts, the same list is its "most likely explanation". A version without importance,
and an alert from before the field, read plainly.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from email.message import Message
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from scorestream.consumers.alerting.delivery import AlertDelivery, deliver_pending
from scorestream.consumers.alerting.email_message import build_alert_email
from scorestream.consumers.alerting.importance_section import drift_phrase
from scorestream.consumers.alerting.readable import number as readable
from scorestream.consumers.clickhouse import apply_migrations
from scorestream.consumers.drift_check.models import ModelKey, ModelLocator
from scorestream.consumers.drift_check.publish import alert_message, importance_entry
from scorestream.consumers.drift_check.schedule import check_day
from scorestream.consumers.performance.check import MetricVerdict
from scorestream.contract import AlertMessage, decode_alert
from scorestream.settings import Settings
from scorestream.streams.model.importance import PermutationImportance, stored_importance
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.model.train import train_model
from scorestream.topics import ensure_topics
from tests.consumers.drift_check.drift_stats_rows import write_day
from tests.mail import mails_to

DAY = date(2026, 8, 3)
FEATURES = ["mean_radius", "mean_texture", "worst_concave_points", "worst_area"]


def cancer_with_noise() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    frame = frame[[*FEATURES, "target"]].copy()
    frame["noise"] = np.random.default_rng(1).normal(size=len(frame))
    return frame


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    directory = tmp_path_factory.mktemp("importance") / "cancer"
    train_model(cancer_with_noise(), "target", directory, name="cancer", seed=0)
    return LoadedModel.load(directory)


def drifted_day() -> pd.DataFrame:
    """3,000 records drawn from the data, then an important, a minor and a noise feature
    moved (by about two of their standard deviations)."""
    frame = cancer_with_noise().sample(3000, replace=True, random_state=5).reset_index(drop=True)
    for feature in ("worst_area", "mean_texture", "noise"):
        frame[feature] = frame[feature] + 2 * frame[feature].std()
    frame["id"] = [f"r{k}" for k in range(len(frame))]
    return frame


def plain_text(mail: Message) -> str:
    part = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def ranking_lines(text: str) -> tuple[str, str, str]:
    """The ranked line, the "barely uses" line and the note, after the performance verdict."""
    lines = text.splitlines()
    leads = ("Most likely explanation: ", "Drifted features by the model's importance: ")
    at = next(i for i, line in enumerate(lines) if line.startswith(leads))
    assert lines[at - 1] == ""
    return lines[at], lines[at + 1], lines[at + 2]


@pytest.mark.integration
def test_the_daily_email_ranks_the_drifted_features_by_importance(
    settings: Settings, ch_client: Any, model: LoadedModel, maildir: Path
) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    ensure_topics(settings)
    write_day(ch_client, database, model, DAY, drifted_day(), model_name="cancer")
    before = set(maildir.glob("*.eml"))
    (result,) = check_day(settings, model, DAY, ch_client)
    assert deliver_pending(settings) == 1
    (mail,) = mails_to(settings, maildir, before, result.alert_id)
    text = plain_text(mail)

    drifted = [d.feature for d in result.drifted]
    assert {"worst_area", "mean_texture", "noise"} <= set(drifted)
    stored, _ = stored_importance(model.metadata)
    assert stored is not None
    # The model's own order, not the check's: the important first, the noise apart.
    order = [n for n in stored.features if n in drifted]
    used = [n for n in order if not stored.features[n].negligible]
    barely = [n for n in order if stored.features[n].negligible]
    assert used[0] == "worst_area" and "noise" in barely and "noise" not in used
    ranked, apart, note = ranking_lines(text)
    assert ranked.startswith("Drifted features by the model's importance: worst_area (importance ")
    positions = [ranked.index(f"{n} (") for n in used]
    assert positions == sorted(positions)
    first = stored.features["worst_area"]
    stats = next(r for r in result.rows if r["feature"] == "worst_area")
    assert (
        f"worst_area (importance {first.mean:.3f}, drift: mean {readable(stats['ref_mean'])} → "
        f"{readable(stats['cur_mean'])} (+"
    ) in ranked
    assert apart.startswith("Drifted, but the model barely uses them: ")
    noise = stored.features["noise"]
    assert f"noise ({'importance ' if barely[0] == 'noise' else ''}{noise.mean:.3f} ± " in apart
    assert note == (
        f"(Importance: the fall in ROC AUC on {stored.rows:,} holdout rows when the "
        "feature's values are shuffled, mean of 5 shuffles.)"
    )

    # The same day with a performance verdict that alerts: the ranking is its explanation.
    falling = MetricVerdict("roc_auc", "estimated", 0.84, 0.99, 0.95, 1.0, "alert", 3000)
    performance = {
        "model_kind": "binary",
        "scored": 3000,
        "labelled": 0,
        "estimate_note": "",
        "verdicts": [falling.to_dict()],
    }
    locator = ModelLocator(settings.models_dir, model)
    importance = importance_entry(locator, ModelKey("cancer", model.version), drifted)
    assert set(importance["features"]) == set(drifted)  # only what the e-mail needs
    verdict = alert_message(result, None, [], performance, importance)
    # Its own id: the drift-only alert of this day was delivered already.
    verdict = dataclasses.replace(verdict, alert_id=f"{verdict.alert_id}:verdict")
    before = set(maildir.glob("*.eml"))
    assert AlertDelivery(settings, ch_client).deliver(decode_alert(verdict.encode())) is True
    (mail,) = mails_to(settings, maildir, before, verdict.alert_id)
    text = plain_text(mail)
    # The verdict first, the ranking after the performance section.
    assert "estimated ROC AUC fell from" in text.splitlines()[0]
    assert text.index("estimated ROC AUC fell from") < text.index("Most likely explanation")
    ranked, apart, _ = ranking_lines(text)
    assert ranked.startswith("Most likely explanation: worst_area (importance ")
    explained = [ranked.index(f"{n} (") for n in used]
    assert explained == sorted(explained)
    assert "noise" not in ranked and "noise (" in apart


def row(feature: str, ref_mean: float | None, cur_mean: float | None, **more: Any) -> dict:
    return {
        "feature": feature,
        "ref_mean": ref_mean,
        "cur_mean": cur_mean,
        "ref_missing_rate": 0.0,
        "cur_missing_rate": 0.0,
        "test": "ks",
        "statistic": 0.3,
        "p_adjusted": 0.0,
        "psi": 0.4,
        "js_distance": 0.2,
        "reference_counts": [5, 5],
        "current_counts": [5, 5],
        "bin_labels": ["a", "b"],
        "reasons": ["psi"],
        **more,
    }


def alert(drifted: list[dict], importance: dict[str, Any]) -> AlertMessage:
    return AlertMessage(
        "daily:2026-08-03T00:00:loans@v1",
        "daily",
        "2026-08-03T00:00:00",
        "2026-08-04T00:00:00",
        "v1",
        20000,
        5,
        None,
        drifted,
        model_name="loans",
        importance=importance,
    )


IMPORTANCE = PermutationImportance.from_dict(
    {
        "scorer": "roc_auc",
        "on": "holdout",
        "rows": 4000,
        "repeats": 5,
        "seed": 0,
        "features": {
            "region": {"mean": 0.001, "std": 0.002},
            "age": {"mean": 0.03, "std": 0.004},
            "income": {"mean": 0.12, "std": 0.01},
        },
    }
).as_dict()


def text_of(message: AlertMessage) -> str:
    body = build_alert_email(message, "a@example.org", "b@example.org").get_body(("plain",))
    assert body is not None
    return body.get_content()


def test_numbers_and_moves_read_as_people_write_them() -> None:
    assert [readable(v) for v in (66432.0, 89712.0, 41.23, 0.01234, -5.25, 0.0)] == [
        "66,400",
        "89,700",
        "41.2",
        "0.0123",
        "−5.25",
        "0",
    ]
    assert drift_phrase(row("income", 66432.0, 89712.0)) == "mean 66,400 → 89,700 (+35%)"
    assert drift_phrase(row("age", 41.2, 40.0)) == "mean 41.2 → 40 (−2.9%)"
    region = row(
        "region",
        None,
        None,
        reference_counts=[50, 30, 20],
        current_counts=[20, 40, 40],
        bin_labels=["north", "south", "east"],
        ref_missing_rate=0.01,
        cur_missing_rate=0.2,
    )
    assert drift_phrase(region) == "share of north 50.0% → 20.0%, missing 1.0% → 20.0%"


def test_the_ranking_follows_importance_not_the_checks_order() -> None:
    drifted = [row("region", None, None), row("age", 41.2, 45.0), row("income", 66432.0, 89712.0)]
    text = text_of(alert(drifted, IMPORTANCE)).splitlines()
    at = next(i for i, line in enumerate(text) if line.startswith("Drifted features by"))
    assert text[at] == (
        "Drifted features by the model's importance: income (importance 0.120, drift: mean "
        "66,400 → 89,700 (+35%)), age (0.030, drift: mean 41.2 → 45 (+9.2%))."
    )
    assert text[at + 1] == (
        "Drifted, but the model barely uses them: region (importance 0.001 ± 0.002)."
    )


def test_a_version_without_importance_says_so_plainly() -> None:
    unavailable = {"unavailable": "registered without a target"}
    text = text_of(alert([row("income", 1.0, 2.0)], unavailable)).splitlines()
    assert (
        "Drifted features not ranked by importance: model loans@v1 has no permutation "
        "importance (registered without a target)."
    ) in text


def test_alerts_from_before_the_ranking_decode_and_read_as_before() -> None:
    doc = orjson.loads(alert([row("income", 1.0, 2.0)], IMPORTANCE).encode())
    del doc["importance"]
    old = decode_alert(orjson.dumps(doc))
    assert old.importance == {}
    text = text_of(old)
    assert "drifted on 2026-08-03 (income)" in text.splitlines()[0]
    assert "importance" not in text.lower()  # no ranking, and no complaint about its absence
    assert "income" in text
    assert decode_alert(alert([], IMPORTANCE).encode()).importance == IMPORTANCE
