"""A sparse matrix times a block of vectors, and the batched submodel's fused steps (numpy / numba).

A batched submodel step multiplies the zone's stiffness (and the QoIs' von Mises operator) by a
block ``X`` of shape ``(n, batch)``, C-contiguous: row ``j`` of ``X`` holds dof ``j`` of every history.
scipy's CSR product (``csr_matvecs``) runs one scalar ``axpy`` per nonzero over the ``batch``
contiguous values; compiled for the machine by numba the same loop is vectorised (AVX), measured
2.5x faster at batch 256 on the default zone (docs/schemes.md). Same operations in the same
order per entry, so both give the same numbers (tested bit for bit). Two fused kernels save the
passes over the block that numpy would make: :func:`three_level_update` (the product and an
explicit step's update row by row) and :func:`zone_peaks` (the zone QoIs' running maxima without
the strain temporaries). numba is optional (``pip install 'uqgan[fast]'``): without it the same
formulas run in numpy (tested to agree to round-off).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

__all__ = ["block_product", "numba_available", "three_level_update", "zone_peaks"]

logger = logging.getLogger(__name__)

#: blocks with fewer columns go to scipy (the kernel's call costs more than it saves)
MIN_COLUMNS = 8

_kernel: Callable | None | bool = None
_fused: dict | None = None


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


def _three_level(indptr, indices, data, u, u_prev, c, Ku):  # pragma: no cover - runs compiled
    """Row by row: ``Ku[i] = (A u)[i]``, then ``u_prev[i] <- 2 u[i] − u_prev[i] − c[i] Ku[i]``."""
    B = u.shape[1]
    for i in range(indptr.size - 1):
        ki = Ku[i]
        for b in range(B):
            ki[b] = 0.0
        for jj in range(indptr[i], indptr[i + 1]):
            a = data[jj]
            xj = u[indices[jj]]
            for b in range(B):
                ki[b] += a * xj[b]
        ci, ui, pi = c[i], u[i], u_prev[i]
        for b in range(B):
            pi[b] = 2.0 * ui[b] - pi[b] - ci * ki[b]


def _peaks(indptr, indices, data, r, dim, u, Ku, peak_w2, peak_u2, peak_energy):  # pragma: no cover - compiled
    """Running maxima per column: of ``Σ_i ((W u)_{p r + i})²`` over groups p, of ``Σ_c u_{q dim + c}²``
    over nodes q, and of ``½ Σ_j u_j (K u)_j``."""
    B = u.shape[1]
    acc = np.empty(B)
    row = np.empty(B)
    for p in range((indptr.size - 1) // r):
        for b in range(B):
            acc[b] = 0.0
        for i in range(p * r, p * r + r):
            for b in range(B):
                row[b] = 0.0
            for jj in range(indptr[i], indptr[i + 1]):
                a = data[jj]
                xj = u[indices[jj]]
                for b in range(B):
                    row[b] += a * xj[b]
            for b in range(B):
                acc[b] += row[b] * row[b]
        for b in range(B):
            if acc[b] > peak_w2[b]:
                peak_w2[b] = acc[b]
    for q in range(u.shape[0] // dim):
        for b in range(B):
            acc[b] = 0.0
        for comp in range(q * dim, q * dim + dim):
            uc = u[comp]
            for b in range(B):
                acc[b] += uc[b] * uc[b]
        for b in range(B):
            if acc[b] > peak_u2[b]:
                peak_u2[b] = acc[b]
    for b in range(B):
        acc[b] = 0.0
    for j in range(u.shape[0]):
        uj, kj = u[j], Ku[j]
        for b in range(B):
            acc[b] += uj[b] * kj[b]
    for b in range(B):
        if 0.5 * acc[b] > peak_energy[b]:
            peak_energy[b] = 0.5 * acc[b]


def _compiled_fused() -> dict:
    """The fused kernels by name (empty without numba)."""
    global _fused
    if _fused is None:
        _fused = {}
        if _compiled():
            import numba

            jit = numba.njit(cache=True, nogil=True, boundscheck=False)
            _fused = {"three_level": jit(_three_level), "peaks": jit(_peaks)}
    return _fused


def three_level_update(A) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """``(u, u_prev, c) -> A u``, setting ``u_prev <- 2 u − u_prev − c ⊙ (A u)`` in place (``c`` per
    row): an explicit step ``u_{k+1} = 2 u_k − u_{k−1} − h² m⁻¹ K u_k`` in one pass over the rows.
    ``A`` scipy sparse, ``u``, ``u_prev`` ``(n, B)`` C-contiguous float64, ``c`` ``(n,)``."""
    A = sp.csr_matrix(A)
    A.sort_indices()
    kernel = _compiled_fused().get("three_level")
    apply = block_product(A)

    def update(u: np.ndarray, u_prev: np.ndarray, c: np.ndarray) -> np.ndarray:
        if kernel is not None and u.ndim == 2 and u.shape[1] >= MIN_COLUMNS and u.flags.c_contiguous \
                and u_prev.flags.c_contiguous:
            Ku = np.empty((A.shape[0], u.shape[1]))
            kernel(A.indptr, A.indices, A.data, u, u_prev, c, Ku)
            return Ku
        Ku = apply(u)
        np.subtract(u, u_prev, out=u_prev)
        u_prev += u
        u_prev -= (c if u.ndim == 1 else c[:, None]) * Ku
        return Ku

    return update


def zone_peaks(W, group: int, dim: int):
    """``(u, Ku, peak_w2, peak_u2, peak_energy) -> None``: fold one step into running maxima per column
    (in place): of the sums of squares of ``W u`` over consecutive row groups of ``group``, of
    ``|u|²`` per node (``dim`` components), and of ``½ uᵀ(K u)``. Compiled for C-contiguous blocks
    with numba; numpy's reductions otherwise."""
    W = sp.csr_matrix(W)
    W.sort_indices()
    kernel = _compiled_fused().get("peaks")
    apply = block_product(W)

    def sum_squares(x, g):
        x = x.reshape(-1, g, *x.shape[1:])
        return np.einsum("pi...,pi...->p...", x, x)

    def fold(u, Ku, peak_w2, peak_u2, peak_energy) -> None:
        if kernel is not None and u.ndim == 2 and u.shape[1] >= MIN_COLUMNS and u.flags.c_contiguous \
                and Ku.flags.c_contiguous:
            kernel(W.indptr, W.indices, W.data, group, dim, u, Ku, peak_w2, peak_u2, peak_energy)
            return
        np.maximum(peak_w2, sum_squares(apply(u), group).max(axis=0), out=peak_w2)
        np.maximum(peak_u2, sum_squares(u, dim).max(axis=0), out=peak_u2)
        energy = np.einsum("i...,i...->...", u, Ku)
        energy *= 0.5
        np.maximum(peak_energy, energy, out=peak_energy)

    return fold


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
