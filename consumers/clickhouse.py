"""ClickHouse access for the consumers: a client factory and the schema migration runner.

Only identifiers are ever put into SQL text, and only after :func:`check_identifier`;
values travel as query parameters or as insert data.

Migrations are the ``consumers/migrations/NNNN_name.sql`` files, applied in file-name
order and recorded in ``<database>.schema_migrations``. A file may hold several
statements, each ending with ``;`` at the end of a line; ``{database}`` stands for the
database identifier. A header line ``-- requires-server: 22.8`` marks a migration that
only modern servers can run: on older ones it is recorded as ``skipped`` and tried again
on every start, so it is applied once the server is upgraded.

With a cluster (``CLICKHOUSE_CLUSTER``, :attr:`ClickHouseDsn.cluster`) every statement,
the runner's own included, runs in its ``ON CLUSTER`` form (``consumers/cluster_schema.py``):
replicated tables behind Distributed tables of the public names.

ClickHouse has no transactional DDL and no locks, so migrations must be idempotent
statements (``CREATE ... IF NOT EXISTS``, ``ALTER ... MODIFY SETTING``): several sinks
starting at once may run the same migration, and that must be harmless. ClickHouse 18.16
has no ``ADD COLUMN IF NOT EXISTS``, so a plain ``ADD COLUMN`` whose column a concurrent
runner already added counts as done too.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from scorestream.contract.tables import check_identifier
from scorestream.exceptions import MigrationError

if TYPE_CHECKING:
    from clickhouse_driver import Client

    from scorestream.settings import ClickHouseDsn

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
MIGRATIONS_TABLE = "schema_migrations"
_FILE_NAME = re.compile(r"^(\d+)_([A-Za-z0-9_]+)\.sql$")
_REQUIRES = re.compile(r"^--\s*requires-server:\s*(\d+(?:\.\d+)*)\s*$", re.IGNORECASE)
# Error codes that mean "someone else just did it" when concurrent sinks run the same DDL.
_ALREADY_EXISTS = {57, 82}  # TABLE_ALREADY_EXISTS, DATABASE_ALREADY_EXISTS
# DUPLICATE_COLUMN; 18.16 reports a duplicate column as ILLEGAL_COLUMN, told apart from
# other illegal columns by its message.
_COLUMN_EXISTS = {15, 44}
# NOT_IMPLEMENTED: 18.16 cannot queue some ALTERs ON CLUSTER (MODIFY ORDER BY).
_NOT_IMPLEMENTED = 48

# The bookkeeping table itself is created by the runner, before any migration is read.
# ReplacingMergeTree folds the duplicate rows that concurrent runners may write.
_MIGRATIONS_DDL = """
CREATE TABLE IF NOT EXISTS {database}.schema_migrations
(
    version String,
    name String,
    status String,
    checksum String,
    server_version String,
    applied_at DateTime
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY (version, status)
"""


class Executor(Protocol):
    """What the migration runner needs of a client: clickhouse-driver's ``execute``."""

    def execute(self, query: str, params: Any = None) -> Any: ...


def make_client(
    dsn: ClickHouseDsn,
    *,
    use_database: bool = False,
    settings: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Client:
    """A clickhouse-driver client for ``dsn``.

    The client connects to the ``default`` database unless ``use_database``: the sink
    qualifies every table with the database name, and the database may not exist yet
    when it connects for the first time. On a cluster (``dsn.cluster``) an insert into a
    Distributed table returns once the shard's replica has stored it
    (``insert_distributed_sync``), not when it is queued on the server the client talks
    to: an acknowledged write is stored, and the sink commits offsets only after it.
    """
    from clickhouse_driver import Client

    if dsn.cluster:
        # A subquery over a Distributed table inside a query over another (the labels
        # check, the performance queries) runs once and is sent to every shard: right
        # whatever the sharding keys (the default refuses it on more than one shard).
        settings = {
            "insert_distributed_sync": 1,
            "distributed_product_mode": "global",
            **(settings or {}),
        }
    options: dict[str, Any] = {
        "connect_timeout": 5,
        # Inserts of a batch take well under a second; a server that does not answer
        # within a minute is treated as down (the sink retries).
        "send_receive_timeout": 60,
        "sync_request_timeout": 5,
        **kwargs,
    }
    return Client(
        host=dsn.host,
        port=dsn.port,
        user=dsn.user,
        password=dsn.password.get_secret_value(),
        database=check_identifier(dsn.database) if use_database else "default",
        secure=dsn.secure,
        settings=settings or {},
        **options,
    )


def server_version(client: Executor) -> tuple[int, ...]:
    """The server's version as a tuple of ints, e.g. ``(18, 16, 1)``."""
    return parse_version(str(client.execute("SELECT version()")[0][0]))


def parse_version(text: str) -> tuple[int, ...]:
    """``"24.8.4.13"`` -> ``(24, 8, 4, 13)``; stops at the first non-numeric part.

    >>> parse_version("18.16.1")
    (18, 16, 1)
    >>> parse_version("24.8.4.13-lts")
    (24, 8, 4)
    """
    parts: list[int] = []
    for piece in text.strip().split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: str
    name: str
    path: Path
    requires: tuple[int, ...] | None

    @property
    def label(self) -> str:
        return f"{self.version}_{self.name}"

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def statements(self, database: str) -> list[str]:
        """The file's statements with ``{database}`` replaced by the (checked) identifier."""
        # str.replace, not str.format: SQL may contain braces of its own.
        sql = self.text.replace("{database}", check_identifier(database))
        return split_statements(sql)


def split_statements(sql: str) -> list[str]:
    """Split on ``;`` at the end of a line; drop comment-only and empty pieces.

    >>> split_statements("-- a\\nSELECT 1;\\nSELECT ';'\\n;\\n-- end")
    ['-- a\\nSELECT 1', "SELECT ';'"]
    """
    statements: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        if line.rstrip().endswith(";"):
            current.append(line.rstrip()[:-1])
            statements.append("\n".join(current))
            current = []
        else:
            current.append(line)
    statements.append("\n".join(current))
    return [s.strip() for s in statements if _has_code(s)]


def _has_code(statement: str) -> bool:
    return any(
        line.strip() and not line.strip().startswith("--") for line in statement.splitlines()
    )


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files of ``directory`` in order; raises on a malformed name."""
    migrations: list[Migration] = []
    seen: dict[str, Path] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"migration file name must be NNNN_name.sql: {path.name}")
        version, name = match.groups()
        if version in seen:
            raise MigrationError(
                f"two migrations numbered {version}: {seen[version].name}, {path.name}"
            )
        seen[version] = path
        requires = None
        for line in path.read_text(encoding="utf-8").splitlines():
            found = _REQUIRES.match(line.strip())
            if found:
                requires = parse_version(found.group(1))
                break
        migrations.append(Migration(version, name, path, requires))
    return migrations


def apply_migrations(
    client: Executor,
    database: str,
    directory: Path = MIGRATIONS_DIR,
    *,
    cluster: str | None = None,
) -> list[str]:
    """Create ``database`` if missing and apply the pending migrations in order.

    Returns the labels (``0001_scores``) of the migrations applied by this call; skipped
    ones (server too old) are not in the list. Idempotent, and safe when several
    processes run it at once (see the module docstring). With ``cluster`` the tables are
    replicated ``ON CLUSTER`` behind Distributed tables (``consumers/cluster_schema.py``).

    Raises
    ------
    MigrationError
        A statement failed on the server (the message names the file).
    """
    from clickhouse_driver.errors import ServerException

    db = check_identifier(database)
    migrations = load_migrations(directory)
    version = server_version(client)
    version_text = ".".join(map(str, version))
    keys = {}
    if cluster:
        from scorestream.consumers.cluster_schema import sharding_keys

        keys = sharding_keys([_MIGRATIONS_DDL, *(s for m in migrations for s in m.statements(db))])
    run = _Runner(client, cluster, keys, ServerException)
    run(f"CREATE DATABASE IF NOT EXISTS {db}")
    run(_MIGRATIONS_DDL.replace("{database}", db))
    # Only checked identifiers are formatted in; there are no values.
    recorded = client.execute(
        f"SELECT version, status, checksum FROM {db}.{MIGRATIONS_TABLE}"  # noqa: S608
    )
    applied = {row[0]: row[2] for row in recorded if row[1] == "applied"}
    skipped = {row[0] for row in recorded if row[1] == "skipped"}

    done: list[str] = []
    for migration in migrations:
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                log.warning(
                    "migration %s changed after it was applied; edits to applied "
                    "migrations are not re-run, add a new migration instead",
                    migration.label,
                )
            continue
        if migration.requires is not None and version < migration.requires:
            if migration.version not in skipped:
                log.info(
                    "migration %s skipped: needs ClickHouse %s, server is %s",
                    migration.label,
                    ".".join(map(str, migration.requires)),
                    version_text,
                )
                _record(client, db, migration, "skipped", version_text)
            continue
        for statement in migration.statements(db):
            try:
                run(statement)
            except ServerException as exc:
                raise MigrationError(
                    f"migration {migration.label} failed on ClickHouse "
                    f"{version_text}: {exc.message}"
                ) from exc
        _record(client, db, migration, "applied", version_text)
        log.info("migration %s applied", migration.label)
        done.append(migration.label)
    return done


class _Runner:
    """Runs a migration statement on one server, or in its cluster form on a cluster."""

    def __init__(
        self,
        client: Executor,
        cluster: str | None,
        keys: dict[str, str],
        server_exception: type[Exception],
    ) -> None:
        self.client = client
        self.cluster = check_identifier(cluster) if cluster else None
        self.keys = keys
        self.server_exception = server_exception
        self._shard_count: int | None = None

    def __call__(self, statement: str) -> None:
        if self.cluster is None:
            _run(self.client, statement, self.server_exception)
            return
        from scorestream.consumers.cluster_schema import cluster_statements

        for step in cluster_statements(statement, self.cluster, self.keys):
            if step.creates is not None and self._exists(*step.creates):
                continue
            # A replicated ALTER on a one-shard cluster runs on the connected replica, never
            # through the DDL queue: 18.16's DDLWorker can run a replicated ALTER on both
            # replicas of a shard; the second fails ("column already exists"), its status
            # is never written, and the queue stalls every ON CLUSTER statement after it
            # (seen in the fault suite's set-up in two of about eight runs).
            if step.single_shard_fallback and self._shards() == 1:
                _run(self.client, step.single_shard_fallback, self.server_exception)
                continue
            try:
                _run(self.client, step.sql, self.server_exception)
            except self.server_exception as exc:
                if getattr(exc, "code", None) != _NOT_IMPLEMENTED or not step.single_shard_fallback:
                    raise
                raise MigrationError(
                    f"the server cannot run this ON CLUSTER and cluster {self.cluster} has "
                    f"{self._shards()} shards: run it without ON CLUSTER on one replica of "
                    f"each shard, then start again: {step.sql.splitlines()[0][:200]}"
                ) from exc

    def _shards(self) -> int:
        # An ALTER of a replicated table on one replica is replicated to the others of its
        # shard through ZooKeeper: on a one-shard cluster that is every server.
        if self._shard_count is None:
            rows = self.client.execute(
                "SELECT uniqExact(shard_num) FROM system.clusters WHERE cluster = %(cluster)s",
                {"cluster": self.cluster},
            )
            self._shard_count = int(rows[0][0])
        return self._shard_count

    def _exists(self, database: str, table: str | None) -> bool:
        if table is None:
            query = "SELECT count() FROM system.databases WHERE name = %(database)s"
        else:
            query = (
                "SELECT count() FROM system.tables "
                "WHERE database = %(database)s AND name = %(table)s"
            )
        rows = self.client.execute(query, {"database": database, "table": table})
        return bool(rows[0][0])


def _run(client: Executor, statement: str, server_exception: type[Exception]) -> None:
    try:
        client.execute(statement)
    except server_exception as exc:
        # A concurrent runner created the object between IF NOT EXISTS and CREATE, or
        # added the column first.
        code = getattr(exc, "code", None)
        duplicate_column = code in _COLUMN_EXISTS and "already exists" in str(exc)
        if code not in _ALREADY_EXISTS and not duplicate_column:
            raise


def _record(
    client: Executor, database: str, migration: Migration, status: str, version_text: str
) -> None:
    row: Sequence[Any] = (
        migration.version,
        migration.name,
        status,
        migration.checksum,
        version_text,
        int(time.time()),
    )
    client.execute(
        f"INSERT INTO {database}.{MIGRATIONS_TABLE} "
        "(version, name, status, checksum, server_version, applied_at) VALUES",
        [row],
    )


def applied_migrations(client: Executor, database: str) -> dict[str, str]:
    """``{version: status}`` as recorded; ``applied`` wins over ``skipped``."""
    db = check_identifier(database)
    rows = client.execute(f"SELECT version, status FROM {db}.{MIGRATIONS_TABLE}")  # noqa: S608
    result: dict[str, str] = {}
    for version, status in rows:
        if result.get(version) != "applied":
            result[version] = status
    return result
