"""Grafana's ClickHouse user reads `scoring` and nothing else, on both deployments.

Grafana does not check that panel SQL is harmless, so ClickHouse must: ``grafana_reader``
is read-only and limited to the database the dashboards query. The local stack (ClickHouse
18.16, ``users.xml`` written by ``scorestream.stack.clickhouse``) is tested on a private
server of this test, with the configuration the stack writes; the docker-compose users file
(ClickHouse 24.8, ``deploy/clickhouse/users.d``) is checked for the same grant.
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from scorestream.exceptions import StackError
from scorestream.grafana import panels
from scorestream.stack import ClickHouseServer, StackConfig
from scorestream.stack.process import port_open

REPO = Path(__file__).resolve().parents[2]
USERS_XML = REPO / "deploy" / "clickhouse" / "users.d" / "scorestream.xml"
DATASOURCE_YAML = REPO / "grafana" / "provisioning" / "datasources" / "clickhouse.yaml"


def _free_port(avoid: set[int]) -> int:
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(30_000, 45_000)
        near = {port, port + 9}  # the server also listens on port + 9 (interserver)
        if not near & avoid and not any(port_open(p) for p in near):
            return port
    raise RuntimeError("no free port")


@pytest.fixture(scope="module")
def private_clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    """A ClickHouse of this module alone, configured exactly as `scorestream stack up` does."""
    for attempt in range(3):
        # Other tests pick free ports at the same time: a port taken in between is retried.
        native = _free_port(set())
        http = _free_port({native, native + 9})
        config = StackConfig(
            state_dir=tmp_path_factory.mktemp("reader"),
            clickhouse_port=native,
            clickhouse_http_port=http,
        )
        server = ClickHouseServer(config)
        try:
            server.start()
            break
        except StackError:
            if attempt == 2:
                raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def admin(private_clickhouse: ClickHouseServer) -> Iterator[Any]:
    from clickhouse_driver import Client

    client = Client(host="127.0.0.1", port=private_clickhouse.port)
    for database in (panels.DATABASE, "other"):
        client.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
        client.execute(f"CREATE TABLE {database}.r (x UInt8) ENGINE = MergeTree ORDER BY x")
        client.execute(f"INSERT INTO {database}.r (x) VALUES", [(1,), (2,)])
    client.execute("CREATE TABLE default.r (x UInt8) ENGINE = MergeTree ORDER BY x")
    yield client
    client.disconnect()


@pytest.fixture()
def reader(private_clickhouse: ClickHouseServer, admin: Any) -> Iterator[Any]:
    from clickhouse_driver import Client

    dsn = private_clickhouse.reader_dsn()
    client = Client(
        host=dsn.host,
        port=dsn.port,
        user=dsn.user,
        password=dsn.password.get_secret_value(),
        database=dsn.database,
    )
    yield client
    client.disconnect()


@pytest.mark.integration
def test_local_reader_reads_scoring(reader: Any) -> None:
    assert reader.execute(f"SELECT sum(x) FROM {panels.DATABASE}.r") == [(3,)]
    # What the plugin's query builder lists (SHOW DATABASES / TABLES read system tables).
    databases = {row[0] for row in reader.execute("SELECT name FROM system.databases")}
    assert panels.DATABASE in databases
    tables = reader.execute(f"SELECT name FROM system.tables WHERE database = '{panels.DATABASE}'")
    assert ("r",) in tables


@pytest.mark.integration
@pytest.mark.parametrize("database", ["other", "default"])
def test_local_reader_cannot_read_other_databases(reader: Any, database: str) -> None:
    from clickhouse_driver.errors import ServerException

    with pytest.raises(ServerException, match=r"(?i)access|not allowed|denied"):
        reader.execute(f"SELECT count() FROM {database}.r")


@pytest.mark.integration
def test_local_reader_cannot_write(reader: Any, admin: Any) -> None:
    from clickhouse_driver.errors import ServerException

    with pytest.raises(ServerException):
        reader.execute(f"INSERT INTO {panels.DATABASE}.r (x) VALUES", [(3,)])
    with pytest.raises(ServerException):
        reader.execute(f"DROP TABLE {panels.DATABASE}.r")
    assert admin.execute(f"SELECT count() FROM {panels.DATABASE}.r") == [(2,)]


def test_local_reader_is_limited_to_the_datasources_database(tmp_path: Path) -> None:
    # Without a server: the users.xml the stack writes names only the dashboards' database.
    server = ClickHouseServer(StackConfig(state_dir=tmp_path))
    server.prepare()
    users = ET.parse(server.home / "users.xml").getroot()
    reader = users.find("users/grafana_reader")
    assert reader is not None
    allowed = [d.text for d in reader.findall("allow_databases/database")]
    datasource = yaml.safe_load(DATASOURCE_YAML.read_text())["datasources"][0]
    assert allowed == [panels.DATABASE] == [datasource["jsonData"]["defaultDatabase"]]
    profile = users.find(f"profiles/{reader.findtext('profile')}")
    assert profile is not None and profile.findtext("readonly") == "1"


def test_compose_reader_is_granted_select_on_scoring_only() -> None:
    users = ET.parse(USERS_XML).getroot()
    reader = users.find("users/grafana_reader")
    assert reader is not None
    # grants replace the default "everything" of a users.xml user; on 24.8 they cannot be
    # combined with allow_databases, so the grant is the whole restriction.
    grants = [" ".join((q.text or "").split()) for q in reader.findall("grants/query")]
    assert grants == [f"GRANT SELECT ON {panels.DATABASE}.*"]
    assert reader.find("allow_databases") is None and reader.find("access_management") is None
    profile = users.find(f"profiles/{reader.findtext('profile')}")
    assert profile is not None and profile.findtext("readonly") == "1"
