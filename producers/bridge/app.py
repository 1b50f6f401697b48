"""The HTTP ingest bridge: JSON records in over HTTP, onto the ``records`` topic.

Endpoints and status codes
--------------------------
``POST /v1/records`` (X-API-Key; body: one record object, or an array of 1..max_records)
    Each record is validated with the worker's own validator; a record without ``id``
    (or with ``"id": null``) gets a UUID4 first. The valid records are produced to
    ``records`` (keyed by id, acks=all) and the invalid ones are listed with their errors;
    one bad record never stops the others.

    - **202** every record was produced: ``{"accepted": [{"index", "id"}], "rejected": []}``
    - **207** some produced, some refused: same body, ``rejected`` lists
      ``{"index", "id", "reason", "field", "message"}``, one entry per problem of a
      refused record (every problem at once, so ``index`` may repeat). 207 rather than
      202 so that a client that only looks at the status still sees that not everything
      went in.
    - **422** no record was valid (problem+json, ``errors`` as ``rejected`` above), or the
      body is JSON but neither an object nor a non-empty array.
``POST /v1/labels`` (X-API-Key; body: one label object, or an array of 1..max_records)
    Each label (``id``, ``label``, optional ``label_time``, ``model_name``,
    ``model_version``; see :mod:`scorestream.contract.labels`) is checked with the sink's
    own decoder; the valid ones are produced to ``labels`` (keyed by id, acks=all). A
    label without an id is refused, never given one. Whether the id was ever scored is
    judged later by the daily labels check.

    - **202** every label was produced: ``{"accepted": [{"index", "id"}], "rejected": []}``
    - **207** some produced, some refused (``rejected`` as for records)
    - **422** no label was valid (problem+json, ``errors`` naming index, reason, field)
``POST /v1/score`` (X-API-Key; body: one record object)
    Publishes the record and waits for its score on ``scores``.

    - **200** the ``scores`` message, unchanged: ``id, event_time, event_time_ms,
      scored_at_ms, model_name, model_version, score, label, latency_ms, partition, offset``
    - **409** a request for the same id is already waiting, or the worker refused the
      record as a duplicate: other content under an id it has seen
      (``errors[0].reason == "duplicate_id"``). The same record sent again is never a
      duplicate: after a 504 or a lost answer it gets the stored score without being
      published again, for the last ``--score-memory`` records of this bridge; after a
      503 (whose publish may have landed all the same), beyond that memory or through
      another bridge it is published again and the worker scores the identical copy
      again (same id and bytes at another offset: a retry).
    - **422** the record is invalid (``errors``), or the body is not one object
    - **504** no score within ``--score-timeout`` (the record *was* produced; its score
      will still reach ``scores`` and the database)
``GET /healthz``
    **200** ``{"status": "ok"}`` while the process runs.
``GET /readyz``
    **200** when Kafka answers and the scores consumer is assigned (the schema is loaded
    before the app exists), else **503** with ``Retry-After`` and ``checks``.
``GET /metrics``
    **200** Prometheus text format: requests by route, method and status; latency
    histogram by route; records produced; records rejected by reason; errors by kind.
``GET /openapi.json``
    The OpenAPI 3.1 document, with the record's fields generated from the feature schema
    and examples from the model's reference profile (typical values).
``GET /docs``
    Swagger UI for that document, every file served by the bridge (no CDN: it renders
    offline).

The schema comes from ``MODEL`` when it is set (``name@alias`` in ``MODELS_DIR``, or
``models:/...``), and then follows the alias: every ``--model-poll`` seconds the reference
is resolved again, and a new version's schema replaces the validator and the OpenAPI
record between requests (a version whose schema does not load is logged and refused; the
old schema keeps serving). Without ``MODEL``, it is ``MODEL_DIR/schema.json``, fixed.

Errors on every ``/v1`` route (``application/problem+json``, RFC 9457)
    **400** body not JSON (or non-standard JSON such as ``NaN``), or the request not
    HTTP · **401** ``X-API-Key`` missing or wrong · **408** body not received whole
    within ``--body-timeout`` · **413** body over ``--max-body-bytes`` (refused before it
    is read whole) or more than ``--max-records`` records · **415** ``Content-Type`` not
    ``application/json`` · **422** JSON nested too deeply to be records · **431** request
    line and headers over ``--max-header-bytes`` · **503** Kafka unavailable, with
    ``Retry-After``; the request may have been stored in part, so retry it whole (records
    keep their ids if the client sends them, which makes a retry idempotent downstream) ·
    **500** only for a bug, with no details in the answer and the traceback in the log.
    Unknown paths give 404 and wrong methods 405, as problems too. A client hanging up
    before its body is complete is counted as 499, not as an error.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

from scorestream.producers.bridge.auth import API_KEY_HEADER, ApiKeyAuth
from scorestream.producers.bridge.docs import install_docs
from scorestream.producers.bridge.intake import (
    Accepted,
    ValidationBatcher,
    Verdict,
    parse_body,
    records_of,
    require_json,
    to_payloads,
)
from scorestream.producers.bridge.labels import judge_labels, labels_of
from scorestream.producers.bridge.limits import BodyLimitMiddleware
from scorestream.producers.bridge.link import KafkaLink
from scorestream.producers.bridge.metrics import BridgeMetrics, MetricsMiddleware
from scorestream.producers.bridge.openapi import install_openapi
from scorestream.producers.bridge.options import BridgeOptions
from scorestream.producers.bridge.problems import (
    DUPLICATE_ID,
    INVALID_LABEL,
    INVALID_RECORD,
    KAFKA_UNAVAILABLE,
    SCORE_TIMEOUT,
    CatchAllMiddleware,
    ProblemError,
    install_problem_handlers,
    record_errors,
)
from scorestream.producers.bridge.publisher import KafkaUnavailableError, RecordPublisher
from scorestream.producers.bridge.schema_follower import SchemaFollower, load_schema
from scorestream.producers.bridge.score_waiter import AlreadyWaitingError, Outcome
from scorestream.settings import Settings
from scorestream.streams.model.schema import FeatureSchema
from scorestream.streams.model.source import ModelSource, ResolvedModel, open_source
from scorestream.streams.validation import RecordValidator

READY_PROBE_TIMEOUT_S = 1.0


def create_app(
    settings: Settings, options: BridgeOptions | None = None, *, schema: FeatureSchema | None = None
) -> FastAPI:
    """Build the bridge for ``settings`` (Kafka, topics, keys, ``model_dir``).

    Parameters
    ----------
    settings : Settings
        Kafka address, topic prefix, ``INGEST_API_KEYS`` and the model whose
        ``schema.json`` records are validated against: ``MODEL`` (followed), or else
        ``MODEL_DIR``.
    options : BridgeOptions, optional
        Limits and timeouts; defaults as in :class:`BridgeOptions`.
    schema : FeatureSchema, optional
        Use this schema instead of reading ``model_dir/schema.json``.

    Raises
    ------
    SchemaError
        If the schema cannot be read.
    ModelError
        If ``MODEL`` names no model version.
    ConfigurationError
        If no API keys are configured and anonymous use is not allowed.
    """
    options = options or BridgeOptions()
    following: tuple[ModelSource, ResolvedModel] | None = None
    # Where the examples' reference profile is read from (none for a schema given as is).
    model_path: Path | None = None
    if schema is None:
        schema, following = _initial_schema(settings)
        model_path = Path(following[1].path) if following else settings.model_dir
    auth = ApiKeyAuth(settings.api_keys(), allow_anonymous=options.allow_anonymous)

    def validator_of(schema: FeatureSchema) -> RecordValidator:
        return RecordValidator(
            schema, out_of_range=options.out_of_range, max_record_bytes=options.max_record_bytes
        )

    batcher = ValidationBatcher(validator_of(schema))
    link = KafkaLink(settings, options)
    metrics = BridgeMetrics()
    unavailable_headers = {"Retry-After": str(options.retry_after_s)}

    def use_schema(resolved: ResolvedModel, new: FeatureSchema) -> None:
        # On the event loop, between two validation flushes: no request sees a mix.
        batcher.validator = validator_of(new)
        app.openapi_schema = None
        install_openapi(
            app,
            new,
            max_records=options.max_records,
            out_of_range=options.out_of_range,
            model_dir=Path(resolved.path),
        )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        link.start()
        follower = None
        if following is not None:
            source, current = following
            follower = asyncio.create_task(
                SchemaFollower(source, current, use_schema, options.model_poll_s).run()
            )
        # Most starts find Kafka at once; being ready when the port opens helps clients.
        await link.wait_connected(5.0)
        try:
            yield
        finally:
            if follower is not None:
                follower.cancel()
            await link.stop()

    app = FastAPI(
        title="scorestream ingest bridge",
        version=_version(),
        lifespan=lifespan,
        description="JSON records in, onto the records topic; scores out.",
        docs_url=None,  # served by install_docs, without a CDN
        redoc_url=None,
    )

    def count_rejections(verdict: Verdict) -> None:
        for _, rejection in verdict.rejected:
            metrics.records_rejected.labels(rejection.reason).inc()

    async def publish(accepted: Sequence[Accepted]) -> None:
        await produce(link.publisher, [(record.id.encode(), record.payload) for record in accepted])
        metrics.records_produced.inc(len(accepted))

    async def produce(publisher: RecordPublisher, messages: list[tuple[bytes, bytes]]) -> None:
        """Produce to ``publisher``'s topic; Kafka being down is the client's 503."""
        try:
            await publisher.publish(messages)
        except KafkaUnavailableError as error:
            metrics.errors.labels("kafka_unavailable").inc()
            raise ProblemError(
                503,
                "Kafka is unavailable; retry the whole request later",
                type_=KAFKA_UNAVAILABLE,
                title="Kafka unavailable",
                headers=unavailable_headers,
            ) from error

    @app.post(
        "/v1/records",
        status_code=202,
        operation_id="sendRecords",
        tags=["ingest"],
        summary="Validate records and produce the valid ones to the records topic",
    )
    async def post_records(request: Request) -> Response:
        auth.require(request.headers.get(API_KEY_HEADER))
        require_json(request.headers.get("content-type"))
        records = records_of(parse_body(await request.body()), options.max_records)
        verdict = await batcher.validate(to_payloads(records))
        count_rejections(verdict)
        rejected = [
            error
            for index, rejection in verdict.rejected
            for error in record_errors(index, rejection)
        ]
        if not verdict.accepted:
            raise ProblemError(
                422,
                f"none of the {len(records)} records is valid",
                type_=INVALID_RECORD,
                title="Invalid record",
                extensions={"errors": rejected},
            )
        await publish(verdict.accepted)
        accepted = [{"index": record.position, "id": record.id} for record in verdict.accepted]
        return _json({"accepted": accepted, "rejected": rejected}, 207 if rejected else 202)

    @app.post(
        "/v1/labels",
        status_code=202,
        operation_id="sendLabels",
        tags=["ingest"],
        summary="Check labels and produce the valid ones to the labels topic",
    )
    async def post_labels(request: Request) -> Response:
        auth.require(request.headers.get(API_KEY_HEADER))
        require_json(request.headers.get("content-type"))
        labels = labels_of(parse_body(await request.body()), options.max_records)
        verdict = judge_labels(labels, int(time.time() * 1000))
        for error in verdict.rejected:
            metrics.labels_rejected.labels(error["reason"]).inc()
        if not verdict.accepted:
            raise ProblemError(
                422,
                f"none of the {len(labels)} labels is valid",
                type_=INVALID_LABEL,
                title="Invalid label",
                extensions={"errors": verdict.rejected},
            )
        await produce(
            link.labels,
            [(record_id.encode(), payload) for _, record_id, payload in verdict.accepted],
        )
        metrics.labels_produced.inc(len(verdict.accepted))
        accepted = [{"index": index, "id": record_id} for index, record_id, _ in verdict.accepted]
        return _json(
            {"accepted": accepted, "rejected": verdict.rejected}, 207 if verdict.rejected else 202
        )

    @app.post(
        "/v1/score",
        operation_id="scoreRecord",
        tags=["ingest"],
        summary="Score one record through the pipeline and return its score",
    )
    async def post_score(request: Request) -> Response:
        auth.require(request.headers.get(API_KEY_HEADER))
        require_json(request.headers.get("content-type"))
        document = parse_body(await request.body())
        if not isinstance(document, dict):
            raise ProblemError(
                422, "send one record, a JSON object", type_=INVALID_RECORD, title="Invalid record"
            )
        verdict = await batcher.validate(to_payloads([document]))
        count_rejections(verdict)
        if verdict.rejected:
            index, rejection = verdict.rejected[0]
            errors = record_errors(index, rejection)
            raise ProblemError(
                422,
                rejection.message
                if len(errors) == 1
                else f"the record has {len(errors)} problems, listed in errors",
                type_=INVALID_RECORD,
                title="Invalid record",
                extensions={"errors": errors},
            )
        record = verdict.accepted[0]
        recalled = link.waiter.recall(record.id, record.payload)
        if recalled is not None and recalled.outcome is not None:
            return _answer(record.id, recalled.outcome)  # a retry: the stored outcome
        if not link.waiter.ready:
            metrics.errors.labels("kafka_unavailable").inc()
            raise ProblemError(
                503,
                "not connected to Kafka yet",
                type_=KAFKA_UNAVAILABLE,
                title="Kafka unavailable",
                headers=unavailable_headers,
            )
        try:
            future = link.waiter.expect(record.id)
        except AlreadyWaitingError:
            raise ProblemError(
                409,
                f"a request for id {record.id!r} is already waiting",
                type_=DUPLICATE_ID,
                title="Duplicate id",
            ) from None
        metrics.pending_scores.inc()
        try:
            # A retry of a record published before waits for it again: publishing it
            # twice would only have the worker score the same bytes a second time.
            if recalled is None:
                link.waiter.remember(record.id, record.payload)
                try:
                    await publish([record])
                except ProblemError:
                    link.waiter.unremember(record.id)
                    raise
            try:
                async with asyncio.timeout(options.score_timeout_s):
                    outcome = await future
            except TimeoutError:
                metrics.errors.labels("score_timeout").inc()
                raise ProblemError(
                    504,
                    f"no score for {record.id!r} within {options.score_timeout_s:g} s; "
                    "it was produced and will be scored",
                    type_=SCORE_TIMEOUT,
                    title="Score timeout",
                    extensions={"id": record.id},
                ) from None
        finally:
            link.waiter.forget(record.id)
            metrics.pending_scores.dec()
        return _answer(record.id, outcome)

    @app.get("/healthz", tags=["operations"], summary="Liveness", operation_id="getHealth")
    async def healthz() -> Response:
        return _json({"status": "ok"}, 200)

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness: Kafka reachable, schema loaded",
        operation_id="getReadiness",
    )
    async def readyz() -> Response:
        checks = {
            "schema": True,
            "kafka": await link.publisher.reachable(READY_PROBE_TIMEOUT_S),
            "scores_consumer": link.waiter.ready,
        }
        if all(checks.values()):
            return _json({"status": "ready", "checks": checks}, 200)
        raise ProblemError(
            503,
            "not ready: " + ", ".join(k for k, ok in checks.items() if not ok),
            type_=KAFKA_UNAVAILABLE,
            title="Not ready",
            headers=unavailable_headers,
            extensions={"checks": checks},
        )

    @app.get(
        "/metrics", tags=["operations"], summary="Prometheus metrics", operation_id="getMetrics"
    )
    async def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    install_problem_handlers(app)
    install_docs(app)
    install_openapi(
        app,
        schema,
        max_records=options.max_records,
        out_of_range=options.out_of_range,
        model_dir=model_path,
    )
    # Added innermost first: the metrics see the limit's 413s and the catch-all's 500s.
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=options.max_body_bytes,
        body_timeout_s=options.body_timeout_s,
    )
    app.add_middleware(CatchAllMiddleware)
    known_paths = frozenset(str(getattr(route, "path", "")) for route in app.routes)
    app.add_middleware(MetricsMiddleware, metrics=metrics, known_paths=known_paths)
    return app


def _initial_schema(
    settings: Settings,
) -> tuple[FeatureSchema, tuple[ModelSource, ResolvedModel] | None]:
    """The schema to start with, and what to follow (``MODEL``), if anything."""
    if not settings.model:
        return FeatureSchema.load(settings.model_dir / "schema.json"), None
    source = open_source(settings.model, settings)
    resolved = source.resolve()
    return load_schema(resolved), (source, resolved)


def _json(body: Any, status: int) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _answer(record_id: str, outcome: Outcome) -> Response:
    """The answer to ``POST /v1/score``: the score, or the worker's refusal as a problem."""
    if outcome.kind == "scored":
        return Response(outcome.value, media_type="application/json")
    raise _worker_refusal(record_id, outcome.value)


def _worker_refusal(record_id: str, value: bytes) -> ProblemError:
    """The answer when the worker put the record on ``records.rejected`` instead."""
    try:
        message = orjson.loads(value)
    except orjson.JSONDecodeError:
        message = {}
    # Every reason the worker writes is a contract reason; anything else is its bug.
    reason = str(message.get("reason", "internal_error"))
    error = {
        "index": 0,
        "id": record_id,
        "reason": reason,
        "field": message.get("field"),
        "message": str(message.get("message", "refused by the worker")),
    }
    if reason == "duplicate_id":
        return ProblemError(
            409,
            f"the worker has already seen id {record_id!r}",
            type_=DUPLICATE_ID,
            title="Duplicate id",
            extensions={"errors": [error]},
        )
    return ProblemError(
        422,
        error["message"],
        type_=INVALID_RECORD,
        title="Invalid record",
        extensions={"errors": [error]},
    )


def _version() -> str:
    try:
        return importlib.metadata.version("scorestream")
    except importlib.metadata.PackageNotFoundError:
        return "0"
