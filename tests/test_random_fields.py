"""Known-answer tests of the Karhunen–Loève random fields (numpy/scipy only, no FEniCSx)."""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.spatial.distance import cdist

from uqgan.physics.random_fields import KLBasis, covariance, kl_basis, lognormal_field, sample_xi
from uqgan.physics.random_fields import _matern_bessel as matern_bessel

L, H = 1.0, 0.25  # the default plate [m]
AREA = L * H
SE = "squared-exponential"


def se_basis(ell=0.3, **kw):
    return kl_basis(length_m=L, height_m=H, kernel=SE, correlation_length_m=ell, **kw)


# ---------------------------------------------------------------- 1. covariance kernels


R = np.concatenate([[0.0, 1e-12, 1e-6], np.linspace(1e-3, 3.0, 400)])


@pytest.mark.parametrize(
    ("kernel", "nu"), [(SE, 1.5), ("matern", 0.5), ("matern", 1.5), ("matern", 1.3), ("matern", 7.3)]
)
def test_covariance_is_one_at_zero_and_decreasing(kernel, nu):
    c = covariance(R, kernel=kernel, correlation_length_m=0.4, matern_nu=nu)
    assert c[0] == 1.0  # handled exactly, not as 0 * inf
    assert np.all(np.diff(c) <= 1e-15) and np.all(c > 0) and np.all(c <= 1)


def test_squared_exponential_formula():
    """C(r) = exp(-r^2 / (2 l^2)): C(l) = e^(-1/2), C(2 l) = e^(-2)."""
    c = covariance([0.4, 0.8], kernel=SE, correlation_length_m=0.4)
    np.testing.assert_allclose(c, np.exp([-0.5, -2.0]), rtol=1e-15)


def half_integer_matern(nu, r, ell):
    """Closed forms of the Matérn kernel at nu = p + 1/2 (Rasmussen & Williams 2006, eq. 4.16)."""
    x = math.sqrt(2 * nu) * r / ell
    poly = {0.5: 1.0, 1.5: 1 + x, 2.5: 1 + x + x**2 / 3, 3.5: 1 + x + 2 * x**2 / 5 + x**3 / 15}[nu]
    return poly * np.exp(-x)


@pytest.mark.parametrize("nu", [0.5, 1.5, 2.5, 3.5])
def test_matern_matches_half_integer_closed_forms(nu):
    ell = 0.4
    expected = half_integer_matern(nu, R, ell)
    # public path (closed forms for 1/2, 3/2, 5/2; Bessel for 7/2)
    got = covariance(R, kernel="matern", correlation_length_m=ell, matern_nu=nu)
    # the Bessel path is computed in logarithms: absolute error ~ eps (nu |ln x| + x) < 1e-13 for x <= 20
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-13)
    # and the general Bessel formula itself reproduces every closed form
    bessel = matern_bessel(math.sqrt(2 * nu) * R / ell, nu)
    np.testing.assert_allclose(bessel, expected, rtol=0, atol=1e-13)


def test_matern_bessel_where_k_nu_overflows():
    """nu = 300, x = 1: K_300(1) ~ 1e740 overflows a double, so the upward-recurrence branch is used.
    Known answer: the regular series sum_k (-x^2/4)^k Gamma(nu-k) / (Gamma(nu) k!) (DLMF 10.27.4)
    whose singular part is O(x^600)."""
    nu, x = 300.0, np.array([1e-3, 0.1, 1.0, 3.0])
    term, series = np.ones_like(x), np.ones_like(x)
    for k in range(1, 12):
        term = term * (-(x**2) / 4) / (k * (nu - k))
        series += term
    # logarithms of size nu ln(nu) ~ 2000 cancel: ~ 2000 eps = 4e-13 absolute
    np.testing.assert_allclose(matern_bessel(x, nu), series, rtol=0, atol=2e-12)


def test_matern_tends_to_squared_exponential_as_nu_grows():
    """With the sqrt(2 nu) scaling the Matérn spectral density (1 + w^2 l^2 / (2 nu))^-(nu+1) tends to
    exp(-w^2 l^2 / 2), with an O(1/nu) error: measured max |C_50 - C_SE| = 0.0046 and ~ 1/nu
    (0.044 at nu = 5, 0.0092 at nu = 25), so 0.01 at nu = 50 is a 2x margin and rules out a wrong scaling
    (without sqrt(2 nu) the difference is O(1))."""
    ell = 0.4
    se = covariance(R, kernel=SE, correlation_length_m=ell)
    diffs = {nu: np.abs(covariance(R, kernel="matern", correlation_length_m=ell, matern_nu=nu) - se).max()
             for nu in (5.0, 25.0, 50.0)}
    assert diffs[50.0] < 0.01
    assert diffs[50.0] < diffs[25.0] < diffs[5.0]
    assert diffs[5.0] / diffs[50.0] == pytest.approx(10.0, rel=0.2)  # O(1/nu)


# ---------------------------------------------------------------- 2. the discrete eigenproblem


def test_modes_orthonormal_eigenvalues_descending_and_energy_fraction():
    b = se_basis(0.15, energy_fraction=0.95)
    gram = b.modes.T @ (b.weights[:, None] * b.modes)
    # eigh returns orthonormal vectors to ~ n_q eps = 1e-13
    np.testing.assert_allclose(gram, np.eye(b.n_modes), rtol=0, atol=1e-10)
    assert np.all(b.eigenvalues > 0) and np.all(np.diff(b.eigenvalues) <= 0)
    assert b.weights.sum() == pytest.approx(AREA, rel=1e-14)
    assert b.energy_fraction == pytest.approx(b.eigenvalues.sum() / AREA, rel=1e-14)
    assert b.energy_fraction >= 0.95
    # quadrature-average variance deficit of the truncated field is exactly 1 - energy fraction:
    # sum_j w_j Psi_k(x_j)^2 = lambda_k at the quadrature points
    psi = b.evaluate(b.points)
    deficit = b.weights @ (1 - (psi**2).sum(axis=1)) / AREA
    assert deficit == pytest.approx(1 - b.energy_fraction, abs=1e-12)


def test_all_eigenvalues_sum_to_the_area():
    """Trace identity: sum_k lambda_k = trace(W^1/2 C W^1/2) = sum_j w_j C(0) = area. The exponential
    kernel (Matérn 1/2) matrix is well conditioned, so all 64 eigenpairs are genuine and kept."""
    b = kl_basis(length_m=L, height_m=H, kernel="matern", matern_nu=0.5, correlation_length_m=0.3,
                 max_quadrature_points=64, max_modes=64, energy_fraction=1.0)
    assert b.grid_shape == (16, 4) and b.n_modes == 64
    assert b.eigenvalues.sum() == pytest.approx(AREA, abs=1e-10)  # round-off ~ 64 eps
    assert b.energy_fraction == pytest.approx(1.0, abs=1e-10)


def test_quadrature_grid_spacing():
    """h = max(l / 6, sqrt(area / max_quadrature_points)), cells of a whole number per side."""
    b = se_basis(0.4)  # l / 6 = 0.0667 binds: 15 x 4 cells
    assert b.grid_shape == (15, 4)
    np.testing.assert_allclose(b.spacing_m, (1 / 15, 0.25 / 4), rtol=1e-15)
    b = se_basis(0.03, max_quadrature_points=400, energy_fraction=0.5)  # sqrt(0.25 / 400) = 0.025 binds
    assert b.grid_shape == (40, 10) and b.points.shape == (400, 2)
    assert np.all((b.points > 0) & (b.points < [L, H]))


def test_separable_kernel_gives_kronecker_eigenvalues():
    """The squared exponential factorises, exp(-(dx^2 + dy^2) / (2 l^2)) = C_x C_y, and the tensor grid
    has equal weights, so B = B_x (x) B_y exactly: the 2D eigenvalues are products of the 1D ones."""
    ell = 0.3
    b = se_basis(ell, energy_fraction=0.999)
    nx, ny = b.grid_shape
    hx, hy = b.spacing_m
    x, y = (np.arange(nx) + 0.5) * hx, (np.arange(ny) + 0.5) * hy
    lx = np.linalg.eigvalsh(hx * np.exp(-((x[:, None] - x[None]) ** 2) / (2 * ell**2)))
    ly = np.linalg.eigvalsh(hy * np.exp(-((y[:, None] - y[None]) ** 2) / (2 * ell**2)))
    products = np.sort(np.outer(lx, ly).ravel())[::-1][: b.n_modes]
    np.testing.assert_allclose(b.eigenvalues, products, rtol=1e-12)  # two eigen-solves' round-off


# ---------------------------------------------------------------- 3. analytic 1D exponential kernel


def exponential_kernel_eigenvalues(ell, a, n):
    """Exact eigenvalues of exp(-|x - y| / l) on [-a, a] (Ghanem & Spanos 1991, §2.3.3):
    lambda = 2 c / (w^2 + c^2), c = 1 / l, with c - w tan(w a) = 0 (even modes) or
    w + c tan(w a) = 0 (odd modes)."""
    c, ws = 1 / ell, []
    for k in range(n):  # one even root in (k pi, k pi + pi/2) / a, one odd root in (k pi + pi/2, (k + 1) pi) / a
        lo, mid, hi = k * np.pi / a, (k + 0.5) * np.pi / a, (k + 1) * np.pi / a
        ws.append(brentq(lambda w: c - w * np.tan(w * a), lo + 1e-12, mid - 1e-9))
        ws.append(brentq(lambda w: w + c * np.tan(w * a), mid + 1e-9, hi - 1e-12))
    return np.sort(2 * c / (np.array(ws) ** 2 + c**2))[::-1][:n]


def test_exponential_kernel_on_a_strip_converges_to_the_analytic_eigenvalues_at_second_order():
    """A strip thinner than the grid spacing gets one row of points, so B = H B_1D exactly and
    lambda / H is the midpoint-rule Nyström eigenvalue of the 1D exponential kernel on [0, 1]. The
    midpoint rule (and so the Nyström eigenvalue) converges as O(h^2) (Atkinson 1997, §3.1; the kernel's
    kink falls at a cell midpoint, which is also O(h^2)); style: rate within ±0.15 of theory."""
    ell, height = 0.5, 1e-3
    exact = exponential_kernel_eigenvalues(ell, L / 2, 3)
    errors = []
    for ppl in (10, 20, 40):  # h = 0.05, 0.025, 0.0125
        b = kl_basis(length_m=L, height_m=height, kernel="matern", matern_nu=0.5, correlation_length_m=ell,
                     points_per_correlation_length=ppl, energy_fraction=0.9, max_quadrature_points=10_000)
        assert b.grid_shape == (2 * ppl, 1) and b.n_modes >= 3
        errors.append(b.eigenvalues[:3] / height - exact)
    errors = np.array(errors)
    rates = np.log2(np.abs(errors[:-1] / errors[1:]))
    np.testing.assert_allclose(rates, 2.0, atol=0.15)
    # at h = l / 40 the leading eigenvalue is within 2e-4 relative (measured 1.19e-4 = 0.19 (h / l)^2)
    assert abs(errors[-1, 0]) / exact[0] < 2e-4


# ---------------------------------------------------------------- 4. sampled fields have the kernel's covariance


def test_empirical_covariance_matches_truncated_and_exact_kernel():
    rng = np.random.default_rng(0)
    ell, f = 0.3, 0.999
    b = se_basis(ell, energy_fraction=f)
    pts = np.column_stack([rng.uniform(0, L, 30), rng.uniform(0, H, 30)])
    psi = b.evaluate(pts)
    truncated = psi @ psi.T
    exact = covariance(cdist(pts, pts), kernel=SE, correlation_length_m=ell)

    n = 4000
    g = sample_xi(n * b.n_modes, rng=rng).reshape(n, b.n_modes) @ psi.T
    empirical = g.T @ g / n  # zero mean known: no mean subtracted
    # Var(g_i g_j) = S_ii S_jj + S_ij^2 <= 2 for unit variances, so each entry has SE <= sqrt(2 / N) = 0.022;
    # 4 SE = 0.089 (measured max deviation over the 465 entries: 0.039)
    assert np.abs(empirical - truncated).max() < 4 * np.sqrt(2 / n)

    var = np.diag(truncated)
    # the residual C - Psi Psi^T is a positive semi-definite Schur complement (Nyström), hence
    # variance <= 1 and |residual_ij| <= sqrt(deficit_i deficit_j) (Cauchy–Schwarz), up to round-off
    assert np.all(var <= 1 + 1e-9)
    deficit = 1 - var
    assert np.all(np.abs(exact - truncated) <= np.sqrt(np.outer(deficit, deficit)) + 1e-12)
    # the variance deficit averages 1 - f = 0.001 over the plate but piles up at edges and corners
    # (measured max 0.0018, max |C - Psi Psi^T| = 0.0018): allow 3 (1 - f)
    assert np.abs(exact - truncated).max() < 3 * (1 - f)
    # away from the edges it is below the plate average 1 - f (measured 0.00074)
    interior = (pts[:, 0] > 0.1) & (pts[:, 0] < 0.9) & (pts[:, 1] > 0.05) & (pts[:, 1] < 0.2)
    assert interior.sum() >= 10 and deficit[interior].max() < 1 - f


# ---------------------------------------------------------------- 5. fewest modes that carry the energy


def test_kept_modes_are_the_fewest_carrying_the_energy_fraction():
    counts = []
    for f in (0.8, 0.9, 0.95, 0.99):
        b = se_basis(0.2, energy_fraction=f)
        assert b.eigenvalues.sum() / AREA >= f
        assert b.eigenvalues[:-1].sum() / AREA < f  # dropping the last kept mode falls short
        counts.append(b.n_modes)
    assert counts == sorted(counts) and counts[0] < counts[-1]


def test_max_modes_caps_and_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="uqgan.physics.random_fields"):
        b = se_basis(0.1, energy_fraction=0.99, max_modes=3)
    assert b.n_modes == 3 and b.energy_fraction < 0.99
    assert f"{b.energy_fraction:.4f}" in caplog.text and "max_modes" in caplog.text


# ---------------------------------------------------------------- 6. lognormal material


def test_lognormal_field_has_the_requested_mean_and_cov():
    """E = m exp(s g - s^2/2), s^2 = ln(1 + CoV^2): E[E] = m and std/mean = CoV exactly (lognormal moments).
    Tolerances are 4 standard errors of the estimators under a fixed seed."""
    rng = np.random.default_rng(0)
    mean, cov, n = 2.0e11, 0.3, 200_000
    g = rng.standard_normal(n)
    e = lognormal_field(g, mean=mean, coefficient_of_variation=cov)
    s2 = np.log1p(cov**2)
    sigma = cov * mean
    assert abs(e.mean() - mean) < 4 * sigma / np.sqrt(n)
    # SE of the sample CoV = S / M by the delta method, with Var(S) ~ sigma^2 (kurt - 1) / (4n),
    # Var(M) = sigma^2 / n and Cov(S, M) ~ skew sigma^2 / (2n):  n Var(S/M) ~ CoV^2 (kurt - 1) / 4 + CoV^4 - skew CoV^3
    w = np.exp(s2)
    kurt = w**4 + 2 * w**3 + 3 * w**2 - 3  # lognormal kurtosis (not excess)
    skew = (w + 2) * np.sqrt(w - 1)
    var_cov = (cov**2 * (kurt - 1) / 4 + cov**4 - skew * cov**3) / n
    assert abs(e.std() / e.mean() - cov) < 4 * np.sqrt(var_cov)
    # ln(E / m) = s g - s^2 / 2 is Gaussian with variance s^2: exact identity plus sampling check
    np.testing.assert_allclose(np.log(e / mean), np.sqrt(s2) * g - s2 / 2, rtol=0, atol=1e-12)
    assert abs(np.log(e).var() - s2) < 4 * s2 * np.sqrt(2 / n)


def test_lognormal_field_with_zero_cov_is_the_mean_and_broadcasts():
    g = np.random.default_rng(1).standard_normal(50)
    np.testing.assert_array_equal(lognormal_field(g, mean=7.0e10, coefficient_of_variation=0.0), np.full(50, 7.0e10))
    assert lognormal_field(g, mean=np.full(50, 1.0), coefficient_of_variation=0.1).shape == (50,)
    with pytest.raises(ValueError, match="coefficient_of_variation"):
        lognormal_field(g, mean=1.0, coefficient_of_variation=-0.1)


def test_sample_xi_uses_the_callers_generator():
    a = sample_xi(5, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, np.random.default_rng(3).standard_normal(5))
    assert sample_xi(0, rng=np.random.default_rng(3)).shape == (0,)
    with pytest.raises(TypeError, match="Generator"):
        sample_xi(5, rng=3)


# ---------------------------------------------------------------- 7. evaluation off the grid


def test_evaluate_reproduces_the_grid_modes_and_is_chunk_independent():
    b = kl_basis(length_m=L, height_m=H, kernel="matern", matern_nu=1.3, correlation_length_m=0.2,
                 energy_fraction=0.95)
    # Nyström interpolation equals the eigenvector at the grid points: C W phi = lambda phi up to round-off
    np.testing.assert_allclose(b.evaluate(b.points), b.modes * np.sqrt(b.eigenvalues), rtol=0, atol=1e-10)
    pts = np.random.default_rng(2).uniform([0, 0], [L, H], size=(257, 2))
    # only the BLAS blocking differs: round-off of a length-n_q dot product
    np.testing.assert_allclose(b.evaluate(pts, chunk_size=7), b.evaluate(pts), rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        b.evaluate(np.zeros((3, 3)))


def test_basis_is_frozen_and_read_only():
    b = se_basis(0.4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.kernel = "matern"
    with pytest.raises(ValueError):
        b.modes[0, 0] = 1.0
    with pytest.raises(ValueError, match="shapes"):
        KLBasis(points=b.points, weights=b.weights, eigenvalues=b.eigenvalues[:1], modes=b.modes,
                energy_fraction=0.9, kernel=SE, correlation_length_m=0.4, matern_nu=1.5,
                spacing_m=b.spacing_m, grid_shape=b.grid_shape)


def test_signs_are_deterministic():
    a, b = se_basis(0.2), se_basis(0.2)
    np.testing.assert_array_equal(a.modes, b.modes)
    probe = a.weights * np.exp(1.3 * a.points[:, 0] / L + 0.7 * a.points[:, 1] / H)
    assert np.all(probe @ a.modes > 0)


# ---------------------------------------------------------------- 8. bad input


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"kernel": "gaussian"}, "kernel"),
        ({"correlation_length_m": 0.0}, "correlation_length_m"),
        ({"correlation_length_m": -1.0}, "correlation_length_m"),
        ({"kernel": "matern", "matern_nu": 0.0}, "matern_nu"),
        ({"energy_fraction": 0.0}, "energy_fraction"),
        ({"energy_fraction": 1.01}, "energy_fraction"),
        ({"max_modes": 0}, "max_modes"),
        ({"max_modes": 2.5}, "max_modes"),
        ({"max_quadrature_points": 0}, "max_quadrature_points"),
        ({"length_m": 0.0}, "length_m"),
        ({"height_m": float("nan")}, "height_m"),
    ],
)
def test_kl_basis_rejects_bad_input_naming_the_argument(kwargs, name):
    args = {"length_m": L, "height_m": H, "kernel": SE, "correlation_length_m": 0.4} | kwargs
    with pytest.raises(ValueError, match=name):
        kl_basis(**args)


def test_covariance_rejects_bad_input():
    with pytest.raises(ValueError, match="'squared-exponential', 'matern'"):
        covariance(0.1, kernel="exponential", correlation_length_m=0.4)
    with pytest.raises(ValueError, match="correlation_length_m"):
        covariance(0.1, kernel=SE, correlation_length_m=0.0)
    with pytest.raises(ValueError, match="matern_nu"):
        covariance(0.1, kernel="matern", correlation_length_m=0.4, matern_nu=-1.0)
    with pytest.raises(ValueError, match="r: distances"):
        covariance(-0.1, kernel=SE, correlation_length_m=0.4)
