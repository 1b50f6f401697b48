"""Labels through Kafka, the CLI and the bridge into ``labels``: one row per id, the label
sent later wins, hostile labels are rejected with their reason and exact bytes."""

from __future__ import annotations

import math
import time
from pathlib import Path

import httpx
import orjson
import pytest

from scorestream.child_process import run_cli
from scorestream.settings import Settings
from tests.consumers.labels.label_support import (
    diabetes_values,
    label_rejections,
    produce_timed,
    run_sink_once,
    stored_labels,
    wine_labels,
)
from tests.fixtures.bridge import API_KEY, BridgeFactory

HOSTILE: list[tuple[bytes, str, str]] = [
    (b"not json at all", "invalid_json", ""),
    (b'["id", "label"]', "not_an_object", ""),
    (b'{"label": 1}', "missing_id", "id"),
    (b'{"id": 12, "label": 1}', "missing_id", "id"),
    (b'{"id": "h-no-label"}', "missing_field", "label"),
    (b'{"id": "h-obj", "label": {"class": 1}}', "wrong_type", "label"),
    (
        b'{"id": "h-time", "label": 1, "label_time": "next tuesday"}',
        "invalid_label_time",
        "label_time",
    ),
    (
        b'{"id": "h-1960", "label": 1, "label_time": "1960-01-01T00:00:00Z"}',
        "invalid_label_time",
        "label_time",
    ),
    (
        b'{"id": "h-2200", "label": 1, "label_time": 7258118400000}',
        "invalid_label_time",
        "label_time",
    ),
    (b'{"id": "h-empty", "label": ""}', "wrong_type", "label"),
    (b"\xff\xfe{\x00}\x00", "invalid_json", ""),
]


def test_plain_kafka_labels_late_corrections_and_hostile_ones(
    settings: Settings, ch_client: object
) -> None:
    database, topic = settings.clickhouse.database, settings.topics.labels
    wine = wine_labels()
    diabetes = diabetes_values()
    base_ms = int(time.time() * 1000) - 3_600_000
    messages: list[tuple[bytes | None, bytes, int | None]] = []
    for k, label in enumerate(wine):
        doc = {"id": f"wine-{k:03d}", "label": label, "label_time": base_ms - k * 1000}
        messages.append((doc["id"].encode(), orjson.dumps(doc), base_ms))
    for k, value in enumerate(diabetes):
        doc = {"id": f"diab-{k:03d}", "label": value, "model_name": "diabetes"}
        messages.append((doc["id"].encode(), orjson.dumps(doc), base_ms))
    # Corrections, out of order: "wine-000"'s correction (sent later, Kafka timestamp
    # +60 s) reaches the topic BEFORE the label it corrects was re-sent with the old
    # timestamp, and carries an EARLIER label_time: "sent later" decides, nothing else.
    messages.insert(
        0, (b"wine-000", b'{"id": "wine-000", "label": 2, "label_time": 0}', base_ms + 60_000)
    )
    messages.append((b"wine-001", b'{"id": "wine-001", "label": 2}', base_ms + 60_000))
    # A replay of a label (same bytes, same timestamp) is the same row.
    messages.append(messages[5])
    for value, _, _ in HOSTILE:
        messages.append((None, value, base_ms))
    produce_timed(settings, messages, topic)

    stats = run_sink_once(settings)
    assert stats.rejected == len(HOSTILE)

    stored = stored_labels(ch_client, database)
    assert len(stored) == len(wine) + len(diabetes)
    counts = ch_client.execute(  # type: ignore[attr-defined]
        f"SELECT id, count() FROM {database}.labels FINAL GROUP BY id HAVING count() > 1"
    )
    assert counts == []
    assert stored["wine-000"][0] == "2" and stored["wine-000"][2] == 0
    assert stored["wine-000"][3] == base_ms + 60_000
    assert stored["wine-001"][0] == "2"
    for k in range(2, len(wine)):
        assert stored[f"wine-{k:03d}"][:3] == (str(wine[k]), float(wine[k]), base_ms - k * 1000)
    for k, value in enumerate(diabetes):
        label, number, label_time_ms, received_ms = stored[f"diab-{k:03d}"]
        assert number == value and not math.isnan(number)
        assert label_time_ms == received_ms == base_ms  # default: when it reached Kafka

    rejections = label_rejections(ch_client, database, topic)
    assert sorted((r[1], r[2], r[4]) for r in rejections) == sorted(
        (reason, field, value) for value, reason, field in HOSTILE
    )
    # The rejected labels never reached the labels table.
    assert not {"h-no-label", "h-obj", "h-time", "h-1960", "h-2200", "h-empty"} & set(stored)


def test_produce_labels_cli_keeps_ids_and_lands_in_labels(
    settings: Settings, settings_env: dict[str, str], ch_client: object, tmp_path: Path
) -> None:
    path = tmp_path / "labels.csv"
    wine = wine_labels()[:50]
    rows = ["id,label,label_time,model_version"]
    rows += [f"{k:03d},{label},2026-01-02T00:00:{k % 60:02d}Z,0{k}" for k, label in enumerate(wine)]
    rows.append(",1,,")  # no id: sent as is, rejected by the sink with its reason
    path.write_text("\n".join(rows) + "\n")
    result = run_cli(["produce", "--labels", str(path), "--quiet"], settings_env, timeout_s=120)
    assert result.returncode == 0, result.stderr
    assert f"sent {len(wine) + 1}, failed 0" in result.stderr

    run_sink_once(settings)
    database = settings.clickhouse.database
    stored = stored_labels(ch_client, database)
    assert sorted(stored) == [f"{k:03d}" for k in range(len(wine))]  # "007" stays "007"
    assert stored["007"][0] == str(wine[7])
    versions = dict(
        ch_client.execute(f"SELECT id, model_version FROM {database}.labels FINAL")  # type: ignore[attr-defined]
    )
    assert versions["007"] == "07"
    reasons = [r[1] for r in label_rejections(ch_client, database, settings.topics.labels)]
    assert reasons == ["missing_id"]


def test_produce_labels_cli_mistakes_are_one_line_and_exit_2(
    settings_env: dict[str, str], tmp_path: Path
) -> None:
    for args in (
        ["produce", "--labels", str(tmp_path / "absent.csv")],
        ["produce", "--labels", str(tmp_path / "labels.parquet")],
        ["produce", "--labels", str(tmp_path / "x.csv"), "--synthetic", "5"],
    ):
        result = run_cli(args, settings_env, timeout_s=60)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and "error:" in result.stderr


@pytest.mark.integration
def test_bridge_labels_land_in_labels_and_bad_ones_are_problems(
    start_bridge: BridgeFactory, settings: Settings, ch_client: object
) -> None:
    bridge = start_bridge()
    headers = {"Content-Type": "application/json", "X-API-Key": API_KEY}
    wine = wine_labels()
    with httpx.Client(base_url=bridge.url, timeout=30) as client:
        batch = [{"id": f"{k:03d}", "label": label} for k, label in enumerate(wine[:100])]
        answer = client.post("/v1/labels", content=orjson.dumps(batch), headers=headers)
        assert answer.status_code == 202, answer.text
        assert [a["id"] for a in answer.json()["accepted"]] == [b["id"] for b in batch]

        mixed = [
            {"id": "100", "label": "1"},
            {"label": 1},
            {"id": "bad-time", "label": 1, "label_time": "tomorrow-ish"},
            {"id": "bad-label", "label": [1, 2]},
        ]
        answer = client.post("/v1/labels", content=orjson.dumps(mixed), headers=headers)
        assert answer.status_code == 207, answer.text
        assert [(e["index"], e["reason"], e["field"]) for e in answer.json()["rejected"]] == [
            (1, "missing_id", "id"),
            (2, "invalid_label_time", "label_time"),
            (3, "wrong_type", "label"),
        ]

        answer = client.post("/v1/labels", content=orjson.dumps(mixed[1:]), headers=headers)
        assert answer.status_code == 422
        assert answer.headers["content-type"].startswith("application/problem+json")
        problem = answer.json()
        assert problem["status"] == 422 and problem["type"].endswith("invalid-label")
        assert [e["index"] for e in problem["errors"]] == [0, 1, 2]

        # Same auth, media type and limits as /v1/records.
        no_key = {"Content-Type": "application/json"}
        assert client.post("/v1/labels", content=b"{}", headers=no_key).status_code == 401
        plain = {"Content-Type": "text/plain", "X-API-Key": API_KEY}
        assert client.post("/v1/labels", content=b"{}", headers=plain).status_code == 415
        assert client.post("/v1/labels", content=b"{", headers=headers).status_code == 400
        too_many = orjson.dumps([{"id": str(k), "label": 1} for k in range(1001)])
        answer = client.post("/v1/labels", content=too_many, headers=headers)
        assert answer.status_code == 413
        assert answer.headers["content-type"].startswith("application/problem+json")

        document = client.get("/openapi.json").json()
        operation = document["paths"]["/v1/labels"]["post"]
        assert {"202", "207", "401", "413", "415", "422", "503"} <= set(operation["responses"])
        assert document["components"]["schemas"]["Label"]["required"] == ["id", "label"]

    run_sink_once(settings)
    stored = stored_labels(ch_client, settings.clickhouse.database)
    assert len(stored) == 101
    assert all(stored[f"{k:03d}"][0] == str(label) for k, label in enumerate(wine[:100]))
    assert stored["100"][0] == "1" and stored["100"][1] == 1.0
