"""Readiness and liveness rules, the endpoint server and the container probe, without Kafka."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from scorestream.observability import ConsumerHealth, MetricsServer
from scorestream.observability.probe import main as probe_main
from scorestream.observability.probe import url_of
from scorestream.settings import Settings

STALL_S, LIVE_S = 5.0, 20.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def health(clock: Clock) -> ConsumerHealth:
    return ConsumerHealth(
        CollectorRegistry(), "t", stall_s=STALL_S, live_timeout_s=LIVE_S, clock=clock
    )


def test_not_ready_until_partitions_are_assigned(health: ConsumerHealth) -> None:
    assert health.readiness().reason == "the consumer has not polled yet"
    health.observe({}, assigned=0)
    verdict = health.readiness()
    assert not verdict.ok and verdict.reason == "no partitions assigned"
    health.observe({("records", 0): 0, ("records", 1): 0}, assigned=2)
    verdict = health.readiness()
    assert verdict.ok and verdict.body()["assigned_partitions"] == 2


def test_waiting_records_without_progress_is_a_stall(health: ConsumerHealth, clock: Clock) -> None:
    health.observe({("records", 0): 0}, assigned=1)
    clock.now += 1
    health.observe({("records", 0): 40}, assigned=1)
    clock.now += STALL_S - 1
    assert health.readiness().ok  # late, but not for long
    clock.now += 2
    health.observe({("records", 0): 90}, assigned=1)
    verdict = health.readiness()
    assert not verdict.ok
    assert verdict.reason == "90 records waiting and none processed for 7 s"
    assert verdict.body()["lag"] == 90
    health.progressed()  # a batch went out: the consumer moves, however far behind
    assert health.readiness().ok


def test_caught_up_after_idling_is_not_a_stall(health: ConsumerHealth, clock: Clock) -> None:
    health.observe({("records", 0): 0}, assigned=1)
    clock.now += 10 * STALL_S  # idle, polling all along
    health.observe({("records", 0): 0}, assigned=1)
    health.observe({("records", 0): 500}, assigned=1)  # a burst arrives
    assert health.readiness().ok


def test_a_loop_that_stopped_polling_is_not_ready(health: ConsumerHealth, clock: Clock) -> None:
    health.observe({("records", 0): 0}, assigned=1)
    clock.now += STALL_S + 1
    verdict = health.readiness()
    assert not verdict.ok and verdict.reason == "the consumer has not polled for 6 s"


def test_liveness_follows_the_heartbeat(health: ConsumerHealth, clock: Clock) -> None:
    assert health.liveness().ok
    clock.now += LIVE_S + 1
    verdict = health.liveness()
    assert not verdict.ok and verdict.reason == "the event loop has not run for 21 s"
    ticks = iter([False, True])
    asyncio.run(health.heartbeat(lambda: next(ticks), interval_s=0))
    assert health.liveness().ok


def test_lag_series_follow_the_assignment(health: ConsumerHealth) -> None:
    registry = CollectorRegistry()
    tracked = ConsumerHealth(registry, "t")
    tracked.observe({("records", 0): 3, ("records", 1): 4}, assigned=2)
    text = generate_latest(registry).decode()
    assert 't_consumer_lag{partition="1",topic="records"} 4.0' in text
    tracked.observe({("records", 0): 0}, assigned=1)  # partition 1 revoked
    text = generate_latest(registry).decode()
    assert 't_consumer_lag{partition="0",topic="records"} 0.0' in text
    assert 'partition="1"' not in text
    assert "t_assigned_partitions 1.0" in text
    assert "t_ready 1.0" in text and "t_live 1.0" in text


# --- the server ----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def served(health: ConsumerHealth) -> Iterator[tuple[str, ConsumerHealth]]:
    registry = CollectorRegistry()
    tracked = ConsumerHealth(registry, "t", stall_s=STALL_S)
    server = MetricsServer.start(
        registry, tracked, "127.0.0.1", _free_port(), name="test", setting="PORT"
    )
    assert server is not None
    yield f"http://127.0.0.1:{server.port}", tracked
    server.close()


def test_server_answers_metrics_and_both_probes(served: tuple[str, ConsumerHealth]) -> None:
    url, tracked = served
    metrics = httpx.get(f"{url}/metrics")
    assert metrics.status_code == 200 and "t_consumer_lag" in metrics.text
    assert metrics.headers["content-type"].startswith("text/plain")
    assert httpx.get(f"{url}/healthz").json()["status"] == "alive"
    ready = httpx.get(f"{url}/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "not ready", "reason": "the consumer has not polled yet"}
    tracked.observe({("records", 0): 0}, assigned=1)
    ready = httpx.get(f"{url}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert "t_ready 1.0" in httpx.get(f"{url}/metrics").text
    missing = httpx.get(f"{url}/nope")
    assert missing.status_code == 404 and "/readyz" in missing.json()["endpoints"]


def test_port_zero_serves_nothing_and_a_taken_port_is_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    tracked = ConsumerHealth(registry, "t")
    assert MetricsServer.start(registry, tracked, "127.0.0.1", 0, name="w", setting="P") is None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.WARNING):
            server = MetricsServer.start(
                registry, tracked, "127.0.0.1", port, name="w", setting="MY_PORT"
            )
    assert server is None
    assert "running without them" in caplog.text and "MY_PORT" in caplog.text


# --- the probe -----------------------------------------------------------------------------------
def test_probe_exit_status_follows_readiness(
    served: tuple[str, ConsumerHealth], capsys: pytest.CaptureFixture[str]
) -> None:
    url, tracked = served
    assert probe_main([f"{url}/readyz"]) == 1
    assert capsys.readouterr().out.strip() == "503 not ready: the consumer has not polled yet"
    tracked.observe({("records", 0): 0}, assigned=1)
    assert probe_main([f"{url}/readyz"]) == 0
    assert capsys.readouterr().out.strip() == "200 ready: consuming"
    assert probe_main([f"{url}/healthz"]) == 0
    assert capsys.readouterr().out.strip() == "200 alive: the event loop runs"
    assert probe_main([f"http://127.0.0.1:{_free_port()}/readyz", "--timeout", "1"]) == 1
    assert capsys.readouterr().out.startswith("no answer from")


def test_probe_finds_each_process_on_its_port() -> None:
    settings = Settings(
        SCORESTREAM_METRICS_HOST="10.0.0.5",
        SCORESTREAM_WORKER_METRICS_PORT=9001,
        SCORESTREAM_SINK_METRICS_PORT=9002,
    )
    assert url_of("worker", "/readyz", settings) == "http://10.0.0.5:9001/readyz"
    assert url_of("sink", "/healthz", settings) == "http://10.0.0.5:9002/healthz"
    with pytest.raises(ValueError, match="worker, sink or a URL"):
        url_of("bridge", "/readyz", settings)
    with pytest.raises(SystemExit) as exit_:
        probe_main(["bridge"])
    assert exit_.value.code == 2


# --- the README lists every series ----------------------------------------------------------------
def test_readme_names_every_series_each_process_serves() -> None:
    from pathlib import Path

    from scorestream.consumers.sink.metrics import SinkMetrics
    from scorestream.producers.bridge.metrics import BridgeMetrics
    from scorestream.streams.metrics import WorkerMetrics

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("\n## Metrics and health\n", 1)[1].split("\n## ", 1)[0]
    for prefix, registry in (
        ("scorestream_worker_", WorkerMetrics().registry),
        ("scorestream_sink_", SinkMetrics().registry),
        ("scorestream_bridge_", BridgeMetrics().registry),
    ):
        assert f"`{prefix}...`" in section or prefix in section, prefix
        for family in registry.collect():
            name = family.name.removeprefix(prefix) + ("_total" if family.type == "counter" else "")
            assert re.search(rf"`{name}[`{{]|, `{name}`", section), f"{prefix}{name} not in README"
