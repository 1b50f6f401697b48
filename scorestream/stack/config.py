"""Where the local stack keeps its state and which ports it listens on."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from scorestream.contract.tables import check_identifier


class StackConfig(BaseSettings):
    """Ports and state directory of ``scorestream stack`` (env prefix ``SCORESTREAM_``)."""

    model_config = SettingsConfigDict(env_prefix="SCORESTREAM_", frozen=True, extra="ignore")

    state_dir: Path = Field(default=Path(".stack"))
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    kafka_heap_mb: int = 512
    #: 1: the one-node broker; more: a KRaft cluster of that many nodes (kafka_cluster.py),
    #: node n on kafka_port + 10 (n - 1) and kafka_controller_port + 10 (n - 1).
    kafka_brokers: int = Field(default=1, ge=1, le=9)
    #: Each node of a cluster is its own JVM: a smaller heap than the one-node broker's.
    kafka_node_heap_mb: int = 256
    clickhouse_port: int = 19000
    clickhouse_http_port: int = 18123
    smtp_port: int = 18025
    # A replicated ClickHouse (`stack up --clickhouse-replicas N`, see stack/clickhouse_cluster.py):
    # 0 is the one plain server. Replica n listens on the ClickHouse ports + 10 * (n - 1).
    clickhouse_replicas: int = Field(default=0, ge=0, le=9)
    clickhouse_cluster: str = "scorestream"
    zookeeper_port: int = 12181
    zookeeper_heap_mb: int = 128
    # The local stack only listens on 127.0.0.1; deployments set their own (see .env.example).
    grafana_reader_password: str = "grafana-local"  # noqa: S105
    # The one database grafana_reader may read: the dashboards' (and the datasource's), and
    # the one CLICKHOUSE_URL names, which `up` creates: the pipeline writes where Grafana reads.
    grafana_reader_database: str = "scoring"
    startup_timeout_s: float = 120.0

    # They go into the XML configuration and into SQL (CREATE DATABASE, ON CLUSTER): plain
    # identifiers only.
    @field_validator("grafana_reader_database", "clickhouse_cluster")
    @classmethod
    def _plain_database_name(cls, value: str) -> str:
        return check_identifier(value)

    def path(self, *parts: str) -> Path:
        return (self.state_dir / Path(*parts)).resolve()
