"""The record producer: files in, JSON records keyed by id out, on the real broker."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd

from scorestream.producers.producer import RecordProducer, frame_to_payloads
from scorestream.producers.record_files import file_chunks
from scorestream.settings import Settings
from scorestream.topics import ensure_topics
from tests.kafka_io import collect


def test_rows_without_an_id_get_one_and_missing_values_become_null() -> None:
    frame = pd.DataFrame({"id": ["a", None], "x": [1.5, None], "c": ["u", None]})
    payloads = frame_to_payloads(frame)
    first, second = (orjson.loads(value) for _, value in payloads)
    assert first == {"id": "a", "x": 1.5, "c": "u"}
    assert second["x"] is None and second["c"] is None
    assert len(second["id"]) == 32
    assert [key for key, _ in payloads] == [b"a", second["id"].encode()]


def test_files_of_every_format_reach_the_topic(settings: Settings, tmp_path: Path) -> None:
    ensure_topics(settings, [settings.topics.records])
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(30)], "x": range(30)})
    frame.iloc[:10].to_csv(tmp_path / "a.csv", index=False)
    frame.iloc[10:20].to_parquet(tmp_path / "b.parquet")
    frame.iloc[20:].to_json(tmp_path / "c.jsonl", orient="records", lines=True)
    producer = RecordProducer(settings)
    summary = producer.send_all(
        chunk
        for name in ("a.csv", "b.parquet", "c.jsonl")
        for chunk in file_chunks(tmp_path / name)
    )
    producer.close()
    assert (summary.sent, summary.failed) == (30, 0)
    got = collect(settings, settings.topics.records, until=lambda m: len(m) >= 30)
    assert sorted((m["id"], m["x"]) for m in got) == sorted((f"r{i}", i) for i in range(30))
