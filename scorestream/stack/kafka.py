"""A one-node KRaft Kafka broker from Maven Central jars."""

from __future__ import annotations

import base64
import logging
import subprocess
import uuid
from pathlib import Path
from typing import Any

from scorestream.exceptions import StackError
from scorestream.stack.maven import fetch_jars
from scorestream.stack.service import Service

KAFKA_VERSION = "3.9.1"

#: ``server.properties`` lines shared by the one-node broker and the nodes of a cluster.
COMMON_PROPERTIES = (
    "controller.listener.names=CONTROLLER",
    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    "inter.broker.listener.name=PLAINTEXT",
    "num.partitions=4",
    "offsets.topic.num.partitions=8",
    "group.initial.rebalance.delay.ms=0",
    "auto.create.topics.enable=true",
    "delete.topic.enable=true",
    "log.retention.hours=168",
    "message.max.bytes=2097152",
    # The log cleaner (compacting __consumer_offsets) allocates its dedupe buffer when the
    # broker starts: 128 MiB by default, half a cluster node's 256 MiB heap. A node restarted
    # by the fault suite with 208 logs to load ran out of heap there (OutOfMemoryError in
    # SkimpyOffsetMap); 16 MiB holds the offsets of ~600,000 keys per pass, plenty here.
    "log.cleaner.dedupe.buffer.size=16777216",
)


class KafkaBroker(Service):
    """Kafka 3.9 in KRaft mode (broker and controller in one JVM) on 127.0.0.1."""

    name = "kafka"

    @property
    def port(self) -> int:
        return self.config.kafka_port

    @property
    def libs(self) -> Path:
        return self.home / "libs"

    def install(self) -> None:
        fetch_jars("kafka-broker.pom", self.libs, f".kafka-{KAFKA_VERSION}", "Kafka broker")

    def server_properties(self) -> list[str]:
        """The lines of ``server.properties``: one node that is broker and controller."""
        cfg = self.config
        return [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{cfg.kafka_controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{cfg.kafka_port},"
            f"CONTROLLER://127.0.0.1:{cfg.kafka_controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{cfg.kafka_port}",
            *COMMON_PROPERTIES,
            f"log.dirs={self.home / 'data'}",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
        ]

    def cluster_id(self) -> str:
        """The KRaft cluster id the storage is formatted with (a new one per node here)."""
        return kafka_cluster_id()

    @property
    def heap_mb(self) -> int:
        return self.config.kafka_heap_mb

    def prepare(self) -> None:
        data = self.home / "data"
        properties = self.home / "server.properties"
        self.home.mkdir(parents=True, exist_ok=True)
        properties.write_text("\n".join([*self.server_properties(), ""]))
        (self.home / "log4j.properties").write_text(
            "log4j.rootLogger=WARN, file\n"
            "log4j.appender.file=org.apache.log4j.RollingFileAppender\n"
            f"log4j.appender.file.File={self.home / 'server.log'}\n"
            "log4j.appender.file.MaxFileSize=50MB\n"
            "log4j.appender.file.MaxBackupIndex=2\n"
            "log4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            "log4j.logger.kafka=INFO\n"
        )
        if (data / "meta.properties").exists():
            return
        cluster_id = self.cluster_id()
        result = subprocess.run(
            [
                *self._java(),
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(properties),
                "--ignore-formatted",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"formatting Kafka storage failed:\n{result.stderr[-3000:]}")

    def _java(self) -> list[str]:
        heap = self.heap_mb
        return [
            "java",
            f"-Xmx{heap}m",
            f"-Xms{min(heap // 2, 256)}m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.home / 'log4j.properties'}",
            f"-Dscorestream.home={self.home}",
            "-cp",
            f"{self.libs}/*",
        ]

    def command(self) -> tuple[list[str], dict[str, str] | None]:
        return [*self._java(), "kafka.Kafka", str(self.home / "server.properties")], None

    def admin(self) -> Any:
        """A kafka-python admin client on this broker alone (close it after use)."""
        from kafka import KafkaAdminClient

        # Refused connections are the expected answer while the broker starts.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        return KafkaAdminClient(
            bootstrap_servers=f"127.0.0.1:{self.port}",
            request_timeout_ms=3000,
            client_id="scorestream-stack",
        )

    def probe(self) -> str:
        admin = self.admin()
        try:
            admin.list_topics()
        finally:
            admin.close()
        return KAFKA_VERSION

    def env(self) -> dict[str, str]:
        return {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{self.port}"}


def kafka_cluster_id() -> str:
    """A random KRaft cluster id (URL-safe base64 of a UUID) that never starts with ``-``.

    One id in 64 would otherwise start with ``-``, and the storage tool's argument parser
    takes it for an option ("argument --cluster-id: expected one argument"); Kafka's own
    ``Uuid.randomUuid`` skips such ids for the same reason.

    >>> all(not kafka_cluster_id().startswith("-") for _ in range(1000))
    True
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
