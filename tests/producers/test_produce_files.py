"""``scorestream produce --file``: each format keeps what its file says, on the real broker.

Every test runs the real CLI in a subprocess and reads the topic back from the beginning.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scorestream.child_process import run_cli
from scorestream.settings import Settings

JSONL_LINES = [
    b'{"id": "007", "event_time": "2026-01-01T00:00:00Z", "income": 52000.50, "region": "NA"}',
    b'{"id":"a1","event_time":1767225600000,"income":1e5,"note":"caf\\u00e9 \xc3\xa9"}',
    b'  {"event_time": "2026-01-02T03:04:05.678+02:00", "income": 1}',
    b'{"id": "b2", "x": NaN}',
    b"this is not json",
    b'["an", "array"]',
    b'{"id": 7, "income": 3}',
    b'{"id": "c3", "truncated": ',
]


def produce_file(settings_env: dict[str, str], path: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(["produce", "--file", str(path)], settings_env, timeout_s=120)


def collect_raw(
    settings: Settings, count: int, timeout_s: float = 60.0
) -> list[tuple[bytes | None, bytes]]:
    """(key, value) of the records topic, exactly as stored, until ``count`` are read."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        settings.topics.records,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"c-{uuid.uuid4().hex}",
        enable_auto_commit=False,
    )
    messages: list[tuple[bytes | None, bytes]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and len(messages) < count:
            for batch in consumer.poll(timeout_ms=500).values():
                messages.extend((m.key, m.value) for m in batch)
    finally:
        consumer.close()
    return messages


def test_jsonl_records_reach_kafka_byte_for_byte(
    settings: Settings, settings_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "records.jsonl"
    # CRLF endings, a blank line and a trailing line without a newline: none are the record's.
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(JSONL_LINES[:4]) + b"\r\n\r\n")
    with path.open("ab") as handle:
        handle.write(b"\n".join(JSONL_LINES[4:]))

    result = produce_file(settings_env, path)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"sent {len(JSONL_LINES)}, failed 0" in result.stderr
    got = collect_raw(settings, len(JSONL_LINES))
    assert len(got) == len(JSONL_LINES)
    by_value = dict((value, key) for key, value in got)
    # Every record with an id, valid or not, is exactly the line as written.
    for line in JSONL_LINES[:2] + JSONL_LINES[3:]:
        assert line in by_value, line
    assert by_value[JSONL_LINES[0]] == b"007"
    assert by_value[JSONL_LINES[1]] == b"a1"
    assert by_value[JSONL_LINES[3]] == b"b2"  # NaN is not orjson's JSON, but the worker's
    for line in (b"this is not json", b'["an", "array"]', b'{"id": 7, "income": 3}'):
        assert by_value[line] is None
    # The id-less record gets a UUID as its first member; every other byte is as written.
    (added,) = [value for value in by_value if value not in JSONL_LINES]
    new_id = orjson.loads(added)["id"]
    assert added == b'  {"id":"' + new_id.encode() + b'",' + JSONL_LINES[2][3:]
    assert by_value[added] == new_id.encode() and len(new_id) == 32


def test_csv_keeps_ids_as_text_and_numbers_as_numbers(
    settings: Settings, settings_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "records.csv"
    path.write_text(
        "id,event_time,income,age,region,flag\n"
        "007,2026-01-01T00:00:00Z,52000.5,41,NA,True\n"
        "0042,1767225600000,,,north,False\n"
        ",2026-01-02T00:00:00,1e3,7,None,\n"
    )

    result = produce_file(settings_env, path)

    assert result.returncode == 0, result.stderr
    got = collect_raw(settings, 3)
    records = {key: orjson.loads(value) for key, value in got}
    assert records[b"007"] == {
        "id": "007",
        "event_time": "2026-01-01T00:00:00Z",
        "income": 52000.5,
        "age": 41,
        "region": "NA",
        "flag": True,
    }
    # An empty cell is null; an integer column with a gap stays integral.
    # A column of ISO strings stays text; epoch milliseconds among them are kept as written.
    assert records[b"0042"]["event_time"] == "1767225600000"
    assert records[b"0042"]["income"] is None and records[b"0042"]["age"] is None
    (other,) = [record for key, record in records.items() if key not in (b"007", b"0042")]
    assert type(other["age"]) is int and other["age"] == 7
    assert other["income"] == 1000.0 and other["region"] == "None" and other["flag"] is None
    assert len(other["id"]) == 32


def test_csv_epoch_event_time_stays_a_number(
    settings: Settings, settings_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "records.csv"
    path.write_text("id,event_time\n1,1767225600000\n2,1767225601000\n")

    assert produce_file(settings_env, path).returncode == 0
    records = {key: orjson.loads(value) for key, value in collect_raw(settings, 2)}
    assert records[b"1"] == {"id": "1", "event_time": 1767225600000}


def test_parquet_keeps_types_and_writes_timestamps_as_iso_utc(
    settings: Settings, settings_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "records.parquet"
    berlin = pa.timestamp("us", tz="Europe/Berlin")
    table = pa.table(
        {
            "id": pa.array(["007", None, "x"], pa.string()),
            "event_time": pa.array(
                [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 1, 30), None],
                pa.timestamp("ms"),
            ),
            "local": pa.array([1767225600000000, None, 0], berlin),
            "nanos": pa.array([1767225600000000001, None, None], pa.timestamp("ns")),
            "income": pa.array([52000.5, None, float("nan")], pa.float64()),
            "age": pa.array([41, None, 3], pa.int64()),
            "amount": pa.array([Decimal("1.25"), None, None], pa.decimal128(5, 2)),
            "region": pa.array(["NA", None, "north"], pa.string()),
        }
    )
    pq.write_table(table, path)

    result = produce_file(settings_env, path)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    records = {key: orjson.loads(value) for key, value in collect_raw(settings, 3)}
    assert records[b"007"] == {
        "id": "007",
        "event_time": "2026-01-01T00:00:00Z",
        "local": "2026-01-01T00:00:00Z",
        "nanos": "2026-01-01T00:00:00.000000001Z",
        "income": 52000.5,
        "age": 41,
        "amount": 1.25,
        "region": "NA",
    }
    (other,) = [record for key, record in records.items() if key not in (b"007", b"x")]
    assert other["event_time"] == "2026-01-01T01:30:00Z"
    assert other["age"] is None and other["income"] is None and len(other["id"]) == 32
    assert records[b"x"]["local"] == "1970-01-01T00:00:00Z" and records[b"x"]["income"] is None


def test_parquet_integer_ids_are_sent_as_their_text(
    settings: Settings, settings_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "records.parquet"
    pq.write_table(pa.table({"id": pa.array([7, 8], pa.int64()), "x": [1, 2]}), path)

    assert produce_file(settings_env, path).returncode == 0
    records = {key: orjson.loads(value) for key, value in collect_raw(settings, 2)}
    assert records[b"7"] == {"id": "7", "x": 1}


@pytest.mark.parametrize("kind", [pa.binary(), pa.duration("s")])
def test_a_parquet_column_without_a_json_form_is_one_clear_error(
    tmp_path: Path, kind: pa.DataType
) -> None:
    path = tmp_path / "records.parquet"
    value = b"\x00" if pa.types.is_binary(kind) else 5
    pq.write_table(pa.table({"id": ["a"], "blob": pa.array([value], kind)}), path)
    result = run_cli(
        ["produce", "--file", str(path)],
        {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "PATH": "/usr/bin:/bin"},
        timeout_s=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "blob" in result.stderr and "without a JSON form" in result.stderr
