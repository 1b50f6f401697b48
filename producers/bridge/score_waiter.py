"""Wait for a record's score: one shared consumer of ``scores``, one future per record id.

``POST /v1/score`` publishes a record and waits here for the message with the same id.
A single consumer per bridge process reads every partition of ``scores`` (and of
``records.rejected``, so that a record the worker refuses, such as a duplicate id, is
answered at once rather than by a timeout). It is assigned the partitions directly, with
no consumer group: every bridge process must see every score, and a group would share
them out. It starts at the end of each partition, since only records published after
start-up can be waited for, and resolves those end offsets *before* it reports ready, so
a score can never slip past between publishing and listening.

Only the message key (the record id) is looked at for messages nobody waits for, so
that reading the whole ``scores`` stream stays cheap.

The outcomes of the records published through ``POST /v1/score`` are remembered (the
last ``memory`` ids, with a digest of each record), also when they arrive after the
request gave up with 504. A client retrying the same record then gets its score (or
waits for it) without the record being published twice. A retry this memory no longer
holds is published again, and the worker scores the identical copy again (it refuses
only other content under a seen id), so the client still learns the score.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)

# New partitions of a topic are picked up this often.
PARTITION_REFRESH_S = 30.0


@dataclass(frozen=True)
class Outcome:
    """What the worker said about a record: its score, or why it refused it."""

    kind: Literal["scored", "rejected"]
    value: bytes


@dataclass
class Recall:
    """What is remembered of a record published earlier with the same id and content."""

    outcome: Outcome | None  # None: published, the worker has not answered yet


class AlreadyWaitingError(Exception):
    """Another request is already waiting for a record with this id."""


class ScoreWaiter:
    """Futures of record ids, resolved by a background consumer of scores and rejections.

    Parameters
    ----------
    bootstrap_servers : str
        Kafka bootstrap servers.
    scores_topic, rejected_topic : str
        Where the worker writes scores and rejections.
    memory : int
        How many published records' outcomes are remembered (least recently used go).
    """

    def __init__(
        self, bootstrap_servers: str, scores_topic: str, rejected_topic: str, memory: int = 10_000
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self._kinds: dict[str, Literal["scored", "rejected"]] = {
            scores_topic: "scored",
            rejected_topic: "rejected",
        }
        self._pending: dict[bytes, asyncio.Future[Outcome]] = {}
        # id -> (digest of the published record, its outcome once seen), oldest first.
        self._memory: OrderedDict[bytes, tuple[bytes, Outcome | None]] = OrderedDict()
        self._memory_size = memory
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.ready = False

    @property
    def pending(self) -> int:
        """How many records are waited for."""
        return len(self._pending)

    async def start(self) -> None:
        """Connect, assign every partition at its end offset, and start reading."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            client_id="scorestream-bridge-scores",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            # A waiting client's latency, not throughput, is what matters here.
            fetch_max_wait_ms=20,
        )
        try:
            await consumer.start()
            await self._assign(consumer)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(consumer), name="score-waiter")
        self.ready = True

    async def stop(self) -> None:
        """Stop reading and fail every waiting request."""
        self.ready = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
        for future in self._pending.values():
            if not future.done():
                future.cancel()
        self._pending.clear()

    def expect(self, record_id: str) -> asyncio.Future[Outcome]:
        """A future resolved with the outcome of ``record_id``; call before publishing.

        Raises
        ------
        AlreadyWaitingError
            If a request already waits for this id (the worker scores an id only once).
        """
        key = record_id.encode()
        if key in self._pending:
            raise AlreadyWaitingError(record_id)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        return future

    def forget(self, record_id: str) -> None:
        """Stop waiting for ``record_id`` (answered, timed out, or never published)."""
        self._pending.pop(record_id.encode(), None)

    def remember(self, record_id: str, payload: bytes) -> None:
        """Remember that ``payload`` is being published as ``record_id``; call before."""
        key = record_id.encode()
        if key in self._memory:
            return  # the first record under an id is the one the worker scores
        self._memory[key] = (_digest(payload), None)
        if len(self._memory) > self._memory_size:
            self._memory.popitem(last=False)

    def unremember(self, record_id: str) -> None:
        """Forget a publication that failed, so that a retry publishes again."""
        key = record_id.encode()
        entry = self._memory.get(key)
        if entry is not None and entry[1] is None:
            del self._memory[key]

    def recall(self, record_id: str, payload: bytes) -> Recall | None:
        """The remembered publication of this very record, or None (unknown, or another)."""
        key = record_id.encode()
        entry = self._memory.get(key)
        if entry is None or entry[0] != _digest(payload):
            return None
        self._memory.move_to_end(key)
        return Recall(entry[1])

    async def _assign(self, consumer: AIOKafkaConsumer) -> None:
        """Assign all partitions of both topics; new ones from the start, known ones kept."""
        # The consumer keeps no metadata of unassigned topics; ask the cluster.
        cluster = await consumer._client.fetch_all_metadata()
        wanted: set[TopicPartition] = set()
        for topic in self._kinds:
            partitions = cluster.partitions_for_topic(topic)
            if not partitions:
                raise KafkaError(f"topic {topic} does not exist")
            wanted.update(TopicPartition(topic, partition) for partition in partitions)
        current = consumer.assignment()
        if wanted == current:
            return
        positions = {tp: await consumer.position(tp) for tp in current & wanted}
        consumer.assign(sorted(wanted))
        for tp, offset in positions.items():
            consumer.seek(tp, offset)
        fresh = sorted(wanted - current)
        if not fresh:
            return
        if current:
            # A partition added while running holds only records published since.
            await consumer.seek_to_beginning(*fresh)
            log.info("now reading %d partitions", len(wanted))
        else:
            await consumer.seek_to_end(*fresh)
        for tp in fresh:
            await consumer.position(tp)  # resolve the offset now, not at the first fetch

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        next_refresh = time.monotonic() + PARTITION_REFRESH_S
        kinds = self._kinds
        pending = self._pending
        memory = self._memory
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
                for tp, messages in batches.items():
                    kind = kinds[tp.topic]
                    for message in messages:
                        key = message.key
                        if key is None:
                            continue
                        future = pending.get(key)
                        if future is not None and not future.done():
                            future.set_result(Outcome(kind, message.value or b""))
                        remembered = memory.get(key)
                        if remembered is not None and remembered[1] is None:
                            memory[key] = (remembered[0], Outcome(kind, message.value or b""))
                if time.monotonic() >= next_refresh:
                    next_refresh = time.monotonic() + PARTITION_REFRESH_S
                    await self._assign(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a dead loop would turn every /v1/score into a 504
                log.warning("reading scores failed, retrying: %r", error)
                await asyncio.sleep(1.0)


def _digest(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=16).digest()
