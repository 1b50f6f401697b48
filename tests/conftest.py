"""Session fixtures: the real local stack, and per-test topics and ClickHouse databases.

The stack is started once per session if it is not up and reused if it is; each test gets
topics under its own prefix and its own ClickHouse database, both removed afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from scorestream.settings import Settings
from scorestream.stack import LocalStack, StackConfig


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests that take the stack fixture are integration tests, whatever their module.
    for item in items:
        if {"stack", "settings", "ch_client"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    local = LocalStack(StackConfig())
    started = [service for service in local.services if service.start()]
    yield local
    if os.environ.get("SCORESTREAM_KEEP_STACK") != "1":
        for service in reversed(started):
            service.stop()


@pytest.fixture()
def unique_name(request: pytest.FixtureRequest) -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def settings(stack: LocalStack, unique_name: str) -> Iterator[Settings]:
    """Settings pointing at the stack, with this test's topic prefix and database."""
    from clickhouse_driver import Client
    from kafka import KafkaAdminClient

    prefix = f"{unique_name}."
    current = stack.settings(unique_name, prefix)
    yield current
    admin = KafkaAdminClient(bootstrap_servers=current.kafka_bootstrap_servers)
    try:
        ours = [topic for topic in admin.list_topics() if topic.startswith(prefix)]
        if ours:
            admin.delete_topics(ours)
    finally:
        admin.close()
    client = Client(host="127.0.0.1", port=stack.clickhouse.port)
    client.execute(f"DROP DATABASE IF EXISTS {unique_name}")
    client.disconnect()


@pytest.fixture()
def settings_env(settings: Settings, stack: LocalStack) -> dict[str, str]:
    """The environment a subprocess needs to see the same settings as ``settings``."""
    return {**os.environ, **settings.environment()}


@pytest.fixture()
def ch_client(settings: Settings) -> Iterator[object]:
    """A clickhouse-driver client on this test's (created) database."""
    from clickhouse_driver import Client

    dsn = settings.clickhouse
    admin = Client(host=dsn.host, port=dsn.port)
    admin.execute(f"CREATE DATABASE IF NOT EXISTS {dsn.database}")
    admin.disconnect()
    client = Client(
        host=dsn.host,
        port=dsn.port,
        user=dsn.user,
        password=dsn.password.get_secret_value(),
        database=dsn.database,
    )
    yield client
    client.disconnect()


@pytest.fixture()
def maildir(stack: LocalStack) -> Path:
    return stack.smtp.maildir


class ChdbExecutor:
    """clickhouse-driver's ``execute`` over a chDB session, for the migration runner.

    Inserts (``INSERT ... VALUES`` with rows) send the rows as JSONCompactEachRow data,
    so, as with the driver, no value is ever formatted into SQL.
    """

    def __init__(self, path: Path) -> None:
        from chdb import session

        self.session = session.Session(str(path))

    def execute(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        if params is not None:
            if not query.rstrip().upper().endswith("VALUES"):
                raise NotImplementedError("only inserts take data here")
            head = query.rstrip()[: -len("VALUES")]
            data = "\n".join(orjson.dumps(list(row)).decode() for row in params)
            self.session.query(f"{head} FORMAT JSONCompactEachRow\n{data}")
            return []
        result = self.session.query(query, "JSONCompact")
        raw = result.bytes() if result is not None else b""
        if not raw:
            return []
        return [tuple(row) for row in orjson.loads(raw)["data"]]

    def close(self) -> None:
        self.session.close()


@pytest.fixture()
def chdb_executor(tmp_path: Path) -> Iterator[ChdbExecutor]:
    """A modern ClickHouse engine in process (chDB), on a fresh data directory."""
    executor = ChdbExecutor(tmp_path / "chdb")
    yield executor
    executor.close()
