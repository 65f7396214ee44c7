"""The zone QoIs' fused von Mises operator against the stress formulas (numpy only, no FEniCSx)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from uqgan.physics.material import lame_parameters, plane_strain_von_mises
from uqgan.physics.qoi import ZoneQoI


def _von_mises_by_formula(e, E, nu, dim):
    """σ from Hooke's law at each point, then the von Mises formula (plane strain: σ_zz = ν (σ_xx + σ_yy))."""
    lam, mu = lame_parameters(E, nu)
    lam, mu = lam[:, None], mu[:, None]
    if dim == 2:
        tr = e[:, 0] + e[:, 1]
        return plane_strain_von_mises(lam * tr + 2 * mu * e[:, 0], lam * tr + 2 * mu * e[:, 1], mu * e[:, 2], nu)
    tr = e[:, 0] + e[:, 1] + e[:, 2]
    sxx, syy, szz = (lam * tr + 2 * mu * e[:, i] for i in range(3))
    shear2 = sum((mu * e[:, i]) ** 2 for i in range(3, 6))
    return np.sqrt(0.5 * ((sxx - syy) ** 2 + (syy - szz) ** 2 + (szz - sxx) ** 2) + 3 * shear2)


@pytest.mark.parametrize("dim,nu", [(2, 0.3), (2, 0.0), (2, 0.49), (3, 0.3), (3, -0.2)])
def test_fused_von_mises_equals_the_formula(dim, nu):
    """σ_vm² as a sum of squares of rows of W = E (I ⊗ Lᵀ) S: the same stress as Hooke's law and
    the von Mises formula, at random strains and a Young's modulus that varies by point; both are
    O(10) float64 operations per point: 1e-12 relative."""
    nc = 3 if dim == 2 else 6
    P, n, B = 60, 50, 7
    rng = np.random.default_rng(dim)
    S = sp.random(nc * P, n, density=0.2, random_state=3, format="csr")
    E = 2e11 * rng.uniform(0.5, 2.0, P)
    K = sp.identity(n, format="csr")
    u = rng.normal(size=(n, B))
    q = ZoneQoI(S, E, nu, K, batch=B, dim=dim)
    ref = _von_mises_by_formula((S @ u).reshape(P, nc, B), E, nu, dim)
    np.testing.assert_allclose(q.von_mises(u), ref, rtol=1e-12, atol=1e-12 * ref.max())
    single = ZoneQoI(S, E, nu, K, dim=dim)  # one run: (n,) vectors
    np.testing.assert_allclose(single.von_mises(u[:, 0]), ref[:, 0], rtol=1e-12, atol=1e-12 * ref.max())


@pytest.mark.parametrize("B", [4, 16])
def test_running_maxima_over_steps(B):
    """The peaks are maxima over steps and points of |σ_vm|, |u| and ½ uᵀKu, per batch column
    (B = 16: the fused compiled kernel where numba is installed; 4: numpy's reductions)."""
    P, n = 20, 30
    rng = np.random.default_rng(5)
    S = sp.random(3 * P, n, density=0.3, random_state=6, format="csr")
    A = sp.random(n, n, density=0.2, random_state=7)
    K = (A @ A.T + sp.identity(n)).tocsr()
    q = ZoneQoI(S, 2e11, 0.3, K, batch=B)
    us = rng.normal(size=(5, n, B))
    for u in us:
        q.update(u)
    res = q.result()
    vm = np.array([_von_mises_by_formula((S @ u).reshape(P, 3, B), np.full(P, 2e11), 0.3, 2) for u in us])
    np.testing.assert_allclose(res["peak_von_mises"], vm.max(axis=(0, 1)), rtol=1e-12)
    mag = np.sqrt((us.reshape(5, n // 2, 2, B) ** 2).sum(axis=2))
    np.testing.assert_allclose(res["peak_displacement"], mag.max(axis=(0, 1)), rtol=1e-12)
    energy = np.array([0.5 * np.einsum("ib,ib->b", u, K @ u) for u in us])
    np.testing.assert_allclose(res["peak_strain_energy"], energy.max(axis=0), rtol=1e-12)
