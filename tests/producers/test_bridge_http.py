"""The bridge's HTTP contract that needs no broker: auth, content, limits, problems, OpenAPI.

The app runs in-process without its lifespan, so it never connects to Kafka: requests
that pass every check end in 503 (not connected), which is itself part of the contract.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from scorestream.producers.bridge import BridgeOptions, create_app
from scorestream.settings import Settings
from scorestream.streams.model.schema import FeatureSchema
from tests.fixtures.bridge import API_KEY, OTHER_KEY, free_port

JSON = {"Content-Type": "application/json", "X-API-Key": API_KEY}


@pytest.fixture()
def app(model_dir: Path) -> FastAPI:
    settings = Settings(
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",  # nobody there
        model_dir=model_dir,
        ingest_api_keys=f"{API_KEY},{OTHER_KEY}",
    )
    return create_app(settings, BridgeOptions(max_body_bytes=20_000, max_records=10))


@pytest.fixture()
def call(app: FastAPI) -> Iterator[Any]:
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b")

    def request(method: str, path: str, **kwargs: Any) -> httpx.Response:
        return loop.run_until_complete(client.request(method, path, **kwargs))

    yield request
    loop.run_until_complete(client.aclose())
    loop.close()


@pytest.fixture()
def record(model_dir: Path) -> dict[str, Any]:
    """A valid record of the demo model, without id."""
    schema = FeatureSchema.load(model_dir / "schema.json")
    out: dict[str, Any] = {}
    for spec in schema.features:
        if spec.kind == "categorical":
            out[spec.name] = spec.categories[0]
        else:
            value = spec.observed_mean if spec.observed_mean is not None else 0.0
            out[spec.name] = round(value) if spec.dtype == "int" else value
    return out


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    return body


def test_health_answers_without_kafka_and_readiness_does_not(call: Any) -> None:
    assert call("GET", "/healthz").json() == {"status": "ok"}
    ready = call("GET", "/readyz")
    body = assert_problem(ready, 503)
    assert int(ready.headers["Retry-After"]) >= 1
    assert body["checks"] == {"schema": True, "kafka": False, "scores_consumer": False}


@pytest.mark.parametrize("path", ["/v1/records", "/v1/score"])
def test_api_key_missing_or_wrong_is_401(call: Any, record: dict[str, Any], path: str) -> None:
    for headers in (
        {"Content-Type": "application/json"},
        {"Content-Type": "application/json", "X-API-Key": "nope"},
        {"Content-Type": "application/json", "X-API-Key": API_KEY + "x"},
    ):
        response = call("POST", path, json=record, headers=headers)
        assert_problem(response, 401)
        assert "WWW-Authenticate" in response.headers
    # Both configured keys get past authentication (and on to Kafka, which is absent).
    for key in (API_KEY, OTHER_KEY):
        response = call(
            "POST",
            path,
            json=record,
            headers={"Content-Type": "application/json", "X-API-Key": key},
        )
        assert_problem(response, 503)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
        "multipart/form-data",
    ],
)
def test_wrong_content_type_is_415(
    call: Any, record: dict[str, Any], content_type: str | None
) -> None:
    headers = {"X-API-Key": API_KEY}
    if content_type:
        headers["Content-Type"] = content_type
    response = call("POST", "/v1/records", content=orjson.dumps(record), headers=headers)
    assert_problem(response, 415)


def test_json_with_charset_parameter_is_accepted(call: Any, record: dict[str, Any]) -> None:
    response = call(
        "POST",
        "/v1/records",
        content=orjson.dumps(record),
        headers={"X-API-Key": API_KEY, "Content-Type": "Application/JSON; charset=utf-8"},
    )
    assert_problem(response, 503)  # past every check, to the (absent) broker


@pytest.mark.parametrize(
    "body", [b"", b"{", b'{"age": NaN}', b"[1,", b"\xff\xfe", b'{"a": 1} trailing', b"nul"]
)
def test_malformed_json_is_400(call: Any, body: bytes) -> None:
    for path in ("/v1/records", "/v1/score"):
        assert_problem(call("POST", path, content=body, headers=JSON), 400)


@pytest.mark.parametrize("body", [b'"a string"', b"42", b"null", b"true", b"[]"])
def test_json_that_is_not_records_is_422(call: Any, body: bytes) -> None:
    assert_problem(call("POST", "/v1/records", content=body, headers=JSON), 422)


def test_score_takes_one_object_only(call: Any, record: dict[str, Any]) -> None:
    assert_problem(call("POST", "/v1/score", json=[record], headers=JSON), 422)


def test_invalid_records_are_422_with_an_error_per_record(
    call: Any, record: dict[str, Any]
) -> None:
    bad = [
        {**record, "id": "r-type", "income": "lots"},
        {**record, "id": "r-range", "age": -3},
        {**record, "id": "r-extra", "shoe_size": 44},
        {k: v for k, v in record.items() if k != "income"},
        [1, 2, 3],
    ]
    body = assert_problem(call("POST", "/v1/records", json=bad, headers=JSON), 422)
    assert [(e["index"], e["reason"], e["field"]) for e in body["errors"]] == [
        (0, "wrong_type", "income"),
        (1, "out_of_range", "age"),
        (2, "unknown_field", "shoe_size"),
        (3, "missing_field", "income"),
        (4, "not_an_object", None),
    ]
    assert body["errors"][0]["id"] == "r-type"
    assert body["errors"][3]["id"] is not None  # assigned by the bridge before validation
    single = assert_problem(call("POST", "/v1/score", json=bad[0], headers=JSON), 422)
    assert single["errors"][0]["reason"] == "wrong_type"


def test_every_problem_of_a_record_is_reported_at_once(call: Any, record: dict[str, Any]) -> None:
    broken = {k: v for k, v in record.items() if k != "income"}
    broken.update(id="r-many", age="forty", region=7, shoe_size=44)
    # /v1/score and a batch answer every problem of the record, one error each.
    expected = [
        ("missing_field", "income"),
        ("unknown_field", "shoe_size"),
        ("wrong_type", "age"),
        ("wrong_type", "region"),
    ]
    single = assert_problem(call("POST", "/v1/score", json=broken, headers=JSON), 422)
    assert [(e["reason"], e["field"]) for e in single["errors"]] == expected
    assert {(e["index"], e["id"]) for e in single["errors"]} == {(0, "r-many")}
    assert "4 problems" in single["detail"]
    batch = assert_problem(call("POST", "/v1/records", json=[broken, broken], headers=JSON), 422)
    assert [(e["index"], e["reason"], e["field"]) for e in batch["errors"]] == [
        (index, reason, field) for index in (0, 1) for reason, field in expected
    ]


def test_too_many_records_is_413(call: Any, record: dict[str, Any]) -> None:
    body = assert_problem(call("POST", "/v1/records", json=[record] * 11, headers=JSON), 413)
    assert "at most 10" in body["detail"]


def test_body_over_the_limit_is_413(call: Any, record: dict[str, Any]) -> None:
    big = {**record, "region": "x" * 30_000}
    for path in ("/v1/records", "/v1/score"):
        response = call("POST", path, json=big, headers=JSON)
        assert_problem(response, 413)
        assert response.headers["connection"] == "close"


def test_valid_records_without_kafka_are_503_with_retry_after(
    call: Any, record: dict[str, Any]
) -> None:
    for path, body in (("/v1/records", [record, record]), ("/v1/score", record)):
        response = call("POST", path, json=body, headers=JSON)
        assert_problem(response, 503)
        assert response.headers["Retry-After"] == str(BridgeOptions().retry_after_s)


def test_unknown_path_and_wrong_method_are_problems(call: Any) -> None:
    assert_problem(call("GET", "/v2/nothing"), 404)
    wrong = call("GET", "/v1/records")
    assert_problem(wrong, 405)
    assert wrong.headers["allow"] == "POST"


def test_metrics_count_requests_by_route_and_status(call: Any, record: dict[str, Any]) -> None:
    call("GET", "/healthz")
    call("POST", "/v1/records", json=record, headers={"Content-Type": "application/json"})
    call("GET", "/no/such/path/12345")
    text = call("GET", "/metrics").text
    assert (
        'scorestream_bridge_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    )
    assert 'route="/v1/records",status="401"' in text
    assert 'route="unmatched",status="404"' in text and "12345" not in text
    assert "scorestream_bridge_request_duration_seconds_bucket" in text
    assert "scorestream_bridge_records_produced_total" in text
    assert "scorestream_bridge_errors_total" in text


def test_openapi_documents_the_record_and_every_status(call: Any, model_dir: Path) -> None:
    document = call("GET", "/openapi.json").json()
    schema = FeatureSchema.load(model_dir / "schema.json")
    record = document["components"]["schemas"]["Record"]
    assert set(schema.names) <= set(record["properties"])
    assert record["additionalProperties"] is False
    records_op = document["paths"]["/v1/records"]["post"]
    body_schema = records_op["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/Record"} in body_schema["anyOf"]
    assert set(records_op["responses"]) >= {"202", "207", "400", "401", "413", "415", "422", "503"}
    score_op = document["paths"]["/v1/score"]["post"]
    assert set(score_op["responses"]) >= {"200", "409", "422", "503", "504"}
    assert score_op["security"] == records_op["security"] == [{"ApiKey": []}]
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "One of the keys in INGEST_API_KEYS",
    }
    problem = records_op["responses"]["503"]
    assert "application/problem+json" in problem["content"]
    assert "Retry-After" in problem["headers"]
