"""The bridge's connection to Kafka: connect in the background, and keep trying.

The bridge starts and answers (``/healthz``, and 503 elsewhere) even when Kafka is down;
this task creates the topics it needs and starts the producers (records, labels) and the
score consumer as soon as a broker answers. Once started, the clients reconnect by
themselves, so Kafka may go away and come back while the bridge runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from scorestream.producers.bridge.options import BridgeOptions
from scorestream.producers.bridge.publisher import RecordPublisher
from scorestream.producers.bridge.score_waiter import ScoreWaiter
from scorestream.settings import Settings
from scorestream.topics import ensure_topics

log = logging.getLogger(__name__)

RETRY_S = 1.0
ENSURE_TOPICS_TIMEOUT_S = 15.0


class KafkaLink:
    """Owns the publisher and the score waiter, and connects them when Kafka is there."""

    def __init__(self, settings: Settings, options: BridgeOptions) -> None:
        self.settings = settings
        topics = settings.topics
        self.publisher = RecordPublisher(
            settings.kafka_bootstrap_servers,
            topics.records,
            send_timeout_s=options.send_timeout_s,
            linger_ms=options.linger_ms,
        )
        # Labels go to their own topic, through a producer of their own.
        self.labels = RecordPublisher(
            settings.kafka_bootstrap_servers,
            topics.labels,
            send_timeout_s=options.send_timeout_s,
            linger_ms=options.linger_ms,
        )
        self.waiter = ScoreWaiter(
            settings.kafka_bootstrap_servers,
            topics.scores,
            topics.rejected,
            memory=options.score_memory,
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        """Whether every client has started."""
        return self.publisher.connected and self.labels.connected and self.waiter.ready

    def start(self) -> None:
        """Start connecting in the background; returns at once."""
        self._task = asyncio.create_task(self._connect(), name="kafka-link")

    async def wait_connected(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the connection (start-up, tests)."""
        if self._task is None:
            return self.connected
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        return self.connected

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.waiter.stop()
        await self.labels.stop()
        await self.publisher.stop()

    async def _connect(self) -> None:
        servers = self.settings.kafka_bootstrap_servers
        topics = self.settings.topics
        attempt = 0
        while True:
            attempt += 1
            try:
                await asyncio.wait_for(
                    asyncio.to_thread(
                        ensure_topics,
                        self.settings,
                        [topics.records, topics.scores, topics.rejected, topics.labels],
                    ),
                    ENSURE_TOPICS_TIMEOUT_S,
                )
                if not self.publisher.connected:
                    await self.publisher.start()
                if not self.labels.connected:
                    await self.labels.start()
                if not self.waiter.ready:
                    await self.waiter.start()
                log.info("connected to Kafka at %s", servers)
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # Say it once loudly, then quietly: Kafka may simply not be up yet.
                level = logging.WARNING if attempt == 1 else logging.DEBUG
                log.log(level, "Kafka at %s not reachable yet, retrying: %r", servers, error)
                await asyncio.sleep(RETRY_S)
