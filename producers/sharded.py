"""Produce from several processes, each owning a share of the topic's partitions.

One producer spends a record's time in Python (reading, parsing, encoding its batch), so it
uses one core at most. Here the reading process hashes every id as Kafka's default
partitioner does (murmur2, :mod:`scorestream.producers.partitioning`) and hands each record
to the process that owns its partition (partition ``p`` belongs to process ``p % N``). One
id therefore always goes through one process and one partition, in file order: per-id order
and the idempotent producer's guarantees hold as with one process.

Every record stays accounted for: a process reports each chunk once all of its records are
settled (acknowledged or failed, with the failed ones' indices), and the reading process
keeps each chunk until then. A process that dies takes only its unreported chunks with it,
and those are reported undelivered. No wait is unbounded.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from scorestream.producers.delivery import DeliveryLedger, Payload
from scorestream.producers.producer import (
    DELIVERY_TIMEOUT_S,
    ProduceSummary,
    RecordProducer,
    check_delivery_timeout,
    fewer_collections,
    grace_for,
)
from scorestream.settings import Settings

# Records handed to the processes and not yet reported settled, at most (memory bound).
_MAX_PENDING = 400_000
# A producer process that has not reported ready in this time is taken as failed.
_START_TIMEOUT_S = 120.0


@dataclass
class _Process:
    process: Any
    conn: Connection
    ready: bool = False
    done: bool = False
    #: Chunks handed over and not yet reported, by tag.
    pending: dict[int, Sequence[Payload]] = field(default_factory=dict)


class ShardedProducer:
    """Like :class:`RecordProducer` (no rate limit), over ``processes`` processes."""

    def __init__(
        self,
        settings: Settings,
        *,
        processes: int,
        topic: str | None = None,
        delivery_timeout_s: float = DELIVERY_TIMEOUT_S,
    ) -> None:
        check_delivery_timeout(delivery_timeout_s)
        self.topic = topic or settings.topics.records
        self.delivery_timeout_s = delivery_timeout_s
        # spawn, not fork: the parent may already run Kafka client threads.
        context = multiprocessing.get_context("spawn")
        self._reports: Any = context.Queue()
        self._processes: list[_Process] = []
        for index in range(processes):
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=_serve,
                args=(index, settings, self.topic, delivery_timeout_s, receiver, self._reports),
                name=f"scorestream-produce-{index}",
                daemon=True,
            )
            process.start()
            receiver.close()
            self._processes.append(_Process(process, sender))
        self._summary = ProduceSummary()
        self._pending_records = 0
        self._partitions = 0

    def send_all(
        self, payloads: Iterable[Sequence[Payload]], progress: Any | None = None
    ) -> ProduceSummary:
        """Send chunks of (key, value); ``progress(n)`` is called after each chunk is
        handed over. Returns once every record is settled or given up."""
        from scorestream.producers.partitioning import partitions_for

        summary = self._summary = ProduceSummary()
        started = time.monotonic()
        self._await_ready(started + _START_TIMEOUT_S + self.delivery_timeout_s)
        count = len(self._processes)
        owners = [partition % count for partition in range(self._partitions)] or [0]
        tag = 0
        for chunk in payloads:
            keys = [key for key, _ in chunk if key]
            owner = iter(partitions_for(keys, owners))
            shares: list[list[Payload]] = [[] for _ in range(count)]
            for payload in chunk:
                # A record without a key has no partition of its own: process 0 sends it.
                shares[next(owner) if payload[0] else 0].append(payload)
            for shard, share in zip(self._processes, shares, strict=True):
                if share:
                    tag += 1
                    self._hand_over(shard, tag, share)
            if progress is not None:
                progress(len(chunk))
            self._take_reports(wait_until=None)
            while self._pending_records > _MAX_PENDING:
                self._take_reports(wait_until=time.monotonic() + 1.0)
        for shard in self._processes:
            self._close_pipe(shard)
        deadline = time.monotonic() + self.delivery_timeout_s + grace_for(self.delivery_timeout_s)
        # The processes give records up at their own deadlines; this one is a last resort.
        while not all(shard.done for shard in self._processes):
            if time.monotonic() > deadline + 30:
                for shard in self._processes:
                    if not shard.done:
                        self._lose(shard, "no report from the producer process in time")
                break
            self._take_reports(wait_until=time.monotonic() + 0.5)
        summary.seconds = time.monotonic() - started
        summary.failed = len(summary.undelivered)
        return summary

    def close(self) -> None:
        """Wait briefly for the producer processes to exit; end those that do not."""
        for shard in self._processes:
            self._close_pipe(shard)
            shard.process.join(10)
            if shard.process.is_alive():
                shard.process.terminate()
                shard.process.join(5)

    # --- the reading process's side ----------------------------------------------------------
    def _await_ready(self, deadline: float) -> None:
        while not all(shard.ready or shard.done for shard in self._processes):
            if time.monotonic() > deadline:
                for shard in self._processes:
                    if not shard.ready:
                        self._lose(shard, "the producer process did not start in time")
                return
            self._take_reports(wait_until=time.monotonic() + 0.5)

    def _hand_over(self, shard: _Process, tag: int, share: list[Payload]) -> None:
        shard.pending[tag] = share
        self._pending_records += len(share)
        if shard.done:
            self._lose(shard, "the producer process had stopped")
            return
        try:
            shard.conn.send((tag, share))
        except OSError:  # the process is gone (BrokenPipeError): its records with it
            self._lose(shard, "the producer process had stopped")

    def _take_reports(self, wait_until: float | None) -> None:
        """Account every report that is in; with ``wait_until``, wait for one until then
        (and notice a process that died)."""
        while True:
            try:
                if wait_until is None:
                    report = self._reports.get_nowait()
                else:
                    report = self._reports.get(timeout=max(0.0, wait_until - time.monotonic()))
            except queue.Empty:
                if wait_until is not None:
                    self._notice_deaths()
                return
            self._account(report)
            wait_until = None

    def _account(self, report: tuple[Any, ...]) -> None:
        kind, index = report[0], report[1]
        shard = self._processes[index]
        summary = self._summary
        if kind == "ready":
            shard.ready = True
            self._partitions = max(self._partitions, report[2])
        elif kind == "settled":
            tag, failed = report[2], report[3]
            share = shard.pending.pop(tag)
            self._pending_records -= len(share)
            summary.sent += len(share) - len(failed)
            summary.undelivered.extend(share[i] for i in failed)
        elif kind == "done":
            shard.done = True
            for error in report[2]:
                if len(summary.errors) < 10 and error not in summary.errors:
                    summary.errors.append(error)
            # Whatever it did not report is not known to be delivered.
            self._lose(shard, "the producer process ended without reporting every record")

    def _notice_deaths(self) -> None:
        for index, shard in enumerate(self._processes):
            if not shard.done and not shard.process.is_alive():
                # Its last reports may still be in the queue: take them first.
                time.sleep(0.1)
                self._take_reports(wait_until=None)
                if not shard.done:
                    code = shard.process.exitcode
                    self._lose(shard, f"producer process {index} exited with code {code}")
                    shard.done = True

    def _lose(self, shard: _Process, reason: str) -> None:
        if not shard.pending:
            return
        summary = self._summary
        for share in shard.pending.values():
            summary.undelivered.extend(share)
            self._pending_records -= len(share)
        shard.pending.clear()
        if len(summary.errors) < 10 and reason not in summary.errors:
            summary.errors.append(reason)

    def _close_pipe(self, shard: _Process) -> None:
        try:
            shard.conn.send(None)
            shard.conn.close()
        except OSError:
            pass


# --- a producer process ----------------------------------------------------------------------
def _serve(
    index: int,
    settings: Settings,
    topic: str,
    delivery_timeout_s: float,
    chunks: Connection,
    reports: Any,
) -> None:
    """Send the chunks that arrive on ``chunks``; report each one once it is settled."""
    from kafka.errors import KafkaError

    from scorestream.producers.kafka_logs import quiet_repeated_kafka_errors

    logging.basicConfig(
        level=logging.ERROR, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    quiet_repeated_kafka_errors(tracebacks=False)
    producer = RecordProducer(settings, topic=topic, delivery_timeout_s=delivery_timeout_s)
    try:
        partitions = len(producer.partitions())
    except KafkaError:
        partitions = 0  # every record fails fast in send_chunk, and is reported so
    reports.put(("ready", index, partitions))
    ledger = DeliveryLedger(
        delivery_timeout_s,
        grace_for(delivery_timeout_s),
        on_settled=lambda tag, failed: reports.put(("settled", index, tag, failed)),
    )
    with fewer_collections():
        try:
            while True:
                if not chunks.poll(0.05):
                    ledger.settle()
                    continue
                message = chunks.recv()
                if message is None:
                    break
                tag, chunk = message
                ledger.add(chunk, producer.send_chunk(chunk), tag)
                ledger.settle(wait=ledger.pending_records > _MAX_PENDING, keep=_MAX_PENDING // 2)
        except EOFError:
            pass  # the reading process is gone: settle what was sent, then stop
        ledger.finish()
    producer.abandon(ledger.abandoned > 0)
    producer.close()
    reports.put(("done", index, ledger.errors))
