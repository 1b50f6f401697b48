"""The worker's fast score encoder writes exactly the bytes of ``ScoreMessage.encode``."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from scorestream.contract.scores import (
    ScoreColumns,
    ScoreMessage,
    decode_score_row,
    encode_scores,
)

text = st.text(max_size=30)
int64 = st.integers(min_value=0, max_value=2**53)
probabilities = st.lists(st.floats(0, 1), max_size=4)
rows = st.tuples(
    text.filter(bool),  # id
    text,  # event_time
    int64,  # event_time_ms
    st.floats(allow_nan=False, allow_infinity=False),  # score
    st.one_of(text, st.integers(-(2**63), 2**63 - 1), st.booleans()),  # label as the model gives it
    st.integers(0, 2**32 - 1),  # latency_ms
    st.integers(0, 1000),  # partition
    int64,  # offset
    probabilities,
)


@settings(max_examples=300)
@given(
    st.lists(rows, max_size=5),
    int64,
    text,
    text,
    st.sampled_from(["binary", "multiclass", "regression"]),
    st.lists(text, max_size=4),
    st.sampled_from(["champion", "challenger"]),
)
def test_encode_scores_equals_the_message_encoding(
    batch: list[tuple],
    scored_at: int,
    name: str,
    version: str,
    kind: str,
    labels: list[str],
    role: str,
) -> None:
    shared = dict(
        scored_at_ms=scored_at,
        model_name=name,
        model_version=version,
        model_kind=kind,
        class_labels=labels,
        role=role,
    )
    expected = [
        ScoreMessage(
            id=r[0],
            event_time=r[1],
            event_time_ms=r[2],
            scored_at_ms=scored_at,
            model_name=name,
            model_version=version,
            score=r[3],
            label=r[4],
            latency_ms=r[5],
            partition=r[6],
            offset=r[7],
            model_kind=kind,
            class_labels=labels,
            class_probabilities=r[8],
            role=role,
        ).encode()
        for r in batch
    ]
    columns = (
        ScoreColumns(*map(list, zip(*batch, strict=True))) if batch else ScoreColumns(*[[]] * 9)
    )
    assert encode_scores(columns, **shared) == expected  # type: ignore[arg-type]
    # And the sink reads back every value as it was given: the writer (msgspec) and the
    # sink's reader (orjson) agree on every float, to the last bit.
    assert [orjson.loads(v) for v in expected] == [
        {
            "id": r[0],
            "event_time": r[1],
            "event_time_ms": r[2],
            "scored_at_ms": scored_at,
            "model_name": name,
            "model_version": version,
            "score": r[3],
            "label": r[4],
            "latency_ms": r[5],
            "partition": r[6],
            "offset": r[7],
            "model_kind": kind,
            "class_labels": labels,
            "class_probabilities": r[8],
            "role": role,
        }
        for r in batch
    ]
    assert [decode_score_row(v)[0] for v in expected] == [r[0] for r in batch]
