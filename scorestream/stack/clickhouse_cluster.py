"""A replicated ClickHouse for the local stack: ZooKeeper and N replicas of one shard.

``scorestream stack up --clickhouse-replicas N`` runs these instead of the one plain
server. Every replica is a :class:`ClickHouseServer` with its own directory
(``<state_dir>/clickhouse-<n>``), its own ports (the ClickHouse ports + 10 * (n - 1)) and
a ``config.d/cluster.xml`` that adds what replication needs:

- ``macros``: ``{shard}`` and ``{replica}``, which the ``Replicated*MergeTree`` paths of
  the cluster schema (``CLICKHOUSE_CLUSTER``, ``consumers/cluster_schema.py``) expand;
- ``zookeeper``: the stack's ZooKeeper (replication log, ``ON CLUSTER`` DDL queue);
- ``remote_servers``: the cluster (``clickhouse_cluster``, default ``scorestream``): one
  shard of N replicas with ``internal_replication``, so that a ``Distributed`` table writes
  each row to one replica and replication copies it;
- ``distributed_ddl``: where ``ON CLUSTER`` statements are queued.

Each replica and ZooKeeper is a service of its own: stopped, killed and started alone.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from scorestream.stack import process
from scorestream.stack.clickhouse import ClickHouseServer
from scorestream.stack.config import StackConfig
from scorestream.stack.service import Service
from scorestream.stack.zookeeper import ZooKeeperServer

#: Replica n listens on the configured ClickHouse ports + PORT_STEP * (n - 1).
PORT_STEP = 10
#: The one shard's name in ``{shard}``.
SHARD = "01"


def replica_ports(config: StackConfig, index: int) -> tuple[int, int]:
    """The native and HTTP ports of replica ``index`` (1-based)."""
    offset = PORT_STEP * (index - 1)
    return config.clickhouse_port + offset, config.clickhouse_http_port + offset


class ClickHouseReplica(ClickHouseServer):
    """Replica ``index`` of ``replicas`` of the stack's one shard."""

    def __init__(self, config: StackConfig, index: int, replicas: int) -> None:
        self.name = f"clickhouse-{index}"
        self.index = index
        self.cluster = config.clickhouse_cluster
        self.zookeeper_port = config.zookeeper_port
        self.sibling_ports = [replica_ports(config, n)[0] for n in range(1, replicas + 1)]
        native, http = replica_ports(config, index)
        # The base class reads its ports from the configuration: give it this replica's.
        super().__init__(
            config.model_copy(update={"clickhouse_port": native, "clickhouse_http_port": http})
        )

    def prepare(self) -> None:
        super().prepare()
        config_d = self.home / "config.d"
        config_d.mkdir(parents=True, exist_ok=True)
        replicas = "".join(
            f"<replica><host>127.0.0.1</host><port>{port}</port></replica>"
            for port in self.sibling_ports
        )
        (config_d / "cluster.xml").write_text(f"""<?xml version="1.0"?>
<yandex>
    <!-- The address the other replicas fetch parts from: the default, the host name, may
         not resolve to the loopback address this server listens on. -->
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <macros>
        <shard>{SHARD}</shard>
        <replica>{escape(self.name)}</replica>
    </macros>
    <zookeeper>
        <node><host>127.0.0.1</host><port>{self.zookeeper_port}</port></node>
        <session_timeout_ms>30000</session_timeout_ms>
    </zookeeper>
    <remote_servers>
        <{self.cluster}>
            <shard>
                <internal_replication>true</internal_replication>
                {replicas}
            </shard>
        </{self.cluster}>
    </remote_servers>
    <distributed_ddl>
        <path>/clickhouse/task_queue/ddl</path>
    </distributed_ddl>
</yandex>
""")

    def env(self) -> dict[str, str]:
        # Clients connect to the first replica; through the Distributed tables it reaches
        # the others. The later replicas add nothing (the stack's exports are merged).
        if self.index != 1:
            return {}
        return {**super().env(), "CLICKHOUSE_CLUSTER": self.cluster}

    def create_database(self, name: str | None = None) -> str:
        """Create the database on every replica (directly: no DDL queue, no ZooKeeper)."""
        database = ""
        for port in self.sibling_ports:
            sibling = ClickHouseServer(self.config.model_copy(update={"clickhouse_port": port}))
            database = sibling.create_database(name)
        return database


class ClickHouseCluster:
    """ZooKeeper and the replicas, in the order they start."""

    def __init__(
        self, config: StackConfig, replicas: int, zookeeper_libs: Path | None = None
    ) -> None:
        self.config = config
        self.zookeeper = ZooKeeperServer(config, libs=zookeeper_libs)
        self.replicas = [ClickHouseReplica(config, n, replicas) for n in range(1, replicas + 1)]

    @property
    def services(self) -> list[Service]:
        return [self.zookeeper, *self.replicas]

    @property
    def name(self) -> str:
        return self.config.clickhouse_cluster


def replicas_in_use(config: StackConfig) -> int:
    """How many replicas the state directory holds, if any part of the cluster runs.

    ``stack status`` and ``stack down`` without ``--clickhouse-replicas`` show and stop
    the cluster that ``up`` started; a stopped cluster's directories are ignored.
    """
    count = 0
    while (config.path(f"clickhouse-{count + 1}") / "config.xml").exists():
        count += 1
    homes = [config.path("zookeeper", "zookeeper.pid")] + [
        config.path(f"clickhouse-{n}", f"clickhouse-{n}.pid") for n in range(1, count + 1)
    ]
    return count if any(process.running(pid) for pid in homes) else 0
