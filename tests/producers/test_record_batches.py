"""Record batches built in bulk: kafka-python's bytes, one outcome per batch, splits followed.

``producers/record_batches.py`` writes into kafka-python's own batch classes and queues; the
unit tests compare its batches byte for byte with kafka-python's record-by-record builder
(so an upgrade that changes those internals fails here), and the last test sends through a
topic whose batch limit makes the broker refuse kafka-python's batches, so that they are
split, and one record that no split can save.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from kafka.errors import InvalidRecordError, KafkaTimeoutError, MessageSizeTooLargeError
from kafka.producer.record_accumulator import RecordAccumulator
from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder
from kafka.structs import TopicPartition

from scorestream.producers import record_files
from scorestream.producers.delivery import DeliveryLedger
from scorestream.producers.partitioning import group_by_partition, partitions_for
from scorestream.producers.producer import RecordProducer
from scorestream.producers.record_batches import build_batches, enqueue
from scorestream.settings import Settings
from tests.kafka_io import read_all

TP = TopicPartition("records", 3)


def pairs_of_every_size() -> list[tuple[bytes, bytes]]:
    """Keys and values whose lengths need 1, 2 and 3 varint bytes, an empty value, and a
    value larger than the batches (it must get a batch of its own)."""
    sizes = [0, 1, 63, 64, 200, 8191, 8192, 20_000, 300, 90_000, 5]
    return [
        (f"k{i}".encode() * (1 + i % 40), bytes([65 + i % 26]) * size)
        for i, size in enumerate(sizes * 12)
    ]


def test_bulk_batches_are_the_bytes_kafka_pythons_builder_writes() -> None:
    pairs = pairs_of_every_size()
    batch_size = 64 * 1024
    keys, values = [key for key, _ in pairs], [value for _, value in pairs]
    built = build_batches(
        TP, keys, values, list(range(len(pairs))), batch_size=batch_size, compression=0
    )
    # kafka-python's builder, one record at a time, with the same timestamp and limits.
    timestamp = built[0][0].records._builder._first_timestamp
    expected: list[MemoryRecordsBuilder] = []
    for key, value in pairs:
        if not expected or expected[-1].append(timestamp, key, value, []) is None:
            expected.append(MemoryRecordsBuilder(2, 0, batch_size))
            assert expected[-1].append(timestamp, key, value, []) is not None
    assert len(built) == len(expected) > 3
    first = 0
    for sequence, ((batch, outcome), reference) in enumerate(zip(built, expected, strict=True)):
        for records in (batch.records, reference):
            records.set_producer_state(41, 2, 100 * sequence, False)
            records.close()
        assert bytes(batch.records.buffer()) == bytes(reference.buffer())
        assert batch.record_count == reference.next_offset()
        assert list(outcome.indices) == list(range(first, first + batch.record_count))
        first += batch.record_count
    assert first == len(pairs)
    # And kafka-python's reader takes them: CRC, offsets, keys and values.
    read = []
    for batch, _ in built:
        for record_batch in MemoryRecords(bytes(batch.records.buffer())):
            assert record_batch.validate_crc()
            read.extend((record.key, record.value) for record in record_batch)
    assert read == pairs


def test_a_batch_outcome_names_each_failed_record_by_its_position_in_the_chunk() -> None:
    keys = [f"id-{i}".encode() for i in range(20)]
    (batch, outcome), *_ = build_batches(
        TP, keys, [b"{}"] * 20, [10, 11, 12, 13, 14, 15], batch_size=1 << 20, compression=0
    )
    assert not outcome.is_done and outcome.failures() == [(i, None) for i in range(10, 16)]
    # The broker refused records 1 and 4 of the batch (kafka-python's per-record errors).
    batch.complete_exceptionally(
        MessageSizeTooLargeError("too large"),
        lambda offset: InvalidRecordError(f"record {offset}") if offset in (1, 4) else None,
    )
    assert outcome.is_done and outcome.wait(0)
    failures = outcome.failures()
    assert [index for index, _ in failures if _ is not None] == [11, 14]
    assert [str(error) for _, error in failures if error is not None] == [
        "[Error 87] InvalidRecordError: record 1",
        "[Error 87] InvalidRecordError: record 4",
    ]


def test_records_of_a_batch_kafka_python_splits_are_followed_to_the_new_batches() -> None:
    accumulator = RecordAccumulator(batch_size=1 << 20)
    pairs = [(f"id-{i}".encode(), b'{"x": 1}') for i in range(5)]
    keys, values = [key for key, _ in pairs], [value for _, value in pairs]
    ((batch, outcome),) = build_batches(
        TP, keys, values, list(range(5)), batch_size=1 << 20, compression=0
    )
    enqueue(accumulator, TP, [batch])
    drained = accumulator._batches[TP].popleft()
    drained.records.close()
    # What kafka-python does when the broker says MESSAGE_TOO_LARGE: two halves, requeued.
    assert accumulator.split_and_reenqueue(drained) == 2
    first, second = accumulator._batches[TP]
    assert (first.record_count, second.record_count) == (3, 2)
    assert not outcome.is_done and not outcome.wait(0.05)
    first.complete(100, -1)
    assert not outcome.is_done
    assert outcome.failures() == [(3, None), (4, None)]  # still in flight
    second.complete_exceptionally(KafkaTimeoutError("expired"), lambda _: KafkaTimeoutError("x"))
    assert outcome.wait(1)
    ledger = DeliveryLedger(60, 1)
    ledger.add(pairs, [outcome])
    ledger.finish()
    assert (ledger.acknowledged, ledger.undelivered) == (3, pairs[3:])


def test_partition_groups_are_kafkas_partitions_in_the_keys_order() -> None:
    keys = [f"syn-1-{i}".encode() for i in range(500)] + [b"", b"x"]
    chosen = partitions_for(keys, range(6))
    groups = group_by_partition(keys, 6)
    assert [members for _, members in groups] == [
        [i for i, p in enumerate(chosen) if p == partition] for partition, _ in groups
    ]
    assert sorted(i for _, members in groups for i in members) == list(range(len(keys)))


def test_json_lines_split_across_read_blocks_are_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [b'{"id":"a","v":1}', b"", b"  ", b'{"id":"b"}\r', b"not json", b'{"id":"c"}']
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines))  # no newline at the end
    expected = [(b"a", lines[0]), (b"b", b'{"id":"b"}'), (None, b"not json"), (b"c", lines[5])]
    for block in (1, 2, 7, 1 << 20):
        monkeypatch.setattr(record_files, "_BLOCK_BYTES", block)
        chunks = list(record_files.jsonl_chunks(path, 3))
        assert [len(chunk) for chunk in chunks] == [3, 1]
        assert [payload for chunk in chunks for payload in chunk] == expected


def small_batch_topic(settings: Settings) -> str:
    """The records topic, taking batches of 2,000 bytes at most (512 KB are sent)."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    topic = settings.topics.records
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        admin.create_topics([NewTopic(topic, 2, 1, topic_configs={"max.message.bytes": "2000"})])
    finally:
        admin.close()
    return topic


def payloads(n: int) -> list[tuple[bytes, bytes]]:
    return [
        (f"id-{i}".encode(), orjson.dumps({"id": f"id-{i}", "pad": "x" * (i % 50)}))
        for i in range(n)
    ]


def test_batches_the_broker_refuses_as_too_large_are_split_and_delivered(
    settings: Settings,
) -> None:
    # The broker refuses every batch built here; kafka-python splits each (again and
    # again), and the ledger follows the records into the new batches: all acknowledged.
    # Beside them, a record without a key (sent by kafka-python's send) is delivered, and
    # one larger than a request may carry fails before it is sent, named.
    topic = small_batch_topic(settings)
    sent = payloads(300)
    keyless = (None, b'{"no": "id"}')
    huge = (b"huge", b'"' + b"z" * (2 * 1024 * 1024) + b'"')
    producer = RecordProducer(settings, delivery_timeout_s=30)
    try:
        summary = producer.send_all([sent[:100], [*sent[100:200], keyless, huge, *sent[200:]]])
    finally:
        producer.close()
    assert (summary.sent, summary.failed, summary.undelivered) == (301, 1, [huge])
    assert any("the most one request may carry" in error for error in summary.errors)
    stored = read_all(settings, [topic], 301, timeout_s=30)
    assert sorted((key or b"", value) for _, key, value, _ in stored) == sorted(
        [*sent, (b"", keyless[1])]
    )


def test_a_record_too_large_for_the_topic_is_named_and_the_ledger_stays_exact(
    settings: Settings,
) -> None:
    # A record of 3,000 bytes alone in its batch cannot be split: kafka-python fails it, and
    # (idempotent producer) takes that as fatal and aborts the batches it still holds. Each
    # record is acknowledged or named, and every one acknowledged is on the topic.
    topic = small_batch_topic(settings)
    sent = payloads(300)
    large = (b"large", orjson.dumps({"id": "large", "pad": "y" * 3000}))
    chunk = [*sent[:150], large, *sent[150:]]
    producer = RecordProducer(settings, delivery_timeout_s=30)
    try:
        summary = producer.send_all([chunk])
    finally:
        producer.close()
    assert summary.sent + summary.failed == len(chunk)
    assert large in summary.undelivered
    assert any("MessageSizeTooLargeError" in error for error in summary.errors)
    # Named in the order they were read.
    assert summary.undelivered == [p for p in chunk if p in summary.undelivered]
    delivered = set(chunk) - set(summary.undelivered)
    stored = read_all(settings, [topic], len(delivered), timeout_s=30)
    assert delivered <= {(key, value) for _, key, value, _ in stored}
