"""The ClickHouse sink on the real stack: exact counts, poison messages, odd ids, replays."""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from clickhouse_driver import errors
from clickhouse_sink_support import produce, score_message, score_messages

from scorestream.child_process import run_cli
from scorestream.consumers.queries import count_rejected, count_scores, score_ids, scores_by_id
from scorestream.consumers.sink import (
    ClickHouseSink,
    SinkBatch,
    SinkOptions,
    SinkRunner,
    SinkStats,
    decode_rejected,
    decode_score,
    is_transient,
)
from scorestream.contract import REJECTED_RECORDS, SCORES, decode_drift_rows
from scorestream.exceptions import DecodeError
from scorestream.settings import Settings
from scorestream.topics import ensure_topics

ODD_IDS = [
    "it's",
    'say "hi"',
    "back\\slash",
    "line\nbreak",
    "cr\r\ntab\t",
    "'; DROP TABLE scores; --",
    "\\'",
    "%(id)s",
    "{database}",
    "ünïcødé ✓",
    "\u2028sep",
    " ",
    "a'b\"c\\d\ne",
]


def _run_once(settings: Settings, **options: Any) -> SinkStats:
    runner = SinkRunner(settings, SinkOptions(once=True, **options))
    return asyncio.run(runner.run())


# --- decoding and error classes (pure) -----------------------------------------------------
def test_decode_score_and_refusals() -> None:
    spec, rows = decode_score(orjson.dumps(score_message(5, label="yes")))
    assert spec.name == "scores"
    assert rows[0][0] == "rec-0000005" and rows[0][8] == "yes"
    assert rows[0][1] == rows[0][2] // 1000  # DateTime column from the ms value
    for bad, field in [
        (b"{not json", ""),
        (b"[1, 2]", ""),
        (b"", ""),
        (orjson.dumps({"id": "x"}), "event_time_ms"),
        (orjson.dumps(score_message(1, record_id=7)), "id"),  # type: ignore[arg-type]
        (orjson.dumps(score_message(1, score="high")), ""),
    ]:
        with pytest.raises(DecodeError) as caught:
            decode_score(bad)
        assert caught.value.field == field


def test_decode_rejected_keeps_the_exact_payload() -> None:
    payload = b"\xff\x00{'bad json\n"
    message = {
        "id": None,
        "reason": "invalid_json",
        "field": None,
        "message": "bad",
        "source_topic": "records",
        "source_partition": 1,
        "source_offset": 9,
        "ingested_at_ms": 1_714_564_800_000,
        "rejected_at_ms": 1_714_564_800_500,
        "payload_base64": base64.b64encode(payload).decode(),
    }
    spec, rows = decode_rejected(orjson.dumps(message))
    assert spec.name == "rejected_records"
    assert rows[0][0] == "" and rows[0][2] == "" and rows[0][-1] == payload
    with pytest.raises(DecodeError):
        decode_rejected(orjson.dumps({**message, "payload_base64": "***"}))


def test_decode_drift_bins_and_change() -> None:
    bins = {
        "type": "bins",
        "batch_id": "b1",
        "model_version": "v1",
        "emitted_at_ms": 5000,
        "rows": [
            {
                "minute_ms": 60_000,
                "feature": f,
                "kind": "numeric",
                "counts": [1, 2],
                "count": 3,
                "missing": 0,
                "sum": 1.5,
                "sumsq": 2.5,
            }
            for f in "ab"
        ],
    }
    spec, rows = decode_drift_rows(orjson.dumps(bins))
    assert spec.name == "drift_stats" and len(rows) == 2 and rows[0][0] == 60
    change = {
        "type": "change",
        "event_id": "e1",
        "detector": "adwin",
        "feature": "a",
        "minute_ms": 120_000,
        "value": 0.7,
        "detected_at_ms": 121_000,
        "model_version": "v1",
        "model_name": "churn",
    }
    spec, rows = decode_drift_rows(orjson.dumps(change))
    assert spec.name == "drift_events" and rows == [
        (121, 121_000, 120, "a", "adwin", 0.7, "v1", "e1", "churn", "churn@v1")
    ]
    with pytest.raises(DecodeError):
        decode_drift_rows(orjson.dumps({"type": "other"}))


def test_transient_and_data_errors_are_told_apart() -> None:
    assert is_transient(errors.NetworkError("Connection refused"))
    assert is_transient(EOFError())
    assert is_transient(errors.ServerException("Too many parts", code=252))
    assert is_transient(errors.ServerException("Table x doesn't exist", code=60))
    assert not is_transient(
        errors.ServerException(
            "Too many partitions for single INSERT block (more than 100)", code=252
        )
    )
    assert not is_transient(errors.ServerException("Cannot parse", code=6))
    assert not is_transient(errors.TypeMismatchError("ushort format requires ..."))
    assert not is_transient(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates"))


def _records(topic: str, partition: int, start: int, values: list[bytes]) -> list[Any]:
    from aiokafka import ConsumerRecord

    return [
        ConsumerRecord(
            topic,
            partition,
            start + i,
            1_714_564_800_000 + i,
            0,
            f"k{start + i}".encode(),
            value,
            None,
            3,
            len(value),
            (),
        )
        for i, value in enumerate(values)
    ]


def test_batches_keep_offsets_and_give_stable_dedup_tokens() -> None:
    values = [orjson.dumps(score_message(i)) for i in range(6)] + [b"oops"]

    def batch(start: int) -> SinkBatch:
        sink = ClickHouseSink(None, "scoring", {"scores": decode_score})
        sink.add("scores", 0, _records("scores", 0, start, values[:4]))
        sink.add("scores", 2, _records("scores", 2, start, values[4:]))
        return sink.pending()["scores"]

    first, again, later = batch(100), batch(100), batch(107)
    assert first.offsets == {0: [100, 103, 1_714_564_800_000], 2: [100, 102, 1_714_564_800_000]}
    assert first.offset_ranges() == "p0 100-103, p2 100-102"
    assert first.rows == 7 and first.decode_errors == 1
    assert len(first.tables["scores"].rows) == 6
    assert first.tables["rejected_records"].origin == [6]  # the message index of "oops"
    # A retry of the same messages carries the same token; other messages, another token.
    assert first.dedup_token(SCORES) == again.dedup_token(SCORES)
    assert first.dedup_token(SCORES) != later.dedup_token(SCORES)
    assert first.dedup_token(SCORES) != first.dedup_token(REJECTED_RECORDS)
    assert first.dedup_token(SCORES, "0:0-3") != first.dedup_token(SCORES)


# --- on the stack ---------------------------------------------------------------------------
def test_100k_scores_give_exactly_100k_rows(
    settings: Settings, settings_env: dict[str, str], ch_client: Any, tmp_path: Path
) -> None:
    ensure_topics(settings)
    assert produce(settings, settings.topics.scores, score_messages(0, 100_000)) == 100_000
    result = run_cli(["sink", "--once"], settings_env, timeout_s=120)
    assert result.returncode == 0, result.stderr[-3000:]
    db = settings.clickhouse.database
    # Nothing was replayed, so even the plain count is exact.
    assert ch_client.execute(f"SELECT count(), uniqExact(id) FROM {db}.scores") == [
        (100_000, 100_000)
    ]
    assert count_scores(ch_client, db) == 100_000
    flushes = [line for line in result.stderr.splitlines() if " flush " in line]
    # One line per flush: topic, partitions with offset ranges, rows, milliseconds.
    pattern = re.compile(r"flush \S+scores \[p\d+ \d+-\d+.*\]: \d+ rows .* \d+ ms")
    assert flushes and all(pattern.search(line) for line in flushes)
    assert "scores 100000" in result.stderr  # the final summary line


def test_poison_messages_become_rejected_rows(settings: Settings, ch_client: Any) -> None:
    ensure_topics(settings)
    topic = settings.topics.scores
    good = [(m["id"].encode(), orjson.dumps(m)) for m in map(score_message, range(3000))]
    poison = {
        b"bad-json": (b'{"id": "bad-json", "score": ', "sink_decode_error"),
        b"not-object": (b'"just a string"', "sink_decode_error"),
        b"no-score": (
            orjson.dumps({k: v for k, v in score_message(1, "no-score").items() if k != "score"}),
            "sink_decode_error",
        ),
        # Decode fine, but ClickHouse refuses them: UInt32 latency, UInt64 event time.
        b"neg-latency": (
            orjson.dumps(score_message(2, "neg-latency", latency_ms=-5)),
            "sink_insert_error",
        ),
        b"neg-time": (
            orjson.dumps(score_message(3, "neg-time", event_time_ms=-1000)),
            "sink_insert_error",
        ),
    }
    # Poison in the middle of batches, so the good rows around it are in the same insert.
    messages = good[:1000] + [(k, v) for k, (v, _) in list(poison.items())[:3]] + good[1000:2000]
    messages += [(k, v) for k, (v, _) in list(poison.items())[3:]] + good[2000:]
    produce(settings, topic, messages)
    stats = _run_once(settings)
    db = settings.clickhouse.database
    assert count_scores(ch_client, db) == 3000
    assert stats.rejected == 5
    rows = ch_client.execute(
        f"SELECT id, reason, field, message, source_topic, payload FROM {db}.rejected_records "
        "FINAL ORDER BY id",
        settings={"strings_as_bytes": True},
    )
    found = {row[0]: row for row in rows}
    assert set(found) == set(poison)
    for key, (payload, reason) in poison.items():
        row = found[key]
        assert row[1].decode() == reason
        assert row[4].decode() == topic
        assert row[5] == payload  # the original bytes, exactly
    assert found[b"no-score"][2] == b"score"
    assert b"latency_ms" in found[b"neg-latency"][3]
    assert count_rejected(ch_client, db, "sink_insert_error") == 2


def test_ids_with_quotes_backslashes_and_newlines_round_trip(
    settings: Settings, ch_client: Any
) -> None:
    ensure_topics(settings)
    messages = [score_message(i, record_id) for i, record_id in enumerate(ODD_IDS)]
    produce(
        settings, settings.topics.scores, [(m["id"].encode(), orjson.dumps(m)) for m in messages]
    )
    payload = b"\x00\xff'\"\\\n"
    rejected = {
        "id": "rej'\\\n\"",
        "reason": "invalid_json",
        "field": "a'b",
        "message": "x\ny",
        "source_topic": "records",
        "source_partition": 0,
        "source_offset": 1,
        "ingested_at_ms": 1_714_564_800_000,
        "rejected_at_ms": 1_714_564_800_001,
        "payload_base64": base64.b64encode(payload).decode(),
    }
    produce(settings, settings.topics.rejected, [(None, orjson.dumps(rejected))])
    _run_once(settings)
    db = settings.clickhouse.database
    assert score_ids(ch_client, db) == sorted(ODD_IDS)
    # Looked up by value: the ids travel as query parameters.
    found = scores_by_id(ch_client, db, ODD_IDS)
    assert set(found) == set(ODD_IDS)
    assert all(found[m["id"]]["score"] == m["score"] for m in messages)
    row = ch_client.execute(
        f"SELECT id, field, message, payload FROM {db}.rejected_records FINAL",
        settings={"strings_as_bytes": True},
    )
    assert row == [(str(rejected["id"]).encode(), b"a'b", b"x\ny", payload)]


def test_drift_stats_messages_fill_both_tables(settings: Settings, ch_client: Any) -> None:
    ensure_topics(settings)
    bins = [
        {
            "type": "bins",
            "batch_id": f"b{i}",
            "model_version": "v1",
            "emitted_at_ms": i,
            "rows": [
                {
                    "minute_ms": 1_714_564_800_000,
                    "feature": "income",
                    "kind": "numeric",
                    "counts": [i, 1, 2],
                    "count": i + 3,
                    "missing": 1,
                    "sum": 1.5,
                    "sumsq": 2.25,
                }
            ],
        }
        for i in range(10)
    ]
    change = {
        "type": "change",
        "event_id": "e'1",
        "detector": "adwin",
        "feature": "income",
        "minute_ms": 1_714_564_800_000,
        "value": 0.7,
        "detected_at_ms": 1_714_564_801_000,
        "model_version": "v1",
    }
    produce(
        settings, settings.topics.drift_stats, [(None, orjson.dumps(m)) for m in [*bins, change]]
    )
    stats = _run_once(settings)
    assert stats.rows == {"drift_stats": 10, "drift_events": 1}
    db = settings.clickhouse.database
    assert ch_client.execute(
        f"SELECT sum(count), sumForEach(counts) FROM {db}.drift_stats FINAL"
    ) == [(75, [45, 10, 20])]
    assert ch_client.execute(f"SELECT event_id, value FROM {db}.drift_events FINAL") == [
        ("e'1", 0.7)
    ]


def test_a_replay_is_stored_twice_but_never_shown_twice(settings: Settings, ch_client: Any) -> None:
    ensure_topics(settings)
    produce(settings, settings.topics.scores, score_messages(0, 2000))
    _run_once(settings)
    # A second group reads everything again: what a crash between insert and commit does.
    _run_once(settings, group_id=f"{settings.topic_prefix}replay")
    db = settings.clickhouse.database
    raw = ch_client.execute(f"SELECT count() FROM {db}.scores")[0][0]
    assert raw in (2000, 4000)  # 2000 once ClickHouse has merged the parts
    assert count_scores(ch_client, db) == 2000
