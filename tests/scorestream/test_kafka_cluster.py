"""The three-node Kafka cluster of ``stack up --kafka-brokers 3``, with real JVMs.

One private cluster serves the module (``private_kafka_cluster``). Its topics are replicated
three times with ``min.insync.replicas`` 2; a write acknowledged with acks=all survives
kill -9 of its partition's leader; ``stack status`` and ``stack down`` see every node.
The module's last test stops the cluster through the CLI.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from scorestream.child_process import run_cli
from scorestream.exceptions import StackError
from scorestream.settings import Settings
from scorestream.stack import LocalStack, StackConfig
from scorestream.stack.kafka_cluster import KafkaCluster, KafkaClusterNode
from scorestream.stack.process import port_open
from scorestream.topics import ensure_topics
from tests.fixtures.bridge import free_port
from tests.waiting import wait_for

RECORDS = 6000
#: Sent per second: the kill falls mid-stream, with writes in flight to the dying leader.
RATE = 1500


@pytest.fixture(scope="module")
def cluster_settings(private_kafka_cluster: KafkaCluster) -> Settings:
    """Settings whose Kafka is the private cluster (ClickHouse is not used here)."""
    return Settings(
        kafka_bootstrap_servers=private_kafka_cluster.bootstrap_servers,
        clickhouse_url=SecretStr("clickhouse://default:@127.0.0.1:9/unused"),
        SCORESTREAM_TOPIC_PREFIX=f"t_{uuid.uuid4().hex[:10]}.",
    )


# --- without JVMs ----------------------------------------------------------------------------
def test_nodes_list_every_voter_and_replicate_three_times(tmp_path: Path) -> None:
    config = StackConfig(
        state_dir=tmp_path, kafka_port=31000, kafka_controller_port=31001, kafka_brokers=3
    )
    cluster = KafkaCluster(config)
    assert [node.port for node in cluster] == [31000, 31010, 31020]
    assert cluster.bootstrap_servers == "127.0.0.1:31000,127.0.0.1:31010,127.0.0.1:31020"
    lines = cluster.node(2).server_properties()
    properties = dict(line.split("=", 1) for line in lines)
    assert properties["node.id"] == "2"
    assert properties["controller.quorum.voters"] == (
        "1@127.0.0.1:31001,2@127.0.0.1:31011,3@127.0.0.1:31021"
    )
    assert properties["listeners"] == "PLAINTEXT://127.0.0.1:31010,CONTROLLER://127.0.0.1:31011"
    assert properties["log.dirs"] == str(tmp_path.resolve() / "kafka-2" / "data")
    for key, value in {
        "default.replication.factor": "3",
        "min.insync.replicas": "2",
        "offsets.topic.replication.factor": "3",
        "transaction.state.log.replication.factor": "3",
        "transaction.state.log.min.isr": "2",
    }.items():
        assert properties[key] == value, key
    # Every node runs from the one-node broker's jars.
    assert {node.libs for node in cluster} == {config.path("kafka", "libs")}


def test_nodes_share_one_cluster_id_and_refuse_another_size(tmp_path: Path) -> None:
    config = StackConfig(state_dir=tmp_path, kafka_brokers=3)
    ids = {node.cluster_id() for node in KafkaCluster(config)}
    assert len(ids) == 1 and not next(iter(ids)).startswith("-")
    with pytest.raises(StackError, match="holds a 3-node Kafka cluster"):
        KafkaClusterNode(config, 1, 5).cluster_id()


def test_the_state_directory_remembers_the_layout(tmp_path: Path) -> None:
    assert LocalStack(StackConfig(state_dir=tmp_path)).kafka_cluster is None
    KafkaCluster(StackConfig(state_dir=tmp_path, kafka_brokers=3)).node(1).cluster_id()
    # Without a size, status/down/up see the cluster formatted there; a size given wins.
    remembered = LocalStack(StackConfig(state_dir=tmp_path))
    assert [s.name for s in remembered.services][:4] == [
        "kafka-1",
        "kafka-2",
        "kafka-3",
        "clickhouse",
    ]
    assert LocalStack(StackConfig(state_dir=tmp_path, kafka_brokers=1)).kafka_cluster is None


def test_kafka_brokers_out_of_range_is_a_usage_error() -> None:
    done = run_cli(["stack", "status", "--kafka-brokers", "0"], timeout_s=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--kafka-brokers" in done.stderr


# --- the running cluster -------------------------------------------------------------------------
@pytest.mark.integration
def test_created_topics_have_three_replicas_and_min_insync_two(
    private_kafka_cluster: KafkaCluster, cluster_settings: Settings
) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    created = ensure_topics(cluster_settings)
    assert sorted(created) == sorted(cluster_settings.topics.all())
    for name in created:
        private_kafka_cluster.wait_in_sync(name)
    admin = KafkaAdminClient(bootstrap_servers=private_kafka_cluster.bootstrap_servers)
    try:
        # Each broker learns of a new topic from the controller on its own time: the node
        # asked here may not be the one wait_in_sync asked, so ask until it knows them all.
        described = wait_for(
            lambda: _all_described(admin.describe_topics(created)),
            "every broker asked knows every partition of the created topics",
            timeout_s=30,
        )
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in created],
            config_filter="all",
        )["topic"]
        broker = admin.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, "1")], config_filter="all"
        )["broker"]["1"]
    finally:
        admin.close()
    for topic in described:
        partitions = topic["partitions"]
        assert len(partitions) == cluster_settings.topic_partitions, topic["name"]
        for partition in partitions:
            assert sorted(partition["replica_nodes"]) == [1, 2, 3], topic["name"]
        assert configs[topic["name"]]["min.insync.replicas"]["value"] == "2", topic["name"]
    # The rejected topic keeps its own setting next to the cluster's.
    rejected = configs[cluster_settings.topics.rejected]["max.message.bytes"]["value"]
    assert int(rejected) > 2_097_152
    # Consumer offsets and transactions are as durable as the data.
    assert broker["offsets.topic.replication.factor"]["value"] == "3"
    assert broker["transaction.state.log.min.isr"]["value"] == "2"


def _all_described(described: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``described`` if every topic in it has partitions, else nothing (not known yet)."""
    return described if all(topic["partitions"] for topic in described) else []


@pytest.mark.integration
def test_acknowledged_writes_survive_kill_9_of_the_partition_leader(
    private_kafka_cluster: KafkaCluster, cluster_settings: Settings
) -> None:
    from kafka import KafkaProducer

    cluster = private_kafka_cluster
    topic = f"{cluster_settings.topic_prefix}failover"
    ensure_topics(cluster_settings, [topic])
    cluster.wait_in_sync(topic)
    leader = cluster.leader(topic, 0)
    acked: list[str] = []
    failed: list[tuple[str, str]] = []
    producer = KafkaProducer(
        bootstrap_servers=cluster.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        request_timeout_ms=10_000,
        delivery_timeout_ms=120_000,
    )
    started = time.monotonic()
    killed_pid = 0
    for i in range(RECORDS):
        if i == RECORDS // 3:
            killed_pid = leader.kill()  # kill -9 with writes in flight to it
        # max(): the clock moves between a check and the sleep (a loaded machine).
        time.sleep(max(0.0, started + i / RATE - time.monotonic()))
        record_id = f"id-{i:05d}"
        future = producer.send(
            topic, key=record_id.encode(), value=f'{{"id":"{record_id}"}}'.encode()
        )
        future.add_callback(lambda _meta, rid=record_id: acked.append(rid))
        future.add_errback(lambda exc, rid=record_id: failed.append((rid, repr(exc))))
    producer.flush(timeout=150)
    producer.close()

    assert killed_pid > 0 and leader.running() is None
    # Two of three replicas in sync meet min.insync.replicas: every write is acknowledged.
    assert failed == [] and len(acked) == RECORDS
    assert cluster.leader(topic, 0).node_id != leader.node_id
    states = {h.name: h.state for h in LocalStack(cluster.config).status() if "kafka" in h.name}
    assert states[leader.name] == "stopped"
    assert sorted(state for name, state in states.items() if name != leader.name) == [
        "running",
        "running",
    ]

    # The killed node comes back, catches up, and nothing acknowledged is missing.
    assert leader.start()
    cluster.wait_in_sync(topic)
    counts = Counter(_read_all(cluster.bootstrap_servers, topic))
    missing = set(acked) - set(counts)
    duplicated = sorted(rid for rid, n in counts.items() if n > 1)
    assert missing == set()
    assert duplicated == []  # the idempotent producer's retries are written once
    assert sum(counts.values()) == RECORDS


def _read_all(bootstrap_servers: str, topic: str) -> list[str]:
    """Every record id of ``topic`` from offset 0 up to the end offsets of now."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        ids: list[str] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            assert time.monotonic() < deadline, "reading the topic back took over 60 s"
            for messages in consumer.poll(timeout_ms=1000).values():
                ids.extend(m.key.decode() for m in messages)
        return ids
    finally:
        consumer.close()


@pytest.mark.integration
def test_stack_status_lists_every_node_and_down_stops_them(
    private_kafka_cluster: KafkaCluster,
) -> None:
    config = private_kafka_cluster.config
    env = {
        **os.environ,
        "COLUMNS": "200",
        "SCORESTREAM_STATE_DIR": str(config.state_dir),
        "SCORESTREAM_KAFKA_PORT": str(config.kafka_port),
        "SCORESTREAM_KAFKA_CONTROLLER_PORT": str(config.kafka_controller_port),
        # Nothing listens there: ClickHouse and SMTP are "stopped", the exit code 3.
        "SCORESTREAM_CLICKHOUSE_PORT": str(free_port()),
        "SCORESTREAM_CLICKHOUSE_HTTP_PORT": str(free_port()),
        "SCORESTREAM_SMTP_PORT": str(free_port()),
    }
    env.pop("SCORESTREAM_KAFKA_BROKERS", None)
    status = run_cli(["stack", "status"], env, timeout_s=120)
    assert status.returncode == 3, status.stderr
    for node in private_kafka_cluster:
        record = node.running()
        assert record is not None
        row = re.search(rf"{node.name}\s.*", status.stdout)
        assert row is not None, status.stdout
        assert "running" in row.group(0)
        assert str(node.port) in row.group(0) and str(record.pid) in row.group(0)

    down = run_cli(["stack", "down"], env, timeout_s=120)
    assert down.returncode == 0, down.stderr
    for node in private_kafka_cluster:
        assert f"{node.name}: stopped" in down.stderr
        assert node.running() is None and not port_open(node.port)
    after = run_cli(["stack", "status"], env, timeout_s=120)
    assert len(re.findall(r"kafka-\d\s.*stopped", after.stdout)) == 3, after.stdout
