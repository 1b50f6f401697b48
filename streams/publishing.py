"""Produce a batch's outputs and wait until the broker acknowledged every one of them.

Two ways in, one rule: a failed delivery retries the whole batch with backoff, without
limit, so a broker outage stalls the worker (its input offsets stay uncommitted) instead of
losing outputs. Retried messages may appear twice on their topic; every output is keyed by
record id and the sink keeps one row per id.

- :class:`BatchPublisher` (the agent engine) fills one record batch per topic partition
  with aiokafka's ``create_batch``/``send_batch``: no future, no task and no partitioner
  call per message, which made ``send`` the largest per-record cost of the worker
  (README, *Benchmarks*: the per-stage table).
- :func:`publish_each` (the faust engine) sends message by message through Faust's producer.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np
from aiokafka.partitioner import DefaultPartitioner

from scorestream.retry import Backoff, retry_async
from scorestream.streams.partitioning import partitions_of
from scorestream.streams.scoring import OutputMessage

log = logging.getLogger(__name__)

Outputs = Sequence[tuple[str, OutputMessage]]
Send = Callable[[str, bytes, bytes], Awaitable[Awaitable[Any]]]


async def _with_retries(send_all: Callable[[], Awaitable[None]], count: int, max_s: float) -> None:
    from aiokafka.errors import ProducerClosed

    await retry_async(
        send_all,
        what=f"publishing {count} outputs",
        # 0.4 s, 0.8 s ... up to max_s; any exception retries: never drop outputs. Except a
        # closed producer, which never reopens: retrying it would hold a stopping worker
        # forever. Raising drops nothing, since the offsets past these outputs stay
        # uncommitted and the records are replayed.
        policy=Backoff(initial_s=0.4, max_s=max_s),
        log=log,
        give_up=(ProducerClosed,),
    )


async def publish_each(send: Send, messages: Outputs, max_backoff_s: float = 30.0) -> None:
    """Send every message with ``send`` and wait for all acknowledgements (retrying)."""

    async def send_all() -> None:
        pending = [await send(topic, message.key, message.value) for topic, message in messages]
        if pending:
            await asyncio.gather(*pending)

    await _with_retries(send_all, len(messages), max_backoff_s)


def output_producer(bootstrap_servers: str) -> Any:
    """The worker's producer of outputs: ``acks=all``, idempotent, batches up to 1 MiB.

    Called inside the event loop (aiokafka binds a client to the running loop).
    """
    from aiokafka import AIOKafkaProducer

    from scorestream.contract.rejections import REJECTED_MAX_MESSAGE_BYTES

    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=1024 * 1024,
        max_request_size=REJECTED_MAX_MESSAGE_BYTES,
    )


#: How the agent engine reads ``records`` (manual commits, large fetches; Kafka checks CRCs
#: on the broker, in pure Python they cost µs per record).
RECORDS_FETCH: dict[str, Any] = {
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "max_partition_fetch_bytes": 4 * 1024 * 1024,
    "check_crcs": False,
}


class BatchPublisher:
    """Publishes outputs as one record batch per topic partition on an aiokafka producer.

    Messages are partitioned by key with Kafka's default partitioner (murmur2, as the Java
    client and aiokafka's ``send`` do, computed for all keys at once: :mod:`.partitioning`),
    so an id lands where a per-message send would put it.
    The producer's own settings (``acks``, idempotence, compression) apply to the batches.
    """

    def __init__(self, producer: Any, max_backoff_s: float = 30.0) -> None:
        self.producer = producer
        self.max_backoff_s = max_backoff_s
        self._partitioner = DefaultPartitioner()

    async def publish(self, messages: Outputs) -> None:
        """Produce ``messages`` and return once the broker acknowledged all of them."""
        if messages:
            await _with_retries(lambda: self._send_all(messages), len(messages), self.max_backoff_s)

    async def send(self, messages: Outputs) -> Delivery:
        """Queue ``messages`` for sending; :meth:`Delivery.acknowledged` waits for the acks.

        Lets the worker score its next batch while the broker acknowledges this one (about
        half of a batch's publishing time is the round trip).
        """
        try:
            return Delivery(self, messages, await self._queue_all(messages))
        except Exception as error:  # e.g. no metadata yet: the retrying path takes over
            log.warning("queueing %d outputs failed (%r); retrying", len(messages), error)
            return Delivery(self, messages, None)

    async def _send_all(self, messages: Outputs) -> None:
        await asyncio.gather(*await self._queue_all(messages))

    async def _queue_all(self, messages: Outputs) -> list[Awaitable[Any]]:
        by_topic: defaultdict[str, list[OutputMessage]] = defaultdict(list)
        for topic, message in messages:
            by_topic[topic].append(message)
        deliveries = []
        for topic, topic_messages in by_topic.items():
            partitions = sorted(await self.producer.partitions_for(topic))
            for partition, partition_messages in self._by_partition(topic_messages, partitions):
                deliveries += await self._send_partition(topic, partition, partition_messages)
        return deliveries

    def _by_partition(
        self, messages: list[OutputMessage], partitions: list[int]
    ) -> list[tuple[int, list[OutputMessage]]]:
        """Each partition's messages, in their order, as Kafka's default partitioner splits them."""
        keys = [message.key for message in messages]
        if None in keys:  # not our outputs' case: aiokafka picks a random partition for these
            by_partition: defaultdict[int, list[OutputMessage]] = defaultdict(list)
            for message in messages:
                by_partition[self._partitioner(message.key, partitions, partitions)].append(message)
            return list(by_partition.items())
        chosen = partitions_of(keys, len(partitions))
        order = np.argsort(chosen, kind="stable").tolist()
        used, starts = np.unique(chosen[order], return_index=True)
        bounds = [*starts.tolist(), len(order)]
        # Partitions in ascending order: batches of different partitions are independent.
        return [
            (partitions[index], [messages[i] for i in order[bounds[n] : bounds[n + 1]]])
            for n, index in enumerate(used.tolist())
        ]

    async def _send_partition(
        self, topic: str, partition: int, messages: list[OutputMessage]
    ) -> list[Awaitable[Any]]:
        deliveries = []
        batch = self.producer.create_batch()
        for message in messages:
            if batch.append(key=message.key, value=message.value, timestamp=None) is None:
                # Full (max_batch_size): send it, start the next. An empty batch takes any
                # first message (up to the producer's max_request_size).
                deliveries.append(await self._send(batch, topic, partition))
                batch = self.producer.create_batch()
                batch.append(key=message.key, value=message.value, timestamp=None)
        if batch.record_count():
            deliveries.append(await self._send(batch, topic, partition))
        return deliveries

    async def _send(self, batch: Any, topic: str, partition: int) -> Awaitable[Any]:
        # Closed, so that no per-message send() of anyone else joins it in the queue.
        batch.close()
        return await self.producer.send_batch(batch, topic, partition=partition)


class Delivery:
    """Messages queued by :meth:`BatchPublisher.send`, until the broker acknowledged them."""

    def __init__(
        self, publisher: BatchPublisher, messages: Outputs, acks: list[Awaitable[Any]] | None
    ) -> None:
        self.publisher = publisher
        self.messages = messages
        self._acks = acks

    async def acknowledged(self) -> None:
        """Return once every message is acknowledged; a failure re-sends them all (retrying)."""
        if self._acks is not None:
            try:
                await asyncio.gather(*self._acks)
                return
            except Exception as error:
                log.warning("publishing %d outputs failed (%r)", len(self.messages), error)
            finally:
                self._acks = None
        await self.publisher.publish(self.messages)
