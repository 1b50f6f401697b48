"""A ClickHouse server with a project-local configuration, never the system service.

Uses ``clickhouse-server`` (or the single ``clickhouse`` binary) on PATH; on Debian, as
root, installs Debian's package (18.16) when neither is there. The configuration uses the
``<yandex>`` root element, which both 18.16 and 24.x accept.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from xml.sax.saxutils import escape

from scorestream.settings import ClickHouseDsn
from scorestream.stack.service import Service, require_tool

READER_USER = "grafana_reader"


class ClickHouseServer(Service):
    """ClickHouse on 127.0.0.1 with its data, logs and users under the state directory."""

    name = "clickhouse"

    @property
    def port(self) -> int:
        return self.config.clickhouse_port

    def _binary(self) -> list[str]:
        single = shutil.which("clickhouse")
        if single and not shutil.which("clickhouse-server"):
            return [single, "server"]
        hint = (
            "Install ClickHouse: put the official `clickhouse` binary on PATH, or on Debian "
            "run `apt-get install clickhouse-server` (as root `scorestream stack up` does it)."
        )
        return [require_tool("clickhouse-server", "clickhouse-server", hint)]

    def install(self) -> None:
        self._binary()

    def prepare(self) -> None:
        for sub in ("data", "tmp", "user_files", "format_schemas", "log"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        cfg = self.config
        (self.home / "config.xml").write_text(f"""<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>{self.home}/log/clickhouse-server.log</log>
        <errorlog>{self.home}/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>{cfg.clickhouse_port}</tcp_port>
    <http_port>{cfg.clickhouse_http_port}</http_port>
    <interserver_http_port>{cfg.clickhouse_port + 9}</interserver_http_port>
    <max_connections>512</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>{self.home}/data/</path>
    <tmp_path>{self.home}/tmp/</tmp_path>
    <user_files_path>{self.home}/user_files/</user_files_path>
    <format_schema_path>{self.home}/format_schemas/</format_schema_path>
    <users_config>{self.home}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
</yandex>
""")  # noqa: S108 - paths under our state dir, not /tmp
        password_hash = hashlib.sha256(cfg.grafana_reader_password.encode()).hexdigest()
        # grafana_reader (Grafana's user): read-only, and only the dashboards' database, as
        # on the compose deployment (GRANT SELECT ON scoring.*). ClickHouse 18.16 knows no
        # GRANT; allow_databases is its form of that limit (system stays readable, which the
        # plugin's query builder needs for SHOW DATABASES / TABLES).
        (self.home / "users.xml").write_text(f"""<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <load_balancing>random</load_balancing>
        </default>
        <readonly>
            <readonly>1</readonly>
            <max_memory_usage>2000000000</max_memory_usage>
        </readonly>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <{READER_USER}>
            <password_sha256_hex>{escape(password_hash)}</password_sha256_hex>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>readonly</profile>
            <quota>default</quota>
            <allow_databases>
                <database>{escape(cfg.grafana_reader_database)}</database>
            </allow_databases>
        </{READER_USER}>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
""")

    def command(self) -> tuple[list[str], dict[str, str] | None]:
        return [*self._binary(), f"--config-file={self.home / 'config.xml'}"], None

    def probe(self) -> str:
        from clickhouse_driver import Client

        # Refused connections are the expected answer while the server starts: the
        # driver's tracebacks of them would fill `stack up`'s output.
        logging.getLogger("clickhouse_driver.connection").setLevel(logging.CRITICAL)
        client = Client(host="127.0.0.1", port=self.port, connect_timeout=2, send_receive_timeout=5)
        try:
            return str(client.execute("SELECT version()")[0][0])
        finally:
            client.disconnect()

    @property
    def database(self) -> str:
        """The database of the ``CLICKHOUSE_URL`` that :meth:`env` gives: the dashboards'."""
        return self.config.grafana_reader_database

    def env(self) -> dict[str, str]:
        return {"CLICKHOUSE_URL": f"clickhouse://default:@127.0.0.1:{self.port}/{self.database}"}

    def create_database(self, name: str | None = None) -> str:
        """Create ``name`` (default :attr:`database`) unless it exists; return the name.

        ``stack up`` calls it so that the URL it prints works before any scorestream
        process has run its migrations (``clickhouse-client --database``, Grafana).
        """
        from clickhouse_driver import Client

        from scorestream.contract.tables import check_identifier

        database = check_identifier(name or self.database)
        client = Client(
            host="127.0.0.1", port=self.port, connect_timeout=2, send_receive_timeout=10
        )
        try:
            client.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
        finally:
            client.disconnect()
        return database

    def reader_dsn(self) -> ClickHouseDsn:
        from pydantic import SecretStr

        return ClickHouseDsn(
            host="127.0.0.1",
            port=self.port,
            user=READER_USER,
            password=SecretStr(self.config.grafana_reader_password),
            database=self.config.grafana_reader_database,
        )
