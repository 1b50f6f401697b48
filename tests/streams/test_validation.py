"""RecordValidator: one test per rejection reason, plus batch bookkeeping and fuzzing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scorestream.streams.field_checks import canonical_event_times
from scorestream.streams.input_decoding import event_time_ms
from scorestream.streams.model.schema import FeatureSchema, FeatureSpec
from scorestream.streams.validation import REASONS, RecordValidator, Rejection, ValidatedBatch

INGEST_MS = 1_700_000_000_000

SCHEMA = FeatureSchema(
    target="default",
    features=[
        FeatureSpec(
            name="income",
            kind="numeric",
            dtype="float",
            nullable=False,
            allowed_min=0.0,
            allowed_max=1000.0,
        ),
        FeatureSpec(
            name="age",
            kind="numeric",
            dtype="int",
            nullable=False,
            allowed_min=18.0,
            allowed_max=100.0,
        ),
        FeatureSpec(name="score", kind="numeric", dtype="float", nullable=True),
        FeatureSpec(name="flag", kind="numeric", dtype="bool", nullable=True),
        FeatureSpec(
            name="region",
            kind="categorical",
            dtype="string",
            nullable=False,
            categories=["north", "south"],
        ),
        FeatureSpec(
            name="home",
            kind="categorical",
            dtype="string",
            nullable=True,
            categories=["rent", "own"],
        ),
    ],
)
GOOD: dict[str, object] = {
    "id": "r1",
    "income": 50.5,
    "age": 30,
    "score": 0.5,
    "flag": True,
    "region": "north",
    "home": "rent",
}


def record(**changes: object) -> bytes:
    """A valid record with some fields changed; a value of ... removes the field."""
    fields = {**GOOD, **changes}
    return orjson.dumps({k: v for k, v in fields.items() if v is not ...})


def validate(*payloads: bytes, **options: object) -> ValidatedBatch:
    validator = RecordValidator(SCHEMA, **options)  # type: ignore[arg-type]
    return validator.validate_batch(list(payloads), [INGEST_MS] * len(payloads))


def only_rejection(batch: ValidatedBatch) -> Rejection:
    assert batch.ids == []
    assert len(batch.rejections) == 1
    return batch.rejections[0][1]


def test_valid_record_becomes_a_typed_row() -> None:
    batch = validate(record())
    assert batch.ids == ["r1"] and batch.positions == [0] and batch.rejections == []
    assert list(batch.frame.columns) == SCHEMA.names
    assert batch.frame.dtypes.astype(str).tolist() == ["float64"] * 4 + ["object"] * 2
    row = batch.frame.iloc[0]
    assert (row["income"], row["age"], row["flag"], row["region"]) == (50.5, 30.0, 1.0, "north")
    assert batch.event_time_ms.dtype == np.int64
    assert batch.event_time_ms.tolist() == [INGEST_MS]


def test_too_large_is_checked_before_decoding() -> None:
    huge = record(region="x" * 1_000_000)
    rejection = only_rejection(validate(huge))
    assert rejection.reason == "too_large"
    assert rejection.payload == huge
    assert rejection.id is None
    small_limit = validate(record(), max_record_bytes=10)
    assert only_rejection(small_limit).reason == "too_large"


@pytest.mark.parametrize(
    "payload",
    [
        b'{"id": "r1", "income": ',
        b"",
        b"\xff\xfe garbage",
        b'{"id": "\\ud800"}',
        b'{"id": "r1"} trailing',
    ],
)
def test_invalid_json(payload: bytes) -> None:
    rejection = only_rejection(validate(payload))
    assert rejection.reason == "invalid_json"
    assert rejection.payload == payload
    assert rejection.message


def test_non_bytes_payload_is_invalid_json_not_a_crash() -> None:
    validator = RecordValidator(SCHEMA)
    batch = validator.validate_batch([None, 42], [0, 0])  # type: ignore[list-item]
    assert [r.reason for _, r in batch.rejections] == ["invalid_json", "invalid_json"]


@pytest.mark.parametrize("payload", [b"[1, 2, 3]", b'"a string"', b"null", b"42"])
def test_not_an_object(payload: bytes) -> None:
    assert only_rejection(validate(payload)).reason == "not_an_object"


@pytest.mark.parametrize("bad_id", [..., None, "", 42, ["r1"], "x" * 257])
def test_missing_id(bad_id: object) -> None:
    rejection = only_rejection(validate(record(id=bad_id)))
    assert (rejection.reason, rejection.field, rejection.id) == ("missing_id", "id", None)


def test_id_of_256_characters_is_fine() -> None:
    assert validate(record(id="x" * 256)).ids == ["x" * 256]


def test_missing_field() -> None:
    rejection = only_rejection(validate(record(age=...)))
    assert (rejection.reason, rejection.field, rejection.id) == ("missing_field", "age", "r1")


def test_absent_nullable_fields_are_missing_values() -> None:
    batch = validate(record(score=..., home=..., flag=...))
    assert batch.ids == ["r1"]
    assert np.isnan(batch.frame["score"].iloc[0]) and np.isnan(batch.frame["flag"].iloc[0])
    assert isinstance(batch.frame["home"].iloc[0], float)  # NaN, which SimpleImputer sees


def test_unknown_field() -> None:
    rejection = only_rejection(validate(record(incomee=5)))
    assert (rejection.reason, rejection.field) == ("unknown_field", "incomee")


def test_target_field_is_ignored() -> None:
    batch = validate(record(default=1))
    assert batch.ids == ["r1"] and "default" not in batch.frame.columns


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("income", "50.5"),  # string for a number
        ("income", True),  # bool for a number
        ("income", [1]),
        ("income", {"v": 1}),
        ("age", 30.5),  # fraction for an int
        ("flag", 1),  # number for a bool
        ("region", 3),  # non-string category
        ("home", False),
    ],
)
def test_wrong_type(field: str, value: object) -> None:
    rejection = only_rejection(validate(record(**{field: value})))
    assert (rejection.reason, rejection.field, rejection.id) == ("wrong_type", field, "r1")


def test_integral_float_is_fine_for_an_int_feature() -> None:
    assert validate(record(age=30.0)).frame["age"].tolist() == [30.0]


@pytest.mark.parametrize(
    "payload",
    [
        b'{"id": "r1", "income": NaN, "age": 30, "region": "north"}',
        b'{"id": "r1", "income": Infinity, "age": 30, "region": "north"}',
        b'{"id": "r1", "income": -Infinity, "age": 30, "region": "north"}',
        b'{"id": "r1", "income": 1e999, "age": 30, "region": "north"}',
        b'{"id": "r1", "income": 1.0, "age": 30, "score": NaN, "region": "north"}',
    ],
)
def test_not_finite(payload: bytes) -> None:
    # orjson refuses these literals; the validator re-decodes so that the field is named.
    rejection = only_rejection(validate(payload))
    assert rejection.reason == "not_finite"
    assert rejection.field in ("income", "score")
    assert rejection.id == "r1"


def test_python_json_dumps_output_with_nan_is_rejected() -> None:
    payload = json.dumps({**GOOD, "score": float("nan")}).encode()
    assert only_rejection(validate(payload)).reason == "not_finite"


def test_out_of_range_rejects_by_default() -> None:
    for changes in ({"income": -0.01}, {"income": 1000.5}, {"age": 17}):
        rejection = only_rejection(validate(record(**changes)))
        assert rejection.reason == "out_of_range"
        assert rejection.field == next(iter(changes))
    assert validate(record(income=1000.0, age=18)).ids == ["r1"]  # bounds are inclusive


def test_out_of_range_clips_when_asked() -> None:
    batch = validate(record(income=5000.0, age=3), out_of_range="clip")
    assert batch.rejections == []
    assert batch.frame[["income", "age"]].iloc[0].tolist() == [1000.0, 18.0]


@pytest.mark.parametrize("field", ["income", "region"])
def test_null_not_allowed(field: str) -> None:
    rejection = only_rejection(validate(record(**{field: None})))
    assert (rejection.reason, rejection.field) == ("null_not_allowed", field)


def test_null_is_fine_for_nullable_features() -> None:
    batch = validate(record(score=None, home=None, flag=None))
    assert batch.ids == ["r1"]
    assert batch.frame[["score", "flag"]].isna().all(axis=None)
    assert batch.frame["home"].isna().all()


def test_unknown_category_is_accepted() -> None:
    assert validate(record(region="atlantis")).frame["region"].tolist() == ["atlantis"]


@pytest.mark.parametrize(
    "value", ["yesterday", "2024-13-01T00:00:00Z", -5, True, 1.5, [2024], "1969-12-31T00:00:00Z"]
)
def test_invalid_event_time(value: object) -> None:
    rejection = only_rejection(validate(record(event_time=value)))
    assert (rejection.reason, rejection.field) == ("invalid_event_time", "event_time")


@pytest.mark.parametrize(
    ("value", "expected_ms"),
    [
        ("2024-01-01T00:00:00Z", 1_704_067_200_000),
        ("2024-01-01T02:00:00.123+02:00", 1_704_067_200_123),
        ("2024-01-01T00:00:00", 1_704_067_200_000),  # naive means UTC
        (1_704_067_200_000, 1_704_067_200_000),
        (None, INGEST_MS),
    ],
)
def test_event_time_forms(value: object, expected_ms: int) -> None:
    assert validate(record(event_time=value)).event_time_ms.tolist() == [expected_ms]


def test_valid_records_around_bad_ones_keep_their_positions() -> None:
    payloads = [
        record(id="a"),
        b"[1]",
        record(id="b", income="oops"),
        record(id="c", event_time="2024-01-01T00:00:00Z"),
        record(id="d", region=None),
        b"{",
        record(id="e", income=7.0),
    ]
    ingest = [INGEST_MS + i for i in range(len(payloads))]
    batch = RecordValidator(SCHEMA).validate_batch(payloads, ingest)
    assert batch.ids == ["a", "c", "e"]
    assert batch.positions == [0, 3, 6]
    assert batch.event_time_ms.tolist() == [INGEST_MS, 1_704_067_200_000, INGEST_MS + 6]
    assert batch.frame["income"].tolist() == [50.5, 50.5, 7.0]
    assert batch.frame.index.tolist() == [0, 1, 2]
    assert [(p, r.reason) for p, r in batch.rejections] == [
        (1, "not_an_object"),
        (2, "wrong_type"),
        (4, "null_not_allowed"),
        (5, "invalid_json"),
    ]
    assert [r.payload for _, r in batch.rejections] == [payloads[i] for i in (1, 2, 4, 5)]


def test_one_rejection_per_record_listing_every_problem_in_check_order() -> None:
    rejection = only_rejection(
        validate(record(id=..., age=..., zzz=1, income="x", region=5, event_time="never"))
    )
    assert [(v.reason, v.field) for v in rejection.violations] == [
        ("missing_id", "id"),
        ("missing_field", "age"),
        ("unknown_field", "zzz"),
        ("wrong_type", "income"),
        ("wrong_type", "region"),
        ("invalid_event_time", "event_time"),
    ]
    # The first problem is the rejection's own reason (what records.rejected carries).
    assert (rejection.reason, rejection.field) == ("missing_id", "id")
    assert rejection.id is None
    assert all(v.message for v in rejection.violations)


def test_one_violation_per_field() -> None:
    # A string in a required number is a wrong type, not also a null; a missing required
    # field is missing, not also null; a fractional int is one wrong type.
    rejection = only_rejection(validate(record(income="x", age=..., region=None)))
    assert [(v.reason, v.field) for v in rejection.violations] == [
        ("missing_field", "age"),
        ("wrong_type", "income"),
        ("null_not_allowed", "region"),
    ]
    assert rejection.id == "r1"
    fractional = only_rejection(validate(record(age=30.5, flag=1)))
    assert [(v.reason, v.field) for v in fractional.violations] == [
        ("wrong_type", "age"),
        ("wrong_type", "flag"),
    ]


# Per field, the ways to break it and the violation each gives: (change, (reason, field)).
BREAKAGES: dict[str, list[tuple[object, tuple[str, str]]]] = {
    "id": [(..., ("missing_id", "id")), (7, ("missing_id", "id"))],
    "income": [(-1.0, ("out_of_range", "income")), ("x", ("wrong_type", "income"))],
    "age": [(..., ("missing_field", "age")), (17, ("out_of_range", "age"))],
    "score": [("x", ("wrong_type", "score"))],
    "flag": [(1, ("wrong_type", "flag"))],
    "region": [(None, ("null_not_allowed", "region")), (..., ("missing_field", "region"))],
    "home": [(3, ("wrong_type", "home"))],
    "zzz": [(1, ("unknown_field", "zzz"))],
    "event_time": [("soon", ("invalid_event_time", "event_time"))],
}
RECORD_LEVEL = ("missing_id", "missing_field", "unknown_field")


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={name: st.sampled_from(range(len(ways))) for name, ways in BREAKAGES.items()},
    )
)
def test_every_combination_of_problems_is_reported_whole(chosen: dict[str, int]) -> None:
    changes = {name: BREAKAGES[name][way][0] for name, way in chosen.items()}
    expected = [BREAKAGES[name][way][1] for name, way in chosen.items()]
    order = ["id", *SCHEMA.names, "zzz", "event_time"]
    # Record-level problems first (in the order of REASONS), then fields in schema order.
    expected.sort(
        key=lambda v: (
            RECORD_LEVEL.index(v[0]) if v[0] in RECORD_LEVEL else len(RECORD_LEVEL),
            order.index(v[1]),
        )
    )
    batch = validate(record(**changes))
    if not expected:
        assert batch.ids == ["r1"] and batch.rejections == []
        return
    rejection = only_rejection(batch)
    assert [(v.reason, v.field) for v in rejection.violations] == expected


def test_empty_batch_and_length_mismatch() -> None:
    batch = RecordValidator(SCHEMA).validate_batch([], [])
    assert len(batch) == 0 and list(batch.frame.columns) == SCHEMA.names
    with pytest.raises(ValueError, match="ingest times"):
        RecordValidator(SCHEMA).validate_batch([record()], [])


def test_every_reason_code_is_reachable() -> None:
    reached = {
        only_rejection(validate(payload, max_record_bytes=2000)).reason
        for payload in [
            b"x" * 3000,
            b"{",
            b"[]",
            record(id=...),
            record(age=...),
            record(zzz=1),
            record(age="1"),
            b'{"id": "r", "income": NaN, "age": 30, "region": "north"}',
            record(income=-1.0),
            record(region=None),
            record(event_time="soon"),
        ]
    }
    assert reached == set(REASONS)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=200),
            json_values.map(lambda v: json.dumps(v).encode()),
            st.fixed_dictionaries(
                {k: st.one_of(st.just(v), json_values) for k, v in GOOD.items()}
            ).map(lambda v: json.dumps(v).encode()),
        ),
        max_size=8,
    )
)
def test_never_raises_and_accounts_for_every_payload(payloads: list[bytes]) -> None:
    batch = RecordValidator(SCHEMA).validate_batch(payloads, [INGEST_MS] * len(payloads))
    seen = sorted(batch.positions + [position for position, _ in batch.rejections])
    assert seen == list(range(len(payloads)))
    assert len(batch.frame) == len(batch.ids) == len(batch.event_time_ms)
    assert all(rejection.reason in REASONS for _, rejection in batch.rejections)


def test_synthetic_records_validate_and_score(tmp_path: Path) -> None:
    from scorestream.streams.model import LoadedModel, train_model
    from scorestream.streams.synthetic import generate_frame, generate_records

    train_model(generate_frame(3000, seed=1, start="2024-01-01"), "default", tmp_path / "m")
    model = LoadedModel.load(tmp_path / "m")
    records = next(generate_records(2000, seed=2, chunk_size=2000, start="2024-06-01"))
    payloads = [orjson.dumps(r) for r in records]
    batch = RecordValidator(model.schema).validate_batch(payloads, [0] * len(payloads))
    # A few records of a new sample may fall outside the training range; nearly all pass.
    assert len(batch.ids) > 1990
    scores = model.predict_scores(batch.frame)
    assert scores.shape == (len(batch.ids),) and ((scores > 0) & (scores < 1)).all()


canonical_times = st.builds(
    "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z".format,
    st.one_of(st.integers(1965, 2110), st.integers(0, 9999)),  # around the storable range
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.integers(0, 999),
)


@given(st.lists(canonical_times, min_size=1, max_size=6))
@settings(max_examples=500, deadline=None)
def test_canonical_event_times_read_as_the_one_parser_reads_them(values: list[str]) -> None:
    """The batch-wide reading of 2026-05-01T00:00:00.000Z gives each value's milliseconds,
    and gives up (then the values are read one by one) exactly when one is not a time."""
    one_by_one = [event_time_ms(value) for value in values]
    batch = canonical_event_times(values)
    assert (batch is None) == (None in one_by_one)
    if batch is not None:
        assert batch.tolist() == one_by_one


def test_canonical_event_times_give_up_on_every_other_form() -> None:
    good = "2026-05-01T00:00:00.000Z"
    assert canonical_event_times([good]) is not None
    for other in (
        [good, None],
        [good, 1_700_000_000_000],
        [good, "2026-05-01T00:00:00.000+00:00"],
        [good, "2026-05-01 00:00:00.000Z"],
        ["２０２６-05-01T00:00:00.000Z"],  # full-width digits: not ASCII
        ["2026-05-01T00:00:00.0a0Z"],
        ["1969-12-31T23:59:59.999Z"],  # not storable
        [],
    ):
        assert canonical_event_times(other) is None, other


def test_batches_with_and_without_event_times_keep_their_defaults_checked() -> None:
    """All records without event_time (the batch-wide path) and a mix (one by one) agree."""
    validator = RecordValidator(SCHEMA)
    payloads = [record(id=str(i)) for i in range(3)]
    ingest = [INGEST_MS, -5, INGEST_MS + 1]
    alone = validator.validate_batch(payloads, ingest)
    mixed = validator.validate_batch([*payloads, record(id="t", event_time=7)], [*ingest, 0])
    assert alone.event_time_ms.tolist() == [INGEST_MS, INGEST_MS + 1]
    assert mixed.event_time_ms.tolist() == [INGEST_MS, INGEST_MS + 1, 7]
    assert [(p, r.reason, r.message) for p, r in alone.rejections] == [
        (p, r.reason, r.message) for p, r in mixed.rejections
    ]
    assert alone.rejections[0][0] == 1 and "ingest time (-5 ms)" in alone.rejections[0][1].message
