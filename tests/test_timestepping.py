"""Known-answer tests of the Newmark / generalized-α integrator (numpy only, no FEniCSx)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from uqgan.physics.timestepping import NewmarkIntegrator, TimeScheme, mechanical_energy


def oscillator(m=2.0, k=50.0):
    return sp.csr_matrix([[m]]), sp.csr_matrix([[k]]), np.sqrt(k / m)


def chain(n, *, seed=0):
    """Mass-spring chain with random masses and springs: n nodes, n-1 springs, lumped masses."""
    rng = np.random.default_rng(seed)
    k = rng.uniform(0.5, 2.0, n - 1)
    m = rng.uniform(0.5, 2.0, n)
    return sp.diags(m).tocsr(), chain_stiffness(k), m, k


def chain_stiffness(k):
    """Stiffness (CSR) of a chain of ``len(k) + 1`` nodes joined by springs ``k``; for the springs
    ``k[lo:hi]`` it is the sub-chain of nodes ``lo..hi`` restricted from the whole chain."""
    n = len(k) + 1
    K = sp.lil_matrix((n, n))
    for e, ke in enumerate(k):
        K[e, e] += ke
        K[e + 1, e + 1] += ke
        K[e, e + 1] -= ke
        K[e + 1, e] -= ke
    return K.tocsr()


def test_average_acceleration_matches_its_discrete_exact_solution():
    """u'' + ω² u = 0, u(0) = 1: the trapezoidal rule gives exactly u_n = cos(ω_h t_n) with the
    discrete frequency ω_h = (2/dt) arctan(ω dt / 2) (Hughes, The FEM, §9.3)."""
    M, K, w = oscillator()
    dt = 0.05
    n = 400
    states = []
    NewmarkIntegrator(M, K, dt=dt).run(n, u0=np.array([1.0]), observer=lambda k, t, u, v, a: states.append(u[0]))
    w_h = 2 / dt * np.arctan(w * dt / 2)
    exact = np.cos(w_h * dt * np.arange(n + 1))
    # only round-off accumulates: 400 steps of O(1e-16) relative error each
    np.testing.assert_allclose(states, exact, atol=1e-12)


@pytest.mark.parametrize("scheme", [TimeScheme.average_acceleration(), TimeScheme.generalized_alpha(0.6)])
def test_second_order_in_time(scheme):
    M, K, w = oscillator()
    T = 2 * np.pi / w * 3.3
    errors = []
    dts = T / np.array([200, 400, 800, 1600])
    for dt in dts:
        n = round(T / dt)
        u, _, _ = NewmarkIntegrator(M, K, dt=dt, scheme=scheme).run(n, u0=np.array([1.0]))
        errors.append(abs(u[0] - np.cos(w * n * dt)))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    # Newmark average acceleration and Chung–Hulbert generalized-α are both second order; ±0.15
    # covers the pre-asymptotic drift at the coarsest step
    assert np.all(np.abs(orders - 2) < 0.15), orders


def amplification_matrix(scheme, omega_dt):
    """The one-step map of (u, dt v, dt² a) for u'' + ω² u = 0, built column by column."""
    M, K = sp.csr_matrix([[1.0]]), sp.csr_matrix([[omega_dt**2]])
    integ = NewmarkIntegrator(M, K, dt=1.0, scheme=scheme)
    cols = []
    for e in np.eye(3):
        u, v, a = integ.run(1, u0=e[:1], v0=e[1:2], a0=e[2:])
        cols.append([u[0], v[0], a[0]])
    return np.array(cols).T


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.8, 1.0])
def test_generalized_alpha_spectral_radius(rho):
    """The spectral radius of the amplification matrix tends to ρ∞ as ω dt → ∞ and to 1 as
    ω dt → 0 (Chung & Hulbert 1993, eq. 25)."""
    scheme = TimeScheme.generalized_alpha(rho)
    high = np.abs(np.linalg.eigvals(amplification_matrix(scheme, 1e7))).max()
    low = np.abs(np.linalg.eigvals(amplification_matrix(scheme, 1e-3))).max()
    # at ω dt = ∞ the eigenvalue -ρ∞ is triple and defective, so a perturbation O((ω dt)^-2) moves
    # it by O((ω dt)^(-2/3)) ≈ 2e-5 here (measured: 1.7e-5 to 2.2e-5); at low frequency the
    # dissipation is O((ω dt)^4) (measured < 1e-12)
    assert high == pytest.approx(rho, abs=1e-4)
    assert low == pytest.approx(1.0, abs=1e-9)


def test_generalized_alpha_with_rho_one_is_energy_conserving():
    M, K, _, _ = chain(30)
    rng = np.random.default_rng(1)
    s = TimeScheme.generalized_alpha(1.0)
    assert (s.beta, s.gamma) == (0.25, 0.5)
    energies = []
    integ = NewmarkIntegrator(M, K, dt=0.3, scheme=s)
    integ.run(300, u0=rng.normal(size=30),
              observer=lambda k, t, u, v, a: energies.append(mechanical_energy(M, K, u, v)))
    # ρ∞ = 1 is the midpoint rule on the α-levels: energy is conserved up to round-off
    assert np.ptp(energies) / energies[0] < 1e-10


def test_energy_conserved_with_clamp():
    M, K, _, _ = chain(40)
    rng = np.random.default_rng(2)
    u0 = rng.normal(size=40)
    u0[0] = 0.0
    integ = NewmarkIntegrator(M, K, dt=0.7, constrained_dofs=[0])
    energies = []
    integ.run(500, u0=u0, observer=lambda k, t, u, v, a: energies.append(mechanical_energy(M, K, u, v)))
    # exact conservation of the quadratic energy by the trapezoidal rule; round-off ~1e-14 a step
    assert np.ptp(energies) / energies[0] < 1e-10


def test_rayleigh_damped_step_load_reaches_static_solution():
    M, K, _, _ = chain(20)
    f = np.zeros(20)
    f[-1] = 1.0
    integ = NewmarkIntegrator(M, K, dt=0.5, constrained_dofs=[0], rayleigh=(0.13, 0.05))
    u, v, _ = integ.run(4000, force=lambda t: f)
    free = slice(1, None)
    u_static = np.zeros(20)
    u_static[free] = sp.linalg.spsolve(K[free][:, free].tocsc(), f[free])
    # the lowest mode (ω1 = 0.068) is just under-critically damped by a_M = 0.13 ≈ 2 ω1, so it
    # decays as exp(-a_M t / 2) = exp(-130) over t = 2000; higher modes decay faster still
    np.testing.assert_allclose(u, u_static, rtol=1e-10, atol=1e-12)


def test_prescribed_boundary_reproduces_full_chain_exactly():
    """The submodel principle: drive a sub-chain with the full chain's own boundary history and
    get the full chain's interior motion back to round-off."""
    n, lo, hi = 60, 20, 40  # sub-chain = nodes lo..hi (springs lo..hi-1), boundary nodes lo and hi
    M, K, m, k = chain(n, seed=3)
    f = np.zeros(n)
    f[5] = 1.0
    history = []
    NewmarkIntegrator(M, K, dt=0.2, constrained_dofs=[0]).run(
        300, force=lambda t: f * np.sin(t) * (t < np.pi), observer=lambda kk, t, u, v, a: history.append(u.copy()))
    history = np.array(history)

    # sub-chain operators: the restriction of the assembled chain to the sub-chain's springs,
    # with the boundary nodes' masses split as the springs are (here: lumped masses at the nodes,
    # the boundary nodes are prescribed so their mass rows never enter the interior equations)
    ns = hi - lo + 1
    Ks = chain_stiffness(k[lo:hi])
    Ms = sp.diags(m[lo:hi + 1]).tocsr()
    sub = NewmarkIntegrator(Ms, Ks, dt=0.2, constrained_dofs=[0, ns - 1])
    sub_hist = []
    sub.run(300, prescribed=lambda kk, t: history[kk, [lo, hi]],
            observer=lambda kk, t, u, v, a: sub_hist.append(u.copy()))
    np.testing.assert_allclose(np.array(sub_hist), history[:, lo:hi + 1], rtol=0, atol=1e-12 * np.abs(history).max())


def test_batch_equals_separate_runs():
    M, K, _, _ = chain(25, seed=4)
    rng = np.random.default_rng(5)
    U0 = rng.normal(size=(25, 3))
    U0[0] = 0
    integ = NewmarkIntegrator(M, K, dt=0.3, constrained_dofs=[0], scheme=TimeScheme.generalized_alpha(0.8))
    ub, vb, ab = integ.run(50, u0=U0, batch=3)
    for j in range(3):
        u, v, a = integ.run(50, u0=U0[:, j])
        np.testing.assert_allclose(ub[:, j], u, rtol=1e-12, atol=1e-14)


def test_bad_input_is_named():
    M, K, _ = oscillator()
    with pytest.raises(ValueError, match="dt=0"):
        NewmarkIntegrator(M, K, dt=0.0)
    with pytest.raises(ValueError, match="constrained_dofs"):
        NewmarkIntegrator(M, K, dt=0.1, constrained_dofs=[3])
    with pytest.raises(ValueError, match="spectral_radius"):
        TimeScheme.generalized_alpha(1.5)
    with pytest.raises(ValueError, match="must be one of"):
        TimeScheme.from_name("euler")


def test_nan_is_reported_with_the_step():
    M, K, _ = oscillator()
    integ = NewmarkIntegrator(M, K, dt=0.1)
    with pytest.raises(FloatingPointError, match="step 3"):
        integ.run(10, force=lambda t: np.array([np.nan if t > 0.25 else 0.0]))


def _consistent_chain(n, *, seed):
    """A chain with a consistent (tridiagonal) mass, so that the mass couples the constrained
    and free dofs as a finite-element submodel's does."""
    M, K, m, k = chain(n, seed=seed)
    Mc = sp.lil_matrix((n, n))
    for e in range(len(k)):
        me = 0.5 * (m[e] + m[e + 1])
        Mc[e, e] += me / 3
        Mc[e + 1, e + 1] += me / 3
        Mc[e, e + 1] += me / 6
        Mc[e + 1, e] += me / 6
    return Mc.tocsr(), K


@pytest.mark.parametrize("beta", [0.25, 0.3])
def test_three_level_form_equals_the_newmark_update(beta):
    """Without velocities observed, an undamped run with γ = ½ steps u_{k+1} − 2u_k + u_{k−1}
    = Δ²u from (M + β h² K) Δ²u = −h² K u_k (Hughes 1987, §9.1.3): the same displacements as the
    two-level Newmark update, driven through prescribed dofs with a consistent mass and in a batch.
    Both are the same linear recurrence; only round-off differs (600 steps of O(1e-16) each, the
    motion O(1)): 1e-11 relative."""
    n, B, steps = 30, 5, 600
    M, K = _consistent_chain(n, seed=7)
    rng = np.random.default_rng(8)
    fixed = [0, 13, n - 1]
    g = np.cumsum(rng.normal(size=(steps + 1, len(fixed), B)), axis=0) * 0.01  # rough boundary histories
    u0 = rng.normal(size=(n, B))
    integ = NewmarkIntegrator(M, K, dt=0.1, constrained_dofs=fixed, scheme=TimeScheme(beta=beta, gamma=0.5))
    ref, fast, seen = [], [], []
    integ.run(steps, u0=u0, prescribed=lambda k, t: g[k], batch=B,
              observer=lambda k, t, u, v, a: ref.append(u.copy()))

    def observer(k, t, u, v, a):
        fast.append(u.copy())
        seen.append((v is None, integ.last_Ku is not None and np.allclose(integ.last_Ku, K @ u, rtol=1e-13)))

    u_end, v_end, _ = integ.run(steps, u0=u0, prescribed=lambda k, t: g[k], batch=B, observer=observer,
                                observe_velocity=False)
    ref, fast = np.array(ref), np.array(fast)
    assert np.abs(ref).max() > 0.1
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-11 * np.abs(ref).max())
    assert v_end is None and np.array_equal(u_end, fast[-1])
    assert seen[:2] == [(False, False)] * 2  # steps 0 and 1 are two-level: v given, K u not computed
    assert all(s == (True, True) for s in seen[2:])


def test_three_level_form_only_where_it_is_exact():
    """Damping, a load or generalized-α keep the two-level update (the observer still gets v)."""
    M, K = _consistent_chain(12, seed=9)
    f = np.zeros(12)
    f[5] = 1.0
    cases = [dict(rayleigh=(0.1, 0.0)), dict(scheme=TimeScheme.generalized_alpha(0.8)), dict()]
    for kw in cases:
        integ = NewmarkIntegrator(M, K, dt=0.1, constrained_dofs=[0], **kw)
        vs: list = []
        force = (lambda t: f) if not kw else None
        integ.run(5, force=force, u0=np.linspace(0, 1, 12), observer=lambda k, t, u, v, a, vs=vs: vs.append(v),
                  observe_velocity=False)
        assert all(v is not None for v in vs), kw
