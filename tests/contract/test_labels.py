"""The labels decoder: what it stores, what it refuses (and why), and that nothing else
ever escapes it, whatever the bytes."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scorestream.contract import LABELS, LabelMessage, decode_label_row
from scorestream.contract.labels import (
    LABEL_REASONS,
    MAX_LABEL_TIME_MS,
    label_text,
    label_value,
)
from scorestream.contract.tables import DATETIME_MAX_S, UINT32_MAX
from scorestream.exceptions import DecodeError

NOW_MS = 1_780_000_000_000  # 2026-05-28T20:26:40Z


def _row(doc: Any, received_ms: int = NOW_MS) -> dict[str, Any]:
    return dict(zip(LABELS.inserted, decode_label_row(orjson.dumps(doc), received_ms), strict=True))


def test_a_label_keeps_its_id_exactly_and_defaults_its_time_to_reception() -> None:
    row = _row({"id": "007", "label": 1})
    assert row["id"] == "007"
    assert (row["label"], row["value"]) == ("1", 1.0)
    assert row["label_time_ms"] == row["received_at_ms"] == NOW_MS
    assert row["label_time"] == row["received_at"] == NOW_MS // 1000
    assert (row["model_name"], row["model_version"]) == ("", "")


@pytest.mark.parametrize(
    ("label", "text", "value"),
    [
        (1, "1", 1.0),
        (True, "True", 1.0),
        (False, "False", 0.0),
        ("yes", "yes", math.nan),
        ("3.5", "3.5", 3.5),
        ("-2e3", "-2e3", -2000.0),
        (" 3.5", " 3.5", math.nan),  # not a plain decimal number: a class name
        ("1_000", "1_000", math.nan),
        ("nan", "nan", math.nan),
        ("1e999", "1e999", math.nan),  # decimal, but not finite
        (151.25, "151.25", 151.25),
    ],
)
def test_label_text_and_value(label: Any, text: str, value: float) -> None:
    row = _row({"id": "a", "label": label})
    assert row["label"] == text == label_text(label)
    assert math.isnan(row["value"]) if math.isnan(value) else row["value"] == value
    assert math.isnan(label_value(label)) == math.isnan(value)


def test_label_time_iso_naive_and_epoch_ms() -> None:
    assert (
        _row({"id": "a", "label": 0, "label_time": "2024-05-01T12:00:00Z"})["label_time_ms"]
        == 1_714_564_800_000
    )
    assert (
        _row({"id": "a", "label": 0, "label_time": "2024-05-01T12:00:00"})["label_time_ms"]
        == 1_714_564_800_000
    )
    assert (
        _row({"id": "a", "label": 0, "label_time": 1_714_564_800_123})["label_time_ms"]
        == 1_714_564_800_123
    )
    row = _row({"id": "a", "label": 0, "model_name": "m", "model_version": "v2", "extra": [1]})
    assert (row["model_name"], row["model_version"]) == ("m", "v2")


def test_encode_round_trip() -> None:
    message = LabelMessage("x-1", "cat", "2024-05-01T00:00:00Z", model_name="iris")
    assert orjson.loads(message.encode()) == {
        "id": "x-1",
        "label": "cat",
        "label_time": "2024-05-01T00:00:00Z",
        "model_name": "iris",
    }
    assert _row(orjson.loads(message.encode()))["label"] == "cat"


@pytest.mark.parametrize(
    ("value", "reason", "field"),
    [
        (None, "invalid_json", ""),
        (b"", "invalid_json", ""),
        (b"{", "invalid_json", ""),
        (b"\xff\xfe{}", "invalid_json", ""),
        (b"[1, 2]", "not_an_object", ""),
        (b'"id"', "not_an_object", ""),
        (b'{"label": 1}', "missing_id", "id"),
        (b'{"id": null, "label": 1}', "missing_id", "id"),
        (b'{"id": 7, "label": 1}', "missing_id", "id"),
        (b'{"id": "", "label": 1}', "missing_id", "id"),
        (b'{"id": "' + b"x" * 257 + b'", "label": 1}', "missing_id", "id"),
        (b'{"id": "a"}', "missing_field", "label"),
        (b'{"id": "a", "label": null}', "missing_field", "label"),
        (b'{"id": "a", "label": ""}', "wrong_type", "label"),
        (b'{"id": "a", "label": [1]}', "wrong_type", "label"),
        (b'{"id": "a", "label": {"v": 1}}', "wrong_type", "label"),
        (b'{"id": "a", "label": "' + b"y" * 257 + b'"}', "wrong_type", "label"),
        (b'{"id": "a", "label": 1, "label_time": "yesterday"}', "invalid_label_time", "label_time"),
        (b'{"id": "a", "label": 1, "label_time": -1}', "invalid_label_time", "label_time"),
        (
            b'{"id": "a", "label": 1, "label_time": "1969-12-31T23:59:59Z"}',
            "invalid_label_time",
            "label_time",
        ),
        (
            b'{"id": "a", "label": 1, "label_time": "2106-02-07T06:28:16Z"}',
            "invalid_label_time",
            "label_time",
        ),
        (b'{"id": "a", "label": 1, "label_time": 1.5}', "invalid_label_time", "label_time"),
        (b'{"id": "a", "label": 1, "label_time": true}', "invalid_label_time", "label_time"),
        (b'{"id": "a", "label": 1, "label_time": [1]}', "invalid_label_time", "label_time"),
        (b'{"id": "a", "label": 1, "model_name": 5}', "wrong_type", "model_name"),
        (b'{"id": "a", "label": 1, "model_version": {}}', "wrong_type", "model_version"),
    ],
)
def test_refusals_name_a_reason_and_the_field(value: bytes | None, reason: str, field: str) -> None:
    with pytest.raises(DecodeError) as refused:
        decode_label_row(value, NOW_MS)
    assert refused.value.reason == reason
    assert refused.value.field == field
    assert reason in LABEL_REASONS


def test_received_time_is_clamped_into_datetime() -> None:
    # A producer may stamp -1 or the far future; the row must still be storable.
    assert _row({"id": "a", "label": 1}, received_ms=-5)["received_at_ms"] == 0
    far = _row({"id": "a", "label": 1}, received_ms=2**62)
    assert far["received_at_ms"] == MAX_LABEL_TIME_MS - 1
    assert far["received_at"] == DATETIME_MAX_S


# --- properties ----------------------------------------------------------------------------
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=300)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
MEMBERS = st.sampled_from(["id", "label", "label_time", "model_name", "model_version", "other"])
TIMES = (
    st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.datetimes().map(lambda d: d.isoformat())
    | st.text(max_size=40)
)


def _check_row(row: tuple[Any, ...]) -> None:
    """Every column holds what its ClickHouse type can store."""
    values = dict(zip(LABELS.inserted, row, strict=True))
    assert type(values["id"]) is str and 0 < len(values["id"]) <= 256
    assert type(values["label"]) is str and values["label"]
    assert type(values["value"]) is float
    for name in ("label_time", "received_at"):
        assert 0 <= values[name] <= UINT32_MAX
        assert values[name] == values[f"{name}_ms"] // 1000
    assert type(values["model_name"]) is str and type(values["model_version"]) is str


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200) | st.none(), st.integers(min_value=-(2**63), max_value=2**63))
def test_arbitrary_bytes_only_ever_raise_decode_error(value: bytes | None, received: int) -> None:
    try:
        row = decode_label_row(value, received)
    except DecodeError as error:
        assert error.reason in LABEL_REASONS
        return
    _check_row(row)


@settings(max_examples=600, deadline=None)
@given(
    st.dictionaries(MEMBERS, JSON_VALUES | TIMES, max_size=6),
    st.integers(min_value=-(2**40), max_value=2**45),
)
def test_arbitrary_objects_are_stored_storably_or_refused_with_a_reason(
    doc: dict[str, Any], received: int
) -> None:
    try:
        encoded = orjson.dumps(doc)
    except orjson.JSONEncodeError:
        return  # not JSON a producer could send (e.g. an integer beyond 64 bits)
    try:
        row = decode_label_row(encoded, received)
    except DecodeError as error:
        assert error.reason in LABEL_REASONS
        assert error.field in ("", "id", "label", "label_time", "model_name", "model_version")
        return
    _check_row(row)
    assert row[0] == doc["id"] and row[1] == str(doc["label"])
