"""Explicit central-difference time integration of ``M a + C v + K u = f`` with a lumped mass.

Pure numpy on assembled operators, like :mod:`uqgan.physics.timestepping`, so it is tested without
FEniCSx and shared by the full model, the submodel and the MPI full model (there ``K`` is a
PETSc matrix behind ``@`` and the arrays are each rank's own dofs).

The scheme (Belytschko, Liu & Moran 2000, *Nonlinear Finite Elements*, §6.2; Hughes 1987,
*The Finite Element Method*, §9.1) with half-step velocities and a diagonal mass ``m``:

    a_n       = m⁻¹ (f_n − K (u_n + b_K v_{n−½}) − a_M m v_n),   v_n = v_{n−½} + ½ dt a_n
    v_{n+½}   = v_{n−½} + dt a_n
    u_{n+1}   = u_n + dt v_{n+½}

which is Newmark with β = 0, γ = ½ when undamped: second order, no factorisation, one product
with ``K`` per step. Rayleigh damping ``C = a_M M + b_K K``: the mass-proportional part is taken
at the integer step (``v_n``, centred: it is diagonal, so the update stays explicit and exact in
``a_n``); the stiffness-proportional part uses the last half-step velocity ``v_{n−½}`` (lagged by
half a step: the usual explicit treatment, first order in ``b_K`` only), folded into the one
product ``K (u_n + b_K v_{n−½})``.

Stability (undamped): ``dt ≤ 2 / ω_max`` with ``ω_max² = λ_max(m⁻¹ K)``; with stiffness damping
``dt ≤ (2 / ω_max) (√(1 + ξ²) − ξ)``, ``ξ = b_K ω_max / 2`` (Belytschko et al. 2000, eq. 6.3.23).

Constrained dofs carry prescribed displacements ``g(t)`` (zero for a clamp; a boundary history
for a submodel); their half-step velocity is ``(g_{n+1} − g_n) / dt``, exactly what the full model
computes on the same dofs, so a submodel fed a full model's own boundary history steps as the
full model does on the zone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from .blockops import block_product, three_level_update
from .timestepping import constrained_dof_indices

__all__ = ["CentralDifferenceIntegrator", "critical_time_step", "lumped_mass", "max_eigenvalue"]

logger = logging.getLogger(__name__)

#: steps between checks that the displacement is finite (a blow-up above the stability limit grows
#: geometrically and overflows within a few tens of steps; a check costs one pass over the arrays)
FINITE_CHECK_EVERY = 16


def lumped_mass(M, degree: int, lumping: str = "hrz") -> np.ndarray:
    """Diagonal (lumped) mass from the consistent mass matrix ``M`` ``(n, n)`` [kg].

    Degree 1: the row sums of ``M`` (each element's mass shared equally by its vertices).
    Degree ≥ 2: HRZ lumping (Hinton, Rock & Zienkiewicz 1976, Earthq. Eng. Struct. Dyn. 4:245):
    each element's consistent diagonal scaled so the element keeps its mass. Row sums would give
    P2 triangles zero (and P2 tetrahedra negative) vertex masses; nodal quadrature on the P2 nodes
    gives the vertices zero weight too. HRZ stays positive for every Lagrange degree. On affine
    simplices of uniform density (every uqgan mesh) each element mass matrix is ``ρ |e|`` times one
    reference matrix, so the element-wise scale is one number, total mass / trace: the HRZ
    diagonal is ``diag(M) · Σᵢⱼ Mᵢⱼ / Σᵢ Mᵢᵢ`` (P2 triangles: vertices |e|ρ/19, edge nodes
    16|e|ρ/57). For degree 1 both rules give the same diagonal.
    ``lumping="cjrt"``: ``M`` is the consistent mass of the CJRT space (P2 plus bubble with a nodal
    basis, :mod:`uqgan.fem._cjrt`); its row sums are the positive quadrature weights
    ``ρ|e| (3/60, 8/60, 27/60)`` (vertex, edge, centroid), which keep P2's dispersion accuracy.

    ``M`` is a scipy sparse matrix, or anything with ``@`` and a ``diagonal()`` method; for the
    MPI model see :func:`uqgan.fem._dolfinx.lumped_mass_petsc`, which applies the same rule.
    """
    M = sp.csr_matrix(M)
    n = M.shape[0]
    if lumping not in ("hrz", "cjrt"):
        raise ValueError(f"lumping={lumping!r}: must be 'hrz' or 'cjrt'")
    if degree == 1 or lumping == "cjrt":
        m = np.asarray(M @ np.ones(n)).ravel()
    else:
        d = M.diagonal()
        m = d * (M.sum() / d.sum())
    if not np.all(m > 0):
        raise ValueError(f"lumped mass has {int(np.sum(m <= 0))} non-positive entries: not a valid mass matrix")
    return m


def max_eigenvalue(apply_K: Callable[[np.ndarray], np.ndarray], mass_diagonal: np.ndarray, *,
                   free: np.ndarray | None = None, rtol: float = 1e-6, max_iter: int = 1000,
                   dot: Callable[[np.ndarray, np.ndarray], float] = np.dot,
                   rng: np.random.Generator) -> float:
    """Largest eigenvalue of ``m⁻¹ K`` (``ω_max²`` [1/s²]) by Lanczos iteration.

    Runs the Lanczos three-term recurrence on the symmetric ``D K D`` (``D = m^{-½}``) restricted
    to the ``free`` dofs (constrained rows and columns removed, as the scheme sees the system)
    and takes the largest eigenvalue of the tridiagonal matrix (the top Ritz value) once it
    changes by less than ``rtol`` relative over 10 iterations. Ritz values approach ``λ_max``
    from below and, unlike the power method's Rayleigh quotient, converge at a rate set by the
    square root of the relative gap (Golub & Van Loan 2013, §10.1.5), which matters on uniform
    meshes whose top eigenvalues cluster. No reorthogonalisation: only three vectors are kept and
    the extreme Ritz value is unaffected by the loss of orthogonality (Paige 1980). Costs one
    product with ``K`` and two inner products per iteration; under MPI ``dot`` is an all-reduce.
    With no free dof (a submodel zone whose every node lies on its boundary) it returns 0.

    Parameters
    ----------
    apply_K
        ``x -> K x`` on ``(n,)`` arrays (the local part of a distributed vector under MPI).
    mass_diagonal
        ``(n,)`` lumped mass [kg].
    free
        Indices of the unconstrained dofs; None = all.
    dot
        Inner product (an MPI all-reduce under MPI; :func:`numpy.dot` in serial).
    rng
        Start vector's randomness.
    """
    from scipy.linalg import eigvalsh_tridiagonal

    m = np.asarray(mass_diagonal, dtype=float)
    d = 1.0 / np.sqrt(m)
    mask = np.ones(m.size) if free is None else np.zeros(m.size)
    if free is not None:
        mask[np.asarray(free)] = 1.0
    q = rng.standard_normal(m.size) * mask
    norm2 = dot(q, q)
    if norm2 == 0:  # no free dof (a zone whose every node is on its boundary): no motion to bound
        return 0.0
    q /= np.sqrt(norm2)
    q_prev = np.zeros_like(q)
    alphas: list[float] = []
    betas: list[float] = []
    beta = 0.0
    lam = lam_old = 0.0
    for it in range(1, max_iter + 1):
        w = d * apply_K(d * q) * mask
        alpha = float(dot(q, w))
        w -= alpha * q + beta * q_prev
        alphas.append(alpha)
        lam = float(eigvalsh_tridiagonal(np.array(alphas), np.array(betas), select="i",
                                         select_range=(it - 1, it - 1))[0]) if it > 1 else alpha
        beta = float(np.sqrt(dot(w, w)))
        if beta <= 1e-14 * abs(lam):  # an invariant subspace: lam is exact
            break
        if it % 10 == 0:
            if abs(lam - lam_old) <= rtol * abs(lam):
                break
            lam_old = lam
        betas.append(beta)
        q_prev, q = q, w / beta
    else:
        logger.warning("Lanczos for lambda_max(M^-1 K) stopped after %d iterations at %.8g", max_iter, lam)
    logger.debug("lambda_max(M^-1 K) = %.10g after %d Lanczos iterations", lam, it)
    return lam


def critical_time_step(omega_max: float, *, rayleigh: tuple[float, float] = (0.0, 0.0)) -> float:
    """Stability limit [s] of central differences: ``2/ω_max (√(1+ξ²) − ξ)``, ``ξ = b_K ω_max / 2``.

    ``omega_max`` [rad/s] is the highest frequency of the discrete system (0, no free dof: inf). Mass-proportional
    damping (centred, diagonal) does not lower the limit; stiffness-proportional damping (lagged)
    does (Belytschko, Liu & Moran 2000, eq. 6.3.23).
    """
    if omega_max == 0:  # nothing moves freely: any step is stable
        return float("inf")
    xi = 0.5 * float(rayleigh[1]) * float(omega_max)
    return 2.0 / float(omega_max) * (np.sqrt(1.0 + xi * xi) - xi)


class CentralDifferenceIntegrator:
    """Explicit central differences with a diagonal mass: one product with ``K`` per step.

    Parameters
    ----------
    mass_diagonal
        ``(n,)`` lumped mass [kg] (see :func:`lumped_mass`), > 0 on free dofs.
    K
        Stiffness ``(n, n)`` [N/m]: a scipy sparse matrix or any operator with ``K @ x`` for ``x``
        of shape ``(n,)`` (and ``(n, batch)`` when batched).
    dt
        Time step [s]; the caller checks it against :func:`critical_time_step`.
    constrained_dofs
        Indices of dofs with prescribed displacement, ``(n_c,)`` int.
    rayleigh
        ``(a_M, b_K)``: ``C = a_M M + b_K K`` (a_M in 1/s, b_K in s).
    """

    def __init__(self, mass_diagonal, K, *, dt: float, constrained_dofs=(), rayleigh: tuple[float, float] = (0.0, 0.0)):
        if not dt > 0:
            raise ValueError(f"dt={dt}: must be > 0")
        m = np.asarray(mass_diagonal, dtype=float)
        n = m.size
        self.n = n
        self.K = sp.csr_matrix(K) if sp.issparse(K) else K
        if getattr(self.K, "shape", (n, n)) != (n, n):
            raise ValueError(f"K {self.K.shape} must be ({n}, {n}) like the mass diagonal")
        self.dt = float(dt)
        self.rayleigh = (float(rayleigh[0]), float(rayleigh[1]))
        self.fixed = fixed = constrained_dof_indices(constrained_dofs, n)
        free = np.ones(n, dtype=bool)
        free[fixed] = False
        if not np.all(m[free] > 0):
            raise ValueError("the lumped mass must be > 0 on every free dof")
        self.mass_diagonal = m
        #: the lumped mass as a sparse diagonal matrix (for energies)
        self.M = sp.diags(m).tocsr()
        self.last_Ku: np.ndarray | None = None
        self._apply_K = block_product(self.K)  # K @ x, compiled for blocks of histories
        self._three_level = three_level_update(self.K) if sp.issparse(self.K) else None
        self._inv_m = np.where(free, 1.0 / np.where(free, m, 1.0), 0.0)

    def run(self, n_steps: int, *, force: Callable[[float], np.ndarray] | None = None, u0=None, v0=None,
            prescribed: Callable[[int, float], np.ndarray] | None = None, batch: int | None = None,
            observer: Callable[[int, float, np.ndarray, np.ndarray, np.ndarray], None] | None = None,
            observe_velocity: bool = True):
        """Advance ``n_steps`` steps from t = 0 (same interface as :meth:`NewmarkIntegrator.run`).

        The observer sees ``(k, t_k, u_k, v_k, a_k)`` with the integer-step velocity
        ``v_k = v_{k−½} + ½ dt a_k`` (None with ``observe_velocity=False``, which saves its two
        array operations per step); on constrained dofs ``v_k`` is the last half-step velocity and
        ``a_k`` zero. Without stiffness damping the step's own product ``K u_k`` is in
        ``self.last_Ku`` while the observer runs (a strain energy needs no second product). The
        arrays are the integrator's own, updated in place: copy what you keep. Finiteness of ``u``
        is checked every :data:`FINITE_CHECK_EVERY` steps and at the last. Returns ``(u, v, a)``
        at the final time. Undamped, unloaded and without velocities observed, steps 2.. take the
        three-level form (:meth:`_run_three_level`) and the run returns ``(u, None, None)``.
        """
        if n_steps < 0:
            raise ValueError(f"n_steps={n_steps}: must be >= 0")
        if (not observe_velocity and n_steps >= 2 and force is None and self.rayleigh == (0.0, 0.0)
                and self._three_level is not None):
            return self._run_three_level(n_steps, u0=u0, v0=v0, prescribed=prescribed, batch=batch,
                                         observer=observer)
        shape = (self.n,) if batch is None else (self.n, int(batch))
        inv_m = self._inv_m if batch is None else self._inv_m[:, None]
        neg_inv_m = -inv_m
        u = np.zeros(shape) if u0 is None else np.array(np.broadcast_to(u0, shape), dtype=float)
        v = np.zeros(shape) if v0 is None else np.array(np.broadcast_to(v0, shape), dtype=float)
        fixed = self.fixed
        has_fixed = fixed.size > 0
        if prescribed is not None and has_fixed:
            u[fixed] = prescribed(0, 0.0)
        aM, bK = self.rayleigh
        h = self.dt

        def accel(t: float, u: np.ndarray, v_lag: np.ndarray, first: bool) -> np.ndarray:
            r = self._apply_K(u + bK * v_lag) if bK else self._apply_K(u)
            self.last_Ku = None if bK else r  # K u_k, for an observer's strain energy (read, do not modify)
            a = r * neg_inv_m if force is None else (np.broadcast_to(force(t), shape) - r) * inv_m
            if aM:  # a = m⁻¹ r − a_M v_n with v_n = v_lag + ½ dt a (v_lag = v_0 exactly at the start)
                a = a - aM * v_lag if first else (a - aM * v_lag) / (1 + 0.5 * aM * h)
                if has_fixed:
                    a[fixed] = 0.0
            return a

        a = accel(0.0, u, v, True)
        if observer is not None:
            observer(0, 0.0, u, v, a)
        v_half = v + (0.5 * h) * a
        zero_g = np.zeros((fixed.size, *shape[1:]))
        scratch = np.empty(shape)
        for k in range(1, n_steps + 1):
            t = k * h
            if has_fixed:  # the constrained dofs' half-step velocity (g_k − g_{k−1}) / dt
                g = prescribed(k, t) if prescribed is not None else zero_g
                v_half[fixed] = (g - u[fixed]) / h
            u += np.multiply(v_half, h, out=scratch)  # u_k = u_{k−1} + dt v_{k−½}
            if has_fixed:
                u[fixed] = g  # exactly the prescribed values, not u + dt (g − u) / dt
            if (k % FINITE_CHECK_EVERY == 0 or k == n_steps) and not np.isfinite(u).all():
                raise FloatingPointError(f"non-finite displacement at or before step {k} (t = {t:.4g} s): dt above "
                                         "the stability limit?")
            a = accel(t, u, v_half, False)
            if observer is not None:
                observer(k, t, u, v_half + (0.5 * h) * a if observe_velocity else None, a)
            v_half += np.multiply(a, h, out=scratch)
        v = v_half - (0.5 * h) * a if n_steps else v
        return u, v, a

    def _run_three_level(self, n_steps: int, *, u0, v0, prescribed, batch, observer):
        """Steps 2.. of an undamped, unloaded run as ``u_{k+1} = 2 u_k − u_{k−1} − dt² m⁻¹ K u_k`` on
        the free dofs (the half-step form with the velocity eliminated: the same displacements to
        round-off), the product and the update fused row by row
        (:func:`~uqgan.physics.blockops.three_level_update`). Steps 0 and 1 are the half-step ones
        (they start from ``u0, v0``). The observer of step k runs once ``K u_k`` is known, in
        ``self.last_Ku``."""
        first: list[np.ndarray] = []

        def start(k, t, u, v, a):
            first.append(u.copy())
            if observer is not None:
                observer(k, t, u, v, a)

        self.run(1, u0=u0, v0=v0, prescribed=prescribed, batch=batch, observer=start)
        u_prev, u = first
        fixed, h = self.fixed, self.dt
        has_fixed = fixed.size > 0
        c = (h * h) * self._inv_m  # zero on the constrained dofs, which are set after the update
        zero_g = np.zeros((fixed.size, *u.shape[1:]))
        for k in range(2, n_steps + 1):
            Ku = self._three_level(u, u_prev, c)  # K u_{k−1}; u_prev <- u_k on the free dofs
            if k > 2 and observer is not None:
                self.last_Ku = Ku
                observer(k - 1, (k - 1) * h, u, None, None)
            if has_fixed:
                u_prev[fixed] = prescribed(k, k * h) if prescribed is not None else zero_g
            u_prev, u = u, u_prev
            if (k % FINITE_CHECK_EVERY == 0 or k == n_steps) and not np.isfinite(u).all():
                raise FloatingPointError(f"non-finite displacement at or before step {k} (t = {k * h:.4g} s): dt "
                                         "above the stability limit?")
        if observer is not None:
            self.last_Ku = self._apply_K(u)
            observer(n_steps, n_steps * h, u, None, None)
        self.last_Ku = None
        return u, None, None
