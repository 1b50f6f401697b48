"""The OpenAPI document's examples: typical records of the model, answers the bridge gives.

The app runs in-process without Kafka (as in ``test_bridge_http``): a valid example gets
past every check to the absent broker (503), an invalid one gets its documented 422.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import numpy as np
import orjson
import pandas as pd
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scorestream.contract.labels import LABEL_REASONS
from scorestream.contract.rejections import REJECTION_REASONS
from scorestream.producers.bridge import BridgeOptions, create_app
from scorestream.producers.bridge.examples import (
    ModelFacts,
    invalid_record,
    record_errors,
    typical_record,
)
from scorestream.producers.bridge.openapi import install_openapi
from scorestream.settings import Settings
from scorestream.streams.drift.profile import ReferenceProfile
from scorestream.streams.model.schema import FeatureSchema
from scorestream.streams.synthetic import generate_frame
from scorestream.streams.validation import RecordValidator
from tests.fixtures.bridge import API_KEY, free_port

JSON = {"Content-Type": "application/json", "X-API-Key": API_KEY}


@pytest.fixture()
def app(model_dir: Path) -> FastAPI:
    settings = Settings(
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",  # nobody there
        model_dir=model_dir,
        ingest_api_keys=API_KEY,
    )
    return create_app(settings, BridgeOptions(max_records=10))


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
def document(call: Any) -> dict[str, Any]:
    body: dict[str, Any] = call("GET", "/openapi.json").json()
    return body


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def request_examples(operation: dict[str, Any]) -> dict[str, Any]:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    return {key: example["value"] for key, example in content.get("examples", {}).items()}


def response_examples(operation: dict[str, Any]) -> dict[str, tuple[str, str, Any]]:
    """Example key -> (status, media type, value) of every response example."""
    found: dict[str, tuple[str, str, Any]] = {}
    for status, response in operation["responses"].items():
        for media_type, content in response.get("content", {}).items():
            for key, example in content.get("examples", {}).items():
                found[key] = (status, media_type, example["value"])
    return found


def validator_of(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A JSON Schema validator of ``schema``, its ``$ref``s resolved in ``document``."""
    return jsonschema_rs.validator_for(
        {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, **document}
    )


def test_operation_ids_are_readable(document: dict[str, Any]) -> None:
    ids = {(path, method): op["operationId"] for path, method, op in operations(document)}
    assert ids == {
        ("/v1/records", "post"): "sendRecords",
        ("/v1/score", "post"): "scoreRecord",
        ("/v1/labels", "post"): "sendLabels",
        ("/healthz", "get"): "getHealth",
        ("/readyz", "get"): "getReadiness",
        ("/metrics", "get"): "getMetrics",
    }


def test_errors_are_typed_with_the_contracts_reasons(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["RecordError"]["properties"]["reason"]["enum"] == list(REJECTION_REASONS)
    assert schemas["LabelError"]["properties"]["reason"]["enum"] == list(LABEL_REASONS)
    record_items = {"$ref": "#/components/schemas/RecordError"}
    assert schemas["RecordProblem"]["properties"]["errors"]["items"] == record_items
    assert schemas["RecordsResponse"]["properties"]["rejected"]["items"] == record_items
    label_items = {"$ref": "#/components/schemas/LabelError"}
    assert schemas["LabelProblem"]["properties"]["errors"]["items"] == label_items
    assert schemas["LabelsResponse"]["properties"]["rejected"]["items"] == label_items
    refused = document["paths"]["/v1/records"]["post"]["responses"]["422"]["content"]
    assert refused["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/RecordProblem"
    }


def test_every_example_matches_its_documented_schema(document: dict[str, Any]) -> None:
    checked = 0
    for path, method, operation in operations(document):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        answers = response_examples(operation)
        for key, value in request_examples(operation).items():
            assert body is not None
            valid = validator_of(document, body["schema"]).is_valid(value)
            # A request answered 200/202 is in the schema; one answered 207 (partly
            # refused) or 4xx shows bad input.
            assert valid == (answers[key][0] in ("200", "202")), (path, method, key)
            checked += 1
        for key, (status, media_type, value) in response_examples(operation).items():
            schema = operation["responses"][status]["content"][media_type]["schema"]
            errors = list(validator_of(document, schema).iter_errors(value))
            assert not errors, (path, method, key, [str(e) for e in errors])
            checked += 1
    assert checked >= 15


def test_every_request_example_pairs_with_a_documented_answer(document: dict[str, Any]) -> None:
    for path, _, operation in operations(document):
        requests = request_examples(operation)
        answers = response_examples(operation)
        assert set(requests) <= set(answers), path
    records = document["paths"]["/v1/records"]["post"]
    assert {key: answer[0] for key, answer in response_examples(records).items()} == {
        "oneRecord": "202",
        "twoRecords": "202",
        "oneGoodOneBad": "207",
        "invalidRecord": "422",
        "noApiKey": "401",
    }


def test_typical_records_sit_at_the_reference_median_not_the_bounds(
    document: dict[str, Any], model_dir: Path
) -> None:
    schema = FeatureSchema.load(model_dir / "schema.json")
    typical = request_examples(document["paths"]["/v1/records"]["post"])["oneRecord"]
    assert set(typical) == set(schema.names)  # every feature, no id: the bridge assigns one
    # The demo model's training data, as tests.fixtures.worker trains it.
    data = generate_frame(20_000, seed=7, start="2026-01-01T00:00:00")
    for spec in schema.features:
        value = typical[spec.name]
        column = data[spec.name]
        if spec.kind == "categorical":
            assert value == column.value_counts().index[0], spec.name
            continue
        assert value not in (spec.allowed_min, spec.allowed_max, spec.observed_max), spec.name
        # Within a tenth of a standard deviation of the data's median.
        assert abs(value - column.median()) <= 0.1 * column.std(), (spec.name, value)
        if spec.dtype == "int":
            assert isinstance(value, int), spec.name


def test_valid_examples_pass_validation_and_invalid_ones_get_the_documented_422(
    call: Any, document: dict[str, Any]
) -> None:
    for path in ("/v1/records", "/v1/score", "/v1/labels"):
        operation = document["paths"][path]["post"]
        answers = response_examples(operation)
        for key, value in request_examples(operation).items():
            status, media_type, expected = answers[key]
            response = call("POST", path, content=orjson.dumps(value), headers=JSON)
            if status.startswith("2"):
                # Past every check, on to Kafka, which is absent here.
                assert response.status_code == 503, (path, key, response.text)
                continue
            assert response.status_code == int(status), (path, key, response.text)
            assert response.headers["content-type"] == media_type
            body = response.json()
            # Every problem of the record, exactly as documented, in one answer.
            assert body["errors"] == expected["errors"], (path, key)
            assert body["type"] == expected["type"] and body["detail"] == expected["detail"]
    invalid = request_examples(document["paths"]["/v1/records"]["post"])["invalidRecord"]
    documented = response_examples(document["paths"]["/v1/records"]["post"])["invalidRecord"]
    assert len(documented[2]["errors"]) == 3  # a wrong type, a missing field, an extra field
    assert {e["reason"] for e in documented[2]["errors"]} == {
        "wrong_type",
        "missing_field",
        "unknown_field",
    }
    assert invalid["id"] == documented[2]["errors"][0]["id"]


def test_examples_follow_a_schema_swap(app: FastAPI, model_dir: Path, tmp_path: Path) -> None:
    """After a new schema (``MODEL`` followed), the examples are the new model's."""
    before = app.openapi()
    frame = pd.DataFrame({"height": np.linspace(150.0, 200.0, 101), "colour": ["red"] * 101})
    smaller = FeatureSchema.from_frame(frame, target=None)
    # As the bridge's schema follower does it.
    app.openapi_schema = None
    install_openapi(app, smaller, max_records=5, out_of_range="reject", model_dir=tmp_path)
    after = app.openapi()
    one = request_examples(after["paths"]["/v1/records"]["post"])["oneRecord"]
    # No profile in tmp_path: the schema's mean and most frequent category stand in.
    assert one == {"height": 175.0, "colour": "red"}
    assert request_examples(before["paths"]["/v1/records"]["post"])["oneRecord"] != one


frames = st.integers(min_value=5, max_value=60).flatmap(
    lambda n: st.fixed_dictionaries(
        {
            "floats": st.lists(
                st.floats(-1e6, 1e6, allow_nan=False) | st.none(), min_size=n, max_size=n
            ),
            "ints": st.lists(st.integers(-1000, 1000), min_size=n, max_size=n),
            "flags": st.lists(st.booleans(), min_size=n, max_size=n),
            "cats": st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=n, max_size=n),
        }
    )
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(columns=frames, with_profile=st.booleans())
def test_typical_records_of_any_model_are_valid(
    columns: dict[str, list[Any]], with_profile: bool
) -> None:
    frame = pd.DataFrame(columns)
    frame["floats"] = frame["floats"].astype(float)
    if frame["floats"].isna().all():
        frame.loc[0, "floats"] = 1.0
    schema = FeatureSchema.from_frame(frame, target=None)
    profile = (
        ReferenceProfile.from_frame(frame, schema.numeric, schema.categorical)
        if with_profile
        else None
    )
    facts = ModelFacts(schema, profile)
    validator = RecordValidator(schema)
    records = [
        typical_record(facts),
        typical_record(facts, quantile=0.25, rank=1),
        typical_record(facts, quantile=0.75, rank=3),
    ]
    assert record_errors(validator, [{"id": "x", **r} for r in records]) == []
    broken = record_errors(validator, [invalid_record(facts)])
    assert broken and {e["index"] for e in broken} == {0}
    assert "unknown_field" in {e["reason"] for e in broken}


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    text = orjson.dumps(document).decode()
    schemas = document["components"]["schemas"]
    refs = set(re.findall(r'"\$ref":"#/components/schemas/([^"]+)"', text))
    assert refs and refs <= set(schemas), refs - set(schemas)
