"""Binned drift statistics against scipy on the same bins, or on the raw data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from scorestream.streams.drift.multiple_testing import benjamini_hochberg
from scorestream.streams.drift.profile import CategoricalFeatureProfile, NumericFeatureProfile
from scorestream.streams.drift.statistics import (
    chi_square,
    compare,
    jensen_shannon,
    ks_binned,
    psi,
    wasserstein_binned,
    wasserstein_binned_bound,
)

N = 100_000

# (name, reference sampler, current sampler); every sampler takes a Generator.
CASES = {
    "same": (lambda r: r.normal(0, 1, N), lambda r: r.normal(0, 1, N)),
    "shift_0.1": (lambda r: r.normal(0, 1, N), lambda r: r.normal(0.1, 1, N)),
    "shift_0.25": (lambda r: r.normal(0, 1, N), lambda r: r.normal(0.25, 1, N)),
    "shift_0.5": (lambda r: r.normal(0, 1, N), lambda r: r.normal(0.5, 1, N)),
    "scale_1.5": (lambda r: r.normal(0, 1, N), lambda r: r.normal(0, 1.5, N)),
    "lognormal_shift": (
        lambda r: r.lognormal(0, 0.75, N),
        lambda r: r.lognormal(0, 0.75, N) + 0.5 * 0.85,
    ),
    "exponential_scale": (lambda r: r.exponential(1.0, N), lambda r: r.exponential(1.3, N)),
}


def _binned(case: str) -> tuple[np.ndarray, np.ndarray, NumericFeatureProfile]:
    make_ref, make_cur = CASES[case]
    rng = np.random.default_rng(sum(map(ord, case)))
    ref, cur = make_ref(rng), make_cur(rng)
    return ref, cur, NumericFeatureProfile.from_values("x", ref)


def _counts(feature: NumericFeatureProfile, values: np.ndarray) -> np.ndarray:
    # Without the missing bin: [underflow, interior..., overflow].
    return np.bincount(feature.assign(values), minlength=feature.n_bins)[:-1]


@pytest.mark.parametrize("case", sorted(CASES))
def test_ks_statistic_within_largest_bin_mass_of_raw(case: str) -> None:
    ref, cur, feature = _binned(case)
    r, c = _counts(feature, ref), _counts(feature, cur)
    d_binned, p_binned = ks_binned(r, c)
    raw = stats.ks_2samp(ref, cur, method="asymp")
    largest_mass = max((r / r.sum()).max(), (c / c.sum()).max())
    assert d_binned <= raw.statistic + 1e-12
    assert raw.statistic - d_binned <= largest_mass
    # Same p-value formula as scipy, on a smaller statistic: never less conservative.
    assert p_binned >= raw.pvalue - 1e-12
    n, m = r.sum(), c.sum()
    # Kolmogorov's limit above 10,000 effective records: within 2e-3 of scipy's kstwo.
    exact = stats.kstwo.sf(d_binned, round(n * m / (n + m)))
    assert p_binned == pytest.approx(exact, abs=2e-3)


@pytest.mark.parametrize("case", sorted(CASES))
def test_psi_equals_symmetrised_kl_from_scipy(case: str) -> None:
    ref, cur, feature = _binned(case)
    r, c = _counts(feature, ref), _counts(feature, cur)
    eps = 1e-4
    keep = (r > 0) | (c > 0)
    p = np.maximum(r[keep] / r.sum(), eps)
    q = np.maximum(c[keep] / c.sum(), eps)
    p, q = p / p.sum(), q / q.sum()
    expected = stats.entropy(p, q) + stats.entropy(q, p)
    assert psi(r, c, eps=eps) == pytest.approx(expected, abs=1e-9)
    inner_r, inner_c = r[1:-1], c[1:-1]
    if (inner_c > 0).all():
        # No bin empty on one side: the floor does not act, PSI is plain KL(p||q) + KL(q||p).
        exact = stats.entropy(inner_r, inner_c) + stats.entropy(inner_c, inner_r)
        assert psi(inner_r, inner_c) == pytest.approx(exact, abs=1e-9)
        assert psi(inner_r, inner_c, eps=1e-12) == pytest.approx(exact, abs=1e-9)


def test_psi_floor_on_empty_bins_matches_scipy_on_smoothed_proportions() -> None:
    r = np.array([0, 500, 300, 200, 0])
    c = np.array([0, 400, 300, 290, 10])
    eps = 1e-4
    p = np.maximum(np.array([500, 300, 200, 0]) / 1000, eps)
    q = np.maximum(np.array([400, 300, 290, 10]) / 1000, eps)
    p, q = p / p.sum(), q / q.sum()
    expected = stats.entropy(p, q) + stats.entropy(q, p)
    assert psi(r, c, eps=eps) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("case", sorted(CASES))
def test_jensen_shannon_equals_scipy(case: str) -> None:
    ref, cur, feature = _binned(case)
    r, c = _counts(feature, ref), _counts(feature, cur)  # tails may be empty: fine
    assert jensen_shannon(r, c) == pytest.approx(jensenshannon(r, c, base=2), abs=1e-9)


def test_jensen_shannon_bounds() -> None:
    assert jensen_shannon([5, 5], [5, 5]) == 0.0
    assert jensen_shannon([1, 0, 0], [0, 0, 3]) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(5))
def test_chi_square_equals_scipy_contingency(seed: int) -> None:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(6))
    r = rng.multinomial(50_000, probs)
    c = rng.multinomial(100_000, np.roll(probs, seed % 2))
    r = np.r_[r, 0, 7]  # a bin empty on both sides is dropped; one empty on one side kept
    c = np.r_[c, 0, 0]
    keep = (r > 0) | (c > 0)
    expected = stats.chi2_contingency(np.vstack([r[keep], c[keep]]), correction=False)
    statistic, pvalue = chi_square(r, c)
    assert statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert pvalue == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_chi_square_two_by_two_without_continuity_correction() -> None:
    expected = stats.chi2_contingency([[980, 20], [1900, 100]], correction=False)
    statistic, pvalue = chi_square([980, 20], [1900, 100])
    assert statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert pvalue == pytest.approx(expected.pvalue, rel=1e-9)


def _tail_excess(feature: NumericFeatureProfile, values: np.ndarray) -> float:
    # T in the documented bound: mean distance of values beyond the reference range
    # from the edge where their bin is placed.
    lo, hi = feature.edges[0], feature.edges[-1]
    return float(np.clip(lo - values, 0, None).sum() + np.clip(values - hi, 0, None).sum())


@pytest.mark.parametrize("case", sorted(CASES))
def test_wasserstein_within_documented_bound_of_scipy(case: str) -> None:
    ref, cur, feature = _binned(case)
    r, c = _counts(feature, ref), _counts(feature, cur)
    sigma = ref.std()
    raw = stats.wasserstein_distance(ref, cur) / sigma
    for positions in (None, feature.positions()):
        estimate = wasserstein_binned(r, c, feature.edges, sigma, positions)
        bound = wasserstein_binned_bound(r, c, feature.edges, sigma, positions)
        tails = _tail_excess(feature, ref) / ref.size + _tail_excess(feature, cur) / cur.size
        assert abs(estimate - raw) <= bound + tails / sigma


@pytest.mark.parametrize(
    "case", ["same", "shift_0.1", "shift_0.25", "shift_0.5", "lognormal_shift"]
)
def test_wasserstein_with_reference_positions_is_close_for_mean_shifts(case: str) -> None:
    # The documented typical accuracy: mean shifts up to 0.5 std within 0.03 std.
    ref, cur, feature = _binned(case)
    r, c = _counts(feature, ref), _counts(feature, cur)
    raw = stats.wasserstein_distance(ref, cur) / ref.std()
    estimate = wasserstein_binned(r, c, feature.edges, feature.std, feature.positions())
    assert abs(estimate - raw) <= 0.03


def test_wasserstein_simple_cases() -> None:
    edges = np.array([0.0, 1.0, 2.0])
    assert wasserstein_binned([0, 4, 0, 0], [0, 4, 0, 0], edges, 1.0) == 0.0
    # Midpoints 0.5 and 1.5: all mass moves by 1, i.e. 0.5 reference stds of 2.
    assert wasserstein_binned([0, 4, 0, 0], [0, 0, 4, 0], edges, 2.0) == pytest.approx(0.5)
    assert math.isnan(wasserstein_binned([0, 4, 0, 0], [0, 0, 4, 0], edges, 0.0))
    with pytest.raises(ValueError, match="expected counts"):
        wasserstein_binned([1, 2, 3], [1, 2, 3], edges, 1.0)
    with pytest.raises(ValueError, match="non-decreasing"):
        wasserstein_binned([0, 4, 0, 0], [0, 0, 4, 0], edges, 1.0, positions=[0, 2, 1, 3])


def test_empty_side_gives_nan_and_p_one() -> None:
    assert math.isnan(psi([0, 0], [1, 2]))
    assert math.isnan(jensen_shannon([1, 2], [0, 0]))
    d, p = ks_binned([0, 0], [1, 2])
    assert math.isnan(d) and p == 1.0
    stat, p = chi_square([1, 2], [0, 0])
    assert math.isnan(stat) and p == 1.0
    assert chi_square([5, 0], [7, 0]) == (0.0, 1.0)


def test_invalid_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="same length"):
        psi([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="non-negative"):
        chi_square([1, -2], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        ks_binned([1, np.nan], [1, 2])


def test_compare_numeric() -> None:
    rng = np.random.default_rng(7)
    ref = rng.normal(10, 2, 50_000)
    ref[:1000] = np.nan
    feature = NumericFeatureProfile.from_values("x", ref)
    cur = rng.normal(11, 2, 100_000)
    cur[:5000] = np.nan
    present = cur[~np.isnan(cur)]
    counts = np.bincount(feature.assign(cur), minlength=feature.n_bins)
    drift = compare(feature, counts, value_sum=present.sum(), value_sumsq=float((present**2).sum()))
    assert drift.kind == "numeric" and drift.test == "ks"
    assert drift.pvalue < 1e-100
    assert drift.wasserstein == pytest.approx(0.5, abs=0.05)
    assert drift.ref_missing_rate == pytest.approx(0.02)
    assert drift.cur_missing_rate == pytest.approx(0.05)
    assert drift.missing_pvalue is not None and drift.missing_pvalue < 1e-100
    assert drift.cur_mean == pytest.approx(present.mean())
    assert drift.cur_std == pytest.approx(present.std(), rel=1e-9)
    assert drift.ref_mean == pytest.approx(np.nanmean(ref))
    assert drift.cur_out_of_range_rate == pytest.approx(
        np.mean((present < np.nanmin(ref)) | (present > np.nanmax(ref)))
    )
    data = drift.to_dict()
    assert data["feature"] == "x" and data["wasserstein"] == drift.wasserstein


def test_compare_numeric_folds_tails_for_psi_and_js() -> None:
    feature = NumericFeatureProfile.from_values("x", np.linspace(0, 1, 1001), n_bins=4)
    # 10 % above the reference max: PSI/JS see it in the top bin, not as an empty bin.
    counts = np.array([0, 250, 250, 250, 150, 100, 0])
    drift = compare(feature, counts)
    folded_ref = feature.reference_counts[1:-2].copy()
    folded_ref[-1] += feature.reference_counts[-2]
    assert drift.psi == pytest.approx(psi(folded_ref, [250, 250, 250, 250]))
    assert drift.cur_out_of_range_rate == pytest.approx(0.1)


def test_compare_categorical_and_empty_window() -> None:
    rng = np.random.default_rng(3)
    values = rng.choice(np.array(["a", "b", "c", None], dtype=object), 10_000)
    feature = CategoricalFeatureProfile.from_values("c", values)
    counts = np.bincount(feature.assign(values[:5000]), minlength=feature.n_bins)
    drift = compare(feature, counts)
    expected = chi_square(feature.reference_counts, counts)
    assert (drift.test, drift.statistic, drift.pvalue) == ("chi2", *expected)
    assert drift.wasserstein is None and drift.missing_pvalue is None
    assert drift.psi == psi(feature.reference_counts, counts)

    empty = compare(feature, np.zeros(feature.n_bins))
    assert empty.pvalue == 1.0 and math.isnan(empty.psi)
    assert empty.to_dict()["psi"] is None
    with pytest.raises(ValueError, match="expected"):
        compare(feature, [1, 2])


def test_benjamini_hochberg_equals_scipy() -> None:
    rng = np.random.default_rng(0)
    for size in (1, 2, 13, 200):
        p = np.concatenate([rng.random(size), rng.random(size) ** 8])
        p[::5] = p[0]  # ties
        np.testing.assert_allclose(
            benjamini_hochberg(p), stats.false_discovery_control(p), rtol=1e-12
        )
    q = benjamini_hochberg(rng.random((4, 5)))
    assert q.shape == (4, 5) and (q <= 1).all()


def test_benjamini_hochberg_is_monotone_and_validates() -> None:
    p = np.array([0.9, 0.001, 0.04, 0.03, 0.2, 1.0, 0.0])
    q = benjamini_hochberg(p)
    order = np.argsort(p)
    assert np.all(np.diff(q[order]) >= 0)
    assert np.all(q >= p)
    with pytest.raises(ValueError):
        benjamini_hochberg([0.1, np.nan])
    with pytest.raises(ValueError):
        benjamini_hochberg([1.5])
