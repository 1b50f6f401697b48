"""Property: whatever a client sends to ``POST /v1/records``, the real bridge answers with a
documented status, problem+json on every refusal, and one verdict per record, never a 5xx.

The bodies come from the same hostile strategies the worker's batch path is fuzzed with
(arbitrary bytes, other encodings, deep nesting, odd unicode, NaN-like strings, duplicate
keys), single and in arrays, so both doors are held to one contract.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scorestream.streams.synthetic import generate_records
from tests.fixtures.bridge import API_KEY, BridgeFactory
from tests.streams.hostile import hostile_payloads

TEMPLATE: dict[str, Any] = next(
    generate_records(1, 5, 1, start="2026-03-01T00:00:00", include_target=False)
)[0]
REFUSALS = {400, 408, 413, 415, 422, 431}


def _records_in(body: bytes) -> int | None:
    """How many records the body holds, if it is a JSON array or object the bridge can read."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(document, list):
        return len(document)
    return 1 if isinstance(document, dict) else None


def _body(parts: list[bytes | None], as_array: bool) -> bytes:
    if not as_array:
        return parts[0] or b""
    # An array of the hostile records that are JSON themselves; raw bytes go in alone.
    items = [p for p in parts if p is not None and _records_in(p) == 1]
    return b"[" + b",".join(items) + b"]" if items else parts[0] or b""


@pytest.mark.integration
def test_any_body_gets_a_documented_answer_and_one_verdict_per_record(
    start_bridge: BridgeFactory,
) -> None:
    bridge = start_bridge()
    client = httpx.Client(base_url=bridge.url, timeout=30)

    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(hostile_payloads(TEMPLATE), min_size=1, max_size=8), st.booleans())
    def check(parts: list[bytes | None], as_array: bool) -> None:
        body = _body(parts, as_array)
        answer = client.post(
            "/v1/records",
            content=body,
            headers={"Content-Type": "application/json", "X-API-Key": API_KEY},
        )
        assert answer.status_code in {202, 207} | REFUSALS, (answer.status_code, answer.text)
        if answer.status_code in REFUSALS:
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["status"] == answer.status_code
            return
        verdict = answer.json()
        indexes = sorted(
            [r["index"] for r in verdict["accepted"]] + [r["index"] for r in verdict["rejected"]]
        )
        assert indexes == list(range(_records_in(body) or 0))

    try:
        check()
    finally:
        client.close()
    assert bridge.proc.poll() is None, bridge.log_text()
    assert "Traceback" not in bridge.log_text()
