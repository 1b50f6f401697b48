"""A standalone Apache ZooKeeper from Maven Central jars, for the replicated ClickHouse.

ClickHouse keeps its replication log and the ``ON CLUSTER`` DDL queue in ZooKeeper. The
local stack runs one standalone server (not an ensemble): enough to run and test
replication, and to stop ZooKeeper as a fault; a production cluster runs three or five
(or ClickHouse Keeper, which speaks the same protocol). Debian's ClickHouse 18.16 talks to
ZooKeeper 3.8 over the protocol that 3.4 clients use.
"""

from __future__ import annotations

import socket
from pathlib import Path

from scorestream.stack.config import StackConfig
from scorestream.stack.maven import fetch_jars
from scorestream.stack.service import Service

ZOOKEEPER_VERSION = "3.8.4"


class ZooKeeperServer(Service):
    """ZooKeeper on 127.0.0.1, its data and log under the state directory.

    Parameters
    ----------
    config
        The stack's configuration (``zookeeper_port``, ``state_dir``).
    libs
        Where the jars go; default ``<state_dir>/zookeeper/libs``. Tests share one copy.
    """

    name = "zookeeper"

    def __init__(self, config: StackConfig, libs: Path | None = None) -> None:
        super().__init__(config)
        self.libs = libs or self.home / "libs"

    @property
    def port(self) -> int:
        return self.config.zookeeper_port

    def install(self) -> None:
        fetch_jars("zookeeper.pom", self.libs, f".zookeeper-{ZOOKEEPER_VERSION}", "ZooKeeper")

    def prepare(self) -> None:
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        (self.home / "zoo.cfg").write_text(
            "\n".join(
                [
                    "tickTime=2000",
                    f"dataDir={data}",
                    f"clientPort={self.port}",
                    "clientPortAddress=127.0.0.1",
                    "maxClientCnxns=0",
                    # The admin server would take port 8080 of the machine.
                    "admin.enableServer=false",
                    # srvr: the version, for `stack status`.
                    "4lw.commands.whitelist=srvr,ruok",
                    # Keep the snapshots and logs of a long-running local stack small.
                    "autopurge.snapRetainCount=3",
                    "autopurge.purgeInterval=1",
                    "",
                ]
            )
        )
        (self.home / "log4j.properties").write_text(
            "log4j.rootLogger=WARN, file\n"
            "log4j.appender.file=org.apache.log4j.RollingFileAppender\n"
            f"log4j.appender.file.File={self.home / 'server.log'}\n"
            "log4j.appender.file.MaxFileSize=20MB\n"
            "log4j.appender.file.MaxBackupIndex=2\n"
            "log4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
        )

    def command(self) -> tuple[list[str], dict[str, str] | None]:
        heap = self.config.zookeeper_heap_mb
        return [
            "java",
            f"-Xmx{heap}m",
            f"-Xms{min(heap, 64)}m",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.home / 'log4j.properties'}",
            f"-Dscorestream.home={self.home}",
            "-cp",
            f"{self.libs}/*",
            "org.apache.zookeeper.server.ZooKeeperServerMain",
            str(self.home / "zoo.cfg"),
        ], None

    def probe(self) -> str:
        return four_letter_version(self.port)

    def env(self) -> dict[str, str]:
        # Clients of scorestream never talk to ZooKeeper; ClickHouse's configuration names it.
        return {}


def four_letter_version(port: int, host: str = "127.0.0.1") -> str:
    """The server's version from ZooKeeper's ``srvr`` command; raises while it starts."""
    with socket.create_connection((host, port), timeout=2) as sock:
        sock.sendall(b"srvr")
        sock.settimeout(3)
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    for line in reply.decode(errors="replace").splitlines():
        if line.startswith("Zookeeper version:"):
            return line.split(":", 1)[1].strip().split("-", 1)[0].split(",", 1)[0]
    raise ConnectionError(f"ZooKeeper on port {port} did not answer srvr: {reply[:200]!r}")
