"""The daily labels check on the real ClickHouse: labels without a score after the grace
period, and labels of the wrong type for the scoring model's kind, rejected once each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from scorestream.consumers.clickhouse import apply_migrations
from scorestream.consumers.drift_check.models import ModelLocator
from scorestream.consumers.drift_check.schedule import check_day
from scorestream.consumers.labels.check import check_labels
from scorestream.contract import LABELS, SCORES, decode_label_row
from scorestream.settings import Settings
from scorestream.streams.model.versions import ModelRegistry
from tests.consumers.comparison.score_rows import insert, score_rows
from tests.consumers.labels.label_support import (
    cancer_labels,
    diabetes_values,
    label_rejections,
    wine_labels,
)
from tests.streams.cancer_models import train


def _store_labels(client: Any, database: str, labels: list[dict[str, Any]], at_ms: int) -> None:
    """Rows exactly as the sink writes them (the contract's decoder), received at ``at_ms``."""
    rows = [decode_label_row(orjson.dumps(label), at_ms) for label in labels]
    client.execute(LABELS.insert_sql(database), rows)


def _rejections(client: Any, database: str, topic: str) -> dict[str, str]:
    found = label_rejections(client, database, topic)
    assert len({r[0] for r in found}) == len(found), "a label was rejected twice"
    return {r[0]: r[1] for r in found}


def test_labels_without_score_after_grace_and_type_mismatches_are_rejected_once(
    settings: Settings, ch_client: Any
) -> None:
    database, topic = settings.clickhouse.database, settings.topics.labels
    apply_migrations(ch_client, database)
    now = datetime.now(UTC)
    today = now.date()
    scored_at = datetime(today.year, today.month, today.day) - timedelta(days=1)
    wine, diabetes, cancer = wine_labels()[:60], diabetes_values()[:60], cancer_labels()[:60]
    classes = ["0", "1", "2"]
    insert(
        ch_client,
        database,
        SCORES,
        score_rows(
            [f"w{k}" for k in range(61)],
            scored_at,
            "wine",
            "w1",
            "multiclass",
            [0.7] * 61,
            [wine[k % 60] for k in range(61)],
            class_labels=classes,
        ),
    )
    insert(
        ch_client,
        database,
        SCORES,
        score_rows(
            [f"d{k}" for k in range(61)],
            scored_at,
            "diabetes",
            "d1",
            "regression",
            [150.0] * 61,
            [""] * 61,
        ),
    )
    insert(
        ch_client,
        database,
        SCORES,
        score_rows(
            [f"c{k}" for k in range(61)],
            scored_at,
            "cancer",
            "c1",
            "binary",
            [0.4] * 61,
            [cancer[k % 60] for k in range(61)],
        ),
    )
    labels = (
        [{"id": f"w{k}", "label": v} for k, v in enumerate(wine)]
        + [{"id": "w60", "label": 7}]  # not one of the wine model's classes
        + [{"id": f"d{k}", "label": v} for k, v in enumerate(diabetes)]
        + [{"id": "d60", "label": "high"}]  # not a number, for a regression model
        + [{"id": f"c{k}", "label": v} for k, v in enumerate(cancer)]
        + [{"id": "c60", "label": "maybe"}]  # not a class of the binary model
        + [{"id": "ghost", "label": 1}, {"id": "late", "label": 0}]  # no score (yet)
    )
    received_ms = int(now.timestamp() * 1000)
    _store_labels(ch_client, database, labels, received_ms)

    def classes_of(name: str, version: str) -> list[str] | None:
        return ["0", "1"] if (name, version) == ("cancer", "c1") else None

    # Today: within the grace period nothing is "without score"; mismatches are found.
    first = check_labels(ch_client, database, topic, today, classes_of=classes_of)
    assert (first.without_score, first.type_mismatch) == (0, 3)
    assert _rejections(ch_client, database, topic) == {
        "w60": "label_type_mismatch",
        "d60": "label_type_mismatch",
        "c60": "label_type_mismatch",
    }
    # The late record is scored after all, within the grace period.
    insert(
        ch_client,
        database,
        SCORES,
        score_rows(["late"], scored_at, "cancer", "c1", "binary", [0.1], [0]),
    )
    # A week on: "ghost" never got a score.
    later = today + timedelta(days=7)
    second = check_labels(ch_client, database, topic, later, classes_of=classes_of)
    assert (second.without_score, second.type_mismatch) == (1, 0)
    rejected = label_rejections(ch_client, database, topic)
    by_id = {r[0]: r for r in rejected}
    assert set(by_id) == {"w60", "d60", "c60", "ghost"}
    assert by_id["ghost"][1] == "label_without_score" and by_id["ghost"][3] == received_ms
    assert orjson.loads(by_id["ghost"][4])["id"] == "ghost"
    assert orjson.loads(by_id["d60"][4])["label"] == "high"

    # Once: running both days again adds nothing.
    again = [
        check_labels(ch_client, database, topic, d, classes_of=classes_of) for d in (today, later)
    ]
    assert [r.rejected for r in again] == [0, 0]
    raw = ch_client.execute(
        f"SELECT count() FROM {database}.rejected_records WHERE source_topic = %(t)s",
        {"t": topic},
    )[0][0]
    assert raw == 4

    # A correction of a mismatched label (sent later) is judged afresh, and passes.
    _store_labels(ch_client, database, [{"id": "w60", "label": 2}], received_ms + 1000)
    assert check_labels(ch_client, database, topic, later, classes_of=classes_of).rejected == 0


def test_the_daily_check_runs_the_labels_check_with_the_models_classes(
    settings: Settings, ch_client: Any, tmp_path: Path
) -> None:
    """check_day (the scheduler's daily run) judges binary labels by the registered
    model version's own classes."""
    database, topic = settings.clickhouse.database, settings.topics.labels
    apply_migrations(ch_client, database)
    registry = ModelRegistry(tmp_path / "models")
    version = registry.add(train(tmp_path / "cancer", name="cancer"), name="cancer").version
    day = datetime.now(UTC).date()
    start = datetime(day.year, day.month, day.day)
    cancer = cancer_labels()[:40]
    insert(
        ch_client,
        database,
        SCORES,
        score_rows(
            [f"r{k}" for k in range(41)],
            start,
            "cancer",
            version,
            "binary",
            [0.5] * 41,
            [cancer[k % 40] for k in range(41)],
        ),
    )
    labels = [{"id": f"r{k}", "label": v} for k, v in enumerate(cancer)]
    labels.append({"id": "r40", "label": "benign"})  # the model's classes are 0 and 1
    _store_labels(ch_client, database, labels, int(datetime.now(UTC).timestamp() * 1000))

    locator = ModelLocator(tmp_path / "models")
    check_day(settings, None, day, ch_client, locator=locator)
    assert _rejections(ch_client, database, topic) == {"r40": "label_type_mismatch"}
    check_day(settings, None, day, ch_client, locator=locator)
    assert len(label_rejections(ch_client, database, topic)) == 1
