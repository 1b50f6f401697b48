"""Produce accepted records to ``records`` and report an outage quickly instead of hanging.

One aiokafka producer (acks=all, idempotent) is shared by all requests, and the messages
of concurrent requests go out together in per-partition batches (:mod:`.batch_sender`).
Every publish has one deadline (``send_timeout_s``) covering metadata, buffering and
acknowledgement; past it, or on any Kafka error, the caller gets
:class:`KafkaUnavailableError` (HTTP 503).

While Kafka is failing, a simple circuit breaker keeps requests from queueing up behind
a dead broker: one request at a time goes through as a probe and the others fail at once.
The first probe that succeeds closes the breaker, so recovery needs no restart.

A missed deadline alone does not open the breaker: under a burst, a publish can wait
behind the others (the event loop, the batch before it) while Kafka acknowledges
everything else in milliseconds. That request gets its 503, but the breaker opens only
when Kafka itself looks down: a Kafka error, or a timeout after Kafka has had messages
for :data:`BREAKER_SILENCE_S` without acknowledging any (an idle spell does not count).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from scorestream.exceptions import DeliveryError
from scorestream.producers.bridge.batch_sender import BatchSender

log = logging.getLogger(__name__)

# Records are at most max_record_bytes (64 KiB by default); a batch stays well under the
# broker's default message.max.bytes (1 MiB) so that no broker setting has to change.
MAX_BATCH_BYTES = 512 * 1024
MAX_REQUEST_BYTES = 1024 * 1024
#: A broker that acknowledged something within this time of being given work is up, even if
#: one publish missed its deadline: an event loop busy with a burst can stall for a good part
#: of a second. With a send timeout of at least this, a lone timeout is enough.
BREAKER_SILENCE_S = 1.0


class KafkaUnavailableError(DeliveryError):
    """Kafka did not acknowledge in time, refused, or the producer is not connected."""


class RecordPublisher:
    """Publish (key, value) messages to one topic and wait for Kafka's acknowledgement.

    Parameters
    ----------
    bootstrap_servers : str
        Kafka bootstrap servers.
    topic : str
        Topic every message goes to (``records``).
    send_timeout_s : float
        Deadline of one :meth:`publish`, from the call to the last acknowledgement.
    linger_ms : int
        How long the producer waits to fill a batch (a batch of several requests is
        already full when sent; this matters for lone requests only).
    """

    def __init__(
        self, bootstrap_servers: str, topic: str, *, send_timeout_s: float, linger_ms: int
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.send_timeout_s = send_timeout_s
        self.linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        self._sender: BatchSender | None = None
        self._failing = False
        self._probing = False
        self._in_flight = 0
        # Loop times: the latest acknowledgement, and when publishes last started waiting
        # on an idle producer. Kafka owes an answer since the later of the two.
        self._last_ack = -float("inf")
        self._busy_since = 0.0

    @property
    def connected(self) -> bool:
        """Whether the producer has started (it reconnects by itself after that)."""
        return self._producer is not None

    async def start(self) -> None:
        """Connect to Kafka; raises KafkaError when no broker answers (caller retries)."""
        timeout_ms = int(self.send_timeout_s * 1000)
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            client_id="scorestream-bridge",
            acks="all",
            enable_idempotence=True,
            linger_ms=self.linger_ms,
            max_batch_size=MAX_BATCH_BYTES,
            max_request_size=MAX_REQUEST_BYTES,
            # aiokafka expires unsent batches after request_timeout_ms: with the same
            # deadline as publish(), a record the client was told failed is not sent later
            # (except when the broker took it but its answer was lost: at-least-once).
            request_timeout_ms=timeout_ms,
            retry_backoff_ms=100,
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer
        self._sender = BatchSender(producer, self.topic)

    async def stop(self) -> None:
        """Flush what is buffered and disconnect."""
        sender, self._sender = self._sender, None
        if sender is not None:
            await sender.close()
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def publish(self, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """Send ``(key, value)`` messages; return once Kafka has acknowledged all of them.

        Raises
        ------
        KafkaUnavailableError
            If the producer is not connected, the breaker is open and another request
            is probing, a Kafka error occurs, or the deadline passes.
        """
        sender = self._sender
        if sender is None:
            raise KafkaUnavailableError("not connected to Kafka yet")
        if not messages:
            return
        probe = self._failing
        if probe:
            if self._probing:
                raise KafkaUnavailableError("Kafka is unavailable")
            self._probing = True
        loop = asyncio.get_running_loop()
        if self._in_flight == 0:
            self._busy_since = loop.time()
        self._in_flight += 1
        try:
            async with asyncio.timeout(self.send_timeout_s):
                await sender.submit(messages)
        except (TimeoutError, KafkaError) as error:
            unanswered_s = loop.time() - max(self._last_ack, self._busy_since)
            kafka_down = not isinstance(error, TimeoutError) or unanswered_s >= BREAKER_SILENCE_S
            if kafka_down and not self._failing:
                log.warning("Kafka publish failed, answering 503 until it recovers: %r", error)
                self._failing = True
            raise KafkaUnavailableError(f"Kafka did not acknowledge: {error!r}") from error
        finally:
            self._in_flight -= 1
            if probe:
                self._probing = False
        self._last_ack = loop.time()
        if self._failing:
            log.info("Kafka publish succeeded again")
            self._failing = False

    async def reachable(self, timeout_s: float) -> bool:
        """Whether a broker answers a metadata request within ``timeout_s``."""
        producer = self._producer
        if producer is None:
            return False
        try:
            async with asyncio.timeout(timeout_s):
                await producer.client.fetch_all_metadata()
        except (TimeoutError, KafkaError, OSError):
            return False
        return True
