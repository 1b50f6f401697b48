"""The worker's publishing: retried, whole batch, never dropped; batches land where sends would.

The batched publisher is checked on the real broker against the per-message path it
replaced: same partition per key (Kafka's murmur2), every message once, bytes unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import scorestream.streams.publishing as publishing
from scorestream.retry import Backoff
from scorestream.settings import Settings
from scorestream.streams.partitioning import murmur2 as murmur2_all
from scorestream.streams.partitioning import partitions_of
from scorestream.streams.scoring import OutputMessage
from scorestream.topics import ensure_topics
from tests.kafka_io import read_all


def test_publish_retries_the_whole_batch_until_acknowledged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sent: list[tuple[str, bytes]] = []
    failures = iter([True, True, False])

    async def send(topic: str, key: bytes, value: bytes) -> Awaitable[Any]:
        sent.append((topic, key))
        done = asyncio.get_running_loop().create_future()
        if key == b"a" and next(failures):  # the first message fails twice
            done.set_exception(ConnectionError("broker down"))
        else:
            done.set_result(None)
        return done

    # Keep the test fast: the same policy shape, tiny waits.
    monkeypatch.setattr(publishing, "Backoff", lambda initial_s, max_s: Backoff(0.001, 0.002))
    messages = [("t", OutputMessage(b"a", b"1")), ("t", OutputMessage(b"b", b"2"))]
    with caplog.at_level(logging.WARNING, logger=publishing.__name__):
        asyncio.run(publishing.publish_each(send, messages))
    assert sent == [("t", b"a"), ("t", b"b")] * 3
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "publishing 2 outputs failed"
    ] * 2


@pytest.mark.integration
def test_batch_publisher_puts_every_message_once_where_a_send_would(settings: Settings) -> None:
    """Two topics, keys over four partitions, batches split at max_batch_size, one 200 kB."""
    from aiokafka import AIOKafkaProducer
    from kafka.partitioner.default import murmur2

    ensure_topics(settings)
    big = b"x" * 200_000
    messages = [
        (settings.topics.scores, OutputMessage(f"id-{i:05d}".encode(), b'{"n": %d}' % i))
        for i in range(3000)
    ] + [
        (settings.topics.rejected, OutputMessage(b"007", big)),
        (settings.topics.rejected, OutputMessage("é-ü".encode(), b"\x00\xff raw")),
    ]

    async def publish() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            max_batch_size=16_384,  # many batches per partition
            max_request_size=1_048_576,
        )
        await producer.start()
        try:
            await publishing.BatchPublisher(producer).publish(messages)
        finally:
            await producer.stop()

    asyncio.run(publish())
    stored = read_all(settings, [settings.topics.scores, settings.topics.rejected], len(messages))
    assert sorted((t, k, v) for t, k, v, _ in stored) == sorted(
        (t, m.key, m.value) for t, m in messages
    )
    for topic, key, _, partition in stored:
        partitions = settings.topic_partitions
        # Java's and kafka-python's default: murmur2 of the key, positive, modulo partitions.
        assert partition == (murmur2(key) & 0x7FFFFFFF) % partitions, (topic, key)


def test_a_delivery_whose_acknowledgement_fails_is_sent_again_whole() -> None:
    """The pipelined path: a failed ack re-publishes every message of the batch."""
    republished: list[list[tuple[str, OutputMessage]]] = []

    class Recorder(publishing.BatchPublisher):
        async def publish(self, messages: publishing.Outputs) -> None:
            republished.append(list(messages))

    async def run() -> None:
        loop = asyncio.get_running_loop()
        ok, broken = loop.create_future(), loop.create_future()
        ok.set_result(None)
        broken.set_exception(ConnectionError("leader gone"))
        messages = [("t", OutputMessage(b"a", b"1")), ("u", OutputMessage(b"b", b"2"))]
        recorder = Recorder(producer=None)
        await publishing.Delivery(recorder, messages, [ok]).acknowledged()
        assert republished == []
        await publishing.Delivery(recorder, messages, [ok, broken]).acknowledged()
        assert republished == [messages]
        await publishing.Delivery(recorder, messages, None).acknowledged()  # never queued
        assert republished == [messages, messages]

    asyncio.run(run())


@given(st.lists(st.binary(max_size=40), max_size=60), st.integers(min_value=1, max_value=12))
@hypothesis_settings(max_examples=300, deadline=None)
def test_keys_are_partitioned_as_kafkas_default_partitioner_does(
    keys: list[bytes], count: int
) -> None:
    """The vectorised murmur2 against aiokafka's, key by key (lengths mixed in one call)."""
    from aiokafka.partitioner import DefaultPartitioner, murmur2

    assert murmur2_all(keys).tolist() == [murmur2(key) for key in keys]
    partitions = list(range(count))
    assert partitions_of(keys, count).tolist() == [
        DefaultPartitioner()(key, partitions, partitions) for key in keys
    ]
