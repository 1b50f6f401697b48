"""``POST /v1/labels``: a body of labels -> the ones to produce, and why the others are refused.

Each label is checked with the contract's own decoder
(:func:`scorestream.contract.labels.decode_label_row`), the one the sink stores them with,
so the bridge refuses exactly what the sink would reject, for the same reason and field.
A label without an id is refused (it must name the scored record it labels); the bridge
never assigns one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from scorestream.contract.labels import decode_label_row
from scorestream.exceptions import DecodeError
from scorestream.producers.bridge.problems import ProblemError


@dataclass
class LabelsVerdict:
    """The labels of one request: ``(index, id, payload)`` to produce, and the refusals."""

    accepted: list[tuple[int, str, bytes]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def labels_of(document: Any, max_labels: int) -> list[Any]:
    """The labels of a ``POST /v1/labels`` body: one object, or an array of them."""
    if isinstance(document, dict):
        return [document]
    if not isinstance(document, list):
        raise ProblemError(422, "the body must be a JSON object (one label) or an array of them")
    if not document:
        raise ProblemError(422, "the array of labels is empty")
    if len(document) > max_labels:
        raise ProblemError(413, f"{len(document)} labels in one request; at most {max_labels}")
    return document


def judge_labels(labels: list[Any], now_ms: int) -> LabelsVerdict:
    """Check every label; one bad label never refuses the others."""
    verdict = LabelsVerdict()
    for index, label in enumerate(labels):
        record_id = label.get("id") if type(label) is dict else None
        shown_id = record_id if type(record_id) is str else None
        try:
            payload = orjson.dumps(label)
        except orjson.JSONEncodeError as error:
            # orjson decodes 1024 levels deep but encodes only 254: no label nests so.
            verdict.rejected.append(
                _error(index, shown_id, "wrong_type", None, f"the label nests too deeply: {error}")
            )
            continue
        try:
            decode_label_row(payload, now_ms)
        except DecodeError as error:
            verdict.rejected.append(
                _error(index, shown_id, error.reason or "wrong_type", error.field, str(error))
            )
            continue
        assert shown_id is not None  # the decoder refuses labels without a string id
        verdict.accepted.append((index, shown_id, payload))
    return verdict


def _error(
    index: int, record_id: str | None, reason: str, field_name: str | None, message: str
) -> dict[str, Any]:
    return {
        "index": index,
        "id": record_id,
        "reason": reason,
        "field": field_name or None,
        "message": message,
    }
