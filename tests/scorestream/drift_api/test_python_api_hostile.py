"""Data nobody cleaned, through the Python API: a clear error or one feature's error, no crash.

Whatever a DataFrame holds, ``compare`` either raises one :class:`DataError` (or
``TypeError``) whose message names the problem, or returns a report in which only the
features that cannot be compared carry an error, the others their verdicts.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from scorestream import PeriodCounts, Profile, compare
from scorestream.exceptions import DataError


def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": [f"{i:03d}" for i in range(n)],
            "age": rng.normal(40 + 12 * shift, 12, n).round(),
            "income": rng.lognormal(10.5, 0.5, n),
            "region": rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


@pytest.fixture(scope="module")
def profile() -> Profile:
    return Profile.from_frame(_frame(4000, seed=1))


def test_the_frame_has_three_features_and_the_id_is_not_one(profile: Profile) -> None:
    assert profile.features == ("age", "income", "region")
    assert profile.outputs == ()
    assert compare(profile, _frame(2000, seed=2)).levels == dict.fromkeys(profile.features, "ok")


def test_a_missing_column_is_that_features_error_and_the_others_are_compared(
    profile: Profile,
) -> None:
    current = _frame(2000, seed=3, shift=1.0).drop(columns=["income"])
    report = compare(profile, current)
    assert report.errors == {"income": "column 'income' is not in the current data"}
    assert report["income"]["level"] == "error"
    assert report.levels["age"] == "drift"  # +1 sd, still found without income
    assert report.drifted == ["age"]
    assert report.verdict == "drift"
    # Outside the family: income is not counted as checked, and the JSON says why.
    document = json.loads(report.to_json())
    assert document["features_checked"] == 2
    assert document["errors"] == {"income": "column 'income' is not in the current data"}
    errored = next(f for f in document["features"] if f["feature"] == "income")
    assert errored["statistics"] is None and errored["p_value"] is None
    assert "could not be compared" in report.summary


def test_every_column_missing_is_one_clear_error(profile: Profile) -> None:
    with pytest.raises(DataError, match=r"nothing to compare: column 'age' is not in"):
        compare(profile, pd.DataFrame({"other": [1, 2, 3]}))


def test_an_all_nan_column_is_a_missing_rate_drift_not_a_crash(profile: Profile) -> None:
    current = _frame(2000, seed=4)
    current["income"] = np.nan
    current["region"] = None
    report = compare(profile, current)
    assert report["income"]["cur_missing_rate"] == 1.0
    assert report["region"]["cur_missing_rate"] == 1.0
    assert report.drifted == ["income", "region"]
    assert any("missing-rate change 1 >= 0.1" in r for r in report["income"]["reasons"])
    assert report.levels["age"] == "ok"
    json.loads(report.to_json())  # NaN means are null, the document stays strict JSON


def test_an_all_nan_reference_column_is_a_clear_error_unless_named(profile: Profile) -> None:
    reference = _frame(1000, seed=5)
    reference["empty"] = np.nan
    with pytest.raises(DataError, match=r"column 'empty' has no values.*exclude=\[\.\.\.\]"):
        Profile.from_frame(reference)
    # Named as numeric, it gets the missing-only profile: the day it fills is drift.
    named = Profile.from_frame(reference, numeric=["age", "empty"], categorical=["region"])
    filled = _frame(1000, seed=6).assign(empty=1.0)
    report = compare(named, filled)
    assert report["empty"]["bin_labels"] == ["other", "missing"]
    assert report.drifted == ["empty"]


def test_a_new_category_is_the_unseen_share_and_names_the_feature(profile: Profile) -> None:
    current = _frame(2000, seed=7)
    current.loc[current.index[:300], "region"] = "atlantis"  # 15 % a value never seen
    report = compare(profile, current)
    assert report.drifted == ["region"]
    row = report["region"]
    assert row["current_counts"][row["bin_labels"].index("unseen")] == 300
    assert any("share of values unseen in the reference 0.15" in r for r in row["reasons"])


@pytest.mark.parametrize(
    "current",
    [
        pd.DataFrame(),
        pd.DataFrame({"age": [], "income": [], "region": []}),
    ],
    ids=["no columns", "no rows"],
)
def test_an_empty_frame_is_one_clear_error(profile: Profile, current: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="the current data has no rows"):
        compare(profile, current)
    with pytest.raises(DataError, match="the reference data has no rows"):
        Profile.from_frame(current)


def test_text_and_lists_in_a_numeric_column_are_that_features_error(profile: Profile) -> None:
    current = _frame(500, seed=8).astype({"age": object, "income": object})
    current.loc[current.index[:3], "age"] = "forty"
    current.loc[current.index[5], "income"] = [1, 2]
    report = compare(profile, current)
    assert report.errors["age"] == "column 'age' holds 3 values that are not numbers (e.g. 'forty')"
    assert report.errors["income"].startswith("column 'income' holds 1 values that are not numbers")
    assert report.levels["region"] == "ok"
    dated = _frame(500, seed=8).assign(age=pd.Timestamp("2026-01-01"))
    assert dated.age.dtype.kind == "M"
    assert (
        compare(profile, dated)
        .errors["age"]
        .startswith("column 'age' holds 500 values that are not numbers (e.g. '2026-01-01")
    )
    # Numbers written as text (a CSV read as text) are numbers.
    as_text = _frame(2000, seed=9).astype({"age": str})
    assert compare(profile, as_text).levels["age"] == "ok"


def test_cells_that_cannot_be_counted_are_that_features_error(profile: Profile) -> None:
    current = _frame(500, seed=10)
    current["region"] = [{"nested": i} for i in range(500)]  # unhashable categories
    report = compare(profile, current)
    assert report["region"]["level"] == "error"
    assert report.errors["region"].startswith("column 'region' cannot be counted: TypeError")
    assert report.levels["age"] == "ok"


def test_a_dates_column_is_refused_with_a_way_out() -> None:
    reference = _frame(200, seed=11).assign(seen=pd.Timestamp("2026-01-01"))
    with pytest.raises(DataError, match=r"'seen' holds dates.*exclude="):
        Profile.from_frame(reference)
    assert Profile.from_frame(reference, exclude=["id", "seen"]).features == (
        "age",
        "income",
        "region",
    )


def test_what_is_not_a_frame_or_counts_is_a_type_error(profile: Profile) -> None:
    with pytest.raises(TypeError, match="must be a pandas DataFrame or counts per feature"):
        compare(profile, [[1, 2, 3]])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="reference data must be a pandas DataFrame, not dict"):
        Profile.from_frame({"a": [1]})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected a Profile, not str"):
        compare("profile.json", _frame(10, seed=1))  # type: ignore[arg-type]


def test_duplicate_and_numbered_columns(profile: Profile) -> None:
    doubled = pd.concat([_frame(100, seed=12), _frame(100, seed=12)[["age"]]], axis=1)
    with pytest.raises(DataError, match=r"duplicate columns \['age'\]"):
        compare(profile, doubled)
    # Columns named by numbers (a frame from an array) are features named by text.
    numbered = pd.DataFrame(np.random.default_rng(13).normal(size=(500, 2)))
    numbered_profile = Profile.from_frame(numbered)
    assert numbered_profile.features == ("0", "1")
    assert compare(numbered_profile, numbered).verdict == "ok"


def test_outputs_the_profile_lacks_or_of_the_wrong_length_are_refused(profile: Profile) -> None:
    current = _frame(100, seed=14)
    with pytest.raises(DataError, match="scores given, but the profile was built without them"):
        compare(profile, current, scores=np.zeros(100))
    reference = _frame(300, seed=15)
    scored = Profile.from_frame(reference, scores=np.linspace(0, 1, 300))
    assert scored.outputs == ("_score",)
    with pytest.raises(DataError, match=r"one value per row: \(99,\) for 100 rows"):
        compare(scored, current, scores=np.zeros(99))
    with pytest.raises(DataError, match="one value per reference row"):
        Profile.from_frame(reference, scores=np.zeros(5))
    # Without scores the score is simply not compared.
    assert "_score" not in compare(scored, current).levels


def test_ids_like_007_stay_text() -> None:
    """``id`` is never a feature, and a code column of text keeps its leading zeros."""
    rng = np.random.default_rng(16)
    codes = rng.choice(["007", "7", "0070"], 3000, p=[0.5, 0.3, 0.2])
    reference = pd.DataFrame({"id": [f"{i:07d}" for i in range(3000)], "code": codes})
    profile = Profile.from_frame(reference)
    assert profile.features == ("code",)
    assert profile.reference["code"].categories == ("007", "7", "0070")
    current = pd.DataFrame({"id": ["007"] * 1000, "code": ["007"] * 500 + ["7"] * 500})
    report = compare(profile, current)
    document = json.loads(report.to_json())
    (row,) = document["features"]
    assert row["bin_labels"][:3] == ["007", "7", "0070"]
    assert row["current_counts"][:3] == [500, 500, 0]
    assert report.drifted == ["code"]  # 0070 vanished, 7 grew: compared as text
    # The number 7 is not the text "007": it is a value the reference never had.
    numbers = compare(profile, pd.DataFrame({"code": [7] * 10 + [8] * 10}))
    row = numbers["code"]
    counts = dict(zip(row["bin_labels"], row["current_counts"], strict=True))
    assert counts["7"] == 10 and counts["007"] == 0 and counts["unseen"] == 10


def test_counts_in_the_profiles_layout(profile: Profile) -> None:
    current = _frame(3000, seed=17, shift=1.0)
    from_frame = compare(profile, current)
    region = profile.reference["region"]
    bins = np.bincount(region.assign(current["region"]), minlength=region.n_bins)
    # Bins only, for one feature: compared like the frame's, the others are errors.
    report = compare(profile, {"region": bins})
    assert report["region"]["p_value"] == from_frame["region"]["p_value"]
    assert report.errors == {
        "age": "no counts given for this feature",
        "income": "no counts given for this feature",
    }
    # A numeric feature's bins without sums: no current mean, no mean test.
    age = profile.reference["age"]
    age_bins = np.bincount(age.assign(current["age"].to_numpy()), minlength=age.n_bins)
    bins_only = compare(profile, {"age": age_bins, "region": bins})
    assert math.isnan(bins_only["age"]["cur_mean"])  # unknown
    assert bins_only["age"]["statistics"]["mean_pvalue"] is None
    assert bins_only.levels["age"] == "drift"  # the bins alone show +1 sd
    with_sums = compare(
        profile,
        {
            "age": PeriodCounts(
                age_bins,
                int(age_bins.sum()),
                0,
                float(current["age"].sum()),
                float((current["age"] ** 2).sum()),
            ),
            "region": bins,
        },
    )
    assert with_sums["age"]["cur_mean"] == pytest.approx(current["age"].mean())
    # Refused: wrong layout (that feature's error), unknown features and nothing (clear errors).
    wrong = compare(profile, {"age": [1, 2, 3], "region": bins})
    assert wrong.errors["age"].startswith("counts of 'age' refused: expected")
    assert (
        compare(profile, {"age": [-1] * age.n_bins, "region": bins})
        .errors["age"]
        .endswith("counts must be non-negative numbers")
    )
    with pytest.raises(DataError, match=r"features the profile does not have: \['agee'\]"):
        compare(profile, {"agee": age_bins})
    with pytest.raises(DataError, match="no counts given"):
        compare(profile, {})


def test_rejections_are_counts_of_the_profiles_features(profile: Profile) -> None:
    current = _frame(2000, seed=18)
    assert compare(profile, current).levels["income"] == "ok"
    report = compare(profile, current, rejected={"income": 60})
    assert report.levels["income"] == "drift"  # 3 % of the records beyond the range
    assert "60 records beyond the allowed range were rejected" in report["income"]["reasons"][-1]
    with pytest.raises(DataError, match=r"features the profile does not have: \['incme'\]"):
        compare(profile, current, rejected={"incme": 60})
    with pytest.raises(DataError, match="rejections of 'income' must be a count"):
        compare(profile, current, rejected={"income": -1})
    with pytest.raises(DataError, match="rejections of 'income' must be a count"):
        compare(profile, current, rejected={"income": 1.5})  # type: ignore[dict-item]
