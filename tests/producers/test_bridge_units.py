"""The bridge's pure parts: partitioning, ids, keys, body limits, batching, OpenAPI models."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.responses import PlainTextResponse
from starlette.types import Message, Receive, Scope, Send

from scorestream.producers.bridge.auth import ApiKeyAuth
from scorestream.producers.bridge.intake import ValidationBatcher, to_payloads, uuid4_strings
from scorestream.producers.bridge.limits import BodyLimitMiddleware
from scorestream.producers.bridge.openapi import record_model
from scorestream.producers.bridge.problems import CatchAllMiddleware, ProblemError
from scorestream.producers.bridge.score_waiter import Recall, ScoreWaiter
from scorestream.producers.partitioning import murmur2_many, partitions_for
from scorestream.streams.model.schema import FeatureSchema
from scorestream.streams.validation import RecordValidator


@settings(max_examples=300, deadline=None)
@given(
    keys=st.lists(st.binary(max_size=64), max_size=80), count=st.integers(min_value=1, max_value=64)
)
def test_partitions_match_aiokafka_default_partitioner(keys: list[bytes], count: int) -> None:
    partitions = list(range(count))
    expected = [DefaultPartitioner()(key, partitions, partitions) for key in keys]
    assert partitions_for(keys, partitions) == expected


@settings(max_examples=50, deadline=None)
@given(length=st.integers(min_value=0, max_value=70), seed=st.binary(min_size=1, max_size=8))
def test_vectorised_murmur2_on_many_keys_of_one_length(length: int, seed: bytes) -> None:
    from aiokafka.partitioner import murmur2

    # Large groups of one length take the numpy path; every tail length 0..3 included.
    keys = [(seed * (length + 1) + i.to_bytes(4, "little"))[:length] for i in range(40)]
    assert murmur2_many(keys) == [murmur2(key) for key in keys]


@pytest.mark.parametrize("n", [0, 1, 3, 4, 100, 1000])
def test_uuid4_strings_are_distinct_version_4_uuids(n: int) -> None:
    ids = uuid4_strings(n)
    assert len(ids) == n == len(set(ids))
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_to_payloads_assigns_ids_only_where_absent_or_null() -> None:
    payloads = to_payloads([{"a": 1}, {"id": None}, {"id": "mine"}, {"id": 7}, [1, 2]])
    decoded = [orjson.loads(p) for p in payloads]
    uuid.UUID(decoded[0]["id"])
    uuid.UUID(decoded[1]["id"])
    assert decoded[2:] == [{"id": "mine"}, {"id": 7}, [1, 2]]


def test_api_keys_are_checked_against_every_key() -> None:
    auth = ApiKeyAuth(["alpha", "beta"])
    assert auth.is_allowed("alpha") and auth.is_allowed("beta")
    for wrong in (None, "", "alph", "alphaa", "ALPHA", "alpha,beta", "é-key", "\udcff"):
        assert not auth.is_allowed(wrong)
    with pytest.raises(ProblemError) as refused:
        auth.require(None)
    assert refused.value.status == 401
    assert refused.value.headers["WWW-Authenticate"].startswith("ApiKey")


def test_no_keys_refuses_to_start_unless_anonymous_is_allowed() -> None:
    with pytest.raises(ValueError, match="no API keys"):
        ApiKeyAuth([])
    assert ApiKeyAuth([], allow_anonymous=True).is_allowed(None)


# --- body limit -------------------------------------------------------------------------


def _echo_app(calls: list[int]) -> BodyLimitMiddleware:
    # A bare ASGI app: Starlette's own error middleware would answer an exception first.
    async def echo(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(1)
        size, more = 0, True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        await PlainTextResponse(str(size))(scope, receive, send)

    return BodyLimitMiddleware(echo, max_body_bytes=1000, body_timeout_s=5)


async def _post(app: object, **kwargs: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as client:
        return await client.post("/", **kwargs)  # type: ignore[arg-type]


def test_declared_length_over_the_limit_is_refused_before_the_app_runs() -> None:
    calls: list[int] = []
    response = asyncio.run(_post(_echo_app(calls), content=b"x" * 1001))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 413
    assert calls == []


def test_streamed_body_over_the_limit_is_refused_while_streaming() -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            sent.append(1)
            yield b"y" * 100

    response = asyncio.run(_post(_echo_app([]), content=chunks()))
    assert response.status_code == 413
    # Refused once past 1000 bytes: the app stopped asking for the rest.
    assert len(sent) <= 12


def test_bodies_within_the_limit_pass() -> None:
    calls: list[int] = []
    response = asyncio.run(_post(_echo_app(calls), content=b"z" * 1000))
    assert response.status_code == 200 and response.text == "1000" and calls == [1]


async def _call_with(messages: list[Message | None]) -> list[Message]:
    """Run the echo app behind the guard on these receive messages (None: wait for ever)."""
    sent: list[Message] = []

    async def receive() -> Message:
        message = messages.pop(0)
        if message is None:
            await asyncio.Event().wait()
        assert message is not None
        return message

    async def send(message: Message) -> None:
        sent.append(message)

    app = _echo_app([])
    app.body_timeout_s = 0.3
    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    await app(scope, receive, send)
    return sent


def test_a_body_that_stops_arriving_is_408() -> None:
    chunk: Message = {"type": "http.request", "body": b"x", "more_body": True}
    sent = asyncio.run(_call_with([chunk, chunk, None]))
    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in sent[0]["headers"]
    assert orjson.loads(sent[1]["body"])["status"] == 408


def test_a_client_gone_mid_body_is_499_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    chunk: Message = {"type": "http.request", "body": b"x", "more_body": True}
    sent = asyncio.run(_call_with([chunk, {"type": "http.disconnect"}]))
    assert sent[0]["status"] == 499
    assert [(r.levelname, "went away" in r.getMessage()) for r in caplog.records] == [
        ("INFO", True)
    ]


def test_json_too_deep_to_encode_again_is_a_422_problem() -> None:
    deep: object = 1
    for _ in range(300):
        deep = {"a": deep}
    with pytest.raises(ProblemError) as refused:
        to_payloads([{"id": "x", "region": deep}])
    assert refused.value.status == 422


def test_score_memory_recalls_the_same_record_only_and_forgets_the_oldest() -> None:
    waiter = ScoreWaiter("127.0.0.1:1", "scores", "rejected", memory=2)
    waiter.remember("a", b"record-a")
    assert waiter.recall("a", b"record-a") == Recall(None)  # published, no outcome yet
    assert waiter.recall("a", b"another record") is None
    waiter.remember("a", b"another record")  # the first record under an id stays
    assert waiter.recall("a", b"record-a") == Recall(None)
    waiter.unremember("a")  # its publication failed: a retry publishes again
    assert waiter.recall("a", b"record-a") is None
    for name in ("b", "c", "d"):
        waiter.remember(name, name.encode())
    assert waiter.recall("b", b"b") is None
    assert waiter.recall("c", b"c") == waiter.recall("d", b"d") == Recall(None)


def test_unexpected_errors_become_a_500_problem_without_details(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    app = CatchAllMiddleware(broken)
    with caplog.at_level(logging.ERROR):
        response = asyncio.run(_post(app, content=b"{}"))
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret" not in response.text and "Traceback" not in response.text
    assert "secret internals" in caplog.text  # logged, with the traceback


# --- validation batching ----------------------------------------------------------------


def _record(model_schema: FeatureSchema, **overrides: object) -> dict[str, object]:
    record: dict[str, object] = {}
    for spec in model_schema.features:
        if spec.kind == "categorical":
            record[spec.name] = spec.categories[0]
        elif spec.dtype == "bool":
            record[spec.name] = True
        else:
            low = spec.observed_min if spec.observed_min is not None else 0.0
            record[spec.name] = int(low) if spec.dtype == "int" else float(low)
    record.update(overrides)
    return record


def test_concurrent_requests_share_one_validation_and_get_their_own_verdicts(
    model_dir: Path,
) -> None:
    schema = FeatureSchema.load(model_dir / "schema.json")
    validator = RecordValidator(schema)
    calls: list[int] = []
    original = validator.validate_batch

    def counting(payloads, ingest_time_ms):  # type: ignore[no-untyped-def]
        calls.append(len(payloads))
        return original(payloads, ingest_time_ms)

    validator.validate_batch = counting  # type: ignore[method-assign]
    batcher = ValidationBatcher(validator)
    requests = [
        [_record(schema, id="a0"), _record(schema, id="a1", age="old")],
        [_record(schema, id="b0", income=-5.0)],
        [_record(schema, id="c0"), _record(schema, id="c1"), [1]],
    ]

    async def run() -> list:  # type: ignore[type-arg]
        return await asyncio.gather(*(batcher.validate(to_payloads(r)) for r in requests))

    verdicts = asyncio.run(run())
    assert calls == [6]
    assert [(a.position, a.id) for a in verdicts[0].accepted] == [(0, "a0")]
    assert [(i, r.reason) for i, r in verdicts[0].rejected] == [(1, "wrong_type")]
    assert verdicts[1].accepted == []
    assert [(i, r.reason, r.id) for i, r in verdicts[1].rejected] == [(0, "out_of_range", "b0")]
    assert [(a.position, a.id) for a in verdicts[2].accepted] == [(0, "c0"), (1, "c1")]
    assert [(i, r.reason) for i, r in verdicts[2].rejected] == [(2, "not_an_object")]
    assert orjson.loads(verdicts[2].accepted[1].payload)["id"] == "c1"


# --- OpenAPI record model ---------------------------------------------------------------


def test_record_model_carries_the_features_types_bounds_and_nullability(model_dir: Path) -> None:
    schema = FeatureSchema.load(model_dir / "schema.json")
    json_schema = record_model(schema).model_json_schema()
    properties = json_schema["properties"]
    assert set(properties) == {"id", "event_time", *schema.names, schema.target}
    assert json_schema["additionalProperties"] is False
    assert set(json_schema["required"]) == {s.name for s in schema.features if not s.nullable}
    for spec in schema.features:
        field = properties[spec.name]
        types = (
            {option.get("type") for option in field["anyOf"]}
            if "anyOf" in field
            else {field["type"]}
        )
        expected = {"float": "number", "int": "integer", "bool": "boolean", "string": "string"}[
            spec.dtype
        ]
        assert types == ({expected, "null"} if spec.nullable else {expected})
        if spec.kind == "numeric" and spec.allowed_min is not None:
            bounded = next(o for o in field.get("anyOf", [field]) if o.get("type") != "null")
            assert bounded["minimum"] == spec.allowed_min
            assert bounded["maximum"] == spec.allowed_max
    clipped = record_model(schema, out_of_range="clip").model_json_schema()
    assert "minimum" not in str(clipped["properties"][schema.numeric[0]])


# --- logging ----------------------------------------------------------------------------


def test_repeated_kafka_client_errors_are_let_through_once_per_interval() -> None:
    import time

    from scorestream.producers.kafka_logs import RepeatFilter

    def record(name: str, msg: str, *args: object) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)

    quiet = RepeatFilter(interval_s=0.2)
    refused = "Unable connect to node with id %s: %s"
    assert quiet.filter(record("aiokafka", refused, 1, "refused"))
    assert not quiet.filter(record("aiokafka", refused, 1, "refused again"))
    assert quiet.filter(record("aiokafka.consumer.fetcher", refused, 1, "refused"))
    assert quiet.filter(record("aiokafka", "Unable to update metadata from %s", [1]))
    for _ in range(3):  # the bridge's own messages are never held back
        assert quiet.filter(
            record("scorestream.producers.bridge.publisher", "Kafka publish failed")
        )
    time.sleep(0.25)
    assert quiet.filter(record("aiokafka", refused, 1, "still refused"))


def test_assigned_ids_are_unique_across_many_requests() -> None:
    ids = [orjson.loads(p)["id"] for _ in range(300) for p in to_payloads([{}, {}, {}])]
    ids += [orjson.loads(p)["id"] for p in to_payloads([{} for _ in range(5000)])]
    assert len(set(ids)) == len(ids) == 5900
    assert all(uuid.UUID(i).version == 4 for i in ids)
