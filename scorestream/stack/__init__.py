"""The local stack: real Kafka, ClickHouse and SMTP servers started without Docker."""

from __future__ import annotations

from pydantic import SecretStr

from scorestream.settings import Settings
from scorestream.stack.clickhouse import ClickHouseServer
from scorestream.stack.clickhouse_cluster import ClickHouseCluster, replicas_in_use
from scorestream.stack.config import StackConfig
from scorestream.stack.kafka import KafkaBroker
from scorestream.stack.kafka_cluster import KafkaCluster, recorded_brokers, running_cluster_size
from scorestream.stack.service import Health, Service
from scorestream.stack.smtp import SmtpServer


class LocalStack:
    """Kafka, ClickHouse and SMTP as one unit: ``up``, ``down``, ``status``."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        # Without an explicit size, the cluster formatted in the state directory (so that
        # `status`, `down` and `up` without flags see it), else the one-node broker.
        brokers = (
            self.config.kafka_brokers
            if "kafka_brokers" in self.config.model_fields_set
            else recorded_brokers(self.config) or 1
        )
        self.kafka_cluster = KafkaCluster(self.config, brokers) if brokers > 1 else None
        #: The one-node broker, or node 1 of the cluster (its port is the configured one).
        self.kafka: KafkaBroker = (
            self.kafka_cluster.nodes[0] if self.kafka_cluster else KafkaBroker(self.config)
        )
        # --clickhouse-replicas N: ZooKeeper and N replicas in place of the one server;
        # without it, status and down still see a cluster that up started.
        replicas = self.config.clickhouse_replicas or replicas_in_use(self.config)
        self.cluster = ClickHouseCluster(self.config, replicas) if replicas else None
        self.clickhouse = (
            self.cluster.replicas[0] if self.cluster else ClickHouseServer(self.config)
        )
        self.smtp = SmtpServer(self.config)

    @property
    def kafka_nodes(self) -> list[KafkaBroker]:
        return list(self.kafka_cluster.nodes) if self.kafka_cluster else [self.kafka]

    @property
    def services(self) -> list[Service]:
        clickhouse = self.cluster.services if self.cluster else [self.clickhouse]
        return [*self.kafka_nodes, *clickhouse, self.smtp]

    def other_kafka(self) -> list[KafkaBroker]:
        """Running Kafka processes of the other layout (one node vs. cluster) to stop."""
        others: list[KafkaBroker] = []
        if self.kafka_cluster is not None:
            others.append(KafkaBroker(self.config))
        else:
            size = running_cluster_size(self.config)
            others.extend(KafkaCluster(self.config, size).nodes if size else [])
        return [broker for broker in others if broker.running() is not None]

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def env(self) -> dict[str, str]:
        exports: dict[str, str] = {}
        for service in self.services:
            exports.update(service.env())
        return exports

    def settings(self, database: str, topic_prefix: str) -> Settings:
        """Settings for this stack, with their own ClickHouse database and topic prefix."""
        env = self.env()
        return Settings(
            kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
            clickhouse_url=SecretStr(
                f"clickhouse://default:@127.0.0.1:{self.clickhouse.port}/{database}"
            ),
            clickhouse_cluster=env.get("CLICKHOUSE_CLUSTER"),
            smtp_host=env["SMTP_HOST"],
            smtp_port=int(env["SMTP_PORT"]),
            SCORESTREAM_TOPIC_PREFIX=topic_prefix,
        )

    def status(self) -> list[Health]:
        return [service.health() for service in self.services]


__all__ = [
    "ClickHouseCluster",
    "ClickHouseServer",
    "Health",
    "KafkaBroker",
    "KafkaCluster",
    "LocalStack",
    "SmtpServer",
    "StackConfig",
]
