"""Feature schema inference, bounds and JSON round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scorestream.exceptions import SchemaError
from scorestream.streams.model.schema import FeatureSchema, FeatureSpec, coerce_features
from scorestream.streams.synthetic import generate_frame


def test_infers_kinds_dtypes_and_nullability_of_synthetic_data() -> None:
    frame = generate_frame(5000, seed=1, start="2024-01-01T00:00:00Z")
    schema = FeatureSchema.from_frame(frame, target="default")

    assert schema.target == "default"
    assert "id" not in schema.names and "event_time" not in schema.names
    assert "default" not in schema.names
    assert schema.numeric == [
        "age",
        "income",
        "loan_amount",
        "credit_score",
        "debt_to_income",
        "employment_years",
        "num_open_accounts",
    ]
    assert schema.categorical == ["region", "home_ownership", "loan_purpose", "employment_type"]
    assert schema.feature("age").dtype == "int"
    assert schema.feature("credit_score").dtype == "int"  # nullable Int64
    assert schema.feature("income").dtype == "float"
    assert schema.feature("credit_score").nullable
    assert schema.feature("home_ownership").nullable
    assert not schema.feature("age").nullable
    assert not schema.feature("region").nullable
    assert set(schema.feature("region").categories) == {"north", "south", "east", "west"}


def test_bounds_widen_by_span_and_stop_at_zero_for_non_negative_features() -> None:
    frame = pd.DataFrame({"x": [10.0, 20.0, 30.0], "signed": [-1.0, 0.0, 3.0], "y": [0, 1, 0]})
    schema = FeatureSchema.from_frame(frame, target="y")
    x = schema.feature("x")
    assert (x.observed_min, x.observed_max) == (10.0, 30.0)
    assert (x.allowed_min, x.allowed_max) == (0.0, 50.0)  # 10 - 20 clamped at 0
    signed = schema.feature("signed")
    assert (signed.allowed_min, signed.allowed_max) == (-5.0, 7.0)


def test_constant_column_still_gets_a_usable_range() -> None:
    frame = pd.DataFrame({"c": [5.0, 5.0], "y": [0, 1]})
    spec = FeatureSchema.from_frame(frame, target="y").feature("c")
    assert spec.allowed_min is not None and spec.allowed_max is not None
    assert spec.allowed_min < 5.0 < spec.allowed_max


def test_categories_are_most_frequent_first() -> None:
    frame = pd.DataFrame({"c": ["b", "a", "b", "c", "b", "a", None], "y": [0] * 7})
    spec = FeatureSchema.from_frame(frame, target="y").feature("c")
    assert spec.kind == "categorical" and spec.dtype == "string"
    assert spec.categories == ["b", "a", "c"]
    assert spec.nullable


def test_bool_column_is_a_numeric_bool_feature() -> None:
    frame = pd.DataFrame({"flag": [True, False, True], "y": [0, 1, 0]})
    spec = FeatureSchema.from_frame(frame, target="y").feature("flag")
    assert (spec.kind, spec.dtype) == ("numeric", "bool")


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (pd.to_datetime(["2024-01-01", "2024-01-02"]), "dates"),
        ([None, None], "no values"),
        (["a", 1], "mixes"),
    ],
)
def test_unusable_columns_are_refused_clearly(column: object, message: str) -> None:
    frame = pd.DataFrame({"bad": column, "y": [0, 1]})
    with pytest.raises(SchemaError, match=message):
        FeatureSchema.from_frame(frame, target="y")


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    schema = FeatureSchema.from_frame(generate_frame(500, seed=2, start="2024-01-01"), "default")
    schema.save(tmp_path / "schema.json")
    assert FeatureSchema.load(tmp_path / "schema.json") == schema


def test_load_refuses_an_invalid_file(tmp_path: Path) -> None:
    (tmp_path / "schema.json").write_text('{"features": [{"name": "x"}]}')
    with pytest.raises(SchemaError):
        FeatureSchema.load(tmp_path / "schema.json")


def test_spec_refuses_inconsistent_kind_and_dtype() -> None:
    with pytest.raises(ValueError, match="does not go with"):
        FeatureSpec(name="x", kind="numeric", dtype="string", nullable=False)


def test_coerce_features_gives_float_and_object_columns_with_nan() -> None:
    frame = pd.DataFrame(
        {
            "n": pd.array([1, None, 3], dtype="Int64"),
            "c": pd.Series(["a", None, "b"], dtype="str"),
            "y": [0, 1, 0],
        }
    )
    schema = FeatureSchema.from_frame(frame, "y")
    coerced = coerce_features(frame, schema)
    assert coerced["n"].dtype == np.float64
    assert coerced["c"].dtype == object
    assert np.isnan(coerced["n"].iloc[1])
    missing = coerced["c"].iloc[1]
    assert isinstance(missing, float) and np.isnan(missing)
    with pytest.raises(SchemaError, match="missing feature columns"):
        coerce_features(frame.drop(columns="c"), schema)
