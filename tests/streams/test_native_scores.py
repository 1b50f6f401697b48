"""The compiled ``scores`` writer (``native/src/scores.rs``) writes msgspec's bytes exactly.

Every message of a batch is compared byte for byte with what
:func:`~scorestream.contract.scores.encode_scores` (msgspec) writes for the same columns,
over arbitrary ids, times, floats (NaN, infinities, -0.0, subnormals, both notations),
labels of every JSON scalar type and multi-class probabilities.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scorestream.contract.scores import ScoreColumns, encode_scores
from scorestream.streams.native_scores import AVAILABLE, encode_score_values

if not AVAILABLE:
    if os.environ.get("CI"):
        raise RuntimeError("scorestream_native is not installed: `make install` builds it")
    pytest.skip("scorestream_native is not built (make install)", allow_module_level=True)

INT64 = st.integers(-(2**63), 2**63 - 1)
LABELS = st.one_of(
    st.text(),
    st.booleans(),
    INT64,
    st.floats(),
    st.none(),
    st.integers(2**63, 2**80),  # beyond int64: msgspec writes those
    st.just(np.int64(3)),  # a numpy scalar: msgspec refuses it, so must the batch
)


@st.composite
def batches(draw: st.DrawFn) -> dict[str, Any]:
    rows = draw(st.integers(0, 6))
    width = draw(st.sampled_from([0, 1, 3]))

    def column(strategy: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(strategy, min_size=rows, max_size=rows))

    return dict(
        ids=column(st.text(min_size=1)),
        event_times=column(st.text()),
        event_ms=np.array(column(INT64), dtype=np.int64),
        scores=np.array(column(st.floats()), dtype=np.float64),
        labels=column(LABELS),
        latencies=np.array(column(st.integers(0, 2**32 - 1)), dtype=np.int64),
        partitions=np.array(column(st.integers(0, 2**31 - 1)), dtype=np.int64),
        offsets=np.array(column(INT64), dtype=np.int64),
        probabilities=(
            None
            if width == 0
            else np.array(column(st.lists(st.floats(), min_size=width, max_size=width)))
            .reshape(rows, width)
            .astype(np.float64)
        ),
        shared=dict(
            scored_at_ms=draw(INT64),
            model_name=draw(st.text()),
            model_version=draw(st.text()),
            model_kind=draw(st.sampled_from(["binary", "multiclass", "regression"])),
            class_labels=draw(st.lists(st.text(), max_size=3)),
            role=draw(st.sampled_from(["champion", "challenger"])),
        ),
    )


def msgspec_bytes(batch: dict[str, Any]) -> list[bytes] | None:
    probabilities = batch["probabilities"]
    columns = ScoreColumns(
        batch["ids"],
        batch["event_times"],
        batch["event_ms"].tolist(),
        batch["scores"].tolist(),
        batch["labels"],
        batch["latencies"].tolist(),
        batch["partitions"].tolist(),
        batch["offsets"].tolist(),
        probabilities.tolist() if probabilities is not None else [[]] * len(batch["ids"]),
    )
    try:
        return encode_scores(columns, **batch["shared"])
    except TypeError:  # a label msgspec cannot write
        return None


def native_bytes(batch: dict[str, Any]) -> list[bytes] | None:
    return encode_score_values(
        batch["ids"],
        batch["event_times"],
        batch["event_ms"],
        batch["scores"],
        batch["labels"],
        batch["latencies"],
        batch["partitions"],
        batch["offsets"],
        batch["probabilities"],
        **batch["shared"],
    )


@settings(max_examples=500, deadline=None)
@given(batches())
def test_the_compiled_writer_writes_msgspecs_bytes(batch: dict[str, Any]) -> None:
    native = native_bytes(batch)
    expected = msgspec_bytes(batch)
    if native is None:
        # It declines only labels it does not write (big ints, numpy scalars): msgspec's.
        assert any(
            type(label) is not bool
            and isinstance(label, int | np.integer)
            and (type(label) is not int or not -(2**63) <= label < 2**63)
            for label in batch["labels"]
        )
        return
    assert expected is not None
    assert native == expected


def one_row(value: float, label: Any, probabilities: Any, kind: str) -> dict[str, Any]:
    """A batch of one message whose score is ``value``."""
    return {
        "ids": ["a"],
        "event_times": ["t"],
        "event_ms": np.zeros(1, np.int64),
        "scores": np.array([value]),
        "labels": [label],
        "latencies": np.zeros(1, np.int64),
        "partitions": np.zeros(1, np.int64),
        "offsets": np.zeros(1, np.int64),
        "probabilities": probabilities,
        "shared": dict(
            scored_at_ms=0,
            model_name="m",
            model_version="v",
            model_kind=kind,
            class_labels=["x", "y"] if kind == "multiclass" else [],
            role="champion",
        ),
    }


@settings(max_examples=2000, deadline=None)
@given(st.floats())
def test_floats_are_written_as_msgspec_writes_them(value: float) -> None:
    batch = one_row(value, value, np.array([[value, -value]]), "multiclass")
    assert native_bytes(batch) == msgspec_bytes(batch)


@pytest.mark.parametrize(
    "value",
    [1e-5, 1e-6, 2.5e-5, 1e15, 1e16, 9.99e15, 1.5e16, 5e-324, 1.7976931348623157e308, -0.0, 0.1],
)
def test_float_notation_at_the_edges(value: float) -> None:
    """Where msgspec switches between fixed and scientific notation."""
    batch = one_row(value, "1", None, "binary")
    (native,) = native_bytes(batch) or [b""]
    assert native == msgspec_bytes(batch)[0]  # type: ignore[index]
    assert orjson.loads(native)["score"] == value
