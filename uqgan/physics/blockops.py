"""A sparse matrix times a block of vectors: the batched submodel's kernel (pure numpy / numba).

A batched submodel step multiplies the zone's stiffness (and the QoIs' von Mises operator) by a
block ``X`` of shape ``(n, batch)``, C-contiguous: row ``j`` of ``X`` holds dof ``j`` of every history.
scipy's CSR product (``csr_matvecs``) runs one scalar ``axpy`` per nonzero over the ``batch``
contiguous values; compiled for the machine by numba the same loop is vectorised (AVX), measured
2.5x faster at batch 256 on the default zone (docs/schemes.md). Same operations in the same
order per entry, so both give the same numbers (tested bit for bit). numba is optional
(``pip install 'uqgan[fast]'``): without it scipy's product is used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

__all__ = ["block_product", "numba_available"]

logger = logging.getLogger(__name__)

#: blocks with fewer columns go to scipy (the kernel's call costs more than it saves)
MIN_COLUMNS = 8

_kernel: Callable | None | bool = None


def _csr_times_block(indptr, indices, data, x, y):  # pragma: no cover - runs compiled
    """``y = A x`` for CSR ``A`` and C-contiguous ``x`` ``(n, B)``, ``y`` ``(m, B)``: row by row,
    each nonzero's ``a_ij x[j, :]`` added to ``y[i, :]`` in index order (as scipy's csr_matvecs)."""
    B = x.shape[1]
    for i in range(indptr.size - 1):
        yi = y[i]
        for b in range(B):
            yi[b] = 0.0
        for jj in range(indptr[i], indptr[i + 1]):
            a = data[jj]
            xj = x[indices[jj]]
            for b in range(B):
                yi[b] += a * xj[b]


def _compiled():
    """The numba-compiled kernel, or False without numba (or with ``UQGAN_NO_NUMBA=1``)."""
    global _kernel
    if _kernel is None:
        if os.environ.get("UQGAN_NO_NUMBA", "") not in ("", "0"):
            _kernel = False
        else:
            try:
                import numba
            except ImportError:
                logger.info("numba is not installed: the batched submodel uses scipy's sparse products "
                            "(pip install 'uqgan[fast]' makes them ~2.5x faster)")
                _kernel = False
            else:
                _kernel = numba.njit(cache=True, nogil=True, boundscheck=False)(_csr_times_block)
    return _kernel


def numba_available() -> bool:
    """Whether :func:`block_product` uses the compiled kernel."""
    return bool(_compiled())


def block_product(A) -> Callable[[np.ndarray], np.ndarray]:
    """``x -> A @ x`` for a scipy sparse ``A`` ``(m, n)``: the compiled kernel for float64 blocks
    ``(n, B)`` with ``B >= MIN_COLUMNS``, scipy's product otherwise (vectors, small blocks, no
    numba). Any other ``A`` (a PETSc operator, a dense array) gets ``A @ x`` unchanged."""
    if not sp.issparse(A):
        return lambda x: A @ x
    A = sp.csr_matrix(A)
    A.sort_indices()
    kernel = _compiled()
    if not kernel or A.dtype != np.float64:
        return lambda x: A @ x
    indptr, indices, data, m = A.indptr, A.indices, A.data, A.shape[0]

    def product(x: np.ndarray) -> np.ndarray:
        if x.ndim != 2 or x.shape[1] < MIN_COLUMNS or x.dtype != np.float64:
            return A @ x
        if x.shape[0] != A.shape[1]:
            raise ValueError(f"dimension mismatch: A is {A.shape}, x is {x.shape}")
        y = np.empty((m, x.shape[1]))
        kernel(indptr, indices, data, np.ascontiguousarray(x), y)
        return y

    return product
