"""The delivery ledger: every record acknowledged, failed, or given up at its deadline."""

from __future__ import annotations

import time

from kafka.errors import KafkaTimeoutError
from kafka.producer.future import FutureProduceResult, FutureRecordMetadata
from kafka.structs import TopicPartition

from scorestream.producers.delivery import DeliveryLedger, Failed, RecordOutcome


def record_future() -> tuple[FutureProduceResult, FutureRecordMetadata]:
    """kafka-python's future of one record in a batch of its own, and the batch's future."""
    batch = FutureProduceResult(TopicPartition("records", 0))
    return batch, FutureRecordMetadata(batch, 0, -1, None, 1, 2, -1)


def test_a_record_the_client_never_settles_is_given_up_at_its_deadline_and_named() -> None:
    # kafka-python's own futures: one acknowledged, one failed, one never settled (as seen
    # after a broker killed mid-request), one whose send() raised.
    (ok_batch, acknowledged), (bad_batch, failed), (_, silent) = (record_future() for _ in "abc")
    ok_batch.success((41, -1, None))
    bad_batch.failure(KafkaTimeoutError("Expiring 1 record(s)"))
    payloads = [(b"a", b"{}"), (b"b", b"{}"), (b"c", b"{}"), (b"d", b"{}")]
    reported: list[tuple[int, list[int]]] = []
    ledger = DeliveryLedger(0.2, 0.1, on_settled=lambda tag, idx: reported.append((tag, idx)))
    outcomes = [RecordOutcome(future, i) for i, future in enumerate([acknowledged, failed, silent])]
    ledger.add(payloads, [*outcomes, Failed(ValueError("too large"), [3])], tag=7)

    ledger.settle()  # nothing waits without wait=True: the silent one holds the chunk
    assert reported == [] and ledger.pending_records == 4
    started = time.monotonic()
    ledger.finish()
    waited = time.monotonic() - started

    assert 0.1 < waited < 2  # bounded by the chunk's deadline (0.3 s after it was added)
    assert ledger.acknowledged == 1
    assert ledger.undelivered == payloads[1:]
    assert ledger.abandoned == 1
    assert reported == [(7, [1, 2, 3])]
    assert ledger.pending_records == 0
    assert any("no outcome from the client" in error for error in ledger.errors)
    assert "KafkaTimeoutError: Expiring 1 record(s)" in ledger.errors


def test_settled_chunks_are_accounted_in_order_without_waiting() -> None:
    (first_batch, first), (second_batch, second) = record_future(), record_future()
    ledger = DeliveryLedger(60, 10)
    ledger.add([(b"a", b"1")], [RecordOutcome(first, 0)], tag=1)
    ledger.add([(b"b", b"2")], [RecordOutcome(second, 0)], tag=2)
    second_batch.success((7, -1, None))
    ledger.settle()
    # The first chunk is not settled, so nothing behind it is accounted yet.
    assert (ledger.acknowledged, ledger.pending_records) == (0, 2)
    first_batch.success((6, -1, None))
    ledger.settle()
    assert (ledger.acknowledged, ledger.pending_records, ledger.undelivered) == (2, 0, [])
