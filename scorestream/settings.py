"""One settings object for every component, read from the environment.

Secrets are :class:`pydantic.SecretStr` so that they never appear in ``repr``, logs or
tracebacks; call ``get_secret_value()`` only at the point of use.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from scorestream.exceptions import ConfigurationError

if TYPE_CHECKING:
    from scorestream.contract.thresholds import Thresholds

#: The variable naming a thresholds file (``scorestream/contract/thresholds.py``).
THRESHOLDS_VARIABLE = "SCORESTREAM_THRESHOLDS"


class ClickHouseDsn(BaseModel):
    """The parts of ``CLICKHOUSE_URL`` that clickhouse-driver takes as arguments."""

    model_config = ConfigDict(frozen=True)

    host: str
    port: int
    user: str
    password: SecretStr
    database: str
    secure: bool = False
    #: CLICKHOUSE_CLUSTER: the cluster of the schema's ``ON CLUSTER`` DDL and Distributed
    #: tables (``consumers/cluster_schema.py``); None: one server, plain tables.
    cluster: str | None = None

    @classmethod
    def parse(cls, url: str) -> ClickHouseDsn:
        """The parts of ``url``; messages never repeat it, as it may hold a password.

        Raises
        ------
        ConfigurationError
            If the scheme is not clickhouse:// or clickhouses://, or the port is not a number.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("clickhouse", "clickhouses"):
            raise ConfigurationError(
                f"CLICKHOUSE_URL must start with clickhouse://, got {parts.scheme or '(none)'}://"
            )
        try:
            port = parts.port
        except ValueError:
            raise ConfigurationError("CLICKHOUSE_URL has a port that is not a number") from None
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=port or 9000,
            user=unquote(parts.username or "default"),
            password=SecretStr(unquote(parts.password or "")),
            database=parts.path.lstrip("/") or "scoring",
            secure=parts.scheme == "clickhouses",
        )


def check_bootstrap_servers(servers: str) -> None:
    """Raise :class:`ConfigurationError` unless ``servers`` is ``host[:port],...``.

    A host without a port is allowed (the Kafka clients use 9092), so is ``[ipv6]:port``.

    >>> check_bootstrap_servers("kafka-1:9092,kafka-2")
    >>> check_bootstrap_servers("kafka://kafka-1:9092")
    Traceback (most recent call last):
    ...
    scorestream.exceptions.ConfigurationError: KAFKA_BOOTSTRAP_SERVERS takes host:port ...
    """
    for entry in servers.split(","):
        server = entry.strip()
        if not server or any(char.isspace() for char in server):
            raise ConfigurationError(
                f"KAFKA_BOOTSTRAP_SERVERS must be host:port pairs separated by commas, "
                f"got {servers!r}"
            )
        if "://" in server:
            raise ConfigurationError(
                f"KAFKA_BOOTSTRAP_SERVERS takes host:port without a scheme, got {server!r}"
            )
        if server.startswith("["):  # [IPv6]:port
            host, _, rest = server[1:].partition("]")
            colon, port = rest[:1], rest[1:]
            valid_separator = not rest or colon == ":"
        elif server.count(":") > 1:  # a bare IPv6 address: the client decides
            continue
        else:
            host, colon, port = server.partition(":")
            valid_separator = True
        if not (host and valid_separator) or (
            colon and not (port.isdigit() and 0 < int(port) < 65536)
        ):
            raise ConfigurationError(
                f"KAFKA_BOOTSTRAP_SERVERS entry {server!r} is not host:port "
                "(port a number from 1 to 65535)"
            )


class Topics(BaseModel):
    """Topic names of the public contract, optionally under a prefix (tests, tenants)."""

    model_config = ConfigDict(frozen=True)

    prefix: str = ""

    @property
    def records(self) -> str:
        return f"{self.prefix}records"

    @property
    def scores(self) -> str:
        return f"{self.prefix}scores"

    @property
    def challenger_scores(self) -> str:
        """Challengers' scores: never read by consumers of ``scores`` unless they ask."""
        return f"{self.prefix}scores.challenger"

    @property
    def rejected(self) -> str:
        return f"{self.prefix}records.rejected"

    @property
    def drift_stats(self) -> str:
        return f"{self.prefix}drift.stats"

    @property
    def drift_alerts(self) -> str:
        return f"{self.prefix}drift.alerts"

    @property
    def labels(self) -> str:
        """True labels of scored records, late and in any order (any producer)."""
        return f"{self.prefix}labels"

    def all(self) -> list[str]:
        return [
            self.records,
            self.scores,
            self.challenger_scores,
            self.rejected,
            self.drift_stats,
            self.drift_alerts,
            self.labels,
        ]


class Settings(BaseSettings):
    """Configuration of every scorestream process (environment variables, see README)."""

    model_config = SettingsConfigDict(
        frozen=True, extra="ignore", env_file=None, populate_by_name=True
    )

    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    clickhouse_url: SecretStr = SecretStr("clickhouse://default:@127.0.0.1:19000/scoring")
    #: A ClickHouse cluster (remote_servers name): replicated tables behind Distributed ones.
    clickhouse_cluster: str | None = None
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 18025
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    alert_email_from: str = "scorestream@localhost"
    alert_email_to: str = "analytics@localhost"
    model_dir: Path = Path("models/current")
    #: The model registry (``scorestream models``): ``<name>/<version>/`` and aliases.
    models_dir: Path = Path("models")
    #: What the worker scores with: ``name[@alias|@version]`` in MODELS_DIR,
    #: ``models:/name@alias`` in MLflow, or a model directory; empty: MODEL_DIR.
    model: str = ""
    #: The MLflow tracking server of ``models:/`` references (optional extra).
    mlflow_tracking_uri: str | None = None
    drift_check_schedule: str = "15 0 * * *"
    #: Features still checked and shown on the dashboards but not e-mailed when they drift:
    #: comma-separated ``feature`` (every model) or ``model:feature`` (one model).
    drift_muted_features: str = ""
    #: A TOML file of drift and performance thresholds; unset: the defaults.
    # THRESHOLDS_VARIABLE, spelt out: type checkers want a literal alias.
    thresholds_file: Path | None = Field(default=None, alias="SCORESTREAM_THRESHOLDS")
    #: Where the services call Grafana (annotations API), e.g. http://grafana:3000.
    grafana_url: str | None = None
    #: Where a reader opens Grafana (the e-mail's dashboard link); GRAFANA_URL when unset.
    grafana_public_url: str | None = None
    grafana_token: SecretStr | None = None
    ingest_api_keys: SecretStr = SecretStr("")
    topic_prefix: str = Field(default="", alias="SCORESTREAM_TOPIC_PREFIX")
    topic_partitions: int = Field(default=4, alias="SCORESTREAM_TOPIC_PARTITIONS")
    #: None: min(3, the brokers of the cluster), min.insync.replicas one less (at most 2).
    topic_replication: int | None = Field(default=None, ge=1, alias="SCORESTREAM_TOPIC_REPLICATION")
    #: Where the worker and the sink serve /metrics, /healthz and /readyz
    #: (scorestream.observability); a port of 0 serves nothing. The bridge serves its own.
    metrics_host: str = Field(default="127.0.0.1", alias="SCORESTREAM_METRICS_HOST")
    worker_metrics_port: int = Field(
        default=8001, ge=0, le=65535, alias="SCORESTREAM_WORKER_METRICS_PORT"
    )
    sink_metrics_port: int = Field(
        default=8002, ge=0, le=65535, alias="SCORESTREAM_SINK_METRICS_PORT"
    )
    #: /readyz fails when records wait and none was processed for this long (seconds).
    ready_stall_s: float = Field(default=30.0, gt=0, alias="SCORESTREAM_READY_STALL_S")
    #: /healthz fails when the event loop has not run for this long (seconds).
    live_timeout_s: float = Field(default=60.0, gt=0, alias="SCORESTREAM_LIVE_TIMEOUT_S")

    # Both addresses are checked when the settings are read, so that a typo is reported at
    # start-up instead of as a connection failure (or a hang) later.
    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _check_bootstrap_servers(cls, value: str) -> str:
        check_bootstrap_servers(value)
        return value

    # The services often reach Grafana by a name only they resolve (http://grafana:3000);
    # the e-mail's link must be an address the reader's browser reaches, so it has its own
    # setting, which falls back to the one address when a deployment has only one.
    @model_validator(mode="before")
    @classmethod
    def _public_url_defaults_to_grafana_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("grafana_public_url"):
            return {**data, "grafana_public_url": data.get("grafana_url")}
        return data

    @field_validator("clickhouse_url")
    @classmethod
    def _check_clickhouse_url(cls, value: SecretStr) -> SecretStr:
        ClickHouseDsn.parse(value.get_secret_value())
        return value

    # It goes into DDL (ON CLUSTER, Distributed(...)): a plain identifier; empty means none.
    @field_validator("clickhouse_cluster")
    @classmethod
    def _check_clickhouse_cluster(cls, value: str | None) -> str | None:
        if not value:
            return None
        from scorestream.contract.tables import check_identifier

        try:
            return check_identifier(value)
        except ValueError:
            raise ConfigurationError(
                f"CLICKHOUSE_CLUSTER must be a plain identifier (a remote_servers name), "
                f"got {value!r}"
            ) from None

    # Read when the settings are, so that a mistake in the file stops the process at start.
    @field_validator("thresholds_file", mode="before")
    @classmethod
    def _check_thresholds_file(cls, value: Any) -> Any:
        if value is None or str(value) == "":
            return None
        from scorestream.contract.thresholds import load_thresholds

        load_thresholds(value)
        return value

    @cached_property
    def thresholds(self) -> Thresholds:
        """The drift and performance thresholds in force (the file's, over the defaults)."""
        from scorestream.contract.thresholds import load_thresholds

        return load_thresholds(self.thresholds_file)

    @cached_property
    def clickhouse(self) -> ClickHouseDsn:
        dsn = ClickHouseDsn.parse(self.clickhouse_url.get_secret_value())
        return dsn.model_copy(update={"cluster": self.clickhouse_cluster})

    @cached_property
    def topics(self) -> Topics:
        return Topics(prefix=self.topic_prefix)

    def muted_features(self, model_name: str) -> frozenset[str]:
        """The features of ``model_name`` whose drift is not e-mailed (DRIFT_MUTED_FEATURES).

        >>> muted = Settings(drift_muted_features="income, loans:region, cancer:x")
        >>> sorted(muted.muted_features("loans"))
        ['income', 'region']
        """
        muted = set()
        for entry in (part.strip() for part in self.drift_muted_features.split(",")):
            model, _, feature = entry.rpartition(":")
            if feature and model in ("", model_name):
                muted.add(feature)
        return frozenset(muted)

    def environment(self) -> dict[str, str]:
        """The environment variables that give a child process these settings."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "CLICKHOUSE_URL": self.clickhouse_url.get_secret_value(),
            "SMTP_HOST": self.smtp_host,
            "SMTP_PORT": str(self.smtp_port),
            "ALERT_EMAIL_FROM": self.alert_email_from,
            "ALERT_EMAIL_TO": self.alert_email_to,
            "MODEL_DIR": str(self.model_dir),
            "MODELS_DIR": str(self.models_dir),
            "MODEL": self.model,
            **(
                {"MLFLOW_TRACKING_URI": self.mlflow_tracking_uri}
                if self.mlflow_tracking_uri
                else {}
            ),
            **({"CLICKHOUSE_CLUSTER": self.clickhouse_cluster} if self.clickhouse_cluster else {}),
            "SCORESTREAM_TOPIC_PREFIX": self.topic_prefix,
            "SCORESTREAM_METRICS_HOST": self.metrics_host,
            "SCORESTREAM_WORKER_METRICS_PORT": str(self.worker_metrics_port),
            "SCORESTREAM_SINK_METRICS_PORT": str(self.sink_metrics_port),
            "SCORESTREAM_READY_STALL_S": str(self.ready_stall_s),
            "SCORESTREAM_LIVE_TIMEOUT_S": str(self.live_timeout_s),
        }

    def api_keys(self) -> list[str]:
        raw = self.ingest_api_keys.get_secret_value()
        return [key.strip() for key in raw.split(",") if key.strip()]
