"""Verification of the elastodynamics core against known answers.

Each test states the exact solution it compares with and why its tolerance is what it is.
Measured values are recorded in docs/verification.md (printed with ``pytest -s``).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

pytest.importorskip("dolfinx")

from _strip import NU, RHO, E, edge, front_speed, p_wave_strip, strip  # noqa: E402

from uqgan.config import CaseConfig, GeometryConfig, ParameterRange, ParametersConfig, TimeConfig, ZoneConfig  # noqa: E402
from uqgan.fem import PlateModel  # noqa: E402
from uqgan.fem import _dolfinx as fem  # noqa: E402
from uqgan.physics.material import cantilever_first_frequency_hz, lame_parameters, plane_strain_von_mises  # noqa: E402
from uqgan.physics.qoi import ZoneQoI  # noqa: E402
from uqgan.physics.timestepping import NewmarkIntegrator, TimeScheme  # noqa: E402

pytestmark = pytest.mark.fenicsx

def first_mode(M, K, clamped):
    free = np.setdiff1d(np.arange(M.shape[0]), clamped)
    w2, phi = spla.eigsh(K[free][:, free].tocsc(), k=1, M=M[free][:, free].tocsc(), sigma=0, which="LM")
    mode = np.zeros(M.shape[0])
    mode[free] = phi[:, 0]
    return np.sqrt(w2[0]), mode


def small_case(**time_kw) -> CaseConfig:
    return CaseConfig(
        name="small",
        geometry=GeometryConfig(length_m=0.4, height_m=0.1, element_size_m=0.01, degree=2,
                                zone=ZoneConfig(x_min_m=0.15, x_max_m=0.25, y_min_m=0.03, y_max_m=0.07)),
        time=TimeConfig(**time_kw),
        parameters=ParametersConfig(load_position=ParameterRange(low=0.1, high=0.3, nominal=0.2)),
    )


# ------------------------------------------------------------------------------------------------
def test_energy_conserved_after_the_pulse():
    """Undamped average acceleration conserves ½vᵀMv + ½uᵀKu exactly once the load is off."""
    case = small_case(dt_s=1.5e-6, n_steps=520, output_stride=1)
    model = PlateModel(case)
    sol = model.solve({"load_amplitude": 1e6, "load_duration": 15e-6, "load_position": 0.2})
    after = sol.energy_j_per_m[sol.time_s > 15e-6 + 1.5e-6]
    assert after.size >= 500
    drift = np.ptp(after) / after[0]
    print(f"\nenergy drift over {after.size} steps after the pulse: {drift:.2e}")
    # the scheme is exactly conservative; what is left is LU round-off, ~1e-13 per step
    assert drift < 1e-8


def test_p_wave_front_speed():
    """Uniaxial strain in a strip on rollers: a pressure step on the end launches a front at
    c_p = sqrt(E(1-ν)/(ρ(1+ν)(1-2ν))) behind which v = p/(ρ c_p)."""
    height, dt = 0.02, 0.1e-6
    V, M, K, fixed, F = p_wave_strip(height=height)
    assert F[0::2].sum() == pytest.approx(height, rel=1e-12)  # 1 Pa over the end: height N/m
    integ = NewmarkIntegrator(M, K, dt=dt, constrained_dofs=fixed)
    c, v_end, plateau, c_p = front_speed(lambda n, p, obs: integ.run(n, force=lambda t: F * p(t), observer=obs),
                                         V, height, dt=dt)
    print(f"\nP-wave speed: measured {c:.1f} m/s, exact {c_p:.1f} m/s, error {c / c_p - 1:+.2e}")
    # 16 P2 nodes per rise length (c_p * rise / h * 2): dispersion shifts the front by well under 1 %;
    # the issue asks for 3 %
    assert c == pytest.approx(c_p, rel=0.03)
    # after the front's ringing (Gibbs), the particle velocity settles to the impedance value
    assert v_end == pytest.approx(plateau, rel=0.03)


@pytest.mark.parametrize("scheme", ["newmark", "generalized-alpha"])
def test_time_convergence_single_mode(scheme):
    """Start the discrete system in its first mode φ: the semi-discrete solution is φ cos(ω t)
    exactly, so the error at the end measures the time integrator alone. The end is t = 1.25 T,
    where cos(ω t) crosses zero: at a whole period the phase error enters squared (order 4)."""
    mesh, V, asm, M, K = strip(1.0, 0.05, 40, 2, 2)
    clamped = fem.raw_dofs(fem.nodes_on_facets(V, edge(mesh, 0, 0.0)))
    omega, phi = first_mode(M, K, clamped)
    period = 2 * np.pi / omega
    errors = []
    ns = [20, 40, 80, 160]
    for n in ns:
        integ = NewmarkIntegrator(M, K, dt=1.25 * period / n, constrained_dofs=clamped,
                                  scheme=TimeScheme.from_name(scheme, 0.8))
        u, _, _ = integ.run(n, u0=phi)
        errors.append(np.linalg.norm(u - phi * np.cos(omega * 1.25 * period)) / np.linalg.norm(phi))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    print(f"\n{scheme}: errors {np.array(errors)}, observed orders {orders}")
    # both schemes are second order; ±0.15 as the issue asks, the finest pair is asymptotic
    assert abs(orders[-1] - 2) < 0.15


def test_cantilever_first_eigenfrequency():
    """First bending frequency of a clamped-free strip (L/h = 20) against Euler–Bernoulli with the
    plane-strain modulus; shear and rotary inertia make the exact 2-D value ~0.1 % lower."""
    length, height = 1.0, 0.05
    exact = cantilever_first_frequency_hz(length, height, E, NU, RHO)
    freqs = []
    for ny in (2, 4, 8):
        mesh, V, asm, M, K = strip(length, height, 20 * ny, ny, 2)
        omega, _ = first_mode(M, K, fem.raw_dofs(fem.nodes_on_facets(V, edge(mesh, 0, 0.0))))
        freqs.append(omega / (2 * np.pi))
    freqs = np.array(freqs)
    order = np.log2(abs(freqs[0] - freqs[1]) / abs(freqs[1] - freqs[2]))
    print(f"\ncantilever f1: {freqs} Hz, Euler-Bernoulli {exact:.3f} Hz, finest error {freqs[-1] / exact - 1:+.2e}, "
          f"observed spatial order {order:.2f}")
    # 1 % as the issue asks; the beam-theory model error is 0.15 % at L/h = 20
    assert freqs[-1] == pytest.approx(exact, rel=0.01)
    # P2 eigenvalues converge as h^4 on smooth problems; the clamped corners are singular and
    # cap the rate near 2 (measured 1.75): below 1.5 would mean a broken element
    assert order > 1.5


def test_slow_ramp_matches_static_solution():
    """A load ramped smoothly over 10 fundamental periods, then held, leaves the plate at the
    static solution K u = F: a cosine ramp excites mode i with relative amplitude
    ~ π² / (2 (ω_i T_ramp)²) ≤ 1.3e-3."""
    case = small_case()
    model = PlateModel(case)
    F = model.unit_load(0.2) * 1e6
    clamped = model.clamped_dofs
    K = model.assembler.stiffness(np.full(model.n_cells, E))
    omega, _ = first_mode(model.M, K, clamped)
    period = 2 * np.pi / omega
    ramp = 10 * period
    n = 480
    dt = 1.25 * ramp / n
    integ = NewmarkIntegrator(model.M, K, dt=dt, constrained_dofs=clamped)
    u, _, _ = integ.run(n, force=lambda t: F * (0.5 - 0.5 * np.cos(np.pi * min(t / ramp, 1.0))))
    free = np.setdiff1d(np.arange(model.n_dofs), clamped)
    u_static = np.zeros(model.n_dofs)
    u_static[free] = spla.spsolve(K[free][:, free].tocsc(), F[free])
    err = np.abs(u - u_static).max() / np.abs(u_static).max()
    print(f"\nslow ramp vs static: relative max error {err:.2e}")
    assert err < 0.01


def test_rayleigh_damped_step_load_settles_to_static():
    case = small_case()
    model = PlateModel(case)
    F = model.unit_load(0.2) * 1e6
    K = model.assembler.stiffness(np.full(model.n_cells, E))
    omega, _ = first_mode(model.M, K, model.clamped_dofs)
    # a_M = 2 ω1 damps the fundamental critically and every other mode at rate ≥ ω1. The step load
    # excites unresolved mesh modes too, which the trapezoidal rule does not damp (its amplification
    # tends to -1 for stiff modes): generalized-α with ρ∞ = 0.5 does.
    integ = NewmarkIntegrator(model.M, K, dt=0.1 * 2 * np.pi / omega, constrained_dofs=model.clamped_dofs,
                              rayleigh=(2 * omega, 0.0), scheme=TimeScheme.generalized_alpha(0.5))
    u, _, _ = integ.run(400, force=lambda t: F)
    free = np.setdiff1d(np.arange(model.n_dofs), model.clamped_dofs)
    u_static = np.zeros(model.n_dofs)
    u_static[free] = spla.spsolve(K[free][:, free].tocsc(), F[free])
    # 40 periods at ζ ≈ 1: the transient is below e^-100
    np.testing.assert_allclose(u, u_static, rtol=0, atol=1e-9 * np.abs(u_static).max())


# ------------------------------------------------------------------------------------------------
# pieces of the full model


@pytest.mark.parametrize("centre", [0.2, 0.2037, 0.23])
def test_footprint_total_force(centre):
    """∫ cos²(π (x - c) / w) dx over the footprint = w / 2, wherever it sits on the mesh."""
    model = PlateModel(small_case())
    F = model.unit_load(centre)
    w = model.case.load.footprint_width_m
    # degree-8 Gauss on each 1 cm facet: the C¹ kink at the footprint's ends limits accuracy to ~1e-6
    assert F[1::2].sum() == pytest.approx(-w / 2, rel=1e-5)
    assert abs(F[0::2].sum()) < 1e-12


def test_strain_operator_exact_on_quadratic_fields():
    """P2 interpolates quadratics exactly, so the strain at the cell vertices is exact."""
    model = PlateModel(small_case())
    x, y = model.zone.space.node_coords.T
    u = np.stack([1e-3 * x + 2e-3 * y + 0.5 * x**2, -1e-3 * x + 3e-3 * y + x * y], axis=1).ravel()
    S, cells = fem.strain_operator(model.zone.space)
    strain = (S @ u).reshape(-1, 3)
    mid = fem.cell_midpoints(model.zone.space.V.mesh)[cells]
    # the points are the cell vertices: evaluate the exact strain there
    pts = _dg1_points(model)
    exx = 1e-3 + pts[:, 0]
    eyy = 3e-3 + pts[:, 0]
    gxy = 2e-3 - 1e-3 + pts[:, 1]
    np.testing.assert_allclose(strain, np.stack([exx, eyy, gxy], axis=1), atol=1e-12)
    assert mid.shape[0] == strain.shape[0]


def _dg1_points(model):
    import dolfinx

    W = dolfinx.fem.VectorFunctionSpace(model.zone.space.V.mesh, ("DG", 1), dim=3)
    return W.tabulate_dof_coordinates()[:, :2]


def test_zone_qoi_known_state():
    """A uniform uniaxial strain ε_xx = ε: σ_xx = (λ+2μ)ε, σ_yy = σ_zz = λε, so the von Mises
    stress is 2μ|ε| and the strain energy ½ (λ+2μ) ε² × area."""
    model = PlateModel(small_case())
    eps = 1e-4
    x, y = model.zone.space.node_coords.T
    u = np.stack([eps * (x - 0.2), 0 * y], axis=1).ravel()
    qoi = model.zone_qoi()
    assert isinstance(qoi, ZoneQoI)
    qoi.update(u)
    lam, mu = lame_parameters(E, NU)
    res = qoi.result()
    assert res["peak_von_mises"] == pytest.approx(2 * mu * eps, rel=1e-10)
    assert res["peak_von_mises"] == pytest.approx(
        float(plane_strain_von_mises((lam + 2 * mu) * eps, lam * eps, 0.0, NU)), rel=1e-12)
    area = 0.1 * 0.04
    assert res["peak_strain_energy"] == pytest.approx(0.5 * (lam + 2 * mu) * eps**2 * area, rel=1e-10)
    assert res["peak_displacement"] == pytest.approx(eps * 0.05, rel=1e-12)


def test_recorded_nodes_and_zone_history_agree_with_the_boundary_history():
    model = PlateModel(small_case(n_steps=40, output_stride=4))
    coords = model.zone.boundary_coords[:5]
    nodes = model.nodes_at(coords)
    sol = model.solve(record_nodes=nodes, keep_zone_history=True)
    assert sol.time_s.shape == (11,)
    np.testing.assert_array_equal(sol.extra["u_nodes"], sol.u_bc[:, :5])
    np.testing.assert_array_equal(sol.u_zone[:, model.zone.boundary_zone_nodes], sol.u_bc)
    assert np.abs(sol.u_bc).max() > 0
    with pytest.raises(ValueError, match="match no node"):
        model.nodes_at([[0.2013, 0.05]])


def test_zone_is_restriction_of_full_mesh():
    model = PlateModel(small_case())
    z = model.zone
    # every zone node is a full-mesh node (to round-off) and boundary nodes lie on the rectangle
    np.testing.assert_allclose(model.space.node_coords[z.full_nodes], z.space.node_coords, atol=1e-15)
    bx, by = z.boundary_coords.T
    zc = model.case.geometry.zone
    on_edge = (np.isclose(bx, zc.x_min_m) | np.isclose(bx, zc.x_max_m) | np.isclose(by, zc.y_min_m)
               | np.isclose(by, zc.y_max_m))
    assert on_edge.all()
    # P2: 2 nodes per boundary edge; 10 + 4 elements per side pair on this mesh
    assert z.boundary_nodes.size == 2 * 2 * (10 + 4)
    assert z.area_fraction == pytest.approx(0.1 * 0.04 / 0.04)


def test_petsc_factorisations_are_freed_with_their_solver():
    """petsc4py does not free a KSP's LU factor when its Python objects go: before the fix every
    full-model sample leaked its factorisation (measured ~34 MiB per sample on the default case,
    flat after the fix), and a campaign worker grew until the OOM killer took it after ~340 samples.
    Releasing the solver must destroy its PETSc objects (a destroyed object's handle is 0)."""
    import gc

    import scipy.sparse as sp

    from uqgan.fem import _dolfinx as backend

    m = 30
    lap1 = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    A = (sp.kron(lap1, sp.eye(m)) + sp.kron(sp.eye(m), lap1) + 1e-3 * sp.eye(m * m)).tocsr()
    b = np.ones(m * m)
    solve = backend.petsc_lu(A)
    np.testing.assert_allclose(A @ solve(b), b, rtol=1e-10, atol=1e-10)
    objects = solve.petsc_objects
    assert all(o.handle != 0 for o in objects)
    del solve
    gc.collect()
    assert [o.handle for o in objects] == [0] * len(objects)
