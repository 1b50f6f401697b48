"""The schema on a ClickHouse cluster: each migration statement as its ``ON CLUSTER`` form.

With ``CLICKHOUSE_CLUSTER=<name>`` the migration runner (``consumers/clickhouse.py``) runs
every statement of ``consumers/migrations/`` through :func:`cluster_statements`, so that
one set of migration files serves one server and a cluster alike:

- ``CREATE TABLE db.t (...) ENGINE = XMergeTree(args) ...`` becomes
  ``db.t_local ON CLUSTER name`` with ``ENGINE = ReplicatedXMergeTree(
  '/clickhouse/tables/{shard}/db/t', '{replica}', args)`` (same engine family, same
  sorting key), plus ``db.t ON CLUSTER name AS db.t_local ENGINE = Distributed(name, db,
  t_local, <sharding key>)`` under the public name: the sink writes, the check and the
  dashboards read through it, unchanged.
- The sharding key is ``cityHash64(id)`` when ``id`` is part of the sorting key, else the
  hash of the whole sorting key: every row a ReplacingMergeTree must fold lands on one
  shard, so ``FINAL`` (applied per shard by a Distributed table) still folds replays.
- ``ALTER TABLE db.t ...`` alters ``db.t_local ON CLUSTER`` (a replicated ALTER); when it
  changes columns, the Distributed ``db.t`` is rebuilt over it and swapped in by one
  ``RENAME`` (18.16 refuses ALTER ON CLUSTER of a Distributed table; see
  :func:`cluster_statements`).
- ``CREATE DATABASE`` gets ``ON CLUSTER``.

Anything else is refused (:class:`MigrationError`) rather than run on one server only.
``{shard}`` and ``{replica}`` are each server's ``macros`` (see
``scorestream/stack/clickhouse_cluster.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from scorestream.contract.tables import check_identifier
from scorestream.exceptions import MigrationError

#: The suffix of the replicated table behind each Distributed table.
LOCAL_SUFFIX = "_local"
#: Where each replicated table keeps its replication log (``{shard}``: the server's macro).
ZOOKEEPER_PATH = "/clickhouse/tables/{{shard}}/{database}/{table}"

_COMMENT = re.compile(r"^\s*--.*$", re.MULTILINE)
_CREATE_DATABASE = re.compile(
    r"^CREATE\s+DATABASE\s+IF\s+NOT\s+EXISTS\s+(?P<db>\w+)\s*$", re.IGNORECASE
)
_CREATE_TABLE = re.compile(
    r"^CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+(?P<db>\w+)\.(?P<table>\w+)\s*"
    r"\((?P<columns>.*)\)\s*ENGINE\s*=\s*(?P<engine>\w*MergeTree)\s*"
    r"(?:\((?P<args>[^()]*)\))?(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_ALTER_TABLE = re.compile(
    r"^ALTER\s+TABLE\s+(?P<db>\w+)\.(?P<table>\w+)\s+(?P<commands>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_ORDER_BY = re.compile(r"\bORDER\s+BY\s+(?:\((?P<list>[^()]*)\)|(?P<one>\w+))", re.IGNORECASE)
_COLUMN_COMMAND = re.compile(r"^(ADD|DROP|MODIFY|COMMENT)\s+COLUMN\b", re.IGNORECASE)


@dataclass(frozen=True)
class ClusterStatement:
    """One statement to run, and the object it creates (``database``, ``table`` or None).

    The runner skips a ``CREATE ... IF NOT EXISTS`` whose object exists on the server it
    is connected to (there it would do nothing): an ``ON CLUSTER`` statement waits for
    every replica, and the bootstrap (the database, ``schema_migrations``) runs at every
    start, also while a replica is down.
    """

    sql: str
    creates: tuple[str, str | None] | None = None
    #: What to run instead when the server cannot queue ``sql`` ON CLUSTER (18.16 cannot
    #: queue ``MODIFY ORDER BY``): the same ALTER on the connected replica, which
    #: replication applies on the other replicas of its shard (see the runner).
    single_shard_fallback: str | None = None


def local_name(table: str) -> str:
    """The replicated table behind the Distributed table ``table``.

    >>> local_name("scores")
    'scores_local'
    """
    return f"{check_identifier(table)}{LOCAL_SUFFIX}"


def sharding_key(rest: str) -> str:
    """``cityHash64(id)`` if the sorting key holds ``id``, else the hash of the whole key.

    >>> sharding_key("PARTITION BY toYYYYMMDD(event_time) ORDER BY (event_time, id)")
    'cityHash64(id)'
    >>> sharding_key("ORDER BY (check_kind, period_start, feature)")
    'cityHash64(check_kind, period_start, feature)'
    >>> sharding_key("ORDER BY alert_id")
    'cityHash64(alert_id)'
    """
    found = _ORDER_BY.search(rest)
    if found is None:
        raise MigrationError(f"no ORDER BY to shard by in: {rest.strip()[:200]}")
    columns = [c.strip() for c in (found.group("list") or found.group("one")).split(",")]
    for column in columns:
        check_identifier(column)
    return "cityHash64(id)" if "id" in columns else f"cityHash64({', '.join(columns)})"


def split_commands(commands: str) -> list[str]:
    """The commands of an ALTER, split at the commas outside parentheses and quotes.

    >>> split_commands("ADD COLUMN a Array(String), MODIFY ORDER BY (x, a)")
    ['ADD COLUMN a Array(String)', 'MODIFY ORDER BY (x, a)']
    >>> split_commands("ADD COLUMN b String DEFAULT 'x,y'")
    ["ADD COLUMN b String DEFAULT 'x,y'"]
    """
    parts: list[str] = []
    depth = 0
    quoted = False
    current: list[str] = []
    for char in commands:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def sharding_keys(statements: Iterable[str]) -> dict[str, str]:
    """``{table: sharding key}`` of the ``CREATE TABLE`` statements among ``statements``.

    An ALTER recreates a table's Distributed table with the key its CREATE gave it; a
    later ``MODIFY ORDER BY`` only appends columns, so that key stays a part of the
    sorting key.

    >>> sharding_keys(["CREATE TABLE IF NOT EXISTS db.t (id String) ENGINE = MergeTree "
    ...                "ORDER BY id", "ALTER TABLE db.t ADD COLUMN x String"])
    {'t': 'cityHash64(id)'}
    """
    keys: dict[str, str] = {}
    for statement in statements:
        found = _CREATE_TABLE.match(_COMMENT.sub("", statement).strip())
        if found:
            keys[found["table"]] = sharding_key(found["rest"])
    return keys


def cluster_statements(
    statement: str, cluster: str, keys: Mapping[str, str] | None = None
) -> list[ClusterStatement]:
    """The statements that do on ``cluster`` what ``statement`` does on one server.

    ``keys`` are the tables' sharding keys (:func:`sharding_keys`), needed by an ALTER
    that changes columns: ClickHouse 18.16 refuses ``ALTER ... ON CLUSTER`` of a
    Distributed table when the cluster's shards replicate internally ("isn't replicated,
    but shard is replicated"), so the Distributed table is rebuilt over the altered local
    table and swapped in under its name by one ``RENAME`` (it holds no data: inserts
    through it are synchronous).

    >>> [s.sql for s in cluster_statements("CREATE DATABASE IF NOT EXISTS db", "c")]
    ['CREATE DATABASE IF NOT EXISTS db ON CLUSTER c']
    >>> for s in cluster_statements(
    ...     "ALTER TABLE db.t ADD COLUMN m String, MODIFY ORDER BY (k, m)", "c", {"t": "k"}
    ... ):
    ...     print(s.sql)
    ALTER TABLE db.t_local ON CLUSTER c ADD COLUMN m String, MODIFY ORDER BY (k, m)
    DROP TABLE IF EXISTS db.t_swap ON CLUSTER c
    DROP TABLE IF EXISTS db.t_old ON CLUSTER c
    CREATE TABLE db.t_swap ON CLUSTER c AS db.t_local ENGINE = Distributed(c, db, t_local, k)
    RENAME TABLE db.t TO db.t_old, db.t_swap TO db.t ON CLUSTER c
    DROP TABLE db.t_old ON CLUSTER c

    Raises
    ------
    MigrationError
        A statement of a kind this module does not know how to run on a cluster.
    """
    name = check_identifier(cluster)
    sql = _COMMENT.sub("", statement).strip()
    if found := _CREATE_DATABASE.match(sql):
        db = check_identifier(found["db"])
        return [ClusterStatement(f"{sql} ON CLUSTER {name}", creates=(db, None))]
    if found := _CREATE_TABLE.match(sql):
        return _create_table(found, name)
    if found := _ALTER_TABLE.match(sql):
        return _alter_table(found, name, keys or {})
    raise MigrationError(
        "this statement has no cluster form (CLICKHOUSE_CLUSTER is set): "
        f"{sql.splitlines()[0][:120]}"
    )


def _alter_table(
    found: re.Match[str], cluster: str, keys: Mapping[str, str]
) -> list[ClusterStatement]:
    db, table = check_identifier(found["db"]), check_identifier(found["table"])
    local = local_name(table)
    commands = split_commands(found["commands"])
    result = [
        ClusterStatement(
            f"ALTER TABLE {db}.{local} ON CLUSTER {cluster} {', '.join(commands)}",
            single_shard_fallback=f"ALTER TABLE {db}.{local} {', '.join(commands)}",
        )
    ]
    if not any(_COLUMN_COMMAND.match(c) for c in commands):
        return result  # settings, sorting key: the Distributed table has neither
    if table not in keys:
        raise MigrationError(f"no CREATE TABLE of {table} among the migrations: no sharding key")
    swap, old = f"{table}_swap", f"{table}_old"
    return [
        *result,
        # Leftovers of a run that stopped half-way first.
        ClusterStatement(f"DROP TABLE IF EXISTS {db}.{swap} ON CLUSTER {cluster}"),
        ClusterStatement(f"DROP TABLE IF EXISTS {db}.{old} ON CLUSTER {cluster}"),
        ClusterStatement(
            f"CREATE TABLE {db}.{swap} ON CLUSTER {cluster} AS {db}.{local} "
            f"ENGINE = Distributed({cluster}, {db}, {local}, {keys[table]})"
        ),
        ClusterStatement(
            f"RENAME TABLE {db}.{table} TO {db}.{old}, {db}.{swap} TO {db}.{table} "
            f"ON CLUSTER {cluster}"
        ),
        ClusterStatement(f"DROP TABLE {db}.{old} ON CLUSTER {cluster}"),
    ]


def _create_table(found: re.Match[str], cluster: str) -> list[ClusterStatement]:
    db, table = check_identifier(found["db"]), check_identifier(found["table"])
    local = local_name(table)
    path = ZOOKEEPER_PATH.format(database=db, table=table)
    args = ", ".join(a for a in (f"'{path}'", "'{replica}'", (found["args"] or "").strip()) if a)
    rest = found["rest"].strip()
    return [
        ClusterStatement(
            f"CREATE TABLE IF NOT EXISTS {db}.{local} ON CLUSTER {cluster}\n"
            f"({found['columns']})\n"
            f"ENGINE = Replicated{found['engine']}({args})\n{rest}",
            creates=(db, local),
        ),
        ClusterStatement(
            f"CREATE TABLE IF NOT EXISTS {db}.{table} ON CLUSTER {cluster} AS {db}.{local}\n"
            f"ENGINE = Distributed({cluster}, {db}, {local}, {sharding_key(rest)})",
            creates=(db, table),
        ),
    ]
