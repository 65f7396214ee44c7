"""Implicit Newmark / generalized-α time integration of ``M a + C v + K u = f(t)``.

Pure numpy/scipy on assembled sparse matrices, so it is tested without FEniCSx and shared by the
full model and the submodel. The effective matrix is factorised once and reused at every step;
states may be batched (``u`` of shape ``(n_dofs, batch)``), which solves a batch of load cases
or boundary histories with one multi-right-hand-side solve per step.

Schemes (Chung & Hulbert 1993, J. Appl. Mech. 60:371): with ``x_{n+1-α} = (1-α) x_{n+1} + α x_n``

    M a_{n+1-αm} + C v_{n+1-αf} + K u_{n+1-αf} = (1-αf) f_{n+1} + αf f_n
    u_{n+1} = u_n + dt v_n + dt² ((1/2 - β) a_n + β a_{n+1})
    v_{n+1} = v_n + dt ((1 - γ) a_n + γ a_{n+1})

``αm = αf = 0, β = 1/4, γ = 1/2`` is Newmark's average acceleration (trapezoidal rule):
unconditionally stable, second order and, undamped and unloaded, it conserves
``E = ½ vᵀMv + ½ uᵀKu`` exactly. Generalized-α with spectral radius ``ρ∞ < 1`` damps the
highest (mesh) frequencies while staying second order.

Rayleigh damping ``C = a_M M + b_K K``. Constrained dofs carry prescribed displacements
``g(t)`` (zero for a clamp; a boundary history for a submodel); their velocity and acceleration
follow from the same Newmark relations, so a submodel fed a full model's own boundary history
steps exactly as the full model does on the zone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .blockops import block_product

__all__ = ["NewmarkIntegrator", "TimeScheme", "constrained_dof_indices", "mechanical_energy", "newmark_constants",
           "scipy_lu"]

logger = logging.getLogger(__name__)

Solve = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, kw_only=True)
class TimeScheme:
    """Coefficients of a Newmark-family scheme (generalized-α form)."""

    beta: float
    gamma: float
    alpha_m: float = 0.0
    alpha_f: float = 0.0

    def __post_init__(self):
        if not (self.beta > 0 and self.gamma > 0):
            raise ValueError(f"TimeScheme beta={self.beta}, gamma={self.gamma}: need beta > 0 and gamma > 0")
        if not (self.alpha_m < 1 and 0 <= self.alpha_f < 1):
            raise ValueError(
                f"TimeScheme alpha_m={self.alpha_m}, alpha_f={self.alpha_f}: need alpha_m < 1, 0 <= alpha_f < 1"
            )

    @classmethod
    def average_acceleration(cls) -> TimeScheme:
        """Newmark β = 1/4, γ = 1/2: energy conserving, second order, no numerical damping."""
        return cls(beta=0.25, gamma=0.5)

    @classmethod
    def generalized_alpha(cls, spectral_radius: float) -> TimeScheme:
        """Chung–Hulbert generalized-α with high-frequency spectral radius ``ρ∞`` in [0, 1]."""
        r = float(spectral_radius)
        if not 0 <= r <= 1:
            raise ValueError(f"spectral_radius={r}: must lie in [0, 1]")
        am, af = (2 * r - 1) / (r + 1), r / (r + 1)
        gamma = 0.5 - am + af
        return cls(beta=0.25 * (1 - am + af) ** 2, gamma=gamma, alpha_m=am, alpha_f=af)

    @classmethod
    def from_name(cls, name: str, spectral_radius: float = 0.8) -> TimeScheme:
        if name == "newmark":
            return cls.average_acceleration()
        if name == "generalized-alpha":
            return cls.generalized_alpha(spectral_radius)
        raise ValueError(f"time scheme {name!r} is unknown: must be one of 'newmark', 'generalized-alpha'")


def scipy_lu(A: sp.spmatrix) -> Solve:
    """Factorise ``A`` once with SuperLU; returns ``solve(b)`` for ``b`` of shape (n,) or (n, k)."""
    lu = spla.splu(sp.csc_matrix(A), permc_spec="MMD_AT_PLUS_A")
    return lu.solve


def mechanical_energy(M: sp.spmatrix, K: sp.spmatrix, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Kinetic plus strain energy ``½ vᵀMv + ½ uᵀKu`` (per batch column), in J (J/m in 2-D)."""
    return 0.5 * np.einsum("i...,i...->...", v, M @ v) + 0.5 * np.einsum("i...,i...->...", u, K @ u)


def constrained_dof_indices(constrained_dofs, n: int) -> np.ndarray:
    """The sorted, unique indices of the constrained dofs, ``(k,)`` int64, checked to lie in ``[0, n)``."""
    fixed = np.unique(np.asarray(constrained_dofs, dtype=np.int64))
    if fixed.size and (fixed[0] < 0 or fixed[-1] >= n):
        raise ValueError(f"constrained_dofs must lie in [0, {n})")
    return fixed


def newmark_constants(scheme: TimeScheme, dt: float, rayleigh: tuple[float, float]):
    """The update constants ``(c0..c5)`` of a scheme and step, and the effective matrix
    ``K_eff = m_coef M + k_coef K`` = ``(1-αm) c0 M + (1-αf) c3 C + (1-αf) K`` with
    ``C = a_M M + b_K K`` (shared by the serial and the MPI integrators)."""
    h = float(dt)
    b, g, am, af = scheme.beta, scheme.gamma, scheme.alpha_m, scheme.alpha_f
    c = (1 / (b * h * h), 1 / (b * h), 1 / (2 * b) - 1, g / (b * h), 1 - g / b, h * (1 - g / (2 * b)))
    aM, bK = rayleigh
    m_coef = (1 - am) * c[0] + (1 - af) * c[3] * aM
    k_coef = (1 - af) * (1 + c[3] * bK)
    return c, m_coef, k_coef


class NewmarkIntegrator:
    """Factorise once, then step ``M a + C v + K u = f`` for any number of runs.

    Parameters
    ----------
    M, K
        Mass and stiffness matrices, ``(n, n)`` sparse, unconstrained (no boundary conditions).
    dt
        Time step [s].
    scheme
        :class:`TimeScheme` (default: average acceleration).
    constrained_dofs
        Indices of dofs with prescribed displacement (clamps, submodel boundary), ``(n_c,)`` int.
    rayleigh
        ``(a_M, b_K)``: Rayleigh damping ``C = a_M M + b_K K`` (a_M in 1/s, b_K in s).
    factorize
        ``factorize(A) -> solve``; default :func:`scipy_lu`. Called once, on the free-free block
        of the effective matrix.
    """

    def __init__(self, M, K, *, dt: float, scheme: TimeScheme | None = None, constrained_dofs=(),
                 rayleigh: tuple[float, float] = (0.0, 0.0), factorize: Callable[[sp.spmatrix], Solve] = scipy_lu):
        if not dt > 0:
            raise ValueError(f"dt={dt}: must be > 0")
        self.M, self.K = sp.csr_matrix(M), sp.csr_matrix(K)
        n = self.M.shape[0]
        if self.M.shape != (n, n) or self.K.shape != (n, n):
            raise ValueError(f"M {self.M.shape} and K {self.K.shape} must be square and of one size")
        self.n = n
        self.dt = float(dt)
        self.scheme = scheme or TimeScheme.average_acceleration()
        self.rayleigh = (float(rayleigh[0]), float(rayleigh[1]))
        self.fixed = fixed = constrained_dof_indices(constrained_dofs, n)
        mask = np.ones(n, dtype=bool)
        mask[fixed] = False
        self.free = np.flatnonzero(mask)
        self._factorize = factorize

        self._c, m_coef, k_coef = newmark_constants(self.scheme, self.dt, self.rayleigh)
        A = (m_coef * self.M + k_coef * self.K).tocsr()
        self._A_ff = A[self.free][:, self.free]
        self._A_fc = A[self.free][:, self.fixed] if fixed.size else None
        self._solve = factorize(self._A_ff)
        self._solve_mass: Solve | None = None
        #: ``K u`` of the observed step in a three-level run (see :meth:`run`), else None
        self.last_Ku: np.ndarray | None = None
        self._apply_K = block_product(self.K)  # K @ x, compiled for blocks of histories

    # ----------------------------------------------------------------------------------------
    def initial_acceleration(self, u0, v0, f0) -> np.ndarray:
        """``a0`` on free dofs from ``M a0 = f0 - K u0 - C v0`` (zero on constrained dofs)."""
        aM, bK = self.rayleigh
        r = f0 - self.K @ (u0 + bK * v0) - aM * (self.M @ v0)
        a0 = np.zeros_like(r)
        if not np.any(r[self.free]):
            return a0
        if self._solve_mass is None:
            self._solve_mass = self._factorize(self.M[self.free][:, self.free])
        # the constrained dofs are at rest at t = 0 unless a0 is given explicitly
        a0[self.free] = self._solve_mass(r[self.free])
        return a0

    def run(self, n_steps: int, *, force: Callable[[float], np.ndarray] | None = None, u0=None, v0=None,
            a0=None, prescribed: Callable[[int, float], np.ndarray] | None = None, batch: int | None = None,
            observer: Callable[[int, float, np.ndarray, np.ndarray, np.ndarray], None] | None = None,
            observe_velocity: bool = True):
        """Advance ``n_steps`` steps from t = 0.

        Parameters
        ----------
        n_steps
            Number of steps; time ``t_k = k dt``.
        force
            ``force(t) -> (n,)`` or ``(n, batch)`` load vector [N] at time t; None = unloaded.
        u0, v0, a0
            Initial displacement, velocity, acceleration, ``(n,)`` or ``(n, batch)``; default zero.
            ``a0`` defaults to the one consistent with the equation of motion.
        prescribed
            ``prescribed(k, t_k) -> (n_c,)`` or ``(n_c, batch)``: displacement of the constrained
            dofs at step k; None = zero (a clamp).
        batch
            Number of simultaneous runs (columns); None for a single run of shape ``(n,)``.
        observer
            Called as ``observer(k, t_k, u, v, a)`` at k = 0 and after every step. The arrays are
            the integrator's own: copy what you keep.
        observe_velocity
            False: the observer needs no ``v`` and ``a`` after step 1. An undamped, unloaded run of
            a scheme with γ = ½ and no α (average acceleration) then takes the three-level form
            (:meth:`_run_three_level`): the observer gets ``v = a = None`` from step 2 on, ``K u``
            in ``self.last_Ku``, and the run returns ``(u, None, None)``.

        Returns
        -------
        (u, v, a) at the final time.
        """
        aM, bK = self.rayleigh
        sch = self.scheme
        if (not observe_velocity and n_steps >= 2 and force is None and aM == 0 and bK == 0
                and sch.gamma == 0.5 and sch.alpha_m == 0 and sch.alpha_f == 0):
            return self._run_three_level(n_steps, u0=u0, v0=v0, a0=a0, prescribed=prescribed, batch=batch,
                                         observer=observer)
        if n_steps < 0:
            raise ValueError(f"n_steps={n_steps}: must be >= 0")
        shape = (self.n,) if batch is None else (self.n, int(batch))
        u = np.zeros(shape) if u0 is None else np.array(np.broadcast_to(u0, shape), dtype=float)
        v = np.zeros(shape) if v0 is None else np.array(np.broadcast_to(v0, shape), dtype=float)
        f_now = np.zeros(shape) if force is None else np.broadcast_to(force(0.0), shape)
        if prescribed is not None and self.fixed.size:
            u[self.fixed] = prescribed(0, 0.0)
        if a0 is None:
            a = self.initial_acceleration(u, v, f_now)
        else:
            a = np.array(np.broadcast_to(a0, shape), dtype=float)
        if observer is not None:
            observer(0, 0.0, u, v, a)

        c0, c1, c2, c3, c4, c5 = self._c
        am, af = self.scheme.alpha_m, self.scheme.alpha_f
        damped = aM != 0 or bK != 0
        for k in range(1, n_steps + 1):
            t = k * self.dt
            f_next = None if force is None else np.broadcast_to(force(t), shape)
            m_vec = -(1 - am) * (c0 * u + c1 * v) + (am - (1 - am) * c2) * a
            rhs = -(self.M @ m_vec)
            if af:
                rhs -= af * (self.K @ u)
            if damped:
                c_vec = -(1 - af) * c3 * u + ((1 - af) * c4 + af) * v + (1 - af) * c5 * a
                rhs -= self.M @ (aM * c_vec) + self.K @ (bK * c_vec)
            if f_next is not None:
                rhs += (1 - af) * f_next + (af * f_now if af else 0.0)
                f_now = f_next
            u_new = np.empty_like(u)
            rhs_f = rhs[self.free]
            if self.fixed.size:
                g = prescribed(k, t) if prescribed is not None else np.zeros((self.fixed.size, *shape[1:]))
                u_new[self.fixed] = g
                if prescribed is not None:
                    rhs_f = rhs_f - self._A_fc @ g
            u_new[self.free] = self._solve(rhs_f)
            du = u_new - u
            a_new = c0 * du - c1 * v - c2 * a
            v = c3 * du + c4 * v + c5 * a
            u, a = u_new, a_new
            if not np.isfinite(u_new).all():
                raise FloatingPointError(f"non-finite displacement at step {k} (t = {t:.4g} s)")
            if observer is not None:
                observer(k, t, u, v, a)
        return u, v, a

    def _run_three_level(self, n_steps: int, *, u0, v0, a0, prescribed, batch, observer):
        """Steps 2.. of an undamped, unloaded Newmark run with γ = ½, α = 0 in three-level form.

        With γ = ½ the Newmark relations give, for every dof (the constrained ones keep them as
        bookkeeping), ``u_{k+1} − 2u_k + u_{k−1} = h² (β a_{k+1} + (1−2β) a_k + β a_{k−1})``; with the
        free rows of ``M a = −K u`` at the three steps this is
        ``(M + β h² K)_f· Δ²u = −h² K_f· u_k`` (Hughes 1987, §9.1.3), i.e. with the factorised
        ``A = M / (β h²) + K``:

            A_ff Δ²u_f = −(1/β) (K u_k)_f − A_fc Δ²g,     u_{k+1} = 2 u_k − u_{k−1} + Δ²u

        — the same displacements as the two-level update to round-off, with one product with K and
        one solve per step and no velocity or acceleration arrays (their updates are most of a
        batched step's array operations). Steps 0 and 1 are the two-level ones (they start from
        ``u0, v0, a0``). ``K u_k`` is in ``self.last_Ku`` while the observer runs.
        """
        first: list[np.ndarray] = []

        def start(k, t, u, v, a):
            first.append(u.copy())
            if observer is not None:
                observer(k, t, u, v, a)

        self.last_Ku = None
        self.run(1, u0=u0, v0=v0, a0=a0, prescribed=prescribed, batch=batch, observer=start)
        u_prev, u = first
        fixed, free, h = self.fixed, self.free, self.dt
        has_fixed = fixed.size > 0 and prescribed is not None  # a clamp (None) keeps Δ²g = 0
        g_prev2, g_prev = (u_prev[fixed], u[fixed]) if has_fixed else (None, None)
        neg_inv_beta = -1.0 / self.scheme.beta
        Ku = self._apply_K(u)
        for k in range(2, n_steps + 1):
            t = k * h
            r = Ku[free]
            r *= neg_inv_beta
            if has_fixed:
                g = prescribed(k, t)
                r -= self._A_fc @ (g - 2 * g_prev + g_prev2)
            d2u = self._solve(r)
            np.subtract(u, u_prev, out=u_prev)  # u_prev <- 2 u_k − u_{k−1} + Δ²u, the next state
            u_prev += u
            u_prev[free] += d2u
            if has_fixed:
                u_prev[fixed] = g
                g_prev2, g_prev = g_prev, g
            u_prev, u = u, u_prev
            if (k % 16 == 0 or k == n_steps) and not np.isfinite(u).all():
                raise FloatingPointError(f"non-finite displacement at or before step {k} (t = {t:.4g} s)")
            Ku = self._apply_K(u)
            self.last_Ku = Ku
            if observer is not None:
                observer(k, t, u, None, None)
        self.last_Ku = None
        return u, None, None
