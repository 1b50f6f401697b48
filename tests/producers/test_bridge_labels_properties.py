"""Property: whatever a client sends to ``POST /v1/labels``, the real bridge answers with a
documented status, problem+json on every refusal, and one verdict per label, never a 5xx.

The bodies are the hostile payloads the worker and ``/v1/records`` are fuzzed with, built on
a valid label, single and in arrays.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.bridge import API_KEY, BridgeFactory
from tests.streams.hostile import hostile_payloads

TEMPLATE: dict[str, Any] = {
    "id": "rec-1",
    "label": 1,
    "label_time": "2026-03-01T00:00:00Z",
    "model_name": "loans",
}
REFUSALS = {400, 408, 413, 415, 422, 431}


def _labels_in(body: bytes) -> int | None:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(document, list):
        return len(document)
    return 1 if isinstance(document, dict) else None


@pytest.mark.integration
def test_any_labels_body_gets_a_documented_answer_and_one_verdict_per_label(
    start_bridge: BridgeFactory,
) -> None:
    bridge = start_bridge()
    client = httpx.Client(base_url=bridge.url, timeout=30)

    @settings(
        max_examples=200,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(hostile_payloads(TEMPLATE), min_size=1, max_size=8), st.booleans())
    def check(parts: list[bytes | None], as_array: bool) -> None:
        items = [p for p in parts if p is not None and _labels_in(p) == 1]
        body = b"[" + b",".join(items) + b"]" if as_array and items else parts[0] or b""
        answer = client.post(
            "/v1/labels",
            content=body,
            headers={"Content-Type": "application/json", "X-API-Key": API_KEY},
        )
        assert answer.status_code in {202, 207} | REFUSALS, (answer.status_code, answer.text)
        if answer.status_code in REFUSALS:
            assert answer.headers["content-type"].startswith("application/problem+json")
            problem = answer.json()
            assert problem["status"] == answer.status_code
            if answer.status_code == 422 and "errors" in problem:
                assert [e["index"] for e in problem["errors"]] == list(range(_labels_in(body) or 0))
            return
        verdict = answer.json()
        indexes = sorted(
            [r["index"] for r in verdict["accepted"]] + [r["index"] for r in verdict["rejected"]]
        )
        assert indexes == list(range(_labels_in(body) or 0))

    try:
        check()
    finally:
        client.close()
    assert bridge.proc.poll() is None, bridge.log_text()
    assert "Traceback" not in bridge.log_text()
