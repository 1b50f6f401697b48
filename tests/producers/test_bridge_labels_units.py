"""``POST /v1/labels``'s checking, without a server: the sink's own decoder per label."""

from __future__ import annotations

import pytest

from scorestream.producers.bridge.labels import judge_labels, labels_of
from scorestream.producers.bridge.problems import ProblemError

NOW_MS = 1_780_000_000_000


def test_each_label_is_judged_alone_and_named_by_index_and_field() -> None:
    nested: object = 1
    for _ in range(300):
        nested = [nested]
    verdict = judge_labels(
        [
            {"id": "007", "label": 1},
            {"label": 1},
            {"id": "b", "label": 1, "label_time": "soon"},
            "not an object",
            {"id": "c", "label": nested},
            {"id": "d", "label": "cat", "model_version": "v2"},
        ],
        NOW_MS,
    )
    assert [(index, record_id) for index, record_id, _ in verdict.accepted] == [
        (0, "007"),
        (5, "d"),
    ]
    assert [(e["index"], e["id"], e["reason"], e["field"]) for e in verdict.rejected] == [
        (1, None, "missing_id", "id"),
        (2, "b", "invalid_label_time", "label_time"),
        (3, None, "not_an_object", None),
        (4, "c", "wrong_type", None),
    ]
    assert all(e["message"] for e in verdict.rejected)


def test_the_body_is_one_label_or_a_bounded_non_empty_array() -> None:
    assert labels_of({"id": "a"}, 10) == [{"id": "a"}]
    for body, status in (([], 422), ("x", 422), ([{}] * 11, 413)):
        with pytest.raises(ProblemError) as refused:
            labels_of(body, 10)
        assert refused.value.status == status
