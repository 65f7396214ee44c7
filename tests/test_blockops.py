"""The batched submodel's sparse-times-block kernel (numpy/numba only, no FEniCSx)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from uqgan.physics import blockops
from uqgan.physics.blockops import block_product, three_level_update, zone_peaks


@pytest.mark.parametrize("shape", [(300, 200), (40, 700)])
def test_block_product_equals_scipys_bit_for_bit(shape):
    """The compiled kernel adds each nonzero's contribution in scipy's order (csr_matvecs: row by
    row, index order), so the results are identical, not just close."""
    pytest.importorskip("numba")
    A = sp.random(*shape, density=0.05, random_state=0, format="csr")
    x = np.random.default_rng(1).normal(size=(shape[1], 64))
    product = block_product(A)
    assert blockops.numba_available()
    np.testing.assert_array_equal(product(x), A @ x)
    np.testing.assert_array_equal(product(x[:, :3]), A @ x[:, :3])  # a thin block: scipy's product
    np.testing.assert_array_equal(product(x[:, 0]), A @ x[:, 0])  # a vector
    xf = np.asfortranarray(x)
    np.testing.assert_array_equal(product(xf), A @ x)  # any memory layout
    with pytest.raises(ValueError, match="dimension mismatch"):
        product(np.ones((shape[1] + 1, 64)))


def test_without_numba_scipy_is_used(monkeypatch):
    monkeypatch.setattr(blockops, "_kernel", False)
    A = sp.random(30, 20, density=0.2, random_state=2, format="csr")
    x = np.ones((20, 32))
    assert not blockops.numba_available()
    np.testing.assert_array_equal(block_product(A)(x), A @ x)


def test_non_sparse_operators_pass_through():
    dense = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(block_product(dense)(np.ones((3, 10))), dense @ np.ones((3, 10)))


def _both_paths(monkeypatch, build, *args):
    """``build(*args)`` compiled (numba) and in numpy (no fused kernels)."""
    compiled = build(*args)
    monkeypatch.setattr(blockops, "_fused", {})
    return compiled, build(*args)


def test_fused_three_level_update_equals_numpy(monkeypatch):
    """Row by row ``u_prev <- 2u − u_prev − c (A u)`` against the same formula in numpy: the same
    operations per entry up to the order of the three terms: 1e-15 relative."""
    pytest.importorskip("numba")
    A = sp.random(50, 50, density=0.1, random_state=4, format="csr")
    rng = np.random.default_rng(5)
    u, u_prev, c = rng.normal(size=(50, 32)), rng.normal(size=(50, 32)), rng.uniform(0, 1, 50)
    fast, slow = _both_paths(monkeypatch, three_level_update, A)
    pa, pb = u_prev.copy(), u_prev.copy()
    np.testing.assert_array_equal(fast(u, pa, c), slow(u, pb, c))
    np.testing.assert_allclose(pa, pb, rtol=0, atol=1e-15 * np.abs(pb).max())
    np.testing.assert_allclose(pb, 2 * u - u_prev - c[:, None] * (A @ u), rtol=0, atol=1e-15 * np.abs(pb).max())


def test_fused_zone_peaks_equal_numpy(monkeypatch):
    """The running maxima of the sums of squares of W u per group of rows, of |u|² per node and of
    ½ uᵀ(Ku), compiled and in numpy, over 5 steps: sums of 3 (or 2, or n) products in another
    order: 1e-13 relative."""
    pytest.importorskip("numba")
    W = sp.random(60, 40, density=0.2, random_state=6, format="csr")
    rng = np.random.default_rng(7)
    fast, slow = _both_paths(monkeypatch, zone_peaks, W, 3, 2)
    peaks = {name: [np.zeros(16) for _ in range(3)] for name in ("fast", "slow")}
    for _ in range(5):
        u = rng.normal(size=(40, 16))
        Ku = u * rng.uniform(0.5, 1.5, size=u.shape)  # uᵀ(Ku) > 0, as for a stiffness
        fast(u, Ku, *peaks["fast"])
        slow(u, Ku, *peaks["slow"])
    for a, b in zip(peaks["fast"], peaks["slow"], strict=True):
        assert np.all(b > 0)
        np.testing.assert_allclose(a, b, rtol=1e-13)
