"""The bridge's batched producer against the real broker: nothing lost, nothing extra,
every key on the partition Kafka's default partitioner gives it."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from scorestream.producers.bridge.batch_sender import BatchSender
from scorestream.settings import Settings
from scorestream.topics import ensure_topics


async def _read_all(
    settings: Settings, topic: str, expected: int, timeout_s: float = 30
) -> list[tuple[bytes, bytes, int]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
        enable_auto_commit=False,
    )
    await consumer.start()
    got: list[tuple[bytes, bytes, int]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        quiet_until = None
        while loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                got.extend((m.key, m.value, m.partition) for m in messages)
            if len(got) >= expected:
                # Keep reading a moment: anything beyond the expected would show up now.
                quiet_until = quiet_until or loop.time() + 1.5
                if loop.time() >= quiet_until:
                    break
    finally:
        await consumer.stop()
    return got


def test_concurrent_submissions_are_all_delivered_on_the_key_partitions(settings: Settings) -> None:
    topic = settings.topics.records
    ensure_topics(settings, [topic])
    requests = [
        [(f"{uuid.uuid4()}".encode(), f"r{r}-m{m}".encode()) for m in range(size)]
        for r, size in enumerate([1, 100, 3, 250, 1, 1, 57, 1000, 2, 1] * 3)
    ]

    async def run() -> list[tuple[bytes, bytes, int]]:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            max_batch_size=16 * 1024,
        )  # small: many batches
        await producer.start()
        try:
            sender = BatchSender(producer, topic)
            futures = [sender.submit(messages) for messages in requests]
            await asyncio.wait_for(asyncio.gather(*futures), 30)
            partitions = sorted(await producer.partitions_for(topic))
        finally:
            await producer.stop()
        assert len(partitions) == settings.topic_partitions
        return await _read_all(settings, topic, sum(map(len, requests)))

    got = asyncio.run(run())
    sent = [message for messages in requests for message in messages]
    assert sorted((key, value) for key, value, _ in got) == sorted(sent)
    partitions = list(range(settings.topic_partitions))
    for key, _, partition in got:
        assert partition == DefaultPartitioner()(key, partitions, partitions)


def test_a_withdrawn_submission_is_not_sent(settings: Settings) -> None:
    topic = settings.topics.records
    ensure_topics(settings, [topic])

    async def run() -> list[tuple[bytes, bytes, int]]:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            sender = BatchSender(producer, topic)
            kept = sender.submit([(b"k1", b"kept")])
            withdrawn = sender.submit([(b"k2", b"withdrawn")])
            withdrawn.cancel()  # the client gave up before the batch was built
            await asyncio.wait_for(kept, 30)
            later = sender.submit([(b"k3", b"later")])
            await asyncio.wait_for(later, 30)
        finally:
            await producer.stop()
        return await _read_all(settings, topic, 2)

    assert sorted(value for _, value, _ in asyncio.run(run())) == [b"kept", b"later"]
