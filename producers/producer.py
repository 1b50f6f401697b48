"""Produce records to the ``records`` topic from a file or the synthetic generator.

Files are read by ``record_files``; the synthetic generator and drift injection are here.

kafka-python with acks=all and the idempotent producer; records are keyed by id so that
every message of one id lands in one partition (the worker's duplicate check relies on it).

Never hang, always account: every record is either acknowledged by the broker or comes back
in :attr:`ProduceSummary.undelivered` with its key and value, and no wait is unbounded
(:mod:`scorestream.producers.delivery`).
"""

from __future__ import annotations

import gc
import logging
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd

from scorestream.settings import Settings

if TYPE_CHECKING:
    from scorestream.producers.delivery import Outcome

log = logging.getLogger(__name__)

Payload = tuple[bytes | None, bytes]


#: Default seconds a record may wait for the broker's acknowledgement before it fails.
DELIVERY_TIMEOUT_S = 120.0
# How much longer than the client's own delivery timeout a record is waited for before it is
# given up (at most; no more than the timeout itself). The client should have failed it by
# then, but after a broker killed mid-request kafka-python 3.0.12 was seen to settle some
# in-flight records never (``delivery``).
_GRACE_S = 10.0
# Records sent and not yet settled at most: beyond, the reader waits (memory stays bounded).
_MAX_PENDING = 400_000
_MAX_REQUEST_BYTES = 2 * 1024 * 1024
# Bytes per record batch: well under the broker's default limit of a batch (1 MB; a larger
# one is split by kafka-python and sent again), large enough that the sender makes few
# requests.
_BATCH_BYTES = 512 * 1024


@dataclass(frozen=True)
class ProduceOptions:
    """What ``scorestream produce`` sends and how fast (its CLI flags)."""

    #: Records per second; None sends as fast as the broker takes them.
    rate: float | None = None
    seed: int = 1
    #: Event time of the first synthetic record (ISO-8601); None means now.
    start: str | None = None
    interval_ms: int = 1000
    #: Index of the first drifted synthetic record.
    drift_from: int = 0
    chunk_size: int = 5000
    #: Seconds a record may wait for the broker before it counts as undelivered.
    delivery_timeout_s: float = DELIVERY_TIMEOUT_S
    #: Producer processes (``sharded``); more than one only without a rate.
    processes: int = 1


@dataclass
class ProduceSummary:
    """What ``scorestream produce`` prints at the end.

    ``sent`` records were acknowledged by the broker (acks=all); ``failed`` were not, and
    ``undelivered`` holds them (key, value) as they were to be sent. A record that timed out
    may still have been written (the acknowledgement, not the write, was lost): sending the
    undelivered records again is safe, as the worker drops a repeated id.
    """

    sent: int = 0
    failed: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    undelivered: list[Payload] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def undelivered_ids(self, limit: int | None = None) -> list[str]:
        """Ids (keys) of the undelivered records, ``"?"`` for a record without one."""
        chosen = self.undelivered if limit is None else self.undelivered[:limit]
        return [key.decode(errors="replace") if key else "?" for key, _ in chosen]


def frame_to_payloads(frame: pd.DataFrame) -> list[tuple[bytes, bytes]]:
    """(key, JSON value) per row; missing values become JSON null, ids stay strings.

    A row without an id gets a UUID, as the bridge does, so that every record can be traced.
    """
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    out = []
    for record in records:
        record_id = record.get("id")
        record["id"] = uuid.uuid4().hex if record_id is None else str(record_id)
        value = orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY)
        out.append((record["id"].encode(), value))
    return out


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Fewer, cheaper garbage collections while records are sent.

    kafka-python makes several objects per record (its future, callbacks, the ledger's
    entries), tied in reference cycles: with CPython's default thresholds the collector runs
    every 700 allocations and its full passes scan every live object: 2·10^5 JSON Lines
    records went at 34,400-39,700 records/s with them, 42,400-46,100 without (three pairs
    of runs, alternated, on a busy two-core machine). Objects alive before are frozen
    (never scanned) and the youngest generation is collected every 50,000 allocations; the
    thresholds are restored afterwards.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def grace_for(delivery_timeout_s: float) -> float:
    """Seconds a record is waited for beyond the client's delivery timeout."""
    return min(_GRACE_S, delivery_timeout_s)


def check_delivery_timeout(seconds: float) -> None:
    """Raise ConfigurationError unless ``seconds`` is at least 1 (NaN is refused too)."""
    if not seconds >= 1:
        from scorestream.exceptions import ConfigurationError

        raise ConfigurationError(f"--delivery-timeout must be at least 1 second, not {seconds}")


class RecordProducer:
    """A kafka-python producer of JSON records that accounts for every record.

    Parameters
    ----------
    settings
        Where Kafka is (``kafka_bootstrap_servers``) and the topic names.
    rate
        Records per second; None sends as fast as the broker takes them.
    topic
        Defaults to the records topic.
    delivery_timeout_s
        A record not acknowledged within this time fails and is reported undelivered
        (kafka-python's ``delivery_timeout_ms``; the wait for its outcome is bounded too).
    compression
        kafka-python's ``compression_type``. None by default: to a local broker the CPU,
        not the network, is the limit, and lz4 measured no faster (and needs ``lz4``).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        rate: float | None = None,
        topic: str | None = None,
        delivery_timeout_s: float = DELIVERY_TIMEOUT_S,
        compression: str | None = None,
    ) -> None:
        from kafka import KafkaProducer

        check_delivery_timeout(delivery_timeout_s)
        self.topic = topic or settings.topics.records
        self.rate = rate
        self.delivery_timeout_s = delivery_timeout_s
        timeout_ms = round(delivery_timeout_s * 1000)
        linger_ms = 20
        self._producer = KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            client_id="scorestream-produce",
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            batch_size=_BATCH_BYTES,
            compression_type=compression,
            max_request_size=_MAX_REQUEST_BYTES,
            # Retries are bounded by time, not count: a record fails once this has passed.
            delivery_timeout_ms=timeout_ms,
            # kafka-python requires delivery >= linger + request timeout.
            request_timeout_ms=min(30_000, timeout_ms - linger_ms),
            # A send waiting for metadata (the broker down at the start) fails in time too.
            max_block_ms=timeout_ms,
        )
        self._abandoned = False
        self._paced = 0
        # Key + value bytes of the largest record a request carries (the record and batch
        # framing need less than the 128 bytes left; send() checks the same).
        self._largest_record = _MAX_REQUEST_BYTES - 128
        self._batch_size = _BATCH_BYTES

    def send_all(
        self, payloads: Iterable[Sequence[Payload]], progress: Any | None = None
    ) -> ProduceSummary:
        """Send chunks of (key, value); ``progress(n)`` is called after each chunk.

        Returns once every record is acknowledged or has failed; no wait is unbounded
        (see :mod:`scorestream.producers.delivery`).
        """
        from scorestream.producers.delivery import DeliveryLedger

        ledger = DeliveryLedger(self.delivery_timeout_s, grace_for(self.delivery_timeout_s))
        started = time.monotonic()
        with fewer_collections():
            for chunk in payloads:
                futures = self._paced_chunk(chunk, started) if self.rate else self.send_chunk(chunk)
                ledger.add(chunk, futures)
                ledger.settle(wait=ledger.pending_records > _MAX_PENDING, keep=_MAX_PENDING // 2)
                if progress is not None:
                    progress(len(chunk))
            ledger.finish()
        self._abandoned = ledger.abandoned > 0
        return ProduceSummary(
            sent=ledger.acknowledged,
            failed=len(ledger.undelivered),
            seconds=time.monotonic() - started,
            errors=ledger.errors,
            undelivered=ledger.undelivered,
        )

    def _paced_chunk(self, chunk: Sequence[Payload], started: float) -> list[Outcome]:
        """Send one record at a time through ``KafkaProducer.send``, at ``self.rate``."""
        from kafka.errors import KafkaError

        from scorestream.producers.delivery import Failed, RecordOutcome

        assert self.rate
        send, topic, rate = self._producer.send, self.topic, self.rate
        outcomes: list[Outcome] = []
        for index, (key, value) in enumerate(chunk):
            # Pace against the start time, not per message, so the rate holds on average.
            delay = started + self._paced / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._paced += 1
            try:
                outcomes.append(RecordOutcome(send(topic, value=value, key=key or None), index))
            except KafkaError as exc:
                # A record too large, metadata not to be had in time: this record's failure.
                outcomes.append(Failed(exc, (index,)))
        return outcomes

    def send_chunk(self, chunk: Sequence[Payload]) -> list[Outcome]:
        """Put a chunk into kafka-python's record accumulator as whole batches.

        What ``KafkaProducer.send`` does per record, in bulk: the partitions are looked up
        once, the ids hashed with numpy (Kafka's murmur2, as ``send`` would choose), and
        each partition's records are encoded into record batches together and queued
        (:mod:`scorestream.producers.record_batches`; kafka-python's sending, retries,
        expiry and batch splitting are unchanged). Returns the outcomes: one per batch,
        one per record without a key (sent with ``send``), :class:`Failed` for the rest.
        """
        from kafka.errors import KafkaError
        from kafka.structs import TopicPartition

        from scorestream.producers.delivery import Failed
        from scorestream.producers.partitioning import group_by_partition
        from scorestream.producers.record_batches import build_batches, enqueue

        producer, topic = self._producer, self.topic
        try:
            partitions = self.partitions()
        except KafkaError as exc:
            # No metadata within max_block_ms (the broker is down): the chunk fails now,
            # rather than each of its records waiting that long in send().
            return [Failed(exc, range(len(chunk)))]
        if not chunk:
            return []
        keys: list[Any] = [key for key, _ in chunk]
        values = [value for _, value in chunk]
        outcomes: list[Outcome] = []
        # Positions of the records that go into batches: all, unless some are unusual.
        positions: list[int] | None = None
        if not all(keys) or max(map(len, keys)) + max(map(len, values)) > self._largest_record:
            positions = self._send_unusual(chunk, outcomes)
        accumulator = producer._accumulator
        compression = accumulator.config["compression_attrs"]
        grouped = group_by_partition(
            keys if positions is None else [keys[index] for index in positions], len(partitions)
        )
        for position, members in grouped:
            tp = TopicPartition(topic, partitions[position])
            order = members if positions is None else [positions[member] for member in members]
            built = build_batches(
                tp, keys, values, order, batch_size=self._batch_size, compression=compression
            )
            try:
                enqueue(accumulator, tp, [batch for batch, _ in built])
            except KafkaError as exc:
                outcomes.append(Failed(exc, order))
                continue
            outcomes.extend(outcome for _, outcome in built)
        # The batches are full (kafka-python sends them without lingering): one wake-up.
        producer._sender.wakeup()
        return outcomes

    def _send_unusual(self, chunk: Sequence[Payload], outcomes: list[Outcome]) -> list[int]:
        """Records without a key go through ``send`` (the partitioner picks one: rare,
        invalid lines) and records too large fail; returns the positions of the others."""
        from kafka.errors import KafkaError, MessageSizeTooLargeError

        from scorestream.producers.delivery import Failed, RecordOutcome

        positions: list[int] = []
        largest = self._largest_record
        for index, (key, value) in enumerate(chunk):
            if not key:
                try:
                    outcomes.append(
                        RecordOutcome(self._producer.send(self.topic, value=value), index)
                    )
                except KafkaError as exc:
                    outcomes.append(Failed(exc, (index,)))
            elif len(value) + len(key) > largest:
                error = MessageSizeTooLargeError(
                    f"a record of {len(value) + len(key)} bytes is larger than "
                    f"{largest} bytes, the most one request may carry"
                )
                outcomes.append(Failed(error, (index,)))
            else:
                positions.append(index)
        return positions

    def partitions(self) -> list[int]:
        """The topic's partitions (sorted); waits for metadata at most the delivery timeout.

        Raises
        ------
        kafka.errors.KafkaError
            If the metadata cannot be had in that time.
        """
        return sorted(self._producer.partitions_for(self.topic))

    def abandon(self, abandoned: bool) -> None:
        """Tell :meth:`close` whether records were given up (then it does not wait)."""
        self._abandoned = abandoned

    def close(self) -> None:
        """Close the client; records it still holds after ``send_all`` gave up are dropped."""
        from kafka.errors import KafkaError

        try:
            self._producer.close(timeout=0 if self._abandoned else 10)
        except KafkaError:
            # close() flushes first and raises when that times out, before it stops its I/O
            # thread; stop that thread so nothing is sent after the summary was printed.
            self._producer._sender.force_close()
            # And say it is closed: kafka-python's __del__ closes it again otherwise, whose
            # flush times out the same way and prints a traceback ("Exception ignored in")
            # on the command's stderr when the client is collected at exit.
            self._producer._closed = True


def synthetic_chunks(
    n: int,
    *,
    seed: int,
    chunk_size: int,
    drift: list[Any] | None,
    drift_from: int,
    start: pd.Timestamp | str | None = None,
    interval_ms: int = 1000,
    reference_std: dict[str, float] | None = None,
) -> Iterator[list[tuple[bytes, bytes]]]:
    """Synthetic loan applications in chunks, drifted from record ``drift_from`` on."""
    from scorestream.producers.drift_injection import apply_drift
    from scorestream.streams.synthetic import generate_records

    rng = np.random.default_rng(seed + 1)
    done = 0
    for chunk in generate_records(
        n, seed, chunk_size, start=start, interval_ms=interval_ms, include_target=False
    ):
        if drift and done + len(chunk) > drift_from:
            head = max(0, drift_from - done)
            frame = pd.DataFrame(chunk[head:])
            drifted = apply_drift(frame, drift, rng, reference_std)
            yield [(r["id"].encode(), orjson.dumps(r)) for r in chunk[:head]] + frame_to_payloads(
                drifted
            )
        else:
            yield [(r["id"].encode(), orjson.dumps(r)) for r in chunk]
        done += len(chunk)
