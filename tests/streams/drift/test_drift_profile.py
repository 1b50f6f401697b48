"""Reference profiles: bin assignment, layouts, serialisation, additivity of counts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scorestream.streams.drift.profile import (
    SCORE_FEATURE,
    CategoricalFeatureProfile,
    NumericFeatureProfile,
    ReferenceProfile,
    as_float_array,
)


@pytest.fixture()
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 5_000
    x = rng.normal(100, 15, n)
    x[rng.random(n) < 0.05] = np.nan
    color = rng.choice(np.array(["red", "green", "blue", "teal"], dtype=object), n)
    color[rng.random(n) < 0.02] = None
    return pd.DataFrame(
        {
            "x": x,
            "count": rng.poisson(3, n),
            "flag": rng.integers(0, 2, n),
            "color": color,
            "code": rng.integers(0, 80, n),  # more categories than max_categories below
        }
    )


@pytest.fixture()
def profile(frame: pd.DataFrame) -> ReferenceProfile:
    scores = np.random.default_rng(1).beta(2, 5, len(frame))
    return ReferenceProfile.from_frame(
        frame, ["x", "count", "flag"], ["color", "code"], scores=scores, max_categories=50
    )


def test_numeric_edges_are_reference_quantiles() -> None:
    values = np.random.default_rng(0).normal(size=10_001)
    feature = NumericFeatureProfile.from_values("x", values, n_bins=10)
    np.testing.assert_array_equal(feature.edges, np.quantile(values, np.linspace(0, 1, 11)))
    assert feature.n_interior == 10 and feature.n_bins == 13
    counts = feature.reference_counts
    assert counts[0] == 0 and counts[-2] == 0 and counts[-1] == 0  # no under/overflow/missing
    assert counts.sum() == values.size
    assert np.all(np.abs(counts[1:-2] - 1000) <= 1)
    assert feature.mean == pytest.approx(values.mean()) and feature.std == pytest.approx(
        values.std()
    )


def test_numeric_assign_edge_cases() -> None:
    feature = NumericFeatureProfile.from_values("x", np.arange(0.0, 101.0), n_bins=4)
    np.testing.assert_array_equal(feature.edges, [0, 25, 50, 75, 100])
    values = [0.0, 25.0, 50.0, 75.0, 100.0, -0.001, 100.001, 24.999, np.nan, None, np.inf,
              -np.inf, "abc", "30"]  # fmt: skip
    expected = [1, 2, 3, 4, 4, 0, 5, 1, 6, 6, 6, 6, 6, 2]
    np.testing.assert_array_equal(feature.assign(np.array(values, dtype=object)), expected)
    np.testing.assert_array_equal(feature.assign(pd.Series(values, dtype=object)), expected)
    nullable = pd.Series([1.0, None, 80.0], dtype="Float64")
    np.testing.assert_array_equal(feature.assign(nullable), [1, 6, 4])
    assert feature.assign(np.array([], dtype=float)).dtype == np.int64
    assert len(feature.labels()) == feature.n_bins
    assert feature.labels()[:2] == ["(-inf, 0)", "[0, 25)"]
    assert feature.labels()[-3:] == ["[75, 100]", "(100, inf)", "missing"]


def test_few_distinct_values_get_one_bin_each() -> None:
    flag = NumericFeatureProfile.from_values("flag", np.array([0, 1, 1, 0, 1]), n_bins=10)
    np.testing.assert_array_equal(flag.edges, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(flag.assign(np.array([0, 1, 2, -1, 0.5])), [1, 2, 3, 0, 2])
    np.testing.assert_array_equal(flag.reference_counts, [0, 2, 3, 0, 0])
    constant = NumericFeatureProfile.from_values("c", np.full(10, 3.0))
    assert constant.n_bins == 4
    np.testing.assert_array_equal(constant.assign(np.array([2.0, 3.0, 4.0, np.nan])), [0, 1, 2, 3])
    assert constant.labels() == ["(-inf, 3)", "[3, 3]", "(3, inf)", "missing"]
    with pytest.raises(ValueError, match="no finite"):
        NumericFeatureProfile.from_values("empty", np.array([np.nan, np.nan]))


def test_categorical_layout_and_assign() -> None:
    values = ["b"] * 5 + ["a"] * 5 + ["c"] * 3 + ["d"] * 1 + [None, np.nan]
    feature = CategoricalFeatureProfile.from_values("c", values, max_categories=3)
    assert feature.categories == ("a", "b", "c")  # most frequent first, ties by name
    # "d" is in the reference but not kept: other; "zzz" and "" never were: unseen.
    np.testing.assert_array_equal(feature.reference_counts, [5, 5, 3, 1, 0, 2])
    assert feature.missing_rate == pytest.approx(2 / 16)
    got = feature.assign(pd.Series(["c", "d", "zzz", None, np.nan, "a", ""], dtype=object))
    np.testing.assert_array_equal(got, [2, 3, 4, 5, 5, 0, 4])
    assert feature.labels() == ["a", "b", "c", "other", "unseen", "missing"]
    assert (feature.seen, feature.singletons, feature.doubletons) == (("d",), 1, 0)
    again = CategoricalFeatureProfile.from_dict(feature.to_dict())
    np.testing.assert_array_equal(again.assign(["d", "zzz"]), [3, 4])
    # A profile saved before *unseen* existed keeps its layout: new values are other.
    old = {k: v for k, v in feature.to_dict().items() if k not in ("seen", "singletons")}
    old["reference_counts"] = [5, 5, 3, 1, 2]
    older = CategoricalFeatureProfile.from_dict(old)
    assert older.labels() == ["a", "b", "c", "other", "missing"]
    np.testing.assert_array_equal(older.assign(["d", "zzz", None]), [3, 3, 4])


def test_categorical_values_compare_as_strings() -> None:
    feature = CategoricalFeatureProfile.from_values("code", np.array([1, 2, 2, 3]))
    assert feature.categories == ("2", "1", "3")
    np.testing.assert_array_equal(feature.assign(np.array([3, 2, 9])), [2, 0, 4])
    np.testing.assert_array_equal(feature.assign(["3", "2", None]), [2, 0, 5])
    booleans = CategoricalFeatureProfile.from_values("b", pd.Series([True, False, True]))
    np.testing.assert_array_equal(booleans.assign(pd.Series([False, True])), [1, 0])


def test_profile_features_and_score(profile: ReferenceProfile, frame: pd.DataFrame) -> None:
    assert profile.names == ("x", "count", "flag", "color", "code", SCORE_FEATURE)
    assert isinstance(profile[SCORE_FEATURE], NumericFeatureProfile)
    code = profile["code"]
    assert isinstance(code, CategoricalFeatureProfile) and len(code.categories) == 50
    assert code.reference_counts[code.other_index] > 0  # the 30 rarest codes are "other"
    for feature in profile:
        assert feature.reference_counts.sum() == len(frame)
        assert feature.reference_counts.dtype == np.int64
    assert profile["x"].missing_rate == pytest.approx(frame["x"].isna().mean())


def test_from_frame_validates(frame: pd.DataFrame) -> None:
    with pytest.raises(KeyError, match="nope"):
        ReferenceProfile.from_frame(frame, ["x", "nope"], [])
    with pytest.raises(ValueError, match="twice"):
        ReferenceProfile.from_frame(frame, ["x"], ["x"])
    with pytest.raises(ValueError, match="one value per"):
        ReferenceProfile.from_frame(frame, ["x"], [], scores=np.zeros(3))


def test_count_adds_up_over_batches(profile: ReferenceProfile, frame: pd.DataFrame) -> None:
    scores = np.random.default_rng(2).random(len(frame))
    parts = [slice(0, 1234), slice(1234, 1235), slice(1235, 4000), slice(4000, None)]
    total = profile.count(frame, scores)
    summed = {name: np.zeros_like(c) for name, c in total.items()}
    for part in parts:
        for name, counts in profile.count(frame.iloc[part], scores[part]).items():
            summed[name] += counts
    for name in total:
        np.testing.assert_array_equal(summed[name], total[name])
        assert total[name].sum() == len(frame)


def test_count_tolerates_absent_columns_and_no_scores(profile: ReferenceProfile) -> None:
    batch = pd.DataFrame({"x": [100.0, np.nan], "color": ["red", "purple"]})
    counts = profile.count(batch)
    assert SCORE_FEATURE not in counts
    assert counts["x"][-1] == 1 and counts["count"][-1] == 2  # absent column: all missing
    assert counts["color"][profile["color"].n_bins - 2] == 1  # purple: other
    with pytest.raises(ValueError, match="one value per row"):
        profile.count(batch, scores=np.zeros(5))


def test_round_trip_is_exact(profile: ReferenceProfile, tmp_path: Path) -> None:
    data = profile.to_dict()
    again = ReferenceProfile.from_dict(json.loads(json.dumps(data)))
    assert again.to_dict() == data
    for a, b in zip(profile, again, strict=True):
        assert type(a) is type(b)
        np.testing.assert_array_equal(a.reference_counts, b.reference_counts)
        if isinstance(a, NumericFeatureProfile):
            assert isinstance(b, NumericFeatureProfile)
            assert a.edges.tobytes() == b.edges.tobytes()  # bit-exact floats
            assert (a.mean, a.std) == (b.mean, b.std)
    path = tmp_path / "profile.json"
    profile.save(path)
    loaded = ReferenceProfile.load(path)
    assert loaded.to_dict() == data
    values = np.random.default_rng(5).normal(100, 15, 1000)
    np.testing.assert_array_equal(loaded["x"].assign(values), profile["x"].assign(values))
    with pytest.raises(ValueError, match="format"):
        ReferenceProfile.from_dict({**data, "version": 99})


def test_profiles_are_immutable(profile: ReferenceProfile) -> None:
    feature = profile["x"]
    assert isinstance(feature, NumericFeatureProfile)
    with pytest.raises(ValueError):
        feature.edges[0] = 0.0
    with pytest.raises(AttributeError):
        feature.name = "y"  # type: ignore[misc]


def test_as_float_array_is_zero_copy_for_floats() -> None:
    x = np.arange(5.0)
    assert as_float_array(x) is x
    np.testing.assert_array_equal(as_float_array(np.array([True, False])), [1.0, 0.0])
