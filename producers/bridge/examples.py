"""Request and response examples for the OpenAPI document, made from the model itself.

A client developer's first request is the example (Swagger UI's "Try it out", a Postman or
Bruno import), so the examples are records this model accepts and would call ordinary:
every numeric feature at its reference median (interpolated in the reference profile's
quantile bins; an integer one at a value it takes), every categorical one at its most
frequent category. Without a reference profile the schema's training mean and most frequent
category stand in. Numbers are rounded to three significant digits, as a person types them.

The invalid example breaks a typical record in several ways at once, and its documented
errors are what the bridge's own validator says about it, so the example cannot drift from
the behaviour it documents.

Examples are paired by key: a request example and the response example under the same
key are a request and its answer (``oneRecord`` -> 202, ``invalidRecord`` -> 422), which
is how :mod:`.postman` turns them into requests with tests.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from scorestream.producers.bridge.labels import judge_labels
from scorestream.producers.bridge.problems import INVALID_LABEL, INVALID_RECORD
from scorestream.producers.bridge.problems import record_errors as problem_errors
from scorestream.streams.drift.categorical_profile import CategoricalFeatureProfile
from scorestream.streams.drift.numeric_profile import NumericFeatureProfile
from scorestream.streams.drift.profile import SCORE_FEATURE, ReferenceProfile
from scorestream.streams.model.schema import ID_COLUMN, FeatureSchema, FeatureSpec
from scorestream.streams.model.train import METADATA_FILE, PROFILE_FILE
from scorestream.streams.validation import RecordValidator

log = logging.getLogger(__name__)

#: Ids the examples show for records the bridge accepted (it assigns UUID4s).
EXAMPLE_IDS = ("0b7e4c1a-6f0d-4a53-9a7e-2f1c9d5b8e31", "5d2f8a90-3c4b-4e7f-8a1d-6b9c0e2f4a17")
#: The id of the invalid example record, so its errors show where an id appears.
INVALID_ID = "example-invalid-1"
#: A field the invalid example adds, which no model has as a feature.
UNKNOWN_FIELD = "not_a_feature"
#: When the score example was made: 2026-01-01T12:00:00Z.
_EXAMPLE_TIME_MS = 1_767_268_800_000

_T = TypeVar("_T")


@dataclass(frozen=True)
class ModelFacts:
    """What the examples are made from: the schema, and the profile and metadata if any."""

    schema: FeatureSchema
    profile: ReferenceProfile | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, schema: FeatureSchema, directory: Path | None) -> ModelFacts:
        """``schema``, with the reference profile and metadata of ``directory`` if readable.

        A model without a readable profile or metadata still gets examples (from the
        schema), and the bridge still serves: only a warning is logged.
        """
        if directory is None:
            return cls(schema)
        profile = _optional(lambda: ReferenceProfile.load(directory / PROFILE_FILE))
        metadata = _optional(
            lambda: json.loads((directory / METADATA_FILE).read_text(encoding="utf-8"))
        )
        return cls(
            schema,
            profile,
            metadata if isinstance(metadata, dict) else {},
        )


def _optional(read: Callable[[], _T]) -> _T | None:
    try:
        return read()
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("examples without it: %s", error)
        return None


def typical_record(facts: ModelFacts, quantile: float = 0.5, rank: int = 0) -> dict[str, Any]:
    """A record whose numbers sit at the reference ``quantile`` and categories at ``rank``.

    ``rank`` 0 is the most frequent category, 1 the next one (when there is one).
    """
    return {
        spec.name: _typical_value(facts, spec, quantile, rank) for spec in facts.schema.features
    }


def _typical_value(facts: ModelFacts, spec: FeatureSpec, quantile: float, rank: int) -> Any:
    profiled = (
        facts.profile[spec.name]
        if facts.profile is not None and spec.name in facts.profile
        else None
    )
    if spec.kind == "categorical":
        categories: tuple[str, ...] | list[str] = (
            profiled.categories
            if isinstance(profiled, CategoricalFeatureProfile) and profiled.categories
            else spec.categories
        )
        if not categories:
            return "example"
        return categories[min(rank, len(categories) - 1)]
    if isinstance(profiled, NumericFeatureProfile):
        value = profile_typical(profiled, quantile, integral=spec.dtype != "float")
    elif spec.observed_mean is not None:
        value = spec.observed_mean
    else:
        value = 0.0 if spec.allowed_min is None else spec.allowed_min
    low = -math.inf if spec.allowed_min is None else spec.allowed_min
    high = math.inf if spec.allowed_max is None else spec.allowed_max
    value = min(max(value, low), high)
    if spec.dtype == "bool":
        return value >= 0.5
    if spec.dtype == "int":
        return round(value)
    return readable(value)


def profile_quantile(feature: NumericFeatureProfile, quantile: float) -> float:
    """The ``quantile`` of the reference values, interpolated within the profile's bins.

    >>> import numpy as np
    >>> feature = NumericFeatureProfile.from_values("x", np.arange(101.0), n_bins=10)
    >>> round(profile_quantile(feature, 0.5), 1), round(profile_quantile(feature, 0.25), 1)
    (50.5, 24.8)
    """
    index, share = _bin_at(feature, quantile)
    if feature.edges.size == 1:
        return float(feature.edges[0])
    low, high = feature.edges[index], feature.edges[index + 1]
    return float(low + share * (high - low))


def profile_typical(feature: NumericFeatureProfile, quantile: float, *, integral: bool) -> float:
    """The ``quantile``, as an integer feature's value when ``integral``.

    An integer feature's bin one unit wide (``[4, 5)``, or ``[3.5, 4.5)`` when every value
    has its own bin) holds one value: that value, where interpolating would say 4.6.

    >>> import numpy as np
    >>> counts = NumericFeatureProfile.from_values("n", np.repeat([3, 4, 5], [30, 40, 30]))
    >>> profile_typical(counts, 0.5, integral=True), profile_typical(counts, 0.5, integral=False)
    (4.0, 4.0)
    """
    index, _ = _bin_at(feature, quantile)
    edges = feature.edges
    if integral and (edges.size == 1 or edges[index + 1] - edges[index] <= 1):
        return float(feature.interior_means[index])
    return profile_quantile(feature, quantile)


def _bin_at(feature: NumericFeatureProfile, quantile: float) -> tuple[int, float]:
    """The interior bin holding the ``quantile``, and how far into it (0 to 1) it lies."""
    counts = feature.reference_counts[1 : 1 + feature.n_interior].astype(np.float64)
    total = counts.sum()
    if total == 0:
        return 0, 0.0
    cumulative = np.cumsum(counts)
    target = quantile * total
    index = min(int(np.searchsorted(cumulative, target)), counts.size - 1)
    before = cumulative[index - 1] if index else 0.0
    share = (target - before) / counts[index] if counts[index] else 0.0
    return index, min(max(float(share), 0.0), 1.0)


def readable(value: float) -> float:
    """``value`` to three significant digits, as a person would type it.

    >>> readable(66358.98), readable(0.28460044), readable(41.98)
    (66400.0, 0.285, 42.0)
    """
    return float(f"{value:.3g}")


def invalid_record(facts: ModelFacts) -> dict[str, Any]:
    """A typical record broken in up to three ways: a wrong type, a missing field, an extra.

    The first required numeric feature gets a string, the first other required feature is
    left out, and a field that is no feature is added.
    """
    record: dict[str, Any] = {ID_COLUMN: INVALID_ID, **typical_record(facts)}
    required = [spec for spec in facts.schema.features if not spec.nullable]
    numeric = [spec for spec in required if spec.kind == "numeric"]
    if numeric:
        record[numeric[0].name] = "a lot"
    others = [spec for spec in required if spec not in numeric[:1]]
    if others:
        del record[others[0].name]
    unknown = UNKNOWN_FIELD
    while unknown in record or unknown == facts.schema.target:
        unknown += "_"
    record[unknown] = 1
    return record


def record_errors(
    validator: RecordValidator, records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """What the bridge answers about ``records``: one error per problem, by the validator."""
    payloads = [json.dumps(record).encode() for record in records]
    batch = validator.validate_batch(payloads, [_EXAMPLE_TIME_MS] * len(payloads))
    return [
        error for index, rejection in batch.rejections for error in problem_errors(index, rejection)
    ]


def label_value(facts: ModelFacts) -> Any:
    """A label this model's labels look like: its positive class, a class, or a value."""
    metadata = facts.metadata
    if "positive_class" in metadata and metadata["positive_class"] is not None:
        return metadata["positive_class"]
    classes = metadata.get("classes")
    if isinstance(classes, list) and classes:
        return classes[0]
    score = _typical_score(facts)
    return 1 if score is None else score


def _typical_score(facts: ModelFacts) -> float | None:
    if facts.profile is None or SCORE_FEATURE not in facts.profile:
        return None
    feature = facts.profile[SCORE_FEATURE]
    if not isinstance(feature, NumericFeatureProfile):
        return None
    return readable(profile_quantile(feature, 0.5))


def score_message(facts: ModelFacts, record_id: str) -> dict[str, Any]:
    """A ``scores`` message as ``POST /v1/score`` answers it, with the typical score."""
    metadata = facts.metadata
    kind = str(metadata.get("task", "binary"))
    found = metadata.get("classes")
    classes: list[Any] = found if isinstance(found, list) else []
    score = _typical_score(facts)
    score = 0.5 if score is None else score
    label: Any = ""
    if kind == "binary" and len(classes) == 2:
        label = classes[1] if score >= 0.5 else classes[0]
    elif kind == "multiclass" and classes:
        label = classes[0]
    rest = (1.0 - score) / (len(classes) - 1) if kind == "multiclass" and len(classes) > 1 else 0
    return {
        "id": record_id,
        "event_time": "2026-01-01T12:00:00.000Z",
        "event_time_ms": _EXAMPLE_TIME_MS,
        "scored_at_ms": _EXAMPLE_TIME_MS + 42,
        "model_name": str(metadata.get("name", "model")),
        "model_version": str(metadata.get("version", "0123456789ab")),
        "score": score,
        "label": label,
        "latency_ms": 42,
        "partition": 0,
        "offset": 1234,
        "model_kind": kind,
        "class_labels": [str(c) for c in classes] if kind == "multiclass" else [],
        "class_probabilities": (
            [score, *[readable(rest)] * (len(classes) - 1)] if kind == "multiclass" else []
        ),
        "role": "champion",
    }


@dataclass(frozen=True)
class Example:
    """One example: a short summary, what it shows, and the value."""

    summary: str
    value: Any
    description: str | None = None

    def to_openapi(self) -> dict[str, Any]:
        example: dict[str, Any] = {"summary": self.summary, "value": self.value}
        if self.description:
            example["description"] = self.description
        return example


@dataclass(frozen=True)
class OperationExamples:
    """The request examples of one operation and, by status, the answers to them."""

    requests: dict[str, Example]
    responses: dict[str, dict[str, Example]]


def api_examples(facts: ModelFacts, validator: RecordValidator) -> dict[str, OperationExamples]:
    """Examples of the three ``/v1`` operations, by path; see the module docstring."""
    typical = typical_record(facts)
    other = typical_record(facts, quantile=0.25, rank=1)
    invalid = invalid_record(facts)
    invalid_errors = record_errors(validator, [invalid])
    mixed_errors = [{**error, "index": 1} for error in invalid_errors]
    accepted = [{"index": i, "id": record_id} for i, record_id in enumerate(EXAMPLE_IDS)]
    invalid_problem = {
        "type": INVALID_RECORD,
        "title": "Invalid record",
        "status": 422,
        "detail": "none of the 1 records is valid",
        "errors": invalid_errors,
    }
    label = {"id": EXAMPLE_IDS[0], "label": label_value(facts)}
    typical_text = (
        "Every numeric feature at its reference median, every categorical one at its most "
        "frequent category; no id (the bridge assigns one) and no event_time (the time of "
        "ingest)."
    )
    records = OperationExamples(
        requests={
            "oneRecord": Example("One typical record", typical, typical_text),
            "twoRecords": Example(
                "Two typical records",
                [typical, other],
                "The second at the reference's lower quartiles and second most frequent "
                "categories.",
            ),
            "oneGoodOneBad": Example(
                "A valid record and an invalid one",
                [typical, invalid],
                "The valid record is produced; the invalid one is listed with every problem.",
            ),
            "invalidRecord": Example(
                "A record with several problems",
                invalid,
                "Every problem of the record is reported at once, one error each.",
            ),
        },
        responses={
            "202": {
                "oneRecord": Example("Produced", {"accepted": accepted[:1], "rejected": []}),
                "twoRecords": Example("Both produced", {"accepted": accepted, "rejected": []}),
            },
            "207": {
                "oneGoodOneBad": Example(
                    "One produced, one refused",
                    {"accepted": accepted[:1], "rejected": mixed_errors},
                )
            },
            "422": {"invalidRecord": Example("Refused, with every problem", invalid_problem)},
        },
    )
    score = OperationExamples(
        requests={
            "oneRecord": records.requests["oneRecord"],
            "invalidRecord": records.requests["invalidRecord"],
        },
        responses={
            "200": {"oneRecord": Example("Scored", score_message(facts, EXAMPLE_IDS[0]))},
            "422": {
                "invalidRecord": Example(
                    "Refused, with every problem",
                    {
                        **invalid_problem,
                        "detail": f"the record has {len(invalid_errors)} problems, "
                        "listed in errors",
                    },
                )
            },
        },
    )
    invalid_label = {"id": EXAMPLE_IDS[1]}
    labels = OperationExamples(
        requests={
            "oneLabel": Example(
                "The true label of a scored record",
                label,
                "label_time defaults to when the label reaches Kafka.",
            ),
            "invalidLabel": Example("A label without its value", invalid_label),
        },
        responses={
            "202": {
                "oneLabel": Example(
                    "Produced", {"accepted": [{"index": 0, "id": EXAMPLE_IDS[0]}], "rejected": []}
                )
            },
            "422": {
                "invalidLabel": Example(
                    "Refused",
                    {
                        "type": INVALID_LABEL,
                        "title": "Invalid label",
                        "status": 422,
                        "detail": "none of the 1 labels is valid",
                        "errors": judge_labels([invalid_label], _EXAMPLE_TIME_MS).rejected,
                    },
                )
            },
        },
    )
    return {"/v1/records": records, "/v1/score": score, "/v1/labels": labels}
