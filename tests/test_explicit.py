"""Known-answer tests of explicit central differences (numpy only, no FEniCSx)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_timestepping import chain, chain_stiffness

from uqgan.physics.explicit import CentralDifferenceIntegrator, critical_time_step, lumped_mass, max_eigenvalue
from uqgan.physics.timestepping import mechanical_energy


def test_undamped_oscillator_matches_its_discrete_exact_solution():
    """u'' + ω² u = 0, u(0) = 1, v(0) = 0: central differences give u_n = cos(n Ω dt) exactly,
    with cos(Ω dt) = 1 − ω² dt² / 2 (the recurrence u_{n+1} − 2u_n + u_{n−1} = −ω² dt² u_n)."""
    m, k = 2.0, 50.0
    omega = np.sqrt(k / m)
    dt = 0.5 * 2 / omega
    states = []
    CentralDifferenceIntegrator([m], sp.csr_matrix([[k]]), dt=dt).run(
        200, u0=np.array([1.0]), observer=lambda kk, t, u, v, a: states.append(u[0]))
    big_omega = np.arccos(1 - 0.5 * (omega * dt) ** 2) / dt
    exact = np.cos(big_omega * dt * np.arange(201))
    # a two-term recurrence: round-off only, ~1e-15 per step
    np.testing.assert_allclose(states, exact, rtol=0, atol=1e-12)


@pytest.mark.parametrize("rayleigh", [(0.0, 0.0), (0.3, 0.0)])
def test_second_order_in_time(rayleigh):
    """Damped oscillator u'' + a_M u' + ω² u = 0 against its closed form: order 2 (the mass-
    proportional damping is centred)."""
    omega, aM = 5.0, rayleigh[0]
    wd = np.sqrt(omega**2 - (aM / 2) ** 2)
    T = 1.0
    errors = []
    for n in (50, 100, 200, 400):
        u, _, _ = CentralDifferenceIntegrator([1.0], sp.csr_matrix([[omega**2]]), dt=T / n, rayleigh=rayleigh).run(
            n, u0=np.array([1.0]))
        exact = np.exp(-aM * T / 2) * (np.cos(wd * T) + aM / (2 * wd) * np.sin(wd * T))
        errors.append(abs(u[0] - exact))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    # central differences are second order; ±0.15 as for the implicit schemes
    assert abs(orders[-1] - 2) < 0.15


@pytest.mark.parametrize("bK", [0.0, 0.004])
def test_stability_limit_is_sharp(bK):
    """The amplification matrix of (u_n, v_{n−½}) for one mode has spectral radius ≤ 1 just
    below :func:`critical_time_step` and > 1 just above (Belytschko et al. 2000, eq. 6.3.23)."""
    omega = 400.0
    limit = critical_time_step(omega, rayleigh=(0.0, bK))

    def radius(dt):
        # a = −ω² (u + b_K v_half); v_half' = v_half + dt a; u' = u + dt v_half'
        w2 = omega**2
        A = np.array([[1 - dt * dt * w2, dt * (1 - dt * w2 * bK)], [-dt * w2, 1 - dt * w2 * bK]])
        return np.abs(np.linalg.eigvals(A)).max()

    assert radius(0.999 * limit) <= 1 + 1e-12
    assert radius(1.001 * limit) > 1 + 1e-6
    # and the integrator itself: bounded below the limit, blowing up above it
    M = sp.csr_matrix([[1.0]])
    K = sp.csr_matrix([[omega**2]])
    u, _, _ = CentralDifferenceIntegrator([1.0], K, dt=0.999 * limit, rayleigh=(0.0, bK)).run(
        3000, u0=np.array([1.0]))
    assert abs(u[0]) < 10
    with pytest.raises(FloatingPointError, match="stability limit"), np.errstate(over="ignore", invalid="ignore"):
        CentralDifferenceIntegrator(M.diagonal(), K, dt=1.05 * limit, rayleigh=(0.0, bK)).run(
            100000, u0=np.array([1.0]))


def test_lanczos_finds_the_chain_frequency():
    """Uniform fixed–free chain (n free masses m, springs k): λ_j(M⁻¹K) = (4k/m)
    sin²((2j−1)π/(2(2n+1))), the largest at j = n (the discrete fixed–free string)."""
    n, m, k = 300, 2.0, 3.0
    main = np.full(n + 1, 2 * k)
    main[-1] = k
    K = sp.diags([main, -k * np.ones(n), -k * np.ones(n)], [0, 1, -1]).tocsr()
    lam = max_eigenvalue(lambda x: K @ x, np.full(n + 1, m), free=np.arange(1, n + 1), rtol=1e-9,
                         rng=np.random.default_rng(0))
    exact = 4 * k / m * np.sin((2 * n - 1) * np.pi / (4 * n + 2)) ** 2
    # Ritz values converge from below; the top gap is ~1e-4 relative (clustered as 1/n²), yet
    # Lanczos reaches 1e-9 in ~300 iterations
    assert lam == pytest.approx(exact, rel=1e-9)
    assert lam <= exact * (1 + 1e-12)


def test_lumped_mass_keeps_the_total_and_is_positive():
    # a P2-like consistent element matrix (1-D quadratic: [4 2 -1; 2 16 2; -1 2 4] h/30) has a
    # negative off-diagonal, so row sums are still positive in 1-D but HRZ must keep the total
    h = 0.1
    Me = np.array([[4, 2, -1], [2, 16, 2], [-1, 2, 4]]) * h / 30
    n_el = 5
    M = sp.lil_matrix((2 * n_el + 1, 2 * n_el + 1))
    for e in range(n_el):
        idx = [2 * e, 2 * e + 1, 2 * e + 2]
        M[np.ix_(idx, idx)] += Me
    m = lumped_mass(M.tocsr(), degree=2)
    assert m.sum() == pytest.approx(M.sum(), rel=1e-14)
    # HRZ on one 1-D quadratic element: diag (4, 16, 4)/24 of the element mass h
    assert m[1] == pytest.approx(16 / 24 * h, rel=1e-14)
    assert m[0] == pytest.approx(4 / 24 * h, rel=1e-14)
    np.testing.assert_allclose(lumped_mass(sp.diags([1.0, 2.0]), degree=1), [1.0, 2.0])
    # "cjrt" takes row sums (for the CJRT element they are its quadrature weights): on this 1-D
    # quadratic element they are Simpson's (1, 4, 1)/6 h, which is what row sums of Me give
    m_rows = lumped_mass(M.tocsr(), degree=2, lumping="cjrt")
    np.testing.assert_allclose(m_rows, np.asarray(M.sum(axis=1)).ravel(), rtol=1e-14)
    assert m_rows[1] == pytest.approx(4 / 6 * h, rel=1e-14)
    with pytest.raises(ValueError, match="lumping='row': must be 'hrz' or 'cjrt'"):
        lumped_mass(M.tocsr(), degree=2, lumping="row")


def test_energy_conserved_without_drift():
    """Undamped, unloaded chain with a clamp: the explicit scheme conserves a modified energy,
    so ½vᵀMv + ½uᵀKu (with the integer-step velocity) oscillates by O((ω dt)²) without drift."""
    M, K, m, _ = chain(40)
    rng = np.random.default_rng(2)
    u0 = rng.normal(size=40)
    u0[0] = 0.0
    lam = max_eigenvalue(lambda x: K @ x, m, free=np.arange(1, 40), rtol=1e-10, rng=np.random.default_rng(1))
    dt = 0.1 * critical_time_step(np.sqrt(lam))
    energies = []
    CentralDifferenceIntegrator(m, K, dt=dt, constrained_dofs=[0]).run(
        2000, u0=u0, observer=lambda k, t, u, v, a: energies.append(mechanical_energy(M, K, u, v)))
    energies = np.array(energies)
    # (ω_max dt)² / 4 = 1e-2 bounds the relative oscillation of the unmodified energy
    assert np.ptp(energies) / energies[0] < 1e-2
    assert abs(energies[-200:].mean() / energies[0] - 1) < 1e-2  # no drift


def test_rayleigh_damped_step_load_reaches_static_solution():
    M, K, m, _ = chain(20)
    f = np.zeros(20)
    f[-1] = 1.0
    lam = max_eigenvalue(lambda x: K @ x, m, free=np.arange(1, 20), rtol=1e-10, rng=np.random.default_rng(1))
    rayleigh = (0.13, 0.05)
    dt = 0.9 * critical_time_step(np.sqrt(lam), rayleigh=rayleigh)
    u, v, _ = CentralDifferenceIntegrator(m, K, dt=dt, constrained_dofs=[0], rayleigh=rayleigh).run(
        int(2000 / dt), force=lambda t: f)
    u_static = np.zeros(20)
    u_static[1:] = sp.linalg.spsolve(K[1:, 1:].tocsc(), f[1:])
    # the lowest mode decays as exp(-a_M t / 2) = exp(-130) over t = 2000 (as for Newmark)
    np.testing.assert_allclose(u, u_static, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rayleigh", [(0.0, 0.0), (0.05, 0.02)])
def test_prescribed_boundary_reproduces_full_chain_exactly(rayleigh):
    """The submodel principle with the explicit scheme: a sub-chain driven by the full chain's
    own boundary history reproduces its interior motion to round-off, damped or not."""
    n, lo, hi = 60, 20, 40
    M, K, m, k = chain(n, seed=3)
    f = np.zeros(n)
    f[5] = 1.0
    history = []
    dt = 0.2
    CentralDifferenceIntegrator(m, K, dt=dt, constrained_dofs=[0], rayleigh=rayleigh).run(
        300, force=lambda t: f * np.sin(t) * (t < np.pi), observer=lambda kk, t, u, v, a: history.append(u.copy()))
    history = np.array(history)
    ns = hi - lo + 1
    Ks = chain_stiffness(k[lo:hi])  # the sub-chain of nodes lo..hi
    sub_hist = []
    CentralDifferenceIntegrator(m[lo:hi + 1], Ks, dt=dt, constrained_dofs=[0, ns - 1], rayleigh=rayleigh).run(
        300, prescribed=lambda kk, t: history[kk, [lo, hi]], observer=lambda kk, t, u, v, a: sub_hist.append(u.copy()))
    assert np.abs(history[:, lo + 1:hi]).max() > 0
    # the same rows of the same operator, in the same order: round-off only
    np.testing.assert_allclose(np.array(sub_hist), history[:, lo:hi + 1], rtol=0, atol=1e-12 * np.abs(history).max())


def test_batch_equals_separate_runs():
    M, K, m, _ = chain(25, seed=4)
    rng = np.random.default_rng(5)
    U0 = rng.normal(size=(25, 3))
    U0[0] = 0
    integ = CentralDifferenceIntegrator(m, K, dt=0.3, constrained_dofs=[0], rayleigh=(0.1, 0.01))
    ub, _, _ = integ.run(50, u0=U0, batch=3)
    for j in range(3):
        u, _, _ = integ.run(50, u0=U0[:, j])
        np.testing.assert_allclose(ub[:, j], u, rtol=1e-12, atol=1e-14)


def test_bad_input_is_named():
    K = sp.csr_matrix([[1.0]])
    with pytest.raises(ValueError, match="dt=0"):
        CentralDifferenceIntegrator([1.0], K, dt=0.0)
    with pytest.raises(ValueError, match="constrained_dofs"):
        CentralDifferenceIntegrator([1.0], K, dt=0.1, constrained_dofs=[3])
    with pytest.raises(ValueError, match="lumped mass"):
        CentralDifferenceIntegrator([0.0], K, dt=0.1)


@pytest.mark.parametrize("rayleigh", [(0.0, 0.0), (0.05, 0.02)])
def test_without_observed_velocity_the_displacements_are_unchanged(rayleigh):
    """``observe_velocity=False``. Damped: the half-step loop without the integer-step velocity,
    the same operations, so the same numbers bit for bit, v = None from step 1. Undamped: steps 2..
    in three-level form ``u_{k+1} = 2u_k − u_{k−1} − dt² m⁻¹ K u_k`` (the velocity eliminated: the
    same recurrence, round-off only, 200 steps of O(1e-16): 1e-12 relative), v = None from step 2,
    ``last_Ku`` = K u_k at every step (the compiled product where numba is installed)."""
    n, B = 40, 16  # 16 columns: the compiled kernels' path where numba is installed
    _, K, m, _ = chain(n, seed=11)
    rng = np.random.default_rng(12)
    g = np.cumsum(rng.normal(size=(201, 2, B)), axis=0) * 1e-3
    integ = CentralDifferenceIntegrator(m, K, dt=0.2, constrained_dofs=[0, n - 1], rayleigh=rayleigh)
    runs = {}
    for observe in (True, False):
        hist, kus, vs = [], [], []

        def observer(k, t, u, v, a, hist=hist, kus=kus, vs=vs):
            vs.append(v is None)
            hist.append(u.copy())
            kus.append(None if integ.last_Ku is None else np.abs(integ.last_Ku - K @ u).max())
        integ.run(200, prescribed=lambda k, t: g[k], batch=B, observer=observer, observe_velocity=observe)
        runs[observe] = (np.array(hist), kus, vs)
    ref, (fast, kus, vs) = runs[True][0], runs[False]
    assert not any(runs[True][2]) and len(fast) == len(ref) == 201
    if rayleigh[1]:
        np.testing.assert_array_equal(fast, ref)
        assert vs == [False] + [True] * 200 and all(x is None for x in kus)
    else:
        np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
        assert vs == [False, False] + [True] * 199
        assert max(kus) <= 1e-13 * np.abs(K @ fast[-1]).max()


def test_blow_up_above_the_limit_is_reported():
    """A step 2 % above 2/ω_max grows without bound; the finiteness check (every 16 steps) stops it
    with one line that names the step."""
    _, K, m, _ = chain(20, seed=13)
    lam = max_eigenvalue(lambda x: K @ x, m, rng=np.random.default_rng(0))
    integ = CentralDifferenceIntegrator(m, K, dt=1.02 * critical_time_step(np.sqrt(lam)))
    with pytest.raises(FloatingPointError, match=r"non-finite displacement at or before step \d+"), \
            np.errstate(over="ignore", invalid="ignore"):  # the overflow between two checks is the point
        integ.run(100000, u0=np.random.default_rng(1).normal(size=20))


def test_no_free_dof_has_no_stability_limit():
    """A zone whose every node is on its boundary (a one-element-thick slab in P1) has no free
    motion: λ_max of the empty free block is taken as 0 and any step is stable."""
    _, K, m, _ = chain(5, seed=14)
    assert max_eigenvalue(lambda x: K @ x, m, free=np.array([], dtype=int), rng=np.random.default_rng(0)) == 0.0
    assert critical_time_step(0.0) == float("inf")
