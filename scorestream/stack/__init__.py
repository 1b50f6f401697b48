"""The local stack: real Kafka, ClickHouse and SMTP servers started without Docker."""

from __future__ import annotations

from scorestream.stack.clickhouse import ClickHouseServer
from scorestream.stack.config import StackConfig
from scorestream.stack.kafka import KafkaBroker
from scorestream.stack.service import Health, Service
from scorestream.stack.smtp import SmtpServer


class LocalStack:
    """Kafka, ClickHouse and SMTP as one unit: ``up``, ``down``, ``status``."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.kafka = KafkaBroker(self.config)
        self.clickhouse = ClickHouseServer(self.config)
        self.smtp = SmtpServer(self.config)

    @property
    def services(self) -> list[Service]:
        return [self.kafka, self.clickhouse, self.smtp]

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

    def status(self) -> list[Health]:
        return [service.health() for service in self.services]


__all__ = ["ClickHouseServer", "Health", "KafkaBroker", "LocalStack", "SmtpServer", "StackConfig"]
