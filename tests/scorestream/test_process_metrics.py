"""The worker's and the sink's /metrics, /healthz and /readyz during a real run.

One worker and one sink (real Kafka, and a real ClickHouse server of this test alone), both
scraped throughout:

- the counters agree with what reached ClickHouse;
- while the worker is paused (SIGSTOP) it answers no probe and records pile up; once it
  resumes (SIGCONT) its lag shows them and falls back to 0;
- while ClickHouse is down the sink is alive (``/healthz`` 200) but stalled: its lag grows,
  ``/readyz`` answers 503 with the reason, retries are counted; once ClickHouse is back it
  catches up and is ready again.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scorestream.consumers.clickhouse import make_client
from scorestream.settings import ClickHouseDsn, Settings
from scorestream.stack.clickhouse import ClickHouseServer
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.synthetic import generate_records
from scorestream.topics import ensure_topics
from tests.consumers.clickhouse_sink_support import sink_process
from tests.fixtures.bridge import free_port
from tests.fixtures.worker import WorkerFactory
from tests.kafka_io import produce_raw

STALL_S = 2.0
BATCH = 50  # small batches: the drain after SIGCONT spans many scrapes
FIRST, PAUSED, OUTAGE = 600, 2000, 500  # records produced in each phase
SCORES = "scores"


@dataclass
class Scraped:
    """One scrape: every sample by name and labels."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """Sum over every series of ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and wanted <= ls)

    def series(self, name: str) -> list[dict[str, str]]:
        return [dict(ls) for (n, ls), _ in self.samples.items() if n == name]


@dataclass
class Endpoints:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def scrape(self) -> Scraped:
        response = httpx.get(self.url("/metrics"), timeout=5)
        response.raise_for_status()
        samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }
        return Scraped(samples)

    def probe(self, path: str, timeout_s: float = 5) -> tuple[int, dict[str, Any]]:
        response = httpx.get(self.url(path), timeout=timeout_s)
        return response.status_code, response.json()

    def ready(self) -> bool:
        return self.probe("/readyz")[0] == 200

    def pause(self) -> None:
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.proc.pid, signal.SIGCONT)

    def wait(self, what: str, check: Callable[[], bool], timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"exited:\n{self.log.read_text()[-3000:]}"
            try:
                if check():
                    return
            except httpx.TransportError:
                pass  # not serving yet
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log.read_text()[-3000:]}")

    def lag_until_caught_up(self, prefix: str, done: Callable[[Scraped], bool]) -> list[float]:
        """Total lag of every scrape from now until ``done`` and a lag of 0."""
        lags: list[float] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            scraped = self.scrape()
            lags.append(scraped.total(f"{prefix}_consumer_lag"))
            if lags[-1] == 0 and done(scraped):
                return lags
            time.sleep(0.01)
        raise AssertionError(f"{prefix}: lag never went back to 0: {lags[-20:]}")


def _records(n: int, seed: int) -> list[tuple[bytes | None, bytes]]:
    return [
        (record["id"].encode(), orjson.dumps(record))
        for chunk in generate_records(
            n, seed, 1000, start="2026-04-01T00:00:00", include_target=False
        )
        for record in chunk
    ]


def _scored(worker: Endpoints) -> float:
    return worker.scrape().total("scorestream_worker_records_scored_total")


def _stored(sink: Endpoints, table: str = SCORES) -> float:
    return sink.scrape().value("scorestream_sink_rows_inserted_total", table=table)


def _clickhouse_url(settings: Settings, server: ClickHouseServer) -> str:
    return f"clickhouse://default:@127.0.0.1:{server.port}/{settings.clickhouse.database}"


@pytest.fixture()
def running(
    settings: Settings,
    settings_env: dict[str, str],
    start_worker: WorkerFactory,
    private_clickhouse: ClickHouseServer,
    tmp_path: Path,
) -> Iterator[tuple[Endpoints, Endpoints]]:
    """A worker and a sink (into ``private_clickhouse``) with their endpoints on free ports;
    both ready."""
    ensure_topics(settings)
    env = {"SCORESTREAM_READY_STALL_S": str(STALL_S)}
    sink_port, worker_port = free_port(), free_port()
    sink_log = tmp_path / "sink.log"
    sink = sink_process(
        {
            **settings_env,
            **env,
            "CLICKHOUSE_URL": _clickhouse_url(settings, private_clickhouse),
            "SCORESTREAM_SINK_METRICS_PORT": str(sink_port),
        },
        sink_log,
        "--max-backoff",
        "1",
    )
    worker = start_worker(
        "--batch-size", str(BATCH), env={**env, "SCORESTREAM_WORKER_METRICS_PORT": str(worker_port)}
    )
    pair = (
        Endpoints(worker_port, worker, tmp_path / "worker-0.log"),
        Endpoints(sink_port, sink, sink_log),
    )
    try:
        for process in pair:
            process.wait("/readyz 200", process.ready)
        yield pair
    finally:
        for process in pair:
            if process.proc.poll() is None:
                os.killpg(process.proc.pid, signal.SIGCONT)
                os.killpg(process.proc.pid, signal.SIGKILL)
                process.proc.wait(10)


def _resident_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return 1024 * int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)[1])  # type: ignore[index]


def _assert_memory_series(endpoints: Endpoints, prefix: str) -> None:
    """The process's resident memory as /proc tells it, and the interpreter's live blocks."""
    before = _resident_bytes(endpoints.proc.pid)
    scraped = endpoints.scrape()
    after = _resident_bytes(endpoints.proc.pid)
    served = scraped.value(f"{prefix}_process_resident_memory_bytes")
    assert 0.8 * min(before, after) <= served <= 1.2 * max(before, after), (served, before, after)
    # An interpreter with pandas and scikit-learn loaded holds hundreds of thousands.
    assert scraped.value(f"{prefix}_python_allocated_blocks") > 100_000
    assert scraped.value(f"{prefix}_process_cpu_seconds_total") > 0


def test_lag_rises_while_stalled_and_falls_once_resumed(
    settings: Settings,
    running: tuple[Endpoints, Endpoints],
    private_clickhouse: ClickHouseServer,
    model_dir: Path,
) -> None:
    worker, sink = running
    ch = make_client(ClickHouseDsn.parse(_clickhouse_url(settings, private_clickhouse)))

    # --- a run: the counters are what reached ClickHouse ---------------------------------
    bad = [(b"bad-1", b'{"id": "bad-1", "income": '), (b"bad-2", b"[1, 2]")]
    produce_raw(settings, _records(FIRST, seed=31) + bad)
    worker.wait("the first records scored", lambda: _scored(worker) == FIRST)
    sink.wait("the first scores stored", lambda: _stored(sink) == FIRST)
    scraped = worker.scrape()
    assert scraped.value("scorestream_worker_records_rejected_total", reason="invalid_json") == 1
    assert scraped.value("scorestream_worker_records_rejected_total", reason="not_an_object") == 1
    assert scraped.total("scorestream_worker_records_rejected_total") == 2
    assert scraped.value("scorestream_worker_batch_size_sum") == FIRST + 2
    batches = scraped.value("scorestream_worker_batch_size_count")
    assert batches >= (FIRST + 2) / BATCH
    for stage in ("score", "publish"):
        seconds = "scorestream_worker_batch_duration_seconds"
        assert scraped.value(f"{seconds}_count", stage=stage) == batches
        assert scraped.value(f"{seconds}_sum", stage=stage) > 0
    model = LoadedModel.load(model_dir)
    assert scraped.series("scorestream_worker_model_info") == [
        {"role": "champion", "name": "loans", "version": model.version, "kind": model.kind}
    ]
    assert scraped.value("scorestream_worker_assigned_partitions") == settings.topic_partitions
    database = settings.clickhouse.database
    assert ch.execute(f"SELECT count() FROM {database}.{SCORES} FINAL")[0][0] == FIRST
    ch.disconnect()
    sink.wait("the rejections stored", lambda: _stored(sink, "rejected_records") == 2)
    flushes = sink.scrape().value(
        "scorestream_sink_flush_duration_seconds_count", topic=settings.topics.scores
    )
    assert flushes >= 1
    for endpoints, prefix in ((worker, "scorestream_worker"), (sink, "scorestream_sink")):
        _assert_memory_series(endpoints, prefix)

    # --- the worker paused: it answers nothing, records pile up -------------------------------
    worker.pause()
    try:
        produce_raw(settings, _records(PAUSED, seed=32))
        with pytest.raises(httpx.TimeoutException):
            worker.probe("/healthz", timeout_s=1)
        time.sleep(STALL_S)
    finally:
        worker.resume()
    lags = worker.lag_until_caught_up(
        "scorestream_worker", lambda _: _scored(worker) == FIRST + PAUSED
    )
    peak = lags.index(max(lags))
    assert 0 < max(lags) <= PAUSED, f"the lag never showed the records of the pause: {lags}"
    falling = lags[peak:]
    assert falling == sorted(falling, reverse=True), f"lag went up again after resuming: {lags}"
    print(f"worker lag after SIGCONT: {len(lags)} scrapes, peak {max(lags):,.0f}, then 0")
    assert worker.probe("/readyz")[0] == 200
    sink.wait("the paused phase's scores stored", lambda: _stored(sink) == FIRST + PAUSED)

    # --- ClickHouse down: the sink runs but cannot store, its lag grows ----------------------
    private_clickhouse.stop()
    try:
        produce_raw(settings, _records(OUTAGE, seed=33))
        worker.wait(
            "the outage's records scored", lambda: _scored(worker) == FIRST + PAUSED + OUTAGE
        )
        sink.wait("/readyz 503", lambda: not sink.ready(), timeout_s=30)
        status, body = sink.probe("/readyz")
        assert status == 503 and "records waiting and none processed" in body["reason"], body
        assert sink.probe("/healthz")[0] == 200, "a stalled but running loop is alive"
        # Paused, the sink asks the broker for the end offsets once a second.
        sink.wait(
            "the sink's lag to show every waiting score",
            lambda: (
                sink.scrape().total("scorestream_sink_consumer_lag", topic=settings.topics.scores)
                == OUTAGE
            ),
        )
        scraped = sink.scrape()
        assert scraped.value("scorestream_sink_ready") == 0
        assert scraped.value("scorestream_sink_live") == 1
        assert scraped.value("scorestream_sink_backing_off") == 1
        assert scraped.value("scorestream_sink_retries_total") >= 1
        assert scraped.total("scorestream_sink_flush_failures_total") >= 1
        assert _stored(sink) == FIRST + PAUSED
    finally:
        private_clickhouse.start()
    sink.lag_until_caught_up("scorestream_sink", lambda _: _stored(sink) == FIRST + PAUSED + OUTAGE)
    sink.wait("/readyz 200 again", sink.ready)
    assert sink.scrape().value("scorestream_sink_backing_off") == 0
    ch = make_client(ClickHouseDsn.parse(_clickhouse_url(settings, private_clickhouse)))
    stored = ch.execute(f"SELECT count() FROM {database}.{SCORES} FINAL")[0][0]
    ch.disconnect()
    assert stored == FIRST + PAUSED + OUTAGE


def test_the_faust_engine_reports_the_same_series(
    settings: Settings, start_worker: WorkerFactory, tmp_path: Path
) -> None:
    ensure_topics(settings)
    port = free_port()
    proc = start_worker(
        "--engine",
        "faust",
        "--batch-size",
        str(BATCH),
        env={"SCORESTREAM_WORKER_METRICS_PORT": str(port), "SCORESTREAM_READY_STALL_S": "2"},
    )
    worker = Endpoints(port, proc, tmp_path / "worker-0.log")
    worker.wait("/readyz 200", worker.ready)
    produce_raw(settings, _records(FIRST, seed=41))
    worker.wait("every record scored", lambda: _scored(worker) == FIRST)
    # Faust knows a partition's lag once it processed one of its records: all four here.
    worker.wait(
        "the lag of every partition, caught up",
        lambda: (
            len(worker.scrape().series("scorestream_worker_consumer_lag"))
            == settings.topic_partitions
            and worker.scrape().total("scorestream_worker_consumer_lag") == 0
        ),
    )
    scraped = worker.scrape()
    assert scraped.value("scorestream_worker_batch_size_sum") == FIRST
    assert scraped.value("scorestream_worker_assigned_partitions") == settings.topic_partitions
    assert scraped.value("scorestream_worker_live") == 1
    assert worker.probe("/readyz")[0] == 200
