"""The bridge against the real broker and a real worker: ids, scores, timeouts, body limits."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from scorestream.child_process import run_cli
from scorestream.contract import ScoreMessage
from scorestream.settings import Settings
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.synthetic import generate_records
from tests.fixtures.bridge import API_KEY, BridgeFactory
from tests.fixtures.worker import WorkerFactory
from tests.kafka_io import collect

HEADERS = {"X-API-Key": API_KEY, "Content-Type": "application/json"}
# These tests are about delivery, not latency: on a busy shared machine a burst may take
# longer than the default 1.5 s to be acknowledged, which would (rightly) be a 503.
PATIENT = ("--send-timeout", "10")


def loan_records(n: int, seed: int, *, with_ids: bool) -> list[dict[str, Any]]:
    records = [
        record
        for chunk in generate_records(
            n, seed, 1000, start="2026-04-01T00:00:00", include_target=False
        )
        for record in chunk
    ]
    if not with_ids:
        for record in records:
            del record["id"]
    return records


def test_accepted_records_are_produced_keyed_by_id_and_invalid_ones_are_not(
    settings: Settings, start_bridge: BridgeFactory
) -> None:
    bridge = start_bridge(*PATIENT)
    good = loan_records(250, seed=21, with_ids=False)
    accepted: list[str] = []
    with httpx.Client(base_url=bridge.url, headers=HEADERS, timeout=10) as client:
        for start in range(0, 200, 50):  # batches with a bad record in each
            batch = [*good[start : start + 50], {**good[start], "income": "n/a"}]
            response = client.post("/v1/records", json=batch)
            assert response.status_code == 207, response.text
            body = response.json()
            assert [r["index"] for r in body["rejected"]] == [50]
            accepted += [r["id"] for r in body["accepted"]]
        for i, record in enumerate(good[200:]):  # one at a time, some with their own ids
            own = {**record, "id": f"client-{i}"} if i % 2 else record
            response = client.post("/v1/records", json=own)
            assert response.status_code == 202, response.text
            assert response.json()["rejected"] == []
            accepted.append(response.json()["accepted"][0]["id"])
            if i % 2:
                assert accepted[-1] == f"client-{i}"
    assert len(accepted) == len(set(accepted)) == 250

    messages = collect(settings, settings.topics.records, until=lambda m: len(m) >= 250)
    time.sleep(1)
    messages = collect(settings, settings.topics.records, until=lambda m: False, timeout_s=3)
    assert sorted(m["id"] for m in messages) == sorted(accepted)  # nothing else was produced
    by_id = {m["id"]: m for m in messages}
    sample = good[0]
    produced = by_id[accepted[0]]
    assert {k: v for k, v in produced.items() if k != "id"} == sample


def test_every_accepted_id_appears_on_scores(
    settings: Settings, start_bridge: BridgeFactory, start_worker: WorkerFactory
) -> None:
    bridge = start_bridge(*PATIENT)
    start_worker("--batch-within", "0.05")
    records = loan_records(1200, seed=22, with_ids=False)
    ids: list[str] = []

    async def send() -> None:
        async with httpx.AsyncClient(base_url=bridge.url, headers=HEADERS, timeout=10) as client:
            batches = [records[i : i + 100] for i in range(0, 1000, 100)]
            singles = records[1000:]
            answers = await asyncio.gather(
                *(client.post("/v1/records", json=batch) for batch in batches),
                *(client.post("/v1/records", json=record) for record in singles),
            )
            for answer in answers:
                assert answer.status_code == 202, answer.text
                ids.extend(r["id"] for r in answer.json()["accepted"])

    asyncio.run(send())
    assert len(set(ids)) == 1200
    wanted = set(ids)
    scores = collect(
        settings,
        settings.topics.scores,
        until=lambda m: wanted <= {s["id"] for s in m},
        timeout_s=120,
    )
    assert wanted <= {s["id"] for s in scores}


def test_score_equals_the_offline_model(
    settings: Settings, start_bridge: BridgeFactory, start_worker: WorkerFactory, model_dir: Path
) -> None:
    bridge = start_bridge("--score-timeout", "60", *PATIENT)
    start_worker("--batch-within", "0.05")
    records = loan_records(40, seed=23, with_ids=True)

    async def score_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=bridge.url, headers=HEADERS, timeout=90) as client:
            return await asyncio.gather(*(client.post("/v1/score", json=r) for r in records))

    answers = asyncio.run(score_all())
    for answer in answers:
        assert answer.status_code == 200, answer.text
    got = {a.json()["id"]: a.json() for a in answers}
    model = LoadedModel.load(model_dir)
    expected = model.predict_scores(pd.DataFrame(records)[model.schema.names])
    served = np.array([got[r["id"]]["score"] for r in records])
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-9)
    first = got[records[0]["id"]]
    assert set(first) == set(ScoreMessage.__dataclass_fields__)
    assert first["model_name"] == model.name and first["model_version"] == model.version
    assert first["event_time"].startswith(records[0]["event_time"][:19])

    # The same record again is a retry: it gets the stored score, not a duplicate.
    again = httpx.post(bridge.url + "/v1/score", json=records[0], headers=HEADERS, timeout=30)
    assert again.status_code == 200, again.text
    assert again.json() == first
    # Another record under the same id: the worker refuses the duplicate, the client hears
    # 409 at once.
    clash = {**records[1], "id": records[0]["id"]}
    again = httpx.post(bridge.url + "/v1/score", json=clash, headers=HEADERS, timeout=30)
    assert again.status_code == 409, again.text
    assert again.json()["errors"][0]["reason"] == "duplicate_id"


def test_score_without_a_worker_is_504_after_the_timeout(
    settings: Settings, start_bridge: BridgeFactory
) -> None:
    bridge = start_bridge("--score-timeout", "1")
    record = loan_records(1, seed=24, with_ids=True)[0]
    started = time.monotonic()
    response = httpx.post(bridge.url + "/v1/score", json=record, headers=HEADERS, timeout=10)
    elapsed = time.monotonic() - started
    assert response.status_code == 504, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert 0.9 < elapsed < 3
    # Not dropped: the record is on the topic and will be scored when a worker comes.
    produced = collect(settings, settings.topics.records, until=lambda m: len(m) >= 1)
    assert [m["id"] for m in produced] == [record["id"]]
    metrics = httpx.get(bridge.url + "/metrics").text
    assert 'scorestream_bridge_errors_total{kind="score_timeout"} 1.0' in metrics


def _raw_request(port: int, head: bytes, body_parts: list[bytes]) -> tuple[bytes, float]:
    """Send a request by hand; return the answer's first bytes and when they came."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        started = time.monotonic()
        for part in body_parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server stopped listening: that is the point
        answer = sock.recv(4096)
        return answer, time.monotonic() - started


def test_oversized_bodies_are_refused_before_they_are_read(
    settings: Settings, start_bridge: BridgeFactory
) -> None:
    bridge = start_bridge("--max-body-bytes", "100000")
    auth = f"X-API-Key: {API_KEY}\r\nContent-Type: application/json\r\n".encode()
    # Declares 50 MB, sends none of it: a server that read first would wait forever.
    head = b"POST /v1/records HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: 50000000\r\n\r\n"
    answer, elapsed = _raw_request(bridge.port, head, [])
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b"application/problem+json" in answer and elapsed < 2
    # Chunked, no length: refused once past the limit, while the client is still sending.
    head = (
        b"POST /v1/records HTTP/1.1\r\nHost: x\r\n" + auth + b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 10_000
    parts = [b"2710\r\n" + chunk + b"\r\n"] * 30 + [b"0\r\n\r\n"]
    answer, _ = _raw_request(bridge.port, head, parts)
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert httpx.get(bridge.url + "/healthz").status_code == 200


@pytest.mark.parametrize("flags", [["--max-records", "0"], ["--send-timeout", "-1"]])
def test_bad_flags_stop_the_bridge_with_a_message(
    settings: Settings,
    tmp_path: Path,
    settings_env: dict[str, str],
    model_dir: Path,
    flags: list[str],
) -> None:
    result = run_cli(
        ["bridge", "--model-dir", str(model_dir), *flags],
        {**settings_env, "INGEST_API_KEYS": API_KEY},
        timeout_s=60,
    )
    assert result.returncode != 0 and "scorestream bridge:" in result.stderr


def test_no_api_keys_means_no_start(
    settings: Settings, settings_env: dict[str, str], model_dir: Path
) -> None:
    result = run_cli(
        ["bridge", "--model-dir", str(model_dir)],
        {**settings_env, "INGEST_API_KEYS": ""},
        timeout_s=60,
    )
    assert result.returncode != 0
    assert "INGEST_API_KEYS" in result.stderr
