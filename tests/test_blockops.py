"""The batched submodel's sparse-times-block kernel (numpy/numba only, no FEniCSx)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from uqgan.physics import blockops
from uqgan.physics.blockops import block_product


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
