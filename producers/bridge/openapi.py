"""The OpenAPI document: the record's fields and types come from the model's feature schema.

:func:`record_model` turns a :class:`FeatureSchema` into a pydantic model with
:func:`pydantic.create_model`; it exists only to describe the API (the request itself is
checked by the worker's validator, which can say more than JSON Schema, for example which
ISO-8601 strings are times). The JSON Schema is therefore as strict as the validator where
it can be (types, nullability, bounds, unknown fields) and looser where it cannot.

The handlers read raw bodies (to answer 400/413/415 themselves), so FastAPI cannot infer
request bodies and error responses; :func:`install_openapi` writes them in, with examples
made from the model (:mod:`.examples`). Errors are typed: a refused record's errors are
:class:`RecordError` items whose ``reason`` is one of the contract's rejection reasons, a
refused label's are :class:`LabelError` items.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import models_json_schema

from scorestream.contract import LabelMessage, ScoreMessage
from scorestream.contract.labels import LabelReason
from scorestream.contract.rejections import RejectionReason
from scorestream.producers.bridge.auth import SECURITY_SCHEME, SECURITY_SCHEME_NAME
from scorestream.producers.bridge.examples import (
    Example,
    ModelFacts,
    OperationExamples,
    api_examples,
)
from scorestream.producers.bridge.problems import (
    DUPLICATE_ID,
    INVALID_LABEL,
    INVALID_RECORD,
    KAFKA_UNAVAILABLE,
    PROBLEM_MEDIA_TYPE,
    SCORE_TIMEOUT,
)
from scorestream.streams.model.schema import (
    EVENT_TIME_COLUMN,
    ID_COLUMN,
    FeatureSchema,
    FeatureSpec,
)
from scorestream.streams.validation import (
    MAX_EVENT_TIME_MS,
    MAX_ID_LENGTH,
    MIN_EVENT_TIME_MS,
    RecordValidator,
)

REF = "#/components/schemas/{model}"


class RecordError(BaseModel):
    """One problem of a refused record; a record with several problems has one error each."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(description="Position of the record in the request (0 for one record)")
    id: str | None = Field(description="The record's id, when it had a valid one")
    reason: RejectionReason = Field(description="Machine-readable reason")
    field: str | None = Field(description="The offending field, when there is one")
    message: str = Field(description="What is wrong, for a human")


class LabelError(BaseModel):
    """Why one label of a request was refused."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(description="Position of the label in the request (0 for one label)")
    id: str | None = Field(description="The label's id, when it had a string one")
    reason: LabelReason = Field(description="Machine-readable reason")
    field: str | None = Field(description="The offending field, when there is one")
    message: str = Field(description="What is wrong, for a human")


class AcceptedRecord(BaseModel):
    """A record produced to the records topic."""

    index: int = Field(description="Position of the record in the request")
    id: str = Field(description="The record's id, assigned by the bridge when absent")


class RecordsResponse(BaseModel):
    """Outcome of POST /v1/records: the produced records, and every problem of the others."""

    accepted: list[AcceptedRecord]
    rejected: list[RecordError] = Field(
        description="One error per problem of a refused record (its index may repeat)"
    )


_PROBLEM_TYPES = ", ".join(
    (INVALID_RECORD, INVALID_LABEL, KAFKA_UNAVAILABLE, SCORE_TIMEOUT, DUPLICATE_ID)
)


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(
        description=f"Problem type URI: about:blank (see the status) or one of {_PROBLEM_TYPES}"
    )
    title: str = Field(description="Short summary of the problem type")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong with this request, for a human")


class RecordProblem(Problem):
    """A problem about records: ``errors`` lists every problem of every refused record."""

    errors: list[RecordError] = Field(
        default_factory=list,
        description="One error per problem, several per record when it has several",
    )


class LabelProblem(Problem):
    """A problem about labels: ``errors`` lists why each label was refused."""

    errors: list[LabelError] = Field(default_factory=list, description="One error per label")


class NotReadyProblem(Problem):
    """Not ready: which readiness checks failed."""

    checks: dict[str, bool] = Field(description="Each check and whether it passed")


class ScoreTimeoutProblem(Problem):
    """No score in time; the record was produced and will still be scored."""

    id: str = Field(description="The record's id, to find its score later")


def _message_model(message: type[Any], name: str) -> type[BaseModel]:
    """A pydantic model of a contract message (dataclass): its fields, types, descriptions."""
    hints = typing.get_type_hints(message)
    fields: dict[str, Any] = {
        f.name: (hints[f.name], Field(description=f.metadata.get("description")))
        for f in dataclasses.fields(message)
    }
    model: type[BaseModel] = create_model(
        name, __config__=ConfigDict(extra="allow"), __doc__=message.__doc__, **fields
    )
    return model


#: The ``scores`` message, as ``/v1/score`` returns it.
Score = _message_model(ScoreMessage, "Score")


def _label_model() -> type[BaseModel]:
    """The ``labels`` message as ``/v1/labels`` takes it: ``id`` and ``label`` required."""
    hints = typing.get_type_hints(LabelMessage)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(LabelMessage):
        required = f.default is dataclasses.MISSING
        fields[f.name] = (
            hints[f.name],
            Field(
                default=... if required else None,
                description=f.metadata.get("description"),
            ),
        )
    model: type[BaseModel] = create_model(
        "Label",
        __config__=ConfigDict(extra="allow"),
        __doc__="A true label (unknown members are ignored).",
        **fields,
    )
    return model


#: The ``labels`` message, as ``/v1/labels`` takes it.
Label = _label_model()


class AcceptedLabel(BaseModel):
    """A label produced to the labels topic."""

    index: int = Field(description="Position of the label in the request")
    id: str = Field(description="The id of the record it labels")


class LabelsResponse(BaseModel):
    """Outcome of POST /v1/labels: the produced labels, and the refused ones."""

    accepted: list[AcceptedLabel]
    rejected: list[LabelError]


class Health(BaseModel):
    """Liveness: the process answers."""

    status: Literal["ok"]


class Readiness(BaseModel):
    """Readiness: Kafka answers and the schema is loaded."""

    status: Literal["ready", "not ready"]
    checks: dict[str, bool]


def record_model(schema: FeatureSchema, *, out_of_range: str = "reject") -> type[BaseModel]:
    """A pydantic model of an input record for ``schema`` (for the OpenAPI document).

    Fields get internal names and the record's names as aliases, so that any feature
    name (``schema``, ``model_config``, ``my-field``) is possible.
    """
    fields: dict[str, Any] = {
        "field_id": (
            Annotated[str | None, Field(min_length=1, max_length=MAX_ID_LENGTH)],
            Field(
                default=None,
                alias=ID_COLUMN,
                description="Unique record id; the bridge assigns a UUID4 when absent",
            ),
        ),
        "field_event_time": (
            str | Annotated[int, Field(ge=MIN_EVENT_TIME_MS, lt=MAX_EVENT_TIME_MS)] | None,
            Field(
                default=None,
                alias=EVENT_TIME_COLUMN,
                description="ISO-8601 time (naive means UTC) or epoch milliseconds; "
                "default: time of ingest",
            ),
        ),
    }
    bounded = out_of_range == "reject"
    for number, spec in enumerate(schema.features):
        fields[f"feature_{number}"] = _feature_field(spec, bounded)
    if schema.target is not None:
        fields["target"] = (
            Any,
            Field(default=None, alias=schema.target, description="The label; accepted and ignored"),
        )
    model: type[BaseModel] = create_model(
        "Record",
        __config__=ConfigDict(extra="forbid", populate_by_name=True),
        __doc__="An input record: id, event time and the model's features.",
        **fields,
    )
    return model


def _feature_field(spec: FeatureSpec, bounded: bool) -> tuple[Any, Any]:
    constraints: dict[str, Any] = {}
    if spec.kind == "numeric" and spec.dtype != "bool" and bounded:
        if spec.allowed_min is not None:
            constraints["ge"] = spec.allowed_min
        if spec.allowed_max is not None:
            constraints["le"] = spec.allowed_max
    python_type: Any = {"float": float, "int": int, "bool": bool, "string": str}[spec.dtype]
    # Strict: JSON Schema must not call "5" a number or true an integer.
    annotated: Any = Annotated[python_type, Field(strict=True, **constraints)]
    description = f"{spec.kind} feature ({spec.dtype})"
    extra: dict[str, Any] = {}
    if spec.categories:
        description += "; unknown categories are accepted"
        extra["examples"] = spec.categories[:20]
    if spec.nullable:
        return (
            annotated | None,
            Field(
                default=None,
                alias=spec.name,
                description=description + "; null when unknown",
                **extra,
            ),
        )
    return (annotated, Field(alias=spec.name, description=description, **extra))


def _examples(examples: dict[str, Example] | None) -> dict[str, Any]:
    if not examples:
        return {}
    return {"examples": {key: example.to_openapi() for key, example in examples.items()}}


def _json(
    schema_name: str, description: str, examples: dict[str, Example] | None = None
) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"$ref": REF.format(model=schema_name)},
                **_examples(examples),
            }
        },
    }


def _problem(
    description: str,
    *,
    model: str = "Problem",
    retry_after: bool = False,
    examples: dict[str, Example] | None = None,
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {
            PROBLEM_MEDIA_TYPE: {"schema": {"$ref": REF.format(model=model)}, **_examples(examples)}
        },
    }
    if retry_after:
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before retrying",
                "schema": {"type": "integer"},
            }
        }
    return response


_UNAUTHORISED = Example(
    "No X-API-Key header",
    {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": "missing X-API-Key header",
    },
)


def _common_problems() -> dict[str, Any]:
    return {
        "400": _problem("The body is not JSON"),
        "401": _problem("X-API-Key missing or wrong", examples={"noApiKey": _UNAUTHORISED}),
        "413": _problem("Body over the size limit, or too many records"),
        "415": _problem("Content-Type is not application/json"),
        "503": _problem("Kafka is unavailable; retry after Retry-After seconds", retry_after=True),
        "default": _problem("Unexpected error (500, without details; logged)"),
    }


def _body(schema: dict[str, Any], examples: dict[str, Example]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": schema, **_examples(examples)}},
    }


def _operations(
    max_records: int, examples: dict[str, OperationExamples]
) -> dict[tuple[str, str], dict[str, Any]]:
    one = {"$ref": REF.format(model="Record")}
    label = {"$ref": REF.format(model="Label")}
    many = {"type": "array", "items": one, "minItems": 1, "maxItems": max_records}
    labels = {"type": "array", "items": label, "minItems": 1, "maxItems": max_records}
    secured: list[dict[str, list[str]]] = [{SECURITY_SCHEME_NAME: []}]
    records, score, labelled = (
        examples["/v1/records"],
        examples["/v1/score"],
        examples["/v1/labels"],
    )
    return {
        ("/v1/records", "post"): {
            "security": secured,
            "requestBody": _body({"anyOf": [one, many]}, records.requests),
            "responses": {
                "202": _json(
                    "RecordsResponse", "Every record was produced", records.responses.get("202")
                ),
                "207": _json(
                    "RecordsResponse",
                    "Some records were produced, some refused (see rejected)",
                    records.responses.get("207"),
                ),
                **_common_problems(),
                "422": _problem(
                    "No record was valid; errors lists every problem of every record",
                    model="RecordProblem",
                    examples=records.responses.get("422"),
                ),
            },
        },
        ("/v1/labels", "post"): {
            "security": secured,
            "requestBody": _body({"anyOf": [label, labels]}, labelled.requests),
            "responses": {
                "202": _json(
                    "LabelsResponse", "Every label was produced", labelled.responses.get("202")
                ),
                "207": _json(
                    "LabelsResponse", "Some labels were produced, some refused (see rejected)"
                ),
                **_common_problems(),
                "422": _problem(
                    "No label was valid; errors lists why, per label (index, reason, field)",
                    model="LabelProblem",
                    examples=labelled.responses.get("422"),
                ),
            },
        },
        ("/v1/score", "post"): {
            "security": secured,
            "requestBody": _body(one, score.requests),
            "responses": {
                "200": _json(
                    "Score",
                    "The record's score, as on the scores topic",
                    score.responses.get("200"),
                ),
                **_common_problems(),
                "409": _problem(
                    "A request for this id is already waiting, or the worker has seen "
                    "this id with other content (errors[0].reason is duplicate_id)",
                    model="RecordProblem",
                ),
                "422": _problem(
                    "The record is invalid; errors lists every problem",
                    model="RecordProblem",
                    examples=score.responses.get("422"),
                ),
                "504": _problem(
                    "No score within the score timeout; the record was produced",
                    model="ScoreTimeoutProblem",
                ),
            },
        },
        ("/healthz", "get"): {"responses": {"200": _json("Health", "The process is alive")}},
        ("/readyz", "get"): {
            "responses": {
                "200": _json("Readiness", "Kafka reachable and schema loaded"),
                "503": _problem(
                    "Not ready: Kafka is unreachable", model="NotReadyProblem", retry_after=True
                ),
            }
        },
        ("/metrics", "get"): {
            "responses": {
                "200": {
                    "description": "Prometheus text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            }
        },
    }


def install_openapi(
    app: FastAPI,
    schema: FeatureSchema,
    *,
    max_records: int,
    out_of_range: Literal["reject", "clip"],
    model_dir: Path | None = None,
) -> None:
    """Replace ``app.openapi`` with one that documents bodies, problems and examples.

    The document is built on first request (and again after a schema swap): the examples
    read ``model_dir``'s reference profile and metadata then, not at every start.
    """
    record = record_model(schema, out_of_range=out_of_range)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        models: list[type[BaseModel]] = [
            record,
            RecordsResponse,
            Problem,
            RecordProblem,
            LabelProblem,
            NotReadyProblem,
            ScoreTimeoutProblem,
            Score,
            Label,
            LabelsResponse,
            Health,
            Readiness,
        ]
        _, definitions = models_json_schema(
            [(model, "validation") for model in models], ref_template=REF
        )
        components = document.setdefault("components", {})
        components.setdefault("schemas", {}).update(definitions.get("$defs", {}))
        components["securitySchemes"] = {SECURITY_SCHEME_NAME: SECURITY_SCHEME}
        examples = api_examples(
            ModelFacts.read(schema, model_dir),
            RecordValidator(schema, out_of_range=out_of_range),
        )
        for (path, method), spec in _operations(max_records, examples).items():
            operation = document["paths"][path][method]
            operation.pop("requestBody", None)
            operation.update(spec)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
