"""Send the messages of all concurrent requests as one record batch per partition.

``AIOKafkaProducer.send`` costs about 12 µs per message (a future, a partitioner call,
metadata look-ups), most of the bridge's time per record in batches of 100. Here the
requests that arrive while the previous batches are on their way are gathered, their keys
partitioned at once (:mod:`.partitioning`, Kafka's own key hashing), and each partition
gets one :class:`aiokafka.producer.message_accumulator.BatchBuilder` through
``send_batch``: about 3 µs per message, with one delivery future per batch instead of
one per message. acks, idempotence and retries are the producer's, unchanged.

aiokafka keeps at most one unsent batch per partition, so ``send_batch`` waits while the
previous one is still queued; requests arriving meanwhile form the next batch. That is
the batching: no timer, and an idle bridge sends a lone record at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError

from scorestream.producers.partitioning import partitions_for


class _Request:
    """The messages of one publish call and the future its caller awaits."""

    __slots__ = ("future", "messages", "remaining")

    def __init__(
        self, messages: Sequence[tuple[bytes, bytes]], future: asyncio.Future[None]
    ) -> None:
        self.messages = messages
        self.future = future
        self.remaining = 0


class BatchSender:
    """Gather concurrent requests' messages into per-partition batches of one topic.

    Parameters
    ----------
    producer : AIOKafkaProducer
        A started producer (its acks, idempotence and batch size apply).
    topic : str
        Where every message goes.
    """

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self.producer = producer
        self.topic = topic
        self._queue: list[_Request] = []
        self._drainer: asyncio.Task[None] | None = None

    def submit(self, messages: Sequence[tuple[bytes, bytes]]) -> asyncio.Future[None]:
        """Queue ``(key, value)`` messages; the future resolves when Kafka has them all.

        Cancelling the future before its batch is built withdraws the messages, so a
        caller that gave up (and told its client so) does not have them sent later.
        """
        loop = asyncio.get_running_loop()
        request = _Request(messages, loop.create_future())
        self._queue.append(request)
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain(), name="batch-sender")
        return request.future

    async def close(self) -> None:
        """Stop sending; requests still queued fail."""
        drainer, self._drainer = self._drainer, None
        if drainer is not None:
            drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drainer
        for request in self._queue:
            if not request.future.done():
                request.future.set_exception(KafkaError("the producer was stopped"))
        self._queue.clear()

    async def _drain(self) -> None:
        try:
            while self._queue:
                taken, self._queue = self._queue, []
                live = [request for request in taken if not request.future.done()]
                if not live:
                    continue
                try:
                    await self._send(live)
                except BaseException as error:  # Kafka errors, timeouts, or close()
                    stopped = not isinstance(error, Exception)
                    failure = KafkaError("the producer was stopped") if stopped else error
                    for request in live:
                        if not request.future.done():
                            request.future.set_exception(failure)
                    if stopped:
                        raise
        finally:
            self._drainer = None

    async def _send(self, requests: list[_Request]) -> None:
        producer = self.producer
        partitions = sorted(await producer.partitions_for(self.topic))
        targets = partitions_for([key for r in requests for key, _ in r.messages], partitions)
        batches: list[tuple[int, Any]] = []  # (partition, builder)
        open_batch: dict[int, int] = {}  # partition -> index in batches
        dependents: list[list[_Request]] = []
        position = 0
        for request in requests:
            touched: set[int] = set()
            for key, value in request.messages:
                partition = targets[position]
                position += 1
                index = open_batch.get(partition)
                if (
                    index is None
                    or batches[index][1].append(timestamp=None, key=key, value=value) is None
                ):
                    builder = producer.create_batch()
                    if builder.append(timestamp=None, key=key, value=value) is None:
                        raise MessageSizeTooLargeError(f"a message of {len(value)} bytes")
                    index = open_batch[partition] = len(batches)
                    batches.append((partition, builder))
                    dependents.append([])
                if index not in touched:
                    touched.add(index)
                    dependents[index].append(request)
            request.remaining = len(touched)
        for (partition, builder), waiting in zip(batches, dependents, strict=True):
            delivery = await producer.send_batch(builder, self.topic, partition=partition)
            delivery.add_done_callback(lambda done, waiting=waiting: _settle(done, waiting))


def _settle(delivery: asyncio.Future[Any], waiting: list[_Request]) -> None:
    """Resolve the requests of a delivered (or failed) batch."""
    if delivery.cancelled():
        error: BaseException | None = KafkaError("the delivery was cancelled")
    else:
        error = delivery.exception()
    for request in waiting:
        if request.future.done():
            continue
        if error is not None:
            request.future.set_exception(error)
            continue
        request.remaining -= 1
        if request.remaining == 0:
            request.future.set_result(None)
