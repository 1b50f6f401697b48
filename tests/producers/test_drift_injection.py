"""Drift specs: parsing, and the size of each injected change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scorestream.producers.drift_injection import (
    DriftSpec,
    apply_drift,
    parse_drift_specs,
    reference_moments,
)
from scorestream.streams.synthetic import generate_frame


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return generate_frame(40_000, seed=8, start="2024-01-01T00:00:00Z")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("income=shift:0.5", DriftSpec("income", "shift", 0.5)),
        (" income = shift : -1 ", DriftSpec("income", "shift", -1.0)),
        ("income=scale:1.5", DriftSpec("income", "scale", 1.5)),
        ("region=weight:north:0.4", DriftSpec("region", "weight", 0.4, "north")),
        ("url=weight:http://x:1", DriftSpec("url", "weight", 1.0, "http://x")),
        ("credit_score=missing:0.3", DriftSpec("credit_score", "missing", 0.3)),
    ],
)
def test_parse(text: str, expected: DriftSpec) -> None:
    assert DriftSpec.parse(text) == expected
    assert DriftSpec.parse(str(expected)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("income", "expected FEATURE="),
        ("=shift:1", "expected FEATURE="),
        ("income=", "expected FEATURE="),
        ("income=grow:2", "unknown kind 'grow'"),
        ("income=shift:abc", "not a number"),
        ("income=shift:", "not a number"),
        ("income=shift:nan", "finite"),
        ("income=scale:-1", "must not be negative"),
        ("region=weight:0.4", "CATEGORY:SHARE"),
        ("region=weight:north:1.5", "between 0 and 1"),
        ("credit_score=missing:-0.1", "between 0 and 1"),
    ],
)
def test_parse_refuses_bad_specs_clearly(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DriftSpec.parse(text)


def test_parse_many() -> None:
    assert [s.kind for s in parse_drift_specs(["a=shift:1", "b=missing:0.1"])] == [
        "shift",
        "missing",
    ]


def test_shift_moves_the_mean_by_half_a_reference_std(loans: pd.DataFrame) -> None:
    std = float(loans["income"].std())
    drifted = apply_drift(
        loans, [DriftSpec.parse("income=shift:0.5")], np.random.default_rng(0), {"income": std}
    )
    assert drifted["income"].mean() - loans["income"].mean() == pytest.approx(0.5 * std)
    assert drifted["income"].std() == pytest.approx(std)
    assert loans["income"].iloc[0] != drifted["income"].iloc[0]  # input left alone


def test_shift_without_reference_uses_the_chunk_std(loans: pd.DataFrame) -> None:
    drifted = apply_drift(
        loans, [DriftSpec.parse("debt_to_income=shift:0.5")], np.random.default_rng(0)
    )
    moved = drifted["debt_to_income"].mean() - loans["debt_to_income"].mean()
    assert moved == pytest.approx(0.5 * loans["debt_to_income"].std(), rel=1e-6)
    assert drifted["debt_to_income"].isna().sum() == loans["debt_to_income"].isna().sum()


def test_shift_keeps_integer_columns_integer(loans: pd.DataFrame) -> None:
    drifted = apply_drift(
        loans,
        [DriftSpec.parse("credit_score=shift:-1"), DriftSpec.parse("age=shift:1")],
        np.random.default_rng(0),
        {"credit_score": 60.0, "age": 12.0},
    )
    assert drifted["credit_score"].dtype == loans["credit_score"].dtype  # Int64, NA kept
    assert drifted["age"].dtype == np.int64
    assert (drifted["age"] - loans["age"] == 12).all()
    assert drifted["credit_score"].isna().sum() == loans["credit_score"].isna().sum()


def test_scale_stretches_around_the_mean(loans: pd.DataFrame) -> None:
    drifted = apply_drift(loans, [DriftSpec.parse("income=scale:1.5")], np.random.default_rng(0))
    assert drifted["income"].std() == pytest.approx(1.5 * loans["income"].std())
    assert drifted["income"].mean() == pytest.approx(loans["income"].mean())


def test_weight_sets_the_category_share(loans: pd.DataFrame) -> None:
    before = loans["region"].value_counts(normalize=True)
    for share in (0.4, 0.1):
        drifted = apply_drift(
            loans, [DriftSpec.parse(f"region=weight:north:{share}")], np.random.default_rng(1)
        )
        after = drifted["region"].value_counts(normalize=True)
        assert after["north"] == pytest.approx(share, abs=1e-3)
        others = after.drop("north") / after.drop("north").sum()
        expected = before.drop("north") / before.drop("north").sum()
        pd.testing.assert_series_equal(
            others.sort_index(), expected.sort_index(), atol=0.02, check_names=False
        )


def test_weight_can_introduce_a_new_category_and_keeps_missing(loans: pd.DataFrame) -> None:
    drifted = apply_drift(
        loans, [DriftSpec.parse("home_ownership=weight:boat:0.2")], np.random.default_rng(2)
    )
    share = (drifted["home_ownership"] == "boat").sum() / drifted["home_ownership"].notna().sum()
    assert share == pytest.approx(0.2, abs=1e-3)
    assert drifted["home_ownership"].isna().sum() == loans["home_ownership"].isna().sum()


def test_missing_raises_the_missing_rate(loans: pd.DataFrame) -> None:
    specs = [
        DriftSpec.parse("credit_score=missing:0.3"),
        DriftSpec.parse("region=missing:0.2"),
        DriftSpec.parse("age=missing:0.1"),
    ]
    drifted = apply_drift(loans, specs, np.random.default_rng(3))
    assert drifted["credit_score"].isna().mean() == pytest.approx(0.3, abs=0.01)
    assert drifted["region"].isna().mean() == pytest.approx(0.2, abs=0.01)
    assert drifted["age"].isna().mean() == pytest.approx(0.1, abs=0.01)
    assert pd.api.types.is_integer_dtype(drifted["age"].dtype)


def test_same_rng_seed_same_drift(loans: pd.DataFrame) -> None:
    specs = [DriftSpec.parse("region=weight:east:0.5")]
    first = apply_drift(loans, specs, np.random.default_rng(5))
    again = apply_drift(loans, specs, np.random.default_rng(5))
    pd.testing.assert_frame_equal(first, again)


def test_apply_refuses_mismatched_specs(loans: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="no column"):
        apply_drift(loans, [DriftSpec.parse("salary=shift:1")], rng)
    with pytest.raises(ValueError, match="not numeric"):
        apply_drift(loans, [DriftSpec.parse("region=shift:1")], rng)
    with pytest.raises(ValueError, match="not categorical"):
        apply_drift(loans, [DriftSpec.parse("income=weight:x:0.5")], rng)
    with pytest.raises(ValueError, match="reference_std"):
        apply_drift(loans.head(1), [DriftSpec.parse("income=shift:1")], rng)


def test_reference_moments_from_a_model_profile(loans: pd.DataFrame) -> None:
    from scorestream.streams.drift.profile import ReferenceProfile

    profile = ReferenceProfile.from_frame(loans, ["income", "age"], ["region"])
    means, stds = reference_moments(profile)
    assert means["income"] == pytest.approx(loans["income"].mean())
    assert stds["income"] == pytest.approx(loans["income"].std(), rel=1e-3)
    assert "region" not in stds


def test_integer_feature_from_json_records_stays_whole() -> None:
    from scorestream.streams.synthetic import generate_records

    records = next(generate_records(2000, seed=1, chunk_size=2000, start="2024-01-01"))
    frame = pd.DataFrame(records)  # credit_score: float64 with NaN for the gaps
    drifted = apply_drift(
        frame,
        [DriftSpec.parse("credit_score=shift:0.5")],
        np.random.default_rng(0),
        {"credit_score": 63.0},
    )
    present = drifted["credit_score"].dropna()
    assert (present == present.round()).all()
    assert drifted["credit_score"].mean() == pytest.approx(
        frame["credit_score"].mean() + 31.5, abs=0.5
    )
