"""The Karhunen–Loève basis on a box in 3-D (any mesh's bounding box): known answers as for the rectangle."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from uqgan.physics.random_fields import covariance, kl_basis, kl_basis_box, sample_xi

SE = "squared-exponential"
BOX = (np.array([0.1, -0.05, 0.0]), np.array([0.5, 0.05, 0.08]))


def test_separable_kernel_gives_kronecker_eigenvalues_in_3d():
    """exp(-|d|^2 / (2 l^2)) = C_x C_y C_z and the tensor grid has equal weights, so B = B_x (x) B_y (x) B_z:
    the 3-D eigenvalues are the products of the 1-D ones (tolerance: round-off of the eigen-solves)."""
    ell = 0.1
    b = kl_basis_box(lower_m=BOX[0], upper_m=BOX[1], kernel=SE, correlation_length_m=ell, energy_fraction=0.99)
    lams = []
    for i in range(3):
        h, n = b.spacing_m[i], b.grid_shape[i]
        x = (np.arange(n) + 0.5) * h
        lams.append(np.linalg.eigvalsh(h * np.exp(-((x[:, None] - x[None]) ** 2) / (2 * ell**2))))
    products = np.sort(np.einsum("i,j,k->ijk", *lams).ravel())[::-1][: b.n_modes]
    np.testing.assert_allclose(b.eigenvalues, products, rtol=1e-10)
    assert b.points.shape[1] == 3 and np.all(b.points >= BOX[0]) and np.all(b.points <= BOX[1])
    assert np.prod(b.grid_shape) <= 2500


def test_empirical_covariance_matches_the_kernel_in_3d():
    """Sampled fields g = Psi xi have covariance Psi Psi^T (4 SE, SE <= sqrt(2 / N) per entry, as for
    the rectangle); Psi Psi^T is below the kernel by a positive semi-definite Nyström residual, at
    most sqrt(deficit_i deficit_j) (Cauchy–Schwarz); with energy fraction 0.999 the deficit stays
    below 3 (1 - f) (edges and corners take more than the box average; measured max 0.0017)."""
    rng = np.random.default_rng(3)
    ell, f = 0.15, 0.999
    b = kl_basis_box(lower_m=BOX[0], upper_m=BOX[1], kernel=SE, correlation_length_m=ell, energy_fraction=f,
                     max_modes=400)
    pts = BOX[0] + rng.uniform(size=(25, 3)) * (BOX[1] - BOX[0])
    psi = b.evaluate(pts)
    truncated = psi @ psi.T
    exact = covariance(cdist(pts, pts), kernel=SE, correlation_length_m=ell)
    n = 4000
    g = sample_xi(n * b.n_modes, rng=rng).reshape(n, b.n_modes) @ psi.T
    assert np.abs(g.T @ g / n - truncated).max() < 4 * np.sqrt(2 / n)
    deficit = 1 - np.diag(truncated)
    assert np.all(deficit >= -1e-9)
    assert np.all(np.abs(exact - truncated) <= np.sqrt(np.outer(deficit, deficit)) + 1e-12)
    assert np.abs(exact - truncated).max() < 3 * (1 - f)


def test_box_in_2d_at_the_origin_is_the_rectangle_basis():
    a = kl_basis(length_m=1.0, height_m=0.25, kernel=SE, correlation_length_m=0.5, energy_fraction=0.99)
    b = kl_basis_box(lower_m=[0, 0], upper_m=[1.0, 0.25], kernel=SE, correlation_length_m=0.5, energy_fraction=0.99)
    pts = np.random.default_rng(0).uniform(size=(50, 2)) * [1.0, 0.25]
    np.testing.assert_array_equal(a.evaluate(pts), b.evaluate(pts))  # the same code path: bit for bit


def test_box_rejects_bad_corners():
    with pytest.raises(ValueError, match="upper_m=.*must exceed lower_m"):
        kl_basis_box(lower_m=[0, 0, 0], upper_m=[1, 0, 1], kernel=SE, correlation_length_m=0.1)
    with pytest.raises(ValueError, match="2 or 3 coordinates"):
        kl_basis_box(lower_m=[0], upper_m=[1], kernel=SE, correlation_length_m=0.1)
