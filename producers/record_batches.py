"""Whole record batches for kafka-python's accumulator, built in bulk, one outcome per batch.

``KafkaProducer.send`` builds a batch one record at a time in Python (type checks, a varint
at a time into a ``bytearray``, a metadata tuple) and gives every record a future with two
callbacks that the I/O thread completes one by one: most of a producer's time per record
(py-spy). Here the records of one partition are encoded together into Kafka's v2 record
format (varints from a table, one ``bytes.join``) into kafka-python's own batch classes
(``MemoryRecordsBuilder`` and ``ProducerBatch``, which write the batch header and CRC-32C and
take the producer id and sequence numbers when the I/O thread drains them), and each batch
goes to the accumulator's queue for its partition. kafka-python's sender, retries, expiry,
idempotence and batch splitting are unchanged; only the appending is not record by record.

The outcome is per batch: :class:`BatchOutcome` covers the records of one batch (a range of
its offsets) and tells each record's fate from the batch's future and kafka-python's
per-record errors (``record_exceptions_fn``). A batch the broker refuses as too large is
split by kafka-python into new batches; :class:`_Moves` follows the records there.

This relies on kafka-python 3.0's accumulator internals (``_batches``, ``_tp_lock``,
``_incomplete``, the builder's fields); ``tests/producers/test_record_batches.py`` decodes
what is built here with kafka-python's reader and fails if they change.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from kafka.producer.producer_batch import ProducerBatch
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecordsBuilder
from kafka.structs import TopicPartition

# A v2 record batch's header, before its records.
_BATCH_HEADER = DefaultRecordBatchBuilder.HEADER_STRUCT.size
# Zigzag varints (Kafka's record fields) of 0 .. _TABLE-1, looked up instead of computed.
_TABLE = 1 << 14


def _varint(value: int) -> bytes:
    """Kafka's zigzag varint of ``value`` (non-negative here)."""
    value <<= 1
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


_VARINTS = [_varint(value) for value in range(_TABLE)]
# Per record: attributes 0 and timestamp delta 0 (a batch's records share its timestamp).
_HEAD = b"\x00\x00"
# Per record: no headers.
_NO_HEADERS = b"\x00"
# Bytes per record besides its key, value and their varints: attributes, timestamp delta,
# headers count (the offset delta's and length's varints are counted apart).
_FIXED = len(_HEAD) + len(_NO_HEADERS)


def encode_records(
    keys: Sequence[bytes], values: Sequence[bytes], order: Sequence[int], limit: int
) -> tuple[bytes, int]:
    """Kafka v2 records of ``keys[i], values[i]`` for ``i`` in ``order``, offset deltas from
    0, as many as fit.

    Returns the encoded records and how many were taken: records are added while the
    total stays within ``limit`` bytes, and the first is always taken (as kafka-python's
    builder does, so that a record larger than a batch still gets one of its own).
    """
    table = _VARINTS
    parts: list[bytes] = []
    extend = parts.extend
    size = 0
    offset = 0
    for index in order:
        key = keys[index]
        value = values[index]
        key_length = len(key)
        value_length = len(value)
        if offset < _TABLE and key_length < _TABLE and value_length < _TABLE:
            offset_varint = table[offset]
            key_varint = table[key_length]
            value_varint = table[value_length]
        else:
            offset_varint = _varint(offset)
            key_varint = _varint(key_length)
            value_varint = _varint(value_length)
        length = (
            _FIXED
            + len(offset_varint)
            + len(key_varint)
            + key_length
            + len(value_varint)
            + value_length
        )
        length_varint = table[length] if length < _TABLE else _varint(length)
        size += len(length_varint) + length
        if size > limit and offset:
            break
        extend(
            (
                length_varint,
                _HEAD,
                offset_varint,
                key_varint,
                key,
                value_varint,
                value,
                _NO_HEADERS,
            )
        )
        offset += 1
    return b"".join(parts), offset


class _Moved:
    """Where kafka-python moved one record of a split batch (its new batch and offset).

    kafka-python's ``split_and_reenqueue`` calls ``rebind`` on each entry of a batch's
    ``_record_futures``; for a batch built here that is :class:`_Moves`, which hands out
    these instead of per-record futures, made only when a batch is split.
    """

    __slots__ = ("future", "index")

    def __init__(self) -> None:
        self.future: Any = None
        self.index = 0

    def rebind(self, new_produce_future: Any, new_batch_index: int) -> None:
        old = self.future
        self.future = new_produce_future
        self.index = new_batch_index
        if old is not None:
            # A waiter on the batch it was in wakes up and looks again (as kafka-python's
            # own futures do on a split).
            old._latch.set()


class _Moves:
    """A batch's ``_record_futures`` for kafka-python: none until the batch is split."""

    __slots__ = ("_batch", "moved")

    def __init__(self, batch: ProducerBatch) -> None:
        self._batch = batch
        self.moved: list[_Moved] | None = None

    def __len__(self) -> int:
        return int(self._batch.record_count)

    def __getitem__(self, index: int) -> _Moved:
        if self.moved is None:
            self.moved = [_Moved() for _ in range(len(self))]
            for entry in self.moved:
                entry.future = self._batch.produce_future
        return self.moved[index]


class BatchOutcome:
    """The fate of the records ``first .. first+len(indices)-1`` of one batch.

    ``indices`` are the records' positions in the chunk they came from.
    """

    __slots__ = ("batch", "first", "indices")

    def __init__(self, batch: ProducerBatch, first: int, indices: Sequence[int]) -> None:
        self.batch = batch
        self.first = first
        self.indices = indices

    def _moves(self) -> list[_Moved] | None:
        moves: _Moves = self.batch._record_futures
        return moves.moved

    @property
    def is_done(self) -> bool:
        if self.batch.produce_future.is_done:
            return True
        moved = self._moves()
        if moved is None:
            return False
        last = self.first + len(self.indices)
        return all(entry.future.is_done for entry in moved[self.first : last])

    def wait(self, seconds: float) -> bool:
        """Wait at most ``seconds`` for every record's outcome; True if all are settled."""
        deadline = time.monotonic() + seconds
        while not self.is_done:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            moved = self._moves()
            if moved is None:
                # Set when the batch completes, and when it is split (then moves are known).
                self.batch.produce_future._latch.wait(left)
                continue
            for entry in moved[self.first : self.first + len(self.indices)]:
                if not entry.future.is_done:
                    entry.future._latch.wait(max(0.0, min(left, deadline - time.monotonic())))
                    break
        return True

    def failures(self) -> list[tuple[int, BaseException | None]]:
        """(chunk position, error) of each record not acknowledged; error None: no outcome.

        The records not listed were acknowledged.
        """
        future = self.batch.produce_future
        if future.is_done:
            return _failed(future, self.first, self.indices)
        moved = self._moves()
        if moved is None:
            return [(int(index), None) for index in self.indices]
        out: list[tuple[int, BaseException | None]] = []
        for offset, index in enumerate(self.indices, self.first):
            entry = moved[offset]
            if not entry.future.is_done:
                out.append((int(index), None))
            else:
                out.extend(_failed(entry.future, entry.index, [index]))
        return out


def _failed(
    produce_future: Any, first: int, indices: Sequence[int]
) -> list[tuple[int, BaseException | None]]:
    """Failures among ``indices`` (batch offsets from ``first``) of a completed batch."""
    if produce_future.exception is not None:
        error = produce_future.exception
        return [(int(index), error) for index in indices]
    _offset, _timestamp, record_error = produce_future.value
    if record_error is None:
        return []
    return [(int(index), record_error(offset)) for offset, index in enumerate(indices, first)]


def build_batches(
    tp: TopicPartition,
    keys: Sequence[bytes],
    values: Sequence[bytes],
    order: list[int],
    *,
    batch_size: int,
    compression: int,
) -> list[tuple[ProducerBatch, BatchOutcome]]:
    """The records ``keys[i], values[i]`` for ``i`` in ``order``, for partition ``tp``, as
    record batches of at most ``batch_size`` bytes (a larger record gets a batch of its
    own), with their outcomes (whose indices are those ``i``)."""
    out = []
    now = time.monotonic()
    timestamp_ms = int(time.time() * 1000)
    limit = batch_size - _BATCH_HEADER
    start = 0
    while start < len(order):
        taken = order[start:] if start else order
        encoded, count = encode_records(keys, values, taken, limit)
        records = MemoryRecordsBuilder(2, compression, batch_size)
        builder = records._builder
        builder._buffer += encoded
        builder._num_records = count
        builder._last_offset = count - 1
        builder._first_timestamp = builder._max_timestamp = timestamp_ms
        records._next_offset = count
        # Full: kafka-python sends it without lingering, and its own send() appends no
        # record to it (so every record in it is one of these, with this outcome).
        records._batch_size = builder._batch_size = 0
        batch = ProducerBatch(tp, records, now=now)
        batch._record_futures = _Moves(batch)
        out.append((batch, BatchOutcome(batch, 0, taken[:count])))
        start += count
    return out


def enqueue(accumulator: Any, tp: TopicPartition, batches: Sequence[ProducerBatch]) -> None:
    """Put whole batches at the end of ``tp``'s queue in kafka-python's accumulator.

    Raises
    ------
    kafka.errors.IllegalStateError
        If the producer is closed.
    """
    import kafka.errors as errors

    accumulator._appends_in_progress.increment()
    try:
        with accumulator._tp_lock(tp):
            if accumulator._closed:
                raise errors.IllegalStateError("RecordAccumulator is closed")
            queue = accumulator._batches[tp]
            for batch in batches:
                queue.append(batch)
                accumulator._incomplete.add(batch)
    finally:
        accumulator._appends_in_progress.decrement()
