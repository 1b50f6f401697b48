"""The compiled decoder (``native/``) gives exactly what the Python validator gives.

It may only ever accept; what it accepts must come out of the validator as the Python path
gives it, and what it refuses is worded by the Python path and put back in input order. Each
test validates the same payloads twice, once with the compiled decoder and once with the
general (orjson) path alone, and compares everything the batch holds.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_iris, load_wine

from scorestream.streams.model.schema import FeatureSchema, FeatureSpec
from scorestream.streams.native_columns import AVAILABLE, NativeColumnDecoder
from scorestream.streams.synthetic import generate_records
from scorestream.streams.validation import RecordValidator, ValidatedBatch
from tests.streams.hostile import hostile_payloads
from tests.streams.test_typed_columns import (
    GOOD,
    INGEST_MS,
    LOANS,
    LOANS_TEMPLATE,
    SCHEMA,
    _GeneralOnly,
    assert_same,
    plausible_records,
)

if not AVAILABLE:
    if os.environ.get("CI"):
        raise RuntimeError("scorestream_native is not installed: `make install` builds it")
    pytest.skip("scorestream_native is not built (make install)", allow_module_level=True)

#: Event times in the canonical form and near it: the compiled decoder reads only that form.
CANONICAL_TIMES: list[Any] = [
    "2026-03-01T00:00:00.000Z",
    "1970-01-01T00:00:00.000Z",
    "2106-02-07T06:28:15.999Z",
    "2106-02-07T06:28:16.000Z",  # one ms past what a DateTime stores
    "1969-12-31T23:59:59.999Z",
    "2024-02-29T12:00:00.250Z",
    "2023-02-29T12:00:00.250Z",  # no such day
    "2026-13-01T00:00:00.000Z",
    "2026-03-01T24:00:00.000Z",
    "0000-01-01T00:00:00.000Z",
    "2026-03-01T00:00:00.000z",
    "2026-03-01 00:00:00.000Z",
    "２０２６-03-01T00:00:00.000Z",
    "2026-03-01T00:00:00.000+00:00",
    0,
    1_772_323_200_000,
]


def native_and_general(
    schema: FeatureSchema, payloads: list[Any], **options: Any
) -> tuple[ValidatedBatch, ValidatedBatch]:
    native = RecordValidator(schema, **options)
    assert native._native is not None
    general = RecordValidator(schema, native=False, **options)
    general._typed = _GeneralOnly()  # type: ignore[assignment]
    times = [INGEST_MS + index for index in range(len(payloads))]
    return native.validate_batch(payloads, times), general.validate_batch(payloads, times)


def assert_text_is_the_times(batch: ValidatedBatch) -> None:
    """The event times' text, when given, is what the scores messages would write."""
    if batch.event_time_text is None:
        return
    written = np.datetime_as_string(
        batch.event_time_ms.astype("datetime64[ms]"), unit="ms", timezone="UTC"
    ).tolist()
    assert batch.event_time_text == written


@st.composite
def with_times(draw: st.DrawFn, good: dict[str, Any]) -> bytes:
    """A plausible record, often with an event time in or near the canonical form."""
    payload = draw(plausible_records(good))
    if payload.endswith(b"}") and len(payload) > 2 and draw(st.booleans()):
        time = json.dumps(draw(st.sampled_from(CANONICAL_TIMES)))
        return payload[:-1] + b', "event_time": ' + time.encode() + b"}"
    return payload


def _batches(good: dict[str, Any]) -> st.SearchStrategy[list[Any]]:
    record = st.one_of(with_times(good), hostile_payloads(good), st.just(orjson.dumps(good)))
    return st.lists(record, min_size=1, max_size=12)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_batches(GOOD), st.sampled_from(["reject", "clip"]))
def test_native_and_python_agree_on_any_payload(payloads: list[Any], mode: str) -> None:
    native, general = native_and_general(SCHEMA, payloads, out_of_range=mode)
    assert_same(native, general)
    assert_text_is_the_times(native)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_batches({**GOOD, "extra": 1.5}))
def test_ignored_fields_that_are_features_too(payloads: list[Any]) -> None:
    """A challenger's validator ignores its champion's features, some of which are its own."""
    ignored = ["income", "region", "extra", "id", "event_time", "default"]
    assert_same(*native_and_general(SCHEMA, payloads, ignored_fields=ignored))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_batches(LOANS_TEMPLATE))
def test_native_and_python_agree_on_the_demo_schema(payloads: list[Any]) -> None:
    native, general = native_and_general(LOANS, payloads)
    assert_same(native, general)
    assert_text_is_the_times(native)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="0123456789-T:.Z+ ", min_size=24, max_size=24)
    | st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\Z")
)
def test_event_times_read_as_python_reads_them(written: str) -> None:
    """Any 24-character text: the compiled reading of the canonical form is Python's."""
    payloads = [orjson.dumps({**GOOD, "event_time": written})]
    native, general = native_and_general(SCHEMA, payloads)
    assert_same(native, general)
    assert_text_is_the_times(native)


def _decoded(schema: FeatureSchema, payloads: list[bytes], clip: bool = False) -> Any:
    decoder = NativeColumnDecoder(schema, ["default"], 65_536, clip=clip)
    return decoder.decode(payloads, [INGEST_MS] * len(payloads))


def test_valid_demo_records_are_all_accepted() -> None:
    """Else the equalities above would hold trivially."""
    records = next(generate_records(2000, 9, 2000, start="2026-03-01T00:00:00"))
    payloads = [orjson.dumps(record) for record in records]
    decoded = _decoded(LOANS, payloads)
    assert decoded.refused == []
    assert decoded.ids == [record["id"] for record in records]
    assert decoded.event_time_text == [record["event_time"] for record in records]
    assert_same(*native_and_general(LOANS, payloads))


def test_refused_records_are_put_back_in_input_order() -> None:
    good = [orjson.dumps({**GOOD, "id": f"r{index}"}) for index in range(6)]
    payloads: list[Any] = [
        good[0],
        b'{"id": "bad", "income": "5"}',  # refused, then rejected
        good[1],
        orjson.dumps({**GOOD, "id": "late", "event_time": "2026-03-01T00:00:00+01:00"}),
        good[2],
        None,
        good[3],
    ]
    decoded = _decoded(SCHEMA, payloads)
    assert decoded.refused == [1, 3, 5]
    native, general = native_and_general(SCHEMA, payloads)
    assert native.ids == ["r0", "r1", "late", "r2", "r3"]
    assert native.positions == [0, 2, 3, 4, 6]
    assert [position for position, _ in native.rejections] == [1, 5]
    assert_same(native, general)


@pytest.mark.parametrize("low", [0.0, -0.0])
def test_clipping_follows_numpy(low: float) -> None:
    """A value equal to a bound keeps its sign (-0.0 against 0.0), as numpy's clip does."""
    spec = FeatureSpec(
        name="x", kind="numeric", dtype="float", nullable=False, allowed_min=low, allowed_max=1.0
    )
    values = [-0.0, 0.0, -5.0, 0.5, 7.0, 1.0]
    payloads = [orjson.dumps({"id": str(index), "x": value}) for index, value in enumerate(values)]
    native, general = native_and_general(
        FeatureSchema(features=[spec]), payloads, out_of_range="clip"
    )
    assert_same(native, general)  # equal, but -0.0 == 0.0 there
    column = native.frame["x"].to_numpy()
    np.testing.assert_array_equal(np.signbit(column), np.signbit(general.frame["x"].to_numpy()))
    assert column.tolist() == [0.0, 0.0, 0.0, 0.5, 1.0, 1.0]


@pytest.mark.parametrize("load", [load_iris, load_wine])
def test_bundled_data_sets_take_the_compiled_path(load: Any) -> None:
    """Real data: feature names with spaces and slashes, ids that look like numbers."""
    data = load(as_frame=True).frame
    schema = FeatureSchema.from_frame(data, target="target")
    rows = data.to_dict(orient="records")
    payloads = [orjson.dumps({"id": f"{index:03d}", **row}) for index, row in enumerate(rows)]
    decoder = NativeColumnDecoder(schema, ["target"], 65_536, clip=False)
    decoded = decoder.decode(payloads, [INGEST_MS] * len(payloads))
    assert decoded.refused == []
    assert decoded.ids[:2] == ["000", "001"]  # the ids as sent, never read as numbers
    for spec in schema.features:
        assert decoded.columns[spec.name].tolist() == data[spec.name].astype(float).tolist()
    native, general = native_and_general(schema, payloads)
    assert_same(native, general)
    pd.testing.assert_frame_equal(native.frame, general.frame)


def test_a_large_batch_with_refused_records_scattered_through_it() -> None:
    """Thousands of records, a tenth of them refused at random places (wrong types, another
    time form, not JSON): the same batch as the general path's, in input order."""
    rng = np.random.default_rng(4)
    records = next(generate_records(3000, 11, 3000, start="2026-03-01T00:00:00"))
    payloads: list[Any] = [orjson.dumps(record) for record in records]
    for position in rng.choice(len(payloads), 300, replace=False).tolist():
        payloads[position] = [
            b'{"id": "x", "income": "high"}',
            payloads[position].replace(b'.000Z"', b'+00:00"'),
            b"not json",
        ][position % 3]
    native, general = native_and_general(LOANS, payloads)
    assert 2700 <= len(native.ids) < 3000
    assert_same(native, general)
