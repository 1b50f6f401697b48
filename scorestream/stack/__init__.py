"""The local stack: real Kafka, ClickHouse and SMTP servers started without Docker."""

from __future__ import annotations

from pydantic import SecretStr

from scorestream.settings import Settings
from scorestream.stack.clickhouse import ClickHouseServer
from scorestream.stack.clickhouse_cluster import ClickHouseCluster, replicas_in_use
from scorestream.stack.config import StackConfig
from scorestream.stack.kafka import KafkaBroker
from scorestream.stack.service import Health, Service
from scorestream.stack.smtp import SmtpServer


class LocalStack:
    """Kafka, ClickHouse and SMTP as one unit: ``up``, ``down``, ``status``."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.kafka = KafkaBroker(self.config)
        # --clickhouse-replicas N: ZooKeeper and N replicas in place of the one server;
        # without it, status and down still see a cluster that up started.
        replicas = self.config.clickhouse_replicas or replicas_in_use(self.config)
        self.cluster = ClickHouseCluster(self.config, replicas) if replicas else None
        self.clickhouse = (
            self.cluster.replicas[0] if self.cluster else ClickHouseServer(self.config)
        )
        self.smtp = SmtpServer(self.config)

    @property
    def services(self) -> list[Service]:
        clickhouse = self.cluster.services if self.cluster else [self.clickhouse]
        return [self.kafka, *clickhouse, self.smtp]

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
    "LocalStack",
    "SmtpServer",
    "StackConfig",
]
