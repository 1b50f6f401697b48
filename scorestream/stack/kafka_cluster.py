"""A KRaft Kafka cluster on loopback: ``scorestream stack up --kafka-brokers 3``.

Every node is broker and controller in its own JVM, from the one-node broker's Maven jars
(``.stack/kafka/libs``). Node ``n`` keeps its state in ``.stack/kafka-n`` and listens on
``kafka_port + 10 (n - 1)`` (clients) and ``kafka_controller_port + 10 (n - 1)`` (the
quorum). The cluster id and size are recorded once in ``.stack/kafka-cluster.json`` so that
every node formats its storage with the same id, and ``status``/``down`` find the nodes.

Replication follows Kafka's own durability recipe: replication factor ``min(3, nodes)``
for every topic (the internal ones too), ``min.insync.replicas`` one less, capped at 2, so
that an acknowledged write (acks=all) is on two nodes and one node may die.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from scorestream.exceptions import StackError
from scorestream.stack import process
from scorestream.stack.config import StackConfig
from scorestream.stack.kafka import (
    COMMON_PROPERTIES,
    KAFKA_VERSION,
    KafkaBroker,
    kafka_cluster_id,
)
from scorestream.topics import replication_for

#: Node n's ports are the base ports plus PORT_STRIDE * (n - 1).
PORT_STRIDE = 10


def layout_file(config: StackConfig) -> Path:
    return config.path("kafka-cluster.json")


def recorded_brokers(config: StackConfig) -> int | None:
    """The size of the cluster formatted under the state directory, if any."""
    try:
        return int(json.loads(layout_file(config).read_text())["brokers"])
    except (OSError, ValueError, KeyError):
        return None


class KafkaClusterNode(KafkaBroker):
    """Node ``node_id`` (1-based) of a cluster of ``brokers`` nodes."""

    def __init__(self, config: StackConfig, node_id: int, brokers: int) -> None:
        self.node_id = node_id
        self.brokers = brokers
        self.name = f"kafka-{node_id}"
        super().__init__(config)

    @staticmethod
    def ports(config: StackConfig, node_id: int) -> tuple[int, int]:
        """(client port, controller port) of node ``node_id``."""
        offset = PORT_STRIDE * (node_id - 1)
        return config.kafka_port + offset, config.kafka_controller_port + offset

    @property
    def port(self) -> int:
        return self.ports(self.config, self.node_id)[0]

    @property
    def controller_port(self) -> int:
        return self.ports(self.config, self.node_id)[1]

    @property
    def libs(self) -> Path:
        # The one-node broker's jars: one Maven download serves every node.
        return self.config.path("kafka", "libs")

    @property
    def heap_mb(self) -> int:
        return self.config.kafka_node_heap_mb

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(
            f"127.0.0.1:{self.ports(self.config, n)[0]}" for n in range(1, self.brokers + 1)
        )

    def server_properties(self) -> list[str]:
        voters = ",".join(
            f"{n}@127.0.0.1:{self.ports(self.config, n)[1]}" for n in range(1, self.brokers + 1)
        )
        replicas, min_insync = replication_for(self.brokers)
        return [
            "process.roles=broker,controller",
            f"node.id={self.node_id}",
            f"controller.quorum.voters={voters}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            *COMMON_PROPERTIES,
            f"log.dirs={self.home / 'data'}",
            f"default.replication.factor={replicas}",
            f"min.insync.replicas={min_insync}",
            f"offsets.topic.replication.factor={replicas}",
            f"transaction.state.log.replication.factor={replicas}",
            f"transaction.state.log.min.isr={min_insync}",
            # Never elect a replica that missed acknowledged writes (Kafka's default, pinned).
            "unclean.leader.election.enable=false",
        ]

    def cluster_id(self) -> str:
        """The id every node formats its storage with, created by the first node."""
        path = layout_file(self.config)
        recorded = recorded_brokers(self.config)
        if recorded is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"cluster_id": kafka_cluster_id(), "brokers": self.brokers}))
        elif recorded != self.brokers:
            raise StackError(
                f"{self.config.state_dir} holds a {recorded}-node Kafka cluster, not "
                f"{self.brokers}; use --kafka-brokers {recorded} or remove "
                f"{path} and the kafka-<n> folders"
            )
        return str(json.loads(path.read_text())["cluster_id"])

    def probe(self) -> str:
        admin = self.admin()
        try:
            brokers = {b["broker_id"] for b in admin.describe_cluster()["brokers"]}
        finally:
            admin.close()
        # A node that answers but is not registered (fenced) takes no writes: not healthy.
        if self.node_id not in brokers:
            raise StackError(f"node {self.node_id} is not registered with the cluster yet")
        return f"{KAFKA_VERSION} node {self.node_id}/{self.brokers}"

    def env(self) -> dict[str, str]:
        return {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers}

    def kill(self) -> int:
        """``kill -9`` this node's JVM (a crash, not a shutdown); returns the pid killed."""
        record = self.running()
        if record is None:
            raise StackError(f"{self.name} is not running")
        os.kill(record.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10.0
        while record.is_alive() and time.monotonic() < deadline:
            # Our own child (a test's) must be reaped, or it stays a zombie.
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(record.pid, os.WNOHANG)
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return record.pid


class KafkaCluster:
    """The nodes of one cluster, started together; a node can be killed and restarted alone."""

    def __init__(self, config: StackConfig, brokers: int | None = None) -> None:
        self.config = config
        self.brokers = brokers or config.kafka_brokers
        self.nodes = [KafkaClusterNode(config, n, self.brokers) for n in range(1, self.brokers + 1)]

    def __iter__(self) -> Iterator[KafkaClusterNode]:
        return iter(self.nodes)

    @property
    def bootstrap_servers(self) -> str:
        return self.nodes[0].bootstrap_servers

    def node(self, node_id: int) -> KafkaClusterNode:
        return self.nodes[node_id - 1]

    def launch(self) -> list[KafkaClusterNode]:
        """Spawn every node that is not running, without waiting; returns those spawned.

        No node is healthy alone (its broker waits for a controller quorum), so the nodes
        are launched together and waited for afterwards.
        """
        return [node for node in self.nodes if node.launch()]

    def start(self) -> list[KafkaClusterNode]:
        """Launch what is not running and wait until every node is registered."""
        launched = self.launch()
        for node in self.nodes:
            node.wait_healthy()
        return launched

    def stop(self) -> list[KafkaClusterNode]:
        """Stop every node at once; returns those that ran.

        One by one, the last node would wait in its controlled shutdown for a quorum that
        is already gone, until it is killed after 30 s.
        """
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            stopped = list(pool.map(lambda node: node.stop(), self.nodes))
        return [node for node, ran in zip(self.nodes, stopped, strict=True) if ran]

    def leader(self, topic: str, partition: int, timeout_s: float = 30.0) -> KafkaClusterNode:
        """The node that leads ``topic``'s ``partition`` now.

        Brokers learn of a new topic or leader at slightly different moments, and the
        admin client asks any of them: ask again until one knows (at most ``timeout_s``).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                leaders = {
                    int(p["partition_index"]): int(p["leader_id"]) for p in self._describe(topic)
                }
            except Exception:  # a node restarting: ask again
                leaders = {}
            if leaders.get(partition, -1) >= 1:
                return self.node(leaders[partition])
            problem = (
                f"{topic}[{partition}] has no leader" if leaders else f"no metadata for {topic}"
            )
            if time.monotonic() > deadline:
                raise StackError(f"{problem} after {timeout_s}s")
            time.sleep(0.5)

    def wait_in_sync(self, topic: str, timeout_s: float = 60.0) -> None:
        """Wait until every partition of ``topic`` has a leader and all replicas in sync."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                partitions = self._describe(topic)
                lagging: list[object] = [
                    p["partition_index"]
                    for p in partitions
                    if p["leader_id"] < 1 or set(p["isr_nodes"]) != set(p["replica_nodes"])
                ]
            except Exception as exc:  # a node restarting: ask again
                partitions, lagging = [], [str(exc)]
            # A topic just created may not be in the metadata yet: no partitions is not "in sync".
            lagging = lagging or ([] if partitions else ["no partitions yet"])
            if not lagging:
                return
            if time.monotonic() > deadline:
                raise StackError(f"{topic}: partitions {lagging} not in sync after {timeout_s}s")
            time.sleep(0.5)

    def _describe(self, topic: str) -> list[dict[str, Any]]:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers,
            request_timeout_ms=5000,
            client_id="scorestream-stack",
        )
        try:
            [described] = admin.describe_topics([topic])
        finally:
            admin.close()
        return list(described["partitions"])


def running_cluster_size(config: StackConfig) -> int | None:
    """The size of the recorded cluster when one of its nodes runs, else None."""
    brokers = recorded_brokers(config)
    if brokers is None:
        return None
    cluster = KafkaCluster(config, brokers)
    return brokers if any(process.running(node.pid_file) for node in cluster) else None
