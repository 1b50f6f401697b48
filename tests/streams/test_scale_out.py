"""Scaling out: two workers and two sinks on a four-partition topic, members coming and going.

Two ``scorestream worker`` and two ``scorestream sink`` processes share the records topic
(4 partitions) and the output topics while records flow at a steady rate. Mid-stream a third
worker joins, then one of the first two leaves gracefully (SIGTERM), then a sink leaves
(SIGTERM) and comes back. Each move is seen in the consumer groups (DescribeGroups). Then
every produced id is in ``scores FINAL`` exactly once, nothing is rejected, and the drift
counts of every feature, summed over the partial rows the three workers wrote, equal the
records scored: whoever held a partition at the time, nothing is lost or counted twice.

The members have explicit instance ids (static membership, as the product's default ids
are): a member that leaves for good keeps its partitions until its session times out
(``scorestream.membership``; 10 s by default, the broker's minimum of 6 s here), so each
leave costs that wait once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from scorestream.consumer_groups import owned_partitions, scoring_group, sink_group
from scorestream.settings import Settings
from scorestream.streams.synthetic import generate_records
from scorestream.topics import ensure_topics
from tests.consumers.clickhouse_sink_support import sink_process
from tests.fixtures.worker import WorkerFactory
from tests.waiting import wait_for

#: Records per second while the members move: a few thousand in all, however long that takes.
RATE = 150
#: Every wait of the test is bounded by this (a loaded two-core machine included).
WAIT_S = 90.0
#: The broker's minimum session: a member that left for good hands its partitions over
#: after this (static membership sends no LeaveGroup), and the test waits for that twice.
SESSION = ("--session-timeout", "6")
PARTITIONS = {0, 1, 2, 3}


def _wait(condition: Callable[[], Any], what: str) -> Any:
    return wait_for(condition, what, WAIT_S)


def _owners(settings: Settings, group: str, topic: str) -> dict[str, set[int]]:
    """Instance id -> the partitions of ``topic`` it owns; empty unless the group is Stable."""
    from kafka import KafkaAdminClient
    from kafka.errors import CoordinatorNotAvailableError

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        description = admin.describe_groups([group])[group]
    except CoordinatorNotAvailableError:  # a new group's coordinator: not elected yet
        return {}
    finally:
        admin.close()
    owned = owned_partitions(description, topic, by="group_instance_id")
    return {member: set(partitions) for member, partitions in owned.items()}


def _shared_by(
    settings: Settings, group: str, topic: str, members: set[str]
) -> dict[str, set[int]]:
    """Until exactly ``members`` own every partition of ``topic``, each at least one."""

    def shared() -> dict[str, set[int]]:
        owners = _owners(settings, group, topic)
        covered = set().union(*owners.values()) if owners else set()
        ok = set(owners) == members and covered == PARTITIONS and all(owners.values())
        return owners if ok else {}

    return _wait(shared, f"{group} shared by {sorted(members)}")


class _Feed:
    """Produces synthetic records at RATE/s in a thread until stopped; keeps the acked ids."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.acked: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join(WAIT_S)
        assert not self._thread.is_alive(), "the producer thread did not end"
        assert not self.errors, self.errors[:3]
        return self.acked

    def _run(self) -> None:
        from kafka import KafkaProducer

        producer = KafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, acks="all", linger_ms=20
        )
        started = time.monotonic()
        sent = 0
        try:
            chunks = generate_records(
                100_000, 31, 50, start="2026-07-01T12:00:00", interval_ms=10, include_target=False
            )
            for chunk in chunks:
                if self._stop.is_set():
                    break
                for record in chunk:
                    future = producer.send(
                        self.settings.topics.records,
                        key=record["id"].encode(),
                        value=orjson.dumps(record),
                    )
                    future.add_callback(lambda _, rid=record["id"]: self.acked.append(rid))
                    future.add_errback(lambda exc: self.errors.append(repr(exc)))
                sent += len(chunk)
                time.sleep(max(0.0, started + sent / RATE - time.monotonic()))
            producer.flush(timeout=60)
        finally:
            producer.close()


def _counts(ch_client: Any, database: str) -> tuple[dict[str, int], int, dict[str, int]]:
    """Rows per id in ``scores FINAL``, rejected records, drift counts per feature."""
    per_id = dict(ch_client.execute(f"SELECT id, count() FROM {database}.scores FINAL GROUP BY id"))
    rejected = ch_client.execute(f"SELECT count() FROM {database}.rejected_records FINAL")[0][0]
    drift = dict(
        ch_client.execute(
            f"SELECT feature, sum(count) FROM {database}.drift_stats FINAL GROUP BY feature"
        )
    )
    return per_id, int(rejected), {str(f): int(n) for f, n in drift.items()}


def _stop_gracefully(process: subprocess.Popen[bytes]) -> int:
    os.killpg(process.pid, signal.SIGTERM)
    return process.wait(60)


def test_workers_and_sinks_joining_and_leaving_lose_and_double_nothing(
    settings: Settings,
    settings_env: dict[str, str],
    start_worker: WorkerFactory,
    ch_client: Any,
    tmp_path: Path,
) -> None:
    ensure_topics(settings)
    assert settings.topic_partitions == len(PARTITIONS)
    first = start_worker("--instance-id", "w0", *SESSION)
    start_worker("--instance-id", "w1", *SESSION)
    started: list[subprocess.Popen[bytes]] = []

    def sink(name: str) -> subprocess.Popen[bytes]:
        log = tmp_path / f"sink-{name}.log"
        args = ("--flush-interval", "0.5", "--instance-id", name, *SESSION)
        started.append(sink_process(settings_env, log, *args))
        return started[-1]

    try:
        _scale(settings, start_worker, sink, first, ch_client)
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def _scale(
    settings: Settings,
    start_worker: WorkerFactory,
    sink: Callable[[str], subprocess.Popen[bytes]],
    first: subprocess.Popen[bytes],
    ch_client: Any,
) -> None:
    """The members come and go while records flow; then the counts."""
    records, scores = settings.topics.records, settings.topics.scores
    workers, sinks = scoring_group(settings.topic_prefix), sink_group(settings.topic_prefix)
    sink("s0")
    leaving_sink = sink("s1")
    _shared_by(settings, workers, records, {"w0", "w1"})
    _shared_by(settings, sinks, scores, {"s0", "s1"})

    feed = _Feed(settings)
    feed.start()
    database = settings.clickhouse.database

    def stored() -> int:
        return int(ch_client.execute(f"SELECT count() FROM {database}.scores FINAL")[0][0])

    _wait(lambda: stored() >= 500, "the first 500 scores stored")
    start_worker("--instance-id", "w2", *SESSION)  # joins mid-stream
    joined = _shared_by(settings, workers, records, {"w0", "w1", "w2"})
    assert joined["w2"], joined
    assert _stop_gracefully(first) == 0  # leaves mid-stream
    _shared_by(settings, workers, records, {"w1", "w2"})
    assert _stop_gracefully(leaving_sink) == 0
    before = stored()
    _shared_by(settings, sinks, scores, {"s0"})
    sink("s1")  # and comes back
    _shared_by(settings, sinks, scores, {"s0", "s1"})
    _wait(lambda: stored() > before + 300, "the sinks storing after the rejoin")
    ids = feed.stop()
    assert len(ids) >= 2_000

    def complete() -> bool:
        per_id, _, drift = _counts(ch_client, database)
        return len(per_id) >= len(ids) and min(drift.values(), default=0) >= len(ids)

    _wait(complete, f"all {len(ids):,} records stored and counted")
    per_id, rejected, drift = _counts(ch_client, database)
    lost = set(ids) - set(per_id)
    doubled = {rid: n for rid, n in per_id.items() if n > 1}
    assert (len(lost), len(doubled), rejected) == (0, 0, 0), (sorted(lost)[:5], doubled)
    assert len(per_id) == len(ids)  # nothing stored that was not produced
    # Every feature of the model, and the score: the partial rows add up exactly.
    assert len(drift) > 5, drift
    assert drift == dict.fromkeys(drift, len(ids)), drift
