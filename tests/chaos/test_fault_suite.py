"""The fault suite (``make chaos``): real clusters, real processes, faults, and the count.

One three-node Kafka cluster (RF 3, ``min.insync.replicas`` 2) and one replicated ClickHouse
(ZooKeeper and two replicas, schema ON CLUSTER) serve the module; every scenario has its own
topic prefix and database. Each produces a known set of records with ``scorestream produce``
through ``scorestream worker`` and ``scorestream sink`` processes, injects its fault
mid-stream, and then counts by id in ClickHouse: lost, duplicated (visible with FINAL),
rejected, and the drift count error (``drift_stats`` counts of a feature against the records
scored that day). The target, asserted in every scenario: 0, 0, 0 and 0 (in the Kafka
majority loss too, where a client's retry of a request answered 503 writes records that had
reached Kafka a second time: the worker scores the copy again and counts it once). The last
scenario also counts the drifted day's alert e-mails: one. The results table is printed at
the end of the run.

Outages last ``SCORESTREAM_CHAOS_OUTAGE_S`` (10 s in ``make test``, the issue's 30 s under
``make chaos``), the Kafka majority loss ``SCORESTREAM_CHAOS_MAJORITY_S`` (10 s, 20 s);
records per scenario ``SCORESTREAM_CHAOS_RECORDS`` (6,000 at 1,500/s in ``make test``).
"""

from __future__ import annotations

import contextlib
import email
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fault_support import (
    DAY,
    FEATURE,
    MAJORITY_S,
    OUTAGE_S,
    RATE,
    RECORDS,
    WAIT_S,
    Outcome,
    Scenario,
    bridge_headers,
    table,
    wait_until,
)

from scorestream.stack import LocalStack, SmtpServer, StackConfig
from scorestream.stack.kafka_cluster import KafkaCluster
from scorestream.streams.synthetic import generate_records
from tests.fixtures.bridge import free_port
from tests.fixtures.clickhouse_cluster import ClusterUnderTest, start_cluster, stop_cluster

pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.timeout(600)]

#: The outcome of every scenario that ran, in order (the table at the end of the run).
RESULTS: list[Outcome] = []


class _ResultsTable:
    """Prints the table in pytest's terminal summary (after the last scenario, pass or fail)."""

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not RESULTS:
            return
        text = (
            f"fault suite: {RECORDS:,} records per scenario at {RATE:,.0f}/s, "
            f"outages {OUTAGE_S:.0f} s\n{table(RESULTS)}"
        )
        terminalreporter.write_sep("=", "fault suite results")
        terminalreporter.write_line(text)
        out = os.environ.get("SCORESTREAM_CHAOS_TABLE")
        if out:
            Path(out).write_text(text + "\n")


@pytest.fixture(scope="module", autouse=True)
def results_table(request: pytest.FixtureRequest) -> None:
    """Register the results table with the terminal summary, once per run."""
    manager = request.config.pluginmanager
    if not manager.has_plugin("scorestream-chaos-table"):
        manager.register(_ResultsTable(), "scorestream-chaos-table")


@pytest.fixture(scope="module")
def clusters(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[KafkaCluster, ClusterUnderTest]]:
    """The Kafka cluster and the replicated ClickHouse, started side by side.

    Not the ``clickhouse_cluster`` fixture: that one also migrates a database of its own,
    which no scenario uses (each migrates its own); and its ZooKeeper and replicas start
    in a thread while the Kafka nodes start, instead of after them.
    """
    with ThreadPoolExecutor(1) as pool:
        clickhouse = pool.submit(start_cluster, tmp_path_factory.mktemp("cluster"))
        try:
            kafka: KafkaCluster = request.getfixturevalue("private_kafka_cluster")
        except BaseException:
            with contextlib.suppress(Exception):
                stop_cluster(clickhouse.result())
            raise
        cluster = clickhouse.result()
    try:
        yield kafka, ClusterUnderTest(cluster, database="default")
    finally:
        stop_cluster(cluster)


@pytest.fixture()
def scenario(
    request: pytest.FixtureRequest,
    clusters: tuple[KafkaCluster, ClusterUnderTest],
    model_dir: Path,
    stack: LocalStack,
    tmp_path: Path,
) -> Iterator[Scenario]:
    """A scenario named after the test (``test_<name>``), its topics and schema ready."""
    name = request.node.name.removeprefix("test_")
    private_kafka_cluster, clickhouse_cluster = clusters
    # Whatever the previous scenario did, every node runs again (no-ops when they do).
    private_kafka_cluster.start()
    for service in clickhouse_cluster.cluster.services:
        service.start()
    current = Scenario(
        name=name,
        kafka=private_kafka_cluster,
        clickhouse=clickhouse_cluster,
        model_dir=model_dir,
        logs=tmp_path,
        smtp=("127.0.0.1", stack.smtp.port),
    )
    current.prepare()
    yield current
    current.stop()


def _finish(scenario: Scenario, fault_at: float) -> Outcome:
    """Wait for every record, then count, record and assert the outcome."""
    wait_until(scenario.complete, f"all {len(scenario.ids):,} records stored and counted")
    outcome = scenario.outcome(time.monotonic() - fault_at)
    RESULTS.append(outcome)
    assert (outcome.lost, outcome.duplicates, outcome.drift_error) == (0, 0, 0), outcome
    assert outcome.stored == len(scenario.ids)
    assert outcome.rejected == 0, (outcome, scenario.rejections())
    return outcome


def _mid_stream(scenario: Scenario) -> None:
    """Until the pipeline has stored its first records: the fault falls on a running stream."""
    wait_until(lambda: scenario.stored_count() > 0, "the first scores stored")


def _in_flight(scenario: Scenario) -> None:
    """The fault fell while records were still on their way (else it tested nothing)."""
    assert scenario.stored_count() < len(scenario.ids)


def _outage(scenario: Scenario, stop: Callable[[], object], start: Callable[[], object]) -> float:
    """Half the records stored, ``stop()``, the other half produced, ``start()`` after
    OUTAGE_S: the monotonic time of the restart (from which recovery is timed)."""
    scenario.produced(scenario.produce(RECORDS // 2))
    wait_until(scenario.complete, "the first half stored")
    stop()
    down_at = time.monotonic()
    scenario.produced(scenario.produce(RECORDS - RECORDS // 2))  # into the outage
    time.sleep(max(0.0, down_at + OUTAGE_S - time.monotonic()))
    for proc in scenario.processes:
        if "produce" not in str(proc.args):
            assert proc.poll() is None, f"{proc.args} exited during the outage"
    start()
    return time.monotonic()


# --- the scenarios, in the order --------------------------------------------------
def test_partition_leader_killed(scenario: Scenario) -> None:
    scenario.worker()
    scenario.sink()
    scenario.ready()
    producer = scenario.produce()
    _mid_stream(scenario)
    leader = scenario.kafka.leader(scenario.settings.topics.records, 0)
    assert leader.kill() > 0  # kill -9 with the stream running through it
    fault_at = time.monotonic()
    _in_flight(scenario)
    scenario.produced(producer)
    _finish(scenario, fault_at)
    assert leader.start()


def test_one_of_two_workers_killed(scenario: Scenario) -> None:
    first = scenario.worker(0)
    scenario.worker(1)
    scenario.sink()
    scenario.ready(worker_logs=2)
    producer = scenario.produce()
    _mid_stream(scenario)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    fault_at = time.monotonic()
    _in_flight(scenario)
    scenario.produced(producer)
    _finish(scenario, fault_at)


def test_sink_killed_three_times(scenario: Scenario) -> None:
    scenario.worker()
    sink = scenario.sink(0)
    scenario.ready()
    producer = scenario.produce()
    _mid_stream(scenario)
    fault_at = time.monotonic()
    _in_flight(scenario)
    for n in range(1, 4):
        os.killpg(sink.pid, signal.SIGKILL)
        sink.wait(10)
        sink = scenario.sink(n)
        before = scenario.stored_count()
        # The next kill falls on a sink that stored something (or on the last records).
        wait_until(
            lambda b=before: scenario.stored_count() > b or scenario.complete(),
            "the restarted sink storing",
        )
    scenario.produced(producer)
    _finish(scenario, fault_at)


def test_one_clickhouse_replica_stopped(scenario: Scenario) -> None:
    scenario.worker()
    scenario.sink()
    scenario.ready()
    second = scenario.clickhouse.replicas[1]
    back_at = _outage(scenario, second.stop, second.start)
    _finish(scenario, back_at)
    # The restarted replica catches up: every row on it alone.
    client = scenario.client(1)
    try:
        wait_until(
            lambda: (
                client.execute(f"SELECT count() FROM {scenario.database}.scores_local FINAL")[0][0]
                == len(scenario.ids)
            ),
            "replica 2 caught up",
        )
    finally:
        client.disconnect()


def test_zookeeper_stopped(scenario: Scenario) -> None:
    scenario.worker()
    scenario.sink()
    scenario.ready()
    zookeeper = scenario.clickhouse.cluster.zookeeper
    back_at = _outage(scenario, zookeeper.stop, zookeeper.start)
    _finish(scenario, back_at)


def test_whole_clickhouse_stopped(scenario: Scenario) -> None:
    scenario.worker()
    scenario.sink()
    scenario.ready()
    replicas = scenario.clickhouse.replicas

    def stop() -> None:
        for replica in replicas:
            replica.stop()

    def start() -> None:
        for replica in replicas:
            replica.start()

    back_at = _outage(scenario, stop, start)
    _finish(scenario, back_at)


def test_kafka_majority_lost(scenario: Scenario) -> None:
    """Two of three brokers (and controllers) gone for MAJORITY_S: the bridge answers 503,
    the client retries, and every record the bridge acknowledged (202) is stored once,
    counted once and never rejected, also those a 503'd request had written already."""
    scenario.worker()
    scenario.sink()
    scenario.ready()
    bridge = scenario.bridge()
    records = [
        record
        for chunk in generate_records(
            RECORDS, 99, 1000, start=f"{DAY}T12:00:00", interval_ms=10, include_target=False
        )
        for record in chunk
    ]
    batches = [records[i : i + 50] for i in range(0, len(records), 50)]
    acked: set[str] = set()
    unavailable: list[float] = []
    errors: list[str] = []
    done = threading.Event()

    def post_all() -> None:
        started = time.monotonic()
        deadline = started + WAIT_S
        with httpx.Client(base_url=bridge, headers=bridge_headers(), timeout=30) as client:
            for n, batch in enumerate(batches):
                time.sleep(max(0.0, started + n * len(batch) / RATE - time.monotonic()))
                while time.monotonic() < deadline:
                    try:
                        answer = client.post("/v1/records", json=batch)
                    except httpx.TransportError as error:  # not acknowledged: retried
                        errors.append(repr(error))
                        continue
                    if answer.status_code == 202:
                        acked.update(r["id"] for r in answer.json()["accepted"])
                        break
                    if answer.status_code != 503:
                        errors.append(f"{answer.status_code} {answer.text[:200]}")
                        return
                    unavailable.append(time.monotonic())
                    time.sleep(0.5)
        done.set()

    poster = threading.Thread(target=post_all, daemon=True)
    poster.start()
    wait_until(lambda: len(acked) >= RECORDS // 3, "a third of the records acknowledged")
    leader = scenario.kafka.leader(scenario.settings.topics.records, 0)
    others = [node for node in scenario.kafka if node.node_id != leader.node_id]
    for node in (leader, others[0]):
        assert node.kill() > 0
    time.sleep(MAJORITY_S)
    scenario.kafka.start()
    back_at = time.monotonic()
    poster.join(WAIT_S)
    assert done.is_set(), f"the client did not get every batch acknowledged: {errors[-3:]}"
    assert unavailable, "no 503 while the cluster had no majority"
    assert not [e for e in errors if not e.startswith(("ReadTimeout", "ConnectError"))], errors
    scenario.ids = acked
    assert len(acked) == RECORDS
    _finish(scenario, back_at)
    # Copies beyond the first of a record (retries of requests whose records had landed):
    # the worker scored each, the sink kept one row, drift counted one (asserted above).
    extra = scenario.records_written() - len(acked)
    print(
        f"503 answers: {len(unavailable)}, transport errors: {len(errors)}, "
        f"extra copies written by retries: {extra}"
    )


def test_smtp_down_when_a_drifted_day_is_checked(scenario: Scenario, tmp_path: Path) -> None:
    """The day's incomes shifted; its check runs while SMTP is down: it gives up after
    ``--smtp-give-up``, says the alert is not delivered and exits 4. SMTP back (after the
    outage), the next check e-mails the alert exactly once, though the topic then holds two
    copies of it (each check publishes one while it is undelivered)."""
    # A server of this scenario alone: stopping it disturbs no other test's e-mail.
    smtp = SmtpServer(StackConfig(state_dir=tmp_path / "smtp", smtp_port=free_port()))
    scenario.env["SMTP_PORT"] = str(smtp.port)
    smtp.start()
    try:
        scenario.worker()
        scenario.sink()
        scenario.ready()
        drift = ("--drift", f"{FEATURE}=shift:0.6", "--model-dir", str(scenario.model_dir))
        scenario.produced(scenario.produce(RECORDS, *drift))
        wait_until(scenario.complete, "the drifted day stored and counted")
        assert smtp.stop()
        down_at = time.monotonic()
        # Giving up well inside the outage: the check's own work (completeness, statistics,
        # joining the alerts group) comes first and takes seconds.
        failed = scenario.drift_check("--smtp-give-up", f"{max(1.0, OUTAGE_S / 4):.1f}")
        first_s = time.monotonic() - down_at
        said = failed.stderr
        assert failed.returncode == 4, said[-3000:]
        assert "alert e-mails sent: 0" in said, said[-3000:]
        assert f"drift check {DAY}: alerts not delivered: SMTP" in said, said[-3000:]
        assert f":{smtp.port} failed" in said, said[-3000:]  # it did retry first
        time.sleep(max(0.0, down_at + OUTAGE_S - time.monotonic()))
        assert not list(smtp.maildir.glob("*.eml"))
        smtp.start()
        back_at = time.monotonic()
        again = scenario.drift_check()
        assert again.returncode == 0, again.stderr[-3000:]
        assert "alert e-mails sent: 1" in again.stderr, again.stderr[-3000:]
        mails = [email.message_from_bytes(path.read_bytes()) for path in smtp.maildir.glob("*.eml")]
        assert len(mails) == 1, [m["Subject"] for m in mails]
        assert DAY in mails[0]["Subject"] and FEATURE in mails[0]["Subject"], mails[0]["Subject"]
        second_s = time.monotonic() - back_at
        _finish(scenario, back_at)
        print(f"drift-check with SMTP down: {first_s:.1f} s, after: {second_s:.1f} s")
    finally:
        smtp.stop()
