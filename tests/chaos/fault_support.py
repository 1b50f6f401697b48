"""What every scenario of the fault suite does: produce a known set, run the pipeline, count.

A :class:`Scenario` owns one topic prefix and one database on the module's Kafka cluster and
replicated ClickHouse; it starts real ``scorestream worker`` and ``scorestream sink``
processes (killed at the end), produces ids ``syn-{seed}-0 … syn-{seed}-{n-1}`` with the real
``scorestream produce``, and :meth:`Scenario.outcome` counts by id in ClickHouse (``FINAL``,
through the Distributed tables, as the product reads).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from scorestream.child_process import run_cli, spawn_cli
from scorestream.consumers.clickhouse import apply_migrations, make_client
from scorestream.settings import Settings
from scorestream.stack.kafka_cluster import KafkaCluster
from scorestream.topics import ensure_topics
from tests.fixtures.bridge import API_KEY, free_port
from tests.fixtures.clickhouse_cluster import CLUSTER, ClusterUnderTest

#: The day the produced records' event times fall on (from noon: never across midnight).
DAY = "2026-07-01"
#: The feature whose drift counts are summed against the records scored that day.
FEATURE = "income"
#: Records per scenario and rate of production: the fault falls mid-stream.
RECORDS = int(os.environ.get("SCORESTREAM_CHAOS_RECORDS", "6000"))
RATE = float(os.environ.get("SCORESTREAM_CHAOS_RATE", "1500"))
#: Outages: the issue's 30 s (ClickHouse, ZooKeeper) under ``make chaos``; shorter in CI.
OUTAGE_S = float(os.environ.get("SCORESTREAM_CHAOS_OUTAGE_S", "10"))
#: How long the Kafka cluster has no majority (the issue's 20 s under ``make chaos``).
MAJORITY_S = float(os.environ.get("SCORESTREAM_CHAOS_MAJORITY_S", "10"))
#: Every wait of the suite is bounded by this (a loaded two-core machine included).
WAIT_S = float(os.environ.get("SCORESTREAM_CHAOS_WAIT_S", "150"))


@dataclass
class Outcome:
    """One scenario's counts (the row of the results table)."""

    scenario: str
    produced: int
    stored: int
    lost: int
    duplicates: int
    rejected: int
    drift_error: int
    recover_s: float

    def row(self) -> list[str]:
        return [
            self.scenario,
            f"{self.produced:,}",
            f"{self.stored:,}",
            f"{self.lost:,}",
            f"{self.duplicates:,}",
            f"{self.rejected:,}",
            f"{self.drift_error:+,}",
            f"{self.recover_s:.1f} s",
        ]


HEADER = [
    "scenario",
    "produced",
    "stored",
    "lost",
    "duplicates visible",
    "rejected",
    "drift count error",
    "time to recover",
]


def table(outcomes: list[Outcome]) -> str:
    """The results as a Markdown table (printed at the end of the run, pasted in the README)."""
    rows = [HEADER, *(o.row() for o in outcomes)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(HEADER), rule, *(line(o.row()) for o in outcomes)])


class ProcessEnded(AssertionError):
    """A scenario's worker or sink ended on its own: never waited out."""


def bridge_headers() -> dict[str, str]:
    return {"X-API-Key": API_KEY, "Content-Type": "application/json"}


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> float:
    """Seconds until ``condition()`` held; AssertionError after ``timeout_s``."""
    start = time.monotonic()
    while True:
        try:
            if condition():
                return time.monotonic() - start
        except ProcessEnded:
            raise
        except Exception:  # a server that is down (on purpose) answers nothing yet
            pass
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"not within {timeout_s:.0f} s: {what}")
        time.sleep(0.5)


@dataclass
class Scenario:
    """One scenario's topics, database, processes and counts."""

    name: str
    kafka: KafkaCluster
    clickhouse: ClusterUnderTest
    model_dir: Path
    logs: Path
    smtp: tuple[str, int]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    #: Every id produced so far (``syn-{seed}-{i}``; one seed per call of ``produce``).
    ids: set[str] = field(default_factory=set)
    producer_logs: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.database = f"chaos_{self.name}_{tag}"
        self.settings = Settings(
            kafka_bootstrap_servers=self.kafka.bootstrap_servers,
            clickhouse_url=SecretStr(
                f"clickhouse://default:@127.0.0.1:{self.clickhouse.replicas[0].port}/"
                f"{self.database}"
            ),
            clickhouse_cluster=CLUSTER,
            smtp_host=self.smtp[0],
            smtp_port=self.smtp[1],
            SCORESTREAM_TOPIC_PREFIX=f"chaos_{self.name}_{tag}.",
        )
        self.env = {
            **os.environ,
            **self.settings.environment(),
            "MODEL_DIR": str(self.model_dir),
            "SCORESTREAM_WORKER_METRICS_PORT": "0",
            "SCORESTREAM_SINK_METRICS_PORT": "0",
        }

    # --- set-up -----------------------------------------------------------------------------
    def prepare(self) -> None:
        """The topics (RF 3, 4 partitions) in sync and the schema ON CLUSTER."""
        for topic in ensure_topics(self.settings):
            self.kafka.wait_in_sync(topic)
        client = self.client()
        try:
            apply_migrations(client, self.database, cluster=CLUSTER)
        finally:
            client.disconnect()

    def client(self, replica: int = 0) -> Any:
        dsn = self.clickhouse.dsn(replica).model_copy(update={"database": self.database})
        return make_client(dsn)

    def spawn(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        proc = spawn_cli(list(args), self.env, self.logs / f"{self.name}-{log}.log")
        self.processes.append(proc)
        return proc

    def worker(self, n: int = 0) -> subprocess.Popen[bytes]:
        return self.spawn("worker", "--model-dir", str(self.model_dir), log=f"worker-{n}")

    def sink(self, n: int = 0) -> subprocess.Popen[bytes]:
        return self.spawn("sink", "--flush-interval", "0.5", "--max-backoff", "4", log=f"sink-{n}")

    def ready(self, worker_logs: int = 1) -> None:
        """Until the workers and the sink have their partitions (records then flow at once)."""
        names = [f"worker-{n}" for n in range(worker_logs)]

        def assigned() -> bool:
            # A process that ended while starting is the failure, not a timeout 150 s later.
            ended = [(p.args[3:5], p.returncode) for p in self.processes if p.poll() is not None]
            if ended:
                raise ProcessEnded(f"ended while starting: {ended}")
            return all("Worker ready" in self.log(n) for n in names) and (
                " assigned " in self.log("sink-0")
            )

        wait_until(assigned, "the workers and the sink assigned")

    def bridge(self) -> str:
        """A ``scorestream bridge`` on the cluster, ready: its base URL."""
        port = free_port()
        self.env["INGEST_API_KEYS"] = API_KEY
        self.spawn("bridge", "--port", str(port), "--model-dir", str(self.model_dir), log="bridge")
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, "bridge")
        return url

    def produce(self, count: int = RECORDS, *extra: str) -> subprocess.Popen[bytes]:
        """``scorestream produce`` of ``count`` new ids at RATE records/s, in the background
        (``extra``: more options, e.g. ``--drift``)."""
        seed = len(self.ids) + 1  # a seed per call: ids never repeat across calls
        self.ids |= {f"syn-{seed}-{i}" for i in range(count)}
        proc = self.spawn(
            "produce",
            "--synthetic",
            str(count),
            "--seed",
            str(seed),
            "--start",
            f"{DAY}T12:00:00",
            "--interval-ms",
            "10",
            "--rate",
            str(RATE),
            "--quiet",
            *extra,
            log=f"produce-{seed}",
        )
        self.producer_logs[proc.pid] = f"produce-{seed}"
        return proc

    def produced(self, producer: subprocess.Popen[bytes]) -> None:
        """The producer ended well and says it sent every record it was given."""
        code = producer.wait(timeout=WAIT_S)
        text = self.log(self.producer_logs[producer.pid])
        assert code == 0, text[-3000:]
        assert re.search(r"sent \d+, failed 0,", text), text[-3000:]

    def drift_check(self, *extra: str) -> subprocess.CompletedProcess[str]:
        """``scorestream drift-check --date DAY`` run to its end (bounded by WAIT_S)."""
        return run_cli(["drift-check", "--date", DAY, *extra], self.env, timeout_s=WAIT_S)

    def log(self, name: str) -> str:
        path = self.logs / f"{self.name}-{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    # --- counting -----------------------------------------------------------------------------
    def records_written(self) -> int:
        """Messages on the ``records`` topic (every copy a client's retry wrote counts)."""
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=self.kafka.bootstrap_servers)
        try:
            topic = self.settings.topics.records
            partitions = consumer.partitions_for_topic(topic) or set()
            ends = consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
            starts = consumer.beginning_offsets(list(ends))
        finally:
            consumer.close()
        return sum(ends[tp] - starts[tp] for tp in ends)

    def stored_count(self) -> int:
        client = self.client()
        try:
            return int(client.execute(f"SELECT count() FROM {self.database}.scores FINAL")[0][0])
        finally:
            client.disconnect()

    def drift_count(self, client: Any) -> int:
        rows = client.execute(
            f"SELECT sum(count) FROM {self.database}.drift_stats FINAL "
            "WHERE feature = %(feature)s AND toDate(minute) = toDate(%(day)s)",
            {"feature": FEATURE, "day": DAY},
        )
        return int(rows[0][0] or 0)

    def complete(self) -> bool:
        """Every produced id stored and counted in the drift statistics."""
        client = self.client()
        try:
            stored = int(
                client.execute(f"SELECT uniqExact(id) FROM {self.database}.scores FINAL")[0][0]
            )
            want = len(self.ids)
            return stored >= want and self.drift_count(client) >= want
        finally:
            client.disconnect()

    def rejections(self) -> tuple[dict[str, int], list[str]]:
        """Rejected records by reason, and the rejected ids that were never stored."""
        client = self.client()
        try:
            db = self.database
            reasons = dict(
                client.execute(
                    f"SELECT reason, count() FROM {db}.rejected_records FINAL GROUP BY reason"
                )
            )
            unstored = [
                row[0]
                for row in client.execute(
                    f"SELECT id FROM {db}.rejected_records FINAL "
                    f"WHERE id NOT IN (SELECT id FROM {db}.scores FINAL)"
                )
            ]
        finally:
            client.disconnect()
        return {str(k): int(v) for k, v in reasons.items()}, unstored

    def outcome(self, recover_s: float) -> Outcome:
        client = self.client()
        try:
            db = self.database
            rows = client.execute(f"SELECT id, count() FROM {db}.scores FINAL GROUP BY id")
            seen = {rid: int(n) for rid, n in rows}
            rejected = int(
                client.execute(f"SELECT uniqExact(id) FROM {db}.rejected_records FINAL")[0][0]
            )
            scored_that_day = int(
                client.execute(
                    f"SELECT count() FROM {db}.scores FINAL "
                    "WHERE toDate(event_time) = toDate(%(day)s)",
                    {"day": DAY},
                )[0][0]
            )
            drift = self.drift_count(client)
        finally:
            client.disconnect()
        return Outcome(
            scenario=self.name,
            produced=len(self.ids),
            stored=sum(seen.values()),
            lost=len(self.ids - set(seen)),
            duplicates=sum(n - 1 for n in seen.values() if n > 1),
            rejected=rejected,
            drift_error=drift - scored_that_day,
            recover_s=recover_s,
        )
