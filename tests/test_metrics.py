"""Two-sample metrics against closed forms, brute-force formulas and the reference libraries
(dcor for the energy distance, POT for the Fréchet / Bures-Wasserstein distance).

Monte Carlo tolerances are 4 standard deviations of the estimator under a fixed seed; where the
SD has no simple closed form it was measured once over 100-300 independent replications (stated
in the comment) and rounded up.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy.spatial.distance import cdist, pdist
from scipy.stats import ks_2samp, norm

from uqgan.stats import metrics as M


def _normal_ed_population(mu: float) -> float:
    """2E|X-Y| - E|X-X'| - E|Y-Y'| for X ~ N(0, 1), Y ~ N(mu, 1).

    X - Y ~ N(-mu, s^2) with s = sqrt(2), and for Z ~ N(m, s^2) (folded normal)
    E|Z| = s sqrt(2/pi) exp(-m^2 / (2 s^2)) + m (1 - 2 Phi(-m/s)); E|X-X'| = E|Y-Y'| = 2/sqrt(pi).
    """
    s = np.sqrt(2.0)
    exy = s * np.sqrt(2 / np.pi) * np.exp(-mu**2 / (2 * s**2)) + mu * (1 - 2 * norm.cdf(-mu / s))
    return 2 * exy - 2 * (2 / np.sqrt(np.pi))


def _mmd2_brute(x, y, k):
    """Gretton et al. (2012) eq. 3 with full kernel matrices."""
    m, n = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2 * kxy.mean())


# ------------------------------------------------------------------------------------------------
# energy distance
# ------------------------------------------------------------------------------------------------
def test_energy_distance_of_point_masses():
    """delta_a vs delta_b: E|X-Y| = |a-b|, E|X-X'| = 0, so the V-statistic is exactly 2|a-b|
    (every distance is the same number; only round-off, hence 1e-12)."""
    a, b = np.full((4, 1), 1.5), np.full((7, 1), -2.0)
    assert M.energy_distance(a, b) == pytest.approx(2 * 3.5, rel=1e-12)
    # in many dimensions, Gram-trick path (d > 64): |a - b| = |1 - 0| sqrt(d)
    a, b = np.ones((3, 100)), np.zeros((5, 100))
    assert M.energy_distance(a, b) == pytest.approx(2 * np.sqrt(100), rel=1e-12)


@pytest.mark.parametrize("d", [1, 3, 100])  # d = 100 takes the Gram-trick path
def test_energy_distance_equals_dcor(d):
    """dcor's default (V-statistic, mean, exponent 1) to 1e-10 relative: both are exact
    formulas, so only float64 round-off (~1e-15 relative, observed) separates them."""
    dcor = pytest.importorskip("dcor")
    rng = np.random.default_rng(d)
    x = rng.normal(size=(40, d))
    y = rng.normal(0.3, 1.2, size=(31, d))
    y[:4] = x[:4]  # coinciding rows across samples
    x = np.vstack([x, x[:3]])  # and within a sample: exact zeros the Gram trick must not blur
    assert M.energy_distance(x, y) == pytest.approx(dcor.energy_distance(x, y), rel=1e-10)


@pytest.mark.parametrize("d", [3, 100])
def test_energy_distance_blocks_do_not_change_it(d):
    """Blocking only reorders the sums: agreement to 1e-12 relative (round-off)."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(37, d)), rng.normal(0.5, 1.0, size=(23, d))
    ref = M.energy_distance(x, y)
    for bs in (1, 5, 16, 1000):
        assert M.energy_distance(x, y, block_size=bs) == pytest.approx(ref, rel=1e-12)


def test_energy_distance_invariances():
    """Symmetric and translation invariant (round-off only: 1e-12; the pooled centering makes the
    shift by 1e3 exact up to ~1e-13); 0 between a sample and itself, also with d > 64 where the
    Gram trick's round-off would leave ~1e-8 per coinciding pair without the exact recomputation."""
    rng = np.random.default_rng(3)
    for d in (2, 80):
        x, y = rng.normal(size=(30, d)), rng.normal(1.0, 2.0, size=(20, d))
        ed = M.energy_distance(x, y)
        assert M.energy_distance(y, x) == pytest.approx(ed, rel=1e-12)
        assert M.energy_distance(x + 1e3, y + 1e3) == pytest.approx(ed, rel=1e-12)
        # round-off of sums of O(1) distances after centering: ~1e-16, clipped at 0
        assert M.energy_distance(x + 1e3, x + 1e3) == pytest.approx(0.0, abs=1e-12)
    # float32 input, converted blockwise: same as its float64 copy up to round-off
    x32 = rng.normal(size=(25, 70)).astype(np.float32)
    assert M.energy_distance(x32, x32[::-1] * 2) == pytest.approx(
        M.energy_distance(x32.astype(float), x32[::-1].astype(float) * 2), rel=1e-12)
    # trailing dims are flattened: (n, time, node, 2) histories equal their (n, -1) view
    h1, h2 = rng.normal(size=(6, 3, 4, 2)), rng.normal(size=(5, 3, 4, 2))
    assert M.energy_distance(h1, h2) == M.energy_distance(h1.reshape(6, -1), h2.reshape(5, -1))


def test_energy_distance_converges_to_the_normal_closed_form():
    """N(0,1) vs N(1,1), n = 2000 each: population 0.5418 (see _normal_ed_population), plus the
    V-statistic bias (E|X-X'| + E|Y-Y'|) / n = 2 (2/sqrt(pi)) / 2000 = 0.0011. The estimator's SD
    at this n is 0.037 (measured over 200 replications), so 4 SD = 0.15."""
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(2000, 1)), rng.normal(1.0, 1.0, size=(2000, 1))
    expected = _normal_ed_population(1.0) + 2 * (2 / np.sqrt(np.pi)) / 2000
    assert M.energy_distance(x, y) == pytest.approx(expected, abs=0.15)


# ------------------------------------------------------------------------------------------------
# MMD and KID
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("d", [2, 90])
def test_mmd2_equals_the_brute_force_formula(d):
    """Blocked sums vs full kernel matrices (eq. 3), m != n, both kernels and the median heuristic
    (np.median of scipy's pdist of the pooled sample): exact formulas, so 1e-10 relative."""
    rng = np.random.default_rng(d)
    x, y = rng.normal(size=(33, d)), rng.normal(0.4, 1.0, size=(21, d))
    h = np.median(pdist(np.vstack([x, y])))

    def rbf(a, b):
        return np.exp(-cdist(a, b, "sqeuclidean") / (2 * h * h))

    def poly(a, b):
        return (a @ b.T / d + 1) ** 3

    for bs in (None, 4):
        assert M.mmd2_unbiased(x, y, block_size=bs) == pytest.approx(_mmd2_brute(x, y, rbf), rel=1e-10)
        assert M.mmd2_unbiased(x, y, bandwidth=h, block_size=bs) == pytest.approx(_mmd2_brute(x, y, rbf), rel=1e-10)
        assert M.kid(x, y, block_size=bs) == pytest.approx(_mmd2_brute(x, y, poly), rel=1e-10)
    assert M.mmd2_unbiased(y, x) == pytest.approx(M.mmd2_unbiased(x, y), rel=1e-12)  # symmetric


def test_mmd2_rbf_matches_the_gaussian_closed_form():
    """N(0,1) vs N(1,1), RBF with h = 1: E k(X,X') = h / sqrt(h^2 + 2) and
    E k(X,Y) = h / sqrt(h^2 + 2) exp(-mu^2 / (2 (h^2 + 2))), so MMD^2 = 2/sqrt(3) (1 - e^{-1/6})
    = 0.17727. The estimator is unbiased; its SD at n = 1000 is 0.017 (measured over 200
    replications, mean 0.17727), so 4 SD = 0.07."""
    rng = np.random.default_rng(20)
    x, y = rng.normal(size=(1000, 1)), rng.normal(1.0, 1.0, size=(1000, 1))
    expected = 2 / np.sqrt(3) * (1 - np.exp(-1 / 6))
    assert M.mmd2_unbiased(x, y, bandwidth=1.0) == pytest.approx(expected, abs=0.07)


def test_mmd2_is_unbiased_under_the_null():
    """Same distribution: E MMD^2_u = 0 exactly. Over 40 replications the mean is within 4
    standard errors of 0 (SE from the replications themselves), and some values are negative
    (a biased, V-statistic estimate never is)."""
    rng = np.random.default_rng(21)
    vals = np.array([M.mmd2_unbiased(rng.normal(size=(60, 2)), rng.normal(size=(50, 2))) for _ in range(40)])
    se = vals.std(ddof=1) / np.sqrt(len(vals))
    assert abs(vals.mean()) < 4 * se
    assert (vals < 0).any()


def test_kid_matches_the_moment_closed_form():
    """d = 1: (ab + 1)^3 = a^3 b^3 + 3 a^2 b^2 + 3 ab + 1, so MMD^2 = sum_k c_k (E X^k - E Y^k)^2
    with c = (3, 3, 1) for k = 1, 2, 3. X ~ U(-1, 1), Y = X' + 1/2: moments (0, 1/3, 0) and
    (1/2, 7/12, 5/8) give 3/4 + 3/16 + 25/64 = 1.3281. Unbiased; SD 0.14 at n = 1000 (measured
    over 100 replications), so 4 SD = 0.56."""
    rng = np.random.default_rng(22)
    x, y = rng.uniform(-1, 1, size=(1000, 1)), rng.uniform(-1, 1, size=(1000, 1)) + 0.5
    assert M.kid(x, y) == pytest.approx(3 / 4 + 3 / 16 + 25 / 64, abs=0.56)


# ------------------------------------------------------------------------------------------------
# Fréchet distance
# ------------------------------------------------------------------------------------------------
def test_frechet_diagonal_closed_form():
    """Commuting (diagonal) covariances: Tr (S1 S2)^{1/2} = sum sqrt(v1 v2), so
    d^2 = |dmu|^2 + sum (sqrt(v1) - sqrt(v2))^2 exactly; 1e-10 relative (sqrtm round-off)."""
    v1, v2 = np.array([1.0, 4.0, 0.25, 9.0]), np.array([2.0, 1.0, 0.25, 16.0])
    m1, m2 = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0, 3.0])
    expected = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert M.frechet_distance_gaussians(m1, np.diag(v1), m2, np.diag(v2)) == pytest.approx(expected, rel=1e-10)
    # 1-D samples: (mean difference)^2 + (SD difference)^2 with ddof = 1 SDs
    rng = np.random.default_rng(30)
    a, b = rng.normal(size=50), rng.normal(2.0, 3.0, size=70)
    expected = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert M.frechet_distance(a, b) == pytest.approx(expected, rel=1e-10)


def test_frechet_equals_pot_bures_wasserstein():
    """POT's Bures-Wasserstein distance W (eigh-based square roots) squared is the same quantity;
    two different algorithms on well-conditioned 6x6 covariances agree to ~1e-14 (observed), 1e-8
    asserted."""
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(31)
    d = 6
    A, B = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    s1, s2 = A @ A.T / d + 0.1 * np.eye(d), B @ B.T / d + 0.05 * np.eye(d)
    m1, m2 = rng.normal(size=d), rng.normal(size=d)
    w = ot.gaussian.bures_wasserstein_distance(m1, m2, s1, s2)
    assert M.frechet_distance_gaussians(m1, s1, m2, s2) == pytest.approx(float(w) ** 2, rel=1e-8)
    # from samples: POT fed the same fits (mean, ddof = 1 covariance)
    x, y = rng.normal(size=(300, d)) @ A.T, rng.normal(size=(200, d)) @ B.T + 1.0
    w = ot.gaussian.bures_wasserstein_distance(x.mean(0), y.mean(0), np.cov(x.T), np.cov(y.T))
    assert M.frechet_distance(x, y) == pytest.approx(float(w) ** 2, rel=1e-8)


def test_frechet_of_identical_distributions():
    """Against itself: sqrtm(S^2) = S, so 0 up to round-off (1e-10 of Tr S = 3).
    Two N(0, I_3) samples of n = 5000: the expectation is about 2d/n (means) + d(d+1)/(2n)
    (covariances: (sqrt(a) - sqrt(b))^2 ~ (a - b)^2 / 4 near I) = 0.0024; a sum of ~9 chi-square-like
    terms exceeds 4x its mean with probability < 1e-4, so < 0.01."""
    rng = np.random.default_rng(32)
    x = rng.normal(size=(5000, 3))
    assert M.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-10 * 3)
    assert M.frechet_distance(x, rng.normal(size=(5000, 3))) < 0.01


def test_frechet_singular_product_retries_with_eps(caplog):
    """S1 = 2 u u^T, S2 = v v^T (u = (1,0,-1), v = (1,-1,0)): scipy's sqrtm of the singular
    product is NaN, so eps I is added (with a warning). Exact value: Tr sqrt(S1^½ S2 S1^½) =
    sqrt(v^T S1 v) = sqrt(2), d^2 = 4 + 2 - 2 sqrt(2). The offset (1e-6 x the typical variance)
    moves it by O(d sqrt(eps)) <= 3e-3 at worst (1e-5 observed)."""
    u, v = np.array([1.0, 0.0, -1.0]), np.array([1.0, -1.0, 0.0])
    z = np.zeros(3)
    with caplog.at_level(logging.WARNING, logger="uqgan.stats.metrics"):
        value = M.frechet_distance_gaussians(z, 2 * np.outer(u, u), z, np.outer(v, v))
    assert "adding" in caplog.text
    assert value == pytest.approx(6 - 2 * np.sqrt(2), abs=3e-3)


# ------------------------------------------------------------------------------------------------
# permutation test and truth floor
# ------------------------------------------------------------------------------------------------
def test_permutation_test_is_calibrated_under_the_null():
    """Under H0 with 99 permutations, P(p <= 0.1) = 10/100 exactly (exchangeability, continuous
    statistic). Over 60 replications the count is Binomial(60, 0.1): mean 6, SD 2.3; 4 SD gives
    [0, 15]. The p-values' mean is 0.5 with SD 0.29/sqrt(60) = 0.037: within 0.15."""
    rng = np.random.default_rng(40)
    ps = np.array([M.permutation_test(rng.normal(size=(12, 2)), rng.normal(size=(12, 2)), M.energy_distance,
                                      n_permutations=99, rng=rng)[1] for _ in range(60)])
    assert np.all((ps > 0) & (ps <= 1))
    assert np.sum(ps <= 0.1) <= 15
    assert ps.mean() == pytest.approx(0.5, abs=0.15)


def test_permutation_test_detects_a_shift_and_is_reproducible():
    """A shift of 3 SD with 30 + 30 samples: no permutation reaches the observed energy distance,
    so p = 1/(1 + 199) = 0.005 < 0.01. Same seed, same answer."""
    rng = np.random.default_rng(41)
    x, y = rng.normal(size=(30, 2)), rng.normal(3.0, 1.0, size=(30, 2))
    obs, p = M.permutation_test(x, y, M.energy_distance, n_permutations=199, rng=np.random.default_rng(0))
    assert obs == M.energy_distance(x, y)
    assert p < 0.01
    assert M.permutation_test(x, y, M.energy_distance, n_permutations=199, rng=np.random.default_rng(0)) == (obs, p)
    # a constant statistic ties with every permutation: p = 1 (Phipson & Smyth convention)
    assert M.permutation_test(x, y, lambda a, b: 1.0, n_permutations=9, rng=np.random.default_rng(0))[1] == 1.0


def test_truth_floor_halves_and_expectation():
    """Halves are disjoint and of size n_split. For the energy distance of two halves of one
    N(0,1) sample, E = (E|X-X'| + E|Y-Y'|) / k = 2 (2/sqrt(pi)) / 200 = 0.01128 (V-statistic bias,
    k = 200), the same as a perfect generator of 200 samples would get. One floor has SD 0.0037
    (measured over 300 truth draws, n_repeats = 5); the mean of 20 has SE 0.00083: within 0.0033."""
    seen = []

    def record(a, b):
        seen.append((a.shape, b.shape, np.intersect1d(a, b).size))
        return 0.0

    M.truth_floor(np.arange(11.0), record, rng=np.random.default_rng(0), n_repeats=3)
    assert seen == [((5,), (5,), 0)] * 3
    rng = np.random.default_rng(42)
    floors = [M.truth_floor(rng.normal(size=(400, 1)), M.energy_distance, rng=rng) for _ in range(20)]
    assert np.mean(floors) == pytest.approx(2 * (2 / np.sqrt(np.pi)) / 200, abs=0.0033)


# ------------------------------------------------------------------------------------------------
# coverage, QoI comparison, peak displacement
# ------------------------------------------------------------------------------------------------
def test_quantile_coverage_same_distribution_and_too_narrow():
    """50 independent N(0,1) features, n_g = 1000 generated, n_t = 500 true rows. With linear
    interpolation the band sits at order-statistic positions 1 + 0.05*999 = 50.95 and 950.05,
    whose expected coverage is (950.05 - 50.95) / 1001 = 0.8982 (uniform spacings). SD: band
    coverage per feature sqrt(p(1-p)/(n_g+2)) / sqrt(50) = 0.0014, truth Bernoulli
    sqrt(p(1-p)/25000) = 0.0019; 4 x 0.0024 = 0.0095. A generator with SD 0.5 covers
    2 Phi(1.645 * 0.5) - 1 = 0.59 of the truth: clearly below 0.7."""
    rng = np.random.default_rng(50)
    truth = rng.normal(size=(500, 5, 10))  # trailing shape (5, 10): 50 entries
    cov = M.quantile_coverage(rng.normal(size=(1000, 5, 10)), truth)
    assert cov == pytest.approx((950.05 - 50.95) / 1001, abs=0.0095)
    assert M.quantile_coverage(rng.normal(0.0, 0.5, size=(1000, 5, 10)), truth) < 0.7
    # exact small case: band [1.2, 4.8] from 1..5 at (0.05, 0.95) (1 + 4q); truth 0, 2, 3, 5 -> 2 inside
    g = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert M.quantile_coverage(g, np.array([0.0, 2.0, 3.0, 5.0])) == 0.5


def test_qoi_comparison_on_shifted_scaled_normals():
    """truth N(10, 2^2), generated N(10.5, 3^2), 20000 each. mean_bias -> 0.05 with SE
    sqrt((4 + 9)/20000)/10 = 0.0026; spread_ratio -> 1.5 with SE 1.5 sqrt(1/(2n) + 1/(2n)) = 0.011;
    quantile q: SE of a sample quantile sigma sqrt(q(1-q)) / (phi(z_q) sqrt(n)), propagated to the
    ratio. All within 4 SE. KS: by the DKW inequality each empirical CDF is within 0.015 of its
    CDF with probability >= 1 - 2 exp(-2 n 0.015^2) = 1 - 2.5e-4, so the statistic is within 0.03
    of sup |F_g - F_t| (evaluated on a fine grid)."""
    rng = np.random.default_rng(60)
    n = 20000
    t, g = rng.normal(10.0, 2.0, n), rng.normal(10.5, 3.0, n)
    out = M.qoi_comparison(g, t)
    assert out["mean_bias"] == pytest.approx(0.05, abs=4 * np.sqrt(13 / n) / 10)
    assert out["spread_ratio"] == pytest.approx(1.5, abs=4 * 1.5 * np.sqrt(1 / n))
    for q, bias in out["quantile_bias"].items():
        z = norm.ppf(q)
        qt, qg = 10 + 2 * z, 10.5 + 3 * z
        se_g, se_t = (s * np.sqrt(q * (1 - q)) / (norm.pdf(z) * np.sqrt(n)) for s in (3.0, 2.0))
        se_ratio = np.hypot(se_g, qg / qt * se_t) / abs(qt)
        assert bias == pytest.approx((qg - qt) / abs(qt), abs=4 * se_ratio)
    grid = np.linspace(-10, 30, 200001)
    ks_pop = np.max(np.abs(norm.cdf(grid, 10, 2) - norm.cdf(grid, 10.5, 3)))
    assert out["ks"] == pytest.approx(ks_pop, abs=0.03)
    ref = ks_2samp(g, t)
    assert (out["ks"], out["ks_pvalue"]) == (ref.statistic, ref.pvalue)
    assert out["ks_pvalue"] < 1e-10


def test_peak_displacement_constructed():
    u = np.zeros((3, 4, 5, 2))
    u[0, 2, 1] = (3.0, 4.0)  # |u| = 5
    u[0, 3, 4] = (-2.0, 0.0)
    u[1, 0, 0] = (0.0, -1.5)
    assert np.array_equal(M.peak_displacement(u), [5.0, 1.5, 0.0])


def test_peak_displacement_chunks(monkeypatch):
    """Chunked over samples (a tiny memory budget forces one sample per chunk): same as the naive
    formula, exactly."""
    rng = np.random.default_rng(70)
    u = rng.normal(size=(7, 6, 5, 2)).astype(np.float32)
    monkeypatch.setattr(M, "_BLOCK_BYTES", 1)
    naive = np.sqrt((u.astype(float) ** 2).sum(-1)).max(axis=(1, 2))
    np.testing.assert_allclose(M.peak_displacement(u), naive, rtol=1e-15)


# ------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [M.energy_distance, M.mmd2_unbiased, M.kid, M.frechet_distance])
def test_two_sample_bad_input(fn):
    rng = np.random.default_rng(80)
    x = rng.normal(size=(10, 3))
    with pytest.raises(ValueError, match="y has 4 features"):
        fn(x, rng.normal(size=(10, 4)))
    with pytest.raises(ValueError, match="x has 1 samples"):
        fn(x[:1], x)
    with pytest.raises(ValueError, match="y has 1 samples"):
        fn(x, x[:1])
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="y contains NaN"):
        fn(x, bad)


def test_other_bad_input():
    rng = np.random.default_rng(81)
    x, y = rng.normal(size=(10, 3)), rng.normal(size=(10, 3))
    with pytest.raises(ValueError, match="kernel='laplace'"):
        M.mmd2_unbiased(x, y, kernel="laplace")
    with pytest.raises(ValueError, match="bandwidth=-1"):
        M.mmd2_unbiased(x, y, bandwidth=-1.0)
    with pytest.raises(ValueError, match="bandwidth"):
        M.mmd2_unbiased(np.zeros((5, 2)), np.zeros((5, 2)))  # median distance 0
    with pytest.raises(ValueError, match="block_size=0"):
        M.energy_distance(x, y, block_size=0)
    with pytest.raises(ValueError, match="max_features=2"):
        M.frechet_distance(x, y, max_features=2)  # d = 3 > 2
    with pytest.raises(ValueError, match="sigma2 has shape"):
        M.frechet_distance_gaussians(np.zeros(2), np.eye(2), np.zeros(2), np.eye(3))
    with pytest.raises(TypeError, match="rng="):
        M.permutation_test(x, y, M.energy_distance, rng=0)
    with pytest.raises(ValueError, match="n_permutations=0"):
        M.permutation_test(x, y, M.energy_distance, n_permutations=0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="sample shape"):
        M.permutation_test(x, y[:, :2], M.energy_distance, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_split=6"):
        M.truth_floor(x, M.energy_distance, n_split=6, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="quantiles="):
        M.quantile_coverage(x, y, quantiles=(0.9, 0.1))
    with pytest.raises(ValueError, match="trailing"):
        M.quantile_coverage(x, y[:, :2])
    with pytest.raises(ValueError, match="generated has shape"):
        M.qoi_comparison(x, y[:, 0])
    with pytest.raises(ValueError, match="u_bc has shape"):
        M.peak_displacement(np.zeros((2, 3, 4, 3)))
