"""The validator's typed path (msgspec) gives exactly what its general path (orjson) gives.

The typed path may only ever accept; what it accepts must come out of the validator the same
as if the general path had decoded it, and every refusal must be worded by the general path.
Each test validates the same payloads twice, once with the typed path switched off, and
compares everything the batch holds.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_iris

from scorestream.streams.model.schema import FeatureSchema
from scorestream.streams.synthetic import generate_frame, generate_records
from scorestream.streams.typed_columns import TypedColumnDecoder
from scorestream.streams.validation import RecordValidator, ValidatedBatch
from tests.streams.hostile import EVENT_TIMES, HUGE_NUMBERS, ODD_STRINGS, hostile_payloads
from tests.streams.test_validation import GOOD, SCHEMA

INGEST_MS = 1_700_000_000_000


class _GeneralOnly:
    """Stands in for the typed decoder: refuses everything, so the general path decodes."""

    def decode(self, payloads: Any) -> None:
        return None


def both_paths(
    schema: FeatureSchema, payloads: list[Any], **options: Any
) -> tuple[ValidatedBatch, ValidatedBatch]:
    typed = RecordValidator(schema, native=False, **options)
    general = RecordValidator(schema, native=False, **options)
    general._typed = _GeneralOnly()  # type: ignore[assignment]
    times = [INGEST_MS + index for index in range(len(payloads))]
    return typed.validate_batch(payloads, times), general.validate_batch(payloads, times)


def assert_same(typed: ValidatedBatch, general: ValidatedBatch) -> None:
    assert typed.ids == general.ids
    assert typed.positions == general.positions
    np.testing.assert_array_equal(typed.event_time_ms, general.event_time_ms)
    pd.testing.assert_frame_equal(typed.frame, general.frame)
    assert typed.rejections == general.rejections  # reasons, fields, words, payloads


# --- plausible records: the values a producer gets slightly wrong -------------------------------
def _field_value(draw: st.DrawFn, good: Any) -> Any:
    return draw(
        st.one_of(
            st.just(good),
            st.none(),
            st.booleans(),
            st.integers(-(2**70), 2**70),
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(-1e4, 1e4),
            st.text(max_size=6),
            st.sampled_from([*ODD_STRINGS, *EVENT_TIMES]),
            st.lists(st.integers(), max_size=2),
        )
    )


@st.composite
def plausible_records(draw: st.DrawFn, good: dict[str, Any]) -> bytes:
    """``good`` with some fields given other values, dropped or doubled, and extra keys."""
    fields: list[str] = []
    for name, value in good.items():
        choice = draw(st.integers(0, 9))
        if choice == 0:
            continue  # absent
        shown = _field_value(draw, value) if choice <= 2 else value
        fields.append(f"{json.dumps(name)}: {json.dumps(shown, ensure_ascii=False)}")
    if draw(st.integers(0, 4)) == 0:
        fields.append(f'"event_time": {json.dumps(draw(st.sampled_from(EVENT_TIMES)))}')
    if draw(st.integers(0, 6)) == 0:
        fields.append(f'"default": {draw(st.sampled_from([*HUGE_NUMBERS, "[1]", "{}", "1"]))}')
    if draw(st.integers(0, 6)) == 0:
        fields.append(f"{json.dumps(draw(st.text(max_size=4)))}: 1")
    if draw(st.integers(0, 6)) == 0:  # a duplicate key
        name = draw(st.sampled_from(list(good)))
        fields.append(f"{json.dumps(name)}: {json.dumps(_field_value(draw, good[name]))}")
    return ("{" + ", ".join(fields) + "}").encode("utf-8", errors="surrogatepass")


def _payloads(good: dict[str, Any]) -> st.SearchStrategy[Any]:
    return st.lists(
        st.one_of(plausible_records(good), hostile_payloads(good)), min_size=1, max_size=10
    )


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_payloads(GOOD), st.sampled_from(["reject", "clip"]))
def test_typed_and_general_paths_agree_on_any_payload(payloads: list[Any], mode: str) -> None:
    assert_same(*both_paths(SCHEMA, payloads, out_of_range=mode))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_payloads({**GOOD, "extra": 1.5}))
def test_ignored_fields_that_are_features_too(payloads: list[Any]) -> None:
    """A challenger's validator ignores its champion's features, some of which are its own."""
    ignored = ["income", "region", "extra", "id", "event_time", "default"]
    assert_same(*both_paths(SCHEMA, payloads, ignored_fields=ignored))


LOANS_TEMPLATE: dict[str, Any] = next(
    generate_records(1, 5, 1, start="2026-03-01T00:00:00", include_target=True)
)[0]
LOANS = FeatureSchema.from_frame(
    generate_frame(2000, seed=5, start="2026-03-01T00:00:00"), target="default"
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_payloads(LOANS_TEMPLATE))
def test_typed_and_general_paths_agree_on_the_demo_schema(payloads: list[Any]) -> None:
    assert_same(*both_paths(LOANS, payloads))


def test_feature_names_that_are_not_python_names() -> None:
    """A feature may be called anything: iris's are ``sepal length (cm)`` and so on."""
    iris = load_iris(as_frame=True).frame
    schema = FeatureSchema.from_frame(iris, target="target")
    rows = iris.to_dict(orient="records")
    payloads = [orjson.dumps({"id": f"{index:03d}", **row}) for index, row in enumerate(rows)]
    decoder = TypedColumnDecoder(schema, ["target"], 65_536)
    decoded = decoder.decode(payloads)
    assert decoded is not None  # every iris row takes the typed path
    assert decoded["id"][:2] == ["000", "001"]  # the ids as sent, never read as numbers
    assert decoded["sepal length (cm)"] == iris["sepal length (cm)"].tolist()
    assert_same(*both_paths(schema, payloads))


def test_valid_records_take_the_typed_path() -> None:
    """Else the equality above would hold trivially."""
    records = next(generate_records(500, 9, 500, start="2026-03-01T00:00:00"))
    decoder = TypedColumnDecoder(LOANS, ["default"], 65_536)
    assert decoder.decode([orjson.dumps(record) for record in records]) is not None


def test_a_refused_record_sends_only_its_chunk_down_the_general_path() -> None:
    records = next(generate_records(1000, 9, 1000, start="2026-03-01T00:00:00"))
    payloads = [orjson.dumps(record) for record in records]
    payloads[300] = orjson.dumps({**records[300], "age": "thirty"})  # a type msgspec refuses
    payloads[900] = orjson.dumps({**records[900], "age": -5})  # a range only the checks see
    validator = RecordValidator(LOANS, native=False)
    decoded_in_general: list[int] = []
    general_decode = validator._decode

    def counting(chunk: Any) -> Any:
        decoded_in_general.append(len(chunk))
        return general_decode(chunk)

    validator._decode = counting  # type: ignore[method-assign]
    batch = validator.validate_batch(payloads, [INGEST_MS] * len(payloads))

    assert [(position, r.reason) for position, r in batch.rejections] == [
        (300, "wrong_type"),
        (900, "out_of_range"),
    ]
    # The chunk of 300 at once; the chunk of 900 only after the checks refused its value.
    assert decoded_in_general == [256, 232]
    assert_same(batch, both_paths(LOANS, payloads)[1])
