"""The record producer: files in, JSON records keyed by id out, on the real broker."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from scorestream.child_process import run_cli
from scorestream.producers.producer import RecordProducer, frame_to_payloads
from scorestream.producers.record_files import file_chunks
from scorestream.producers.sharded import ShardedProducer
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


def test_a_delivery_timeout_under_a_second_is_one_line_and_exit_2() -> None:
    # An unreachable broker: the mistake is reported before any connection is tried.
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    result = run_cli(["produce", "--synthetic", "5", "--delivery-timeout", "0"], env, timeout_s=60)
    assert result.returncode == 2, result.stderr
    assert "--delivery-timeout must be at least 1 second" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_rate_with_several_processes_is_one_line_and_exit_2() -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    args = ["produce", "--synthetic", "5", "--rate", "10", "--processes", "2"]
    result = run_cli(args, env, timeout_s=60)
    assert result.returncode == 2, result.stderr
    assert "--rate paces one process" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def iris_payloads() -> list[tuple[bytes, bytes]]:
    """The iris data set as records with zero-padded string ids, three times over."""
    rows = load_iris(as_frame=True).frame.to_dict(orient="records")
    return [
        (f"{i:05d}".encode(), orjson.dumps({"id": f"{i:05d}", **rows[i % len(rows)]}))
        for i in range(3 * len(rows))
    ]


@pytest.mark.parametrize("processes", [1, 2])
def test_every_id_lands_once_in_the_partition_kafkas_own_clients_choose(
    settings: Settings, processes: int
) -> None:
    # The worker's duplicate check needs one id in one partition whichever client sent it:
    # the accumulator path and the process split must both choose as Kafka's clients do.
    from kafka import KafkaConsumer
    from kafka.partitioner.default import murmur2

    ensure_topics(settings, [settings.topics.records])
    payloads = iris_payloads()
    producer: RecordProducer | ShardedProducer = (
        RecordProducer(settings)
        if processes == 1
        else ShardedProducer(settings, processes=processes)
    )
    summary = producer.send_all([payloads[:200], payloads[200:]])
    producer.close()
    assert (summary.sent, summary.failed) == (len(payloads), 0)
    consumer = KafkaConsumer(
        settings.topics.records,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
    )
    try:
        got: dict[bytes, list[tuple[int, bytes]]] = {}
        for message in consumer:
            got.setdefault(message.key, []).append((message.partition, message.value))
            if sum(map(len, got.values())) == len(payloads):
                break
        partitions = sorted(consumer.partitions_for_topic(settings.topics.records) or ())
    finally:
        consumer.close()
    # Java's DefaultPartitioner for a keyed record: murmur2, sign bit cleared, modulo.
    expected = {
        key: [(partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)], value)]
        for key, value in payloads
    }
    assert got == expected  # each id once, in its partition, its value unchanged
    assert len({p for ((p, _),) in got.values()}) > 1  # the ids really spread


def test_produce_with_two_processes_sends_a_csv_unchanged(
    settings: Settings, settings_env: dict[str, str], tmp_path: Path
) -> None:
    frame = load_iris(as_frame=True).frame
    frame.insert(0, "id", [f"{i:03d}" for i in range(len(frame))])
    path = tmp_path / "iris.csv"
    frame.to_csv(path, index=False)
    args = ["produce", "--file", str(path), "--processes", "2", "--quiet"]
    result = run_cli(args, settings_env, timeout_s=120)
    assert result.returncode == 0, result.stderr
    assert f"sent {len(frame)}, failed 0, " in result.stderr
    got = collect(settings, settings.topics.records, until=lambda m: len(m) >= len(frame))
    assert sorted(m["id"] for m in got) == list(frame["id"])  # "007" stays "007", each once
    first = next(m for m in got if m["id"] == "000")
    assert first["sepal length (cm)"] == frame.loc[0, "sepal length (cm)"]
