"""Kafka goes away and comes back: 503 with Retry-After within 2 s, then recovery.

The bridge talks to a private broker of this test (its own ports and data directory), so
stopping it does not disturb the shared stack or the other tests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scorestream.settings import Settings
from scorestream.stack import LocalStack, StackConfig
from scorestream.stack.kafka import KafkaBroker
from tests.fixtures.bridge import API_KEY, BridgeFactory, free_port
from tests.kafka_io import collect
from tests.producers.test_bridge_pipeline import loan_records

HEADERS = {"X-API-Key": API_KEY, "Content-Type": "application/json"}
OUTAGE_ANSWER_S = 2.0


@pytest.fixture()
def private_broker(stack: LocalStack, tmp_path: Path) -> Iterator[KafkaBroker]:
    config = StackConfig(
        state_dir=tmp_path / "stack", kafka_port=free_port(), kafka_controller_port=free_port()
    )
    broker = KafkaBroker(config)
    # Reuse the shared broker's jars instead of fetching them with Maven again.
    broker.home.mkdir(parents=True)
    (broker.home / "libs").symlink_to(stack.kafka.libs, target_is_directory=True)
    broker.start()
    yield broker
    broker.stop()


def _timed_post(client: httpx.Client, path: str, body: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.post(path, json=body)
    return response, time.monotonic() - started


def test_kafka_down_is_503_within_2_s_and_up_again_works_without_restart(
    settings: Settings, start_bridge: BridgeFactory, private_broker: KafkaBroker
) -> None:
    servers = f"127.0.0.1:{private_broker.port}"
    bridge = start_bridge("--score-timeout", "1", env={"KAFKA_BOOTSTRAP_SERVERS": servers})
    records = loan_records(40, seed=31, with_ids=True)
    accepted: list[str] = []
    with httpx.Client(base_url=bridge.url, headers=HEADERS, timeout=30) as client:
        response = client.post("/v1/records", json=records[:5])
        assert response.status_code == 202, response.text
        accepted += [r["id"] for r in response.json()["accepted"]]

        private_broker.stop()
        # Every request during the outage is answered, quickly, with 503 and Retry-After.
        for i, (path, body) in enumerate(
            [
                ("/v1/records", records[5]),
                ("/v1/records", records[6:10]),
                ("/v1/score", records[10]),
                ("/v1/records", records[11]),
                ("/v1/records", records[12]),
            ]
        ):
            response, elapsed = _timed_post(client, path, body)
            assert response.status_code == 503, (i, response.text)
            assert elapsed < OUTAGE_ANSWER_S, (i, elapsed)
            assert response.headers["content-type"] == "application/problem+json"
            assert int(response.headers["Retry-After"]) >= 1
        assert client.get("/healthz").status_code == 200
        ready, elapsed = client.get("/readyz"), 0.0
        assert ready.status_code == 503 and "Retry-After" in ready.headers
        problems = client.get("/metrics").text
        assert 'scorestream_bridge_errors_total{kind="kafka_unavailable"}' in problems

        private_broker.start()
        deadline = time.monotonic() + 90
        while True:
            response = client.post("/v1/records", json=records[20])
            if response.status_code == 202:
                accepted.append(response.json()["accepted"][0]["id"])
                break
            assert response.status_code == 503, response.text
            assert time.monotonic() < deadline, "the bridge did not recover"
            time.sleep(0.5)
        for record in records[21:30]:
            response = client.post("/v1/records", json=record)
            assert response.status_code == 202, response.text
            accepted.append(response.json()["accepted"][0]["id"])
        response = client.post("/v1/records", json=records[30:40])
        assert response.status_code == 202, response.text
        accepted += [r["id"] for r in response.json()["accepted"]]
        bridge.wait_until("/readyz", 200, timeout_s=30)
    assert bridge.proc.poll() is None  # the same process throughout

    on_broker = Settings(
        kafka_bootstrap_servers=servers, SCORESTREAM_TOPIC_PREFIX=settings.topic_prefix
    )
    produced = collect(
        on_broker,
        on_broker.topics.records,
        until=lambda m: set(accepted) <= {r["id"] for r in m},
        timeout_s=30,
    )
    assert set(accepted) <= {r["id"] for r in produced}


def test_bridge_started_before_kafka_connects_when_it_comes(
    settings: Settings, start_bridge: BridgeFactory, tmp_path: Path, stack: LocalStack
) -> None:
    config = StackConfig(
        state_dir=tmp_path / "late", kafka_port=free_port(), kafka_controller_port=free_port()
    )
    broker = KafkaBroker(config)
    broker.home.mkdir(parents=True)
    (broker.home / "libs").symlink_to(stack.kafka.libs, target_is_directory=True)
    servers = f"127.0.0.1:{broker.port}"
    bridge = start_bridge(env={"KAFKA_BOOTSTRAP_SERVERS": servers}, ready=False)
    try:
        record = loan_records(1, seed=32, with_ids=True)[0]
        response, elapsed = _timed_post(
            httpx.Client(base_url=bridge.url, headers=HEADERS), "/v1/records", record
        )
        assert response.status_code == 503 and elapsed < OUTAGE_ANSWER_S
        assert httpx.get(bridge.url + "/readyz").status_code == 503
        broker.start()
        bridge.wait_until("/readyz", 200, timeout_s=60)
        response = httpx.post(bridge.url + "/v1/records", json=record, headers=HEADERS)
        assert response.status_code == 202, response.text
    finally:
        broker.stop()
