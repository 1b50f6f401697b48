"""Per-minute accumulation: minute split, flushes, late partials, exact totals."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scorestream.streams.drift.accumulator import (
    MINUTE_MS,
    MinuteBinAccumulator,
    MinuteFeatureStats,
)
from scorestream.streams.drift.profile import SCORE_FEATURE, ReferenceProfile

T0 = 1_700_000_040_000  # a minute boundary (epoch ms)


def _sum_rows(rows: list[MinuteFeatureStats]) -> dict[str, MinuteFeatureStats]:
    """Partials added up per feature over all their minutes, as the drift check does."""
    totals: dict[str, MinuteFeatureStats] = {}
    for row in rows:
        seen = totals.get(row.feature)
        totals[row.feature] = (
            row
            if seen is None
            else replace(
                seen,
                counts=[a + b for a, b in zip(seen.counts, row.counts, strict=True)],
                count=seen.count + row.count,
                missing=seen.missing + row.missing,
                sum=seen.sum + row.sum,
                sumsq=seen.sumsq + row.sumsq,
            )
        )
    return totals


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    x = rng.normal(5, 2, n)
    x[rng.random(n) < 0.1] = np.nan
    c = rng.choice(np.array(["a", "b", "c", "zzz"], dtype=object), n)
    c[rng.random(n) < 0.05] = None
    return pd.DataFrame({"x": x, "c": c})


@pytest.fixture()
def profile() -> ReferenceProfile:
    rng = np.random.default_rng(0)
    reference = _frame(rng, 2_000).assign(c=lambda f: f["c"].replace("zzz", "a"))
    return ReferenceProfile.from_frame(reference, ["x"], ["c"], scores=rng.random(2_000))


def test_minutes_are_split_and_counted(profile: ReferenceProfile) -> None:
    rng = np.random.default_rng(1)
    frame = _frame(rng, 3_000)
    scores = rng.random(3_000)
    times = T0 + rng.integers(0, 3 * MINUTE_MS, 3_000)
    acc = MinuteBinAccumulator(profile)
    acc.add(times, frame, scores)
    assert acc.open_minutes == [T0, T0 + MINUTE_MS, T0 + 2 * MINUTE_MS]
    assert acc.max_event_time_ms == times.max()
    rows = acc.flush_all()
    assert [(r.minute_ms, r.feature) for r in rows] == [
        (T0 + k * MINUTE_MS, name) for k in range(3) for name in profile.names
    ]
    for row in rows:
        in_minute = (times >= row.minute_ms) & (times < row.minute_ms + MINUTE_MS)
        expected = profile.count(frame[in_minute], scores[in_minute])[row.feature]
        assert row.counts == expected.tolist()
        assert row.count == in_minute.sum() and row.missing == expected[-1]
        if row.feature == "x":
            values = frame["x"][in_minute].dropna().to_numpy()
            assert row.kind == "numeric"
            assert row.sum == pytest.approx(values.sum())
            assert row.sumsq == pytest.approx((values**2).sum())
            assert row.mean == pytest.approx(values.mean())
        if row.feature == "c":
            assert (row.kind, row.sum, row.sumsq) == ("categorical", 0.0, 0.0)
    assert acc.open_minutes == [] and acc.flush_all() == []


def test_late_records_form_an_extra_partial(profile: ReferenceProfile) -> None:
    acc = MinuteBinAccumulator(profile)
    one = pd.DataFrame({"x": [1.0], "c": ["a"]})
    acc.add(np.array([T0 + 1]), one, np.array([0.5]))
    first = acc.flush_all()
    assert {r.minute_ms for r in first} == {T0}
    acc.add(np.array([T0 + 2, T0 + 2 * MINUTE_MS]), pd.concat([one, one]), np.array([0.1, 0.2]))
    second = acc.flush_all()
    assert [(r.minute_ms, r.count) for r in second if r.feature == "x"] == [
        (T0, 1),
        (T0 + 2 * MINUTE_MS, 1),
    ]
    totals = _sum_rows([*first, *second])
    assert totals["x"].count == 3 and totals[SCORE_FEATURE].sum == pytest.approx(0.8)


def test_totals_equal_one_shot_count(profile: ReferenceProfile) -> None:
    rng = np.random.default_rng(2)
    n = 20_000
    frame = _frame(rng, n)
    scores = rng.random(n)
    # Mostly ordered event times with stragglers up to 3 minutes late.
    times = (
        T0
        + np.sort(rng.integers(0, 30 * MINUTE_MS, n))
        - rng.integers(0, 3, n) * (rng.random(n) < 0.05) * MINUTE_MS
    )
    acc = MinuteBinAccumulator(profile, max_open_minutes=4)
    rows: list[MinuteFeatureStats] = []
    for k, start in enumerate(range(0, n, 777)):
        batch = slice(start, start + 777)
        acc.add(times[batch], frame.iloc[batch], scores[batch])
        assert len(acc.open_minutes) <= 4
        if k % 3 == 2:  # flush every few batches, as the agent engine does every 15 s
            rows += acc.flush_all()
    rows += acc.flush_all()
    per_key = pd.Series(1, index=[(r.minute_ms, r.feature) for r in rows]).groupby(level=0).sum()
    assert per_key.max() > 1  # some minutes were emitted as several partials

    totals = _sum_rows(rows)
    expected = profile.count(frame, scores)
    for name in profile.names:
        np.testing.assert_array_equal(totals[name].counts, expected[name])
        assert totals[name].count == n
        assert totals[name].missing == expected[name][-1]
    x = frame["x"].dropna().to_numpy()
    assert totals["x"].sum == pytest.approx(x.sum(), rel=1e-12)
    assert totals["x"].sumsq == pytest.approx((x**2).sum(), rel=1e-12)
    assert totals[SCORE_FEATURE].sum == pytest.approx(scores.sum(), rel=1e-12)


def test_max_open_minutes_force_closes_oldest(profile: ReferenceProfile) -> None:
    acc = MinuteBinAccumulator(profile, max_open_minutes=2)
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "c"]})
    acc.add(T0 + MINUTE_MS * np.array([0, 1, 2]), frame)
    assert acc.open_minutes == [T0 + MINUTE_MS, T0 + 2 * MINUTE_MS]
    rows = acc.flush_all()  # the set-aside minute is emitted with the open ones
    assert {r.feature for r in rows} == {"x", "c"}  # no scores given: no "_score" rows
    assert [r.minute_ms for r in rows if r.feature == "x"] == [T0 + MINUTE_MS * k for k in range(3)]
    assert acc.flush_all() == []
    with pytest.raises(ValueError):
        MinuteBinAccumulator(profile, max_open_minutes=0)


def test_rows_serialise(profile: ReferenceProfile) -> None:
    acc = MinuteBinAccumulator(profile)
    acc.add(np.array([T0]), pd.DataFrame({"x": [np.nan]}), np.array([0.3]))
    rows = acc.flush_all()
    for row in rows:
        data = json.loads(json.dumps(row.to_dict()))
        assert MinuteFeatureStats.from_dict(data) == row
    x = next(r for r in rows if r.feature == "x")
    assert (x.count, x.missing, x.sum) == (1, 1, 0.0) and np.isnan(x.mean)
    c = next(r for r in rows if r.feature == "c")  # absent column: counted as missing
    assert c.counts[-1] == 1


def test_empty_and_mismatched_batches(profile: ReferenceProfile) -> None:
    acc = MinuteBinAccumulator(profile)
    acc.add(np.array([], dtype=np.int64), pd.DataFrame({"x": []}))
    assert acc.open_minutes == [] and acc.max_event_time_ms is None
    with pytest.raises(ValueError, match="one value per row"):
        acc.add(np.array([T0, T0]), pd.DataFrame({"x": [1.0]}))


def test_a_reopened_force_closed_minute_is_emitted_as_one_row(profile: ReferenceProfile) -> None:
    # Partitions interleave event times: minutes are force-closed, then see records again.
    rng = np.random.default_rng(5)
    acc = MinuteBinAccumulator(profile, max_open_minutes=3)
    frames, times = [], []
    for _ in range(8):
        frame = _frame(rng, 200)
        t = T0 + rng.integers(0, 10, 200) * MINUTE_MS
        acc.add(t, frame, rng.random(200))
        frames.append(frame)
        times.append(t)
    rows = acc.flush_all()
    keys = [(r.minute_ms, r.feature) for r in rows]
    assert len(keys) == len(set(keys))
    assert sum(r.count for r in rows if r.feature == "x") == 1600
    whole = pd.concat(frames, ignore_index=True)
    totals = _sum_rows(rows)
    np.testing.assert_array_equal(totals["c"].counts, profile.count(whole)["c"])


def _oracle(
    profile: ReferenceProfile, batches: list[tuple[np.ndarray, pd.DataFrame, Any, np.ndarray]]
) -> dict[int, list[tuple[Any, ...]]]:
    """Each (partition, minute)'s rows computed record group by record group, feature by
    feature, with nothing shared with the accumulator but the profile's binning."""
    groups: dict[tuple[int, int], list[tuple[pd.DataFrame, Any]]] = {}
    for times, frame, scores, parts in batches:
        for key in sorted(set(zip(parts.tolist(), (times // MINUTE_MS).tolist(), strict=True))):
            rows = (parts == key[0]) & (times // MINUTE_MS == key[1])
            part_scores = None if scores is None else scores[rows]
            groups.setdefault(key, []).append((frame[rows].reset_index(drop=True), part_scores))
    out: dict[int, list[tuple[Any, ...]]] = {}
    for partition, minute in sorted(groups):
        for feature in profile:
            counts = np.zeros(feature.n_bins, dtype=np.int64)
            total = total_sq = 0.0
            for frame, scores in groups[partition, minute]:
                raw = profile.values_of(feature, frame, scores, None)
                if raw is None:
                    continue
                bins = feature.assign(raw)
                counts += np.bincount(bins, minlength=feature.n_bins)
                if feature.kind == "numeric":
                    values = np.asarray(raw, dtype=np.float64)[bins != feature.missing_index]
                    total += float(values.sum())
                    total_sq += float((values * values).sum())
            if not any(
                profile.values_of(feature, frame, scores, None) is not None
                for frame, scores in groups[partition, minute]
            ):
                continue  # never touched in this minute: no row
            out.setdefault(partition, []).append(
                (
                    minute * MINUTE_MS,
                    feature.name,
                    counts.tolist(),
                    int(counts.sum()),
                    total,
                    total_sq,
                )
            )
    return out


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # the profile is read, never changed
@given(st.data())
def test_flushed_partitions_match_counting_each_group_alone(
    profile: ReferenceProfile, data: st.DataObject
) -> None:
    """Many partitions and minutes at once, some minutes without scores (their ``_score``
    untouched): every row as counting that partition's minute alone gives it."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    acc = MinuteBinAccumulator(profile)
    batches = []
    for _ in range(data.draw(st.integers(1, 3))):
        n = data.draw(st.integers(1, 60))
        times = T0 + rng.integers(0, data.draw(st.integers(1, 6)) * MINUTE_MS, n)
        parts = rng.integers(0, data.draw(st.integers(1, 4)), n)
        frame = _frame(rng, n)
        scores = rng.random(n) if data.draw(st.booleans()) else None
        acc.add(times, frame, scores, partitions=parts)
        batches.append((times, frame, scores, parts))
    flushed = acc.flush_partitions()
    got = {
        partition: [(r.minute_ms, r.feature, r.counts, r.count, r.sum, r.sumsq) for r in rows]
        for partition, rows in flushed.items()
    }
    expected = _oracle(profile, batches)
    assert got.keys() == expected.keys()
    for partition, rows in expected.items():
        assert len(got[partition]) == len(rows)
        for mine, theirs in zip(got[partition], rows, strict=True):
            assert mine[:4] == theirs[:4]
            assert mine[4:] == pytest.approx(theirs[4:], rel=1e-9, abs=1e-9)
    for rows in flushed.values():
        assert all(r.missing == r.counts[-1] for r in rows)
