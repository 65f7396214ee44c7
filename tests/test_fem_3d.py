"""3-D solid elastodynamics from a tagged mesh file, against known answers.

* P-wave: a bar with rollers on its sides (uniaxial strain) struck on one end carries the pulse at
  ``c_p = sqrt((lambda + 2 mu) / rho)``; the arrival at a probe is within 2 % of distance / c_p.
* Energy: undamped average-acceleration Newmark conserves the discrete energy exactly once the load
  has stopped (Hughes 2000, §9.1.3), up to the solver's round-off.
* Time convergence: Newmark's error is O(dt^2) (rate within ±0.15 of 2).
* Submodel: fed the full model's own boundary history at every step it reproduces the zone QoIs
  (the same rows of the same matrices): to 1e-9 relative.
"""

from __future__ import annotations

import numpy as np
import pytest
from _meshes import box_mesh

from uqgan.config import CaseConfig

pytest.importorskip("dolfinx")

pytestmark = pytest.mark.fenicsx

ZONE = ((0.08, 0.12), (0.01, 0.04), (0.01, 0.04))


def box_case(path, *, degree=2, dt=1e-6, n_steps=60, stride=1, width=0.03, origin=(0.0, 0.025, 0.05),
             direction=(1.0, 0.0, 0.0), position=(0.05, 0.15, 0.1), cov=0.0):
    return CaseConfig.model_validate({
        "name": "box", "geometry": {"mesh": str(path), "dimension": 3, "degree": degree, "element_size_m": 0.01,
                                    "tags": {"zone": "zone", "clamped": "clamped", "loaded": "loaded"}},
        "load": {"footprint_width_m": width, "origin_m": list(origin), "direction": list(direction)},
        "time": {"dt_s": dt, "n_steps": n_steps, "output_stride": stride},
        "parameters": {"load_position": {"low": position[0], "high": position[1], "nominal": position[2]}},
        "random_field": {"coefficient_of_variation": cov, "correlation_length_m": 0.05, "max_modes": 20}})


def test_p_wave_arrival_in_a_bar_within_two_percent(tmp_path):
    """Uniaxial strain: rollers on the four sides, the far end x = L clamped, a half-sine pressure
    (20 us) on the whole end x = 0 (footprint much wider than the face: uniform to 1e-4). The
    displacement at x = d is the time integral of the pulse delayed by d / c_p, so it reaches half
    its final value at d / c_p + tau / 2. Tolerance 2 % (issue 14): P2 at h = 1 cm puts ~12 elements
    per pulse length c_p tau = 0.12 m, where the phase error of the front is well below 1 %."""
    from uqgan.fem import PlateModel
    from uqgan.fem import _dolfinx as backend
    from uqgan.physics.material import half_sine_pulse, wave_speeds
    from uqgan.physics.timestepping import NewmarkIntegrator

    L, a = 0.3, 0.04
    path = box_mesh(tmp_path / "bar.msh", size=(L, a, a), n=(30, 4, 4), zone=((0.24, 0.27), (0.0, 0.04), (0, 0.04)),
                    clamped_x0=False, loaded_face=(0, "min"))
    # the far face x = L is "far" (5): clamp it; the zone is unused here but a case needs one
    case = box_case(path, dt=0.5e-6, n_steps=120, width=10.0, origin=(0.0, 0.02, 0.02), direction=(0, 1, 0),
                    position=(0.0, 0.0, 0.0))
    case = case.model_copy(update={"geometry": case.geometry.model_copy(
        update={"tags": case.geometry.tags.model_copy(update={"clamped": "far"})})})
    model = PlateModel(case)
    V = model.space
    fixed = [model.clamped_dofs]
    for axis in (1, 2):
        for value in (0.0, a):
            facets = backend.boundary_facets(model.mesh, lambda x, ax=axis, v=value: np.abs(x[ax] - v) < 1e-9)
            fixed.append(backend.raw_dofs(backend.nodes_on_facets(V, facets), (axis,), dim=3))
    fixed = np.unique(np.concatenate(fixed))
    K = model.assembler.stiffness(case.material.youngs_modulus_pa)
    integ = NewmarkIntegrator(model.M, K, dt=case.time.dt_s, constrained_dofs=fixed)
    F = model.unit_load(0.0)
    tau, amp = 20e-6, 1e6
    d = 0.2
    probe = int(np.argmin(np.linalg.norm(V.node_coords - [d, a / 2, a / 2], axis=1)))
    assert np.linalg.norm(V.node_coords[probe] - [d, a / 2, a / 2]) < 1e-12
    hist = []
    integ.run(case.time.n_steps, force=lambda t: F * float(half_sine_pulse(t, amp, tau)),
              observer=lambda k, t, u, v, acc: hist.append((t, u[3 * probe])))
    t, u = np.array(hist).T
    final = u[-1]
    c_p, _ = wave_speeds(case.material.youngs_modulus_pa, case.material.poisson_ratio, case.material.density_kg_m3)
    # uniaxial strain: final displacement = impulse / (rho c_p) = amp (2 tau / pi) / (rho c_p), away from the far end
    assert final == pytest.approx(amp * 2 * tau / np.pi / (case.material.density_kg_m3 * c_p), rel=0.02)
    i = int(np.flatnonzero(u >= 0.5 * final)[0])
    t_half = t[i - 1] + (0.5 * final - u[i - 1]) / (u[i] - u[i - 1]) * (t[i] - t[i - 1])
    arrival = t_half - tau / 2
    assert arrival == pytest.approx(d / c_p, rel=0.02)


def test_energy_is_conserved_after_the_pulse_and_time_convergence_is_second_order(tmp_path):
    """Energy: once the 12 us pulse has stopped, the total energy of the undamped average-acceleration
    scheme is constant to round-off (1e-9 relative: ~100 solves at ~1e-13 each). Rate: the boundary
    history at dt, dt/2, dt/4 against dt/16 (P1, a coarse mesh: only the time error is measured;
    dt = 0.5 us keeps omega_max dt ~ 0.25 for the mesh's highest mode, inside the asymptotic range)."""
    from uqgan.fem import PlateModel

    path = box_mesh(tmp_path / "box.msh", size=(0.2, 0.05, 0.05), n=(8, 2, 2), zone=((0.075, 0.125), (0, 0.05),
                                                                                        (0, 0.025)))
    params = {"load_amplitude": 1e6, "load_duration": 24e-6, "load_position": 0.1}
    energy_case = box_case(path, degree=1, dt=1e-6, n_steps=100, stride=1, width=0.1)
    sol = PlateModel(energy_case).solve(params)
    after = sol.energy_j_per_m[sol.time_s > 25e-6]
    assert after.max() > 0
    assert (after.max() - after.min()) / after.max() < 1e-9

    histories = {}
    for k in (1, 2, 4, 16):
        case = box_case(path, degree=1, dt=0.5e-6 / k, n_steps=80 * k, stride=8 * k, width=0.1)
        histories[k] = PlateModel(case).solve(params).u_bc
    errors = [np.abs(histories[k] - histories[16]).max() for k in (1, 2, 4)]
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    # the reference at dt/16 carries 1/64 of the dt/2 error: the last rate reads ~2 - 0.1 at worst
    np.testing.assert_allclose(rates, 2.0, atol=0.15)


@pytest.mark.parametrize("cell_type", ["tetra", "hexahedron"])
def test_submodel_reproduces_the_3d_zone_qois(tmp_path, cell_type):
    """Fed its own boundary history at every step, the zone alone gives the full model's zone QoIs
    and zone displacement (measured 1e-15 .. 3e-14): 1e-9 relative, the issue's bar."""
    from uqgan.data.campaign import material_field_basis
    from uqgan.fem import PlateModel
    from uqgan.fem.submodel import SubModel
    from uqgan.physics.random_fields import youngs_modulus_field

    path = box_mesh(tmp_path / f"{cell_type}.msh", cell_type=cell_type, n=(10, 3, 3), size=(0.2, 0.06, 0.06),
                    zone=((0.06, 0.14), (0.019, 0.041), (0.019, 0.041)))
    case = box_case(path, degree=2, dt=1e-6, n_steps=40, width=0.04, origin=(0.0, 0.03, 0.06), cov=0.3)
    model = PlateModel(case)
    psi = material_field_basis(case, model)
    assert psi.shape == (model.n_cells, psi.shape[1]) and psi.shape[1] >= 1
    E = youngs_modulus_field(case, psi, np.random.default_rng(0).standard_normal(psi.shape[1]), model.zone.cells)
    sol = model.solve({"load_amplitude": 1e6, "load_duration": 2e-5, "load_position": 0.08}, youngs_modulus=E,
                      keep_zone_history=True)
    assert sol.u_bc.shape[2] == 3 and np.abs(sol.u_bc).max() > 0
    sub = SubModel(case, scheme="full-model")  # exact on the full model's own history
    coords = model.zone.boundary_coords
    res = sub.solve(sol.u_bc, sol.time_s, node_x=coords[:, 0], node_y=coords[:, 1], node_z=coords[:, 2],
                    keep_zone_history=True)
    for name, value in sol.qoi.items():
        assert res[name][0] == pytest.approx(value, rel=1e-9)
    assert np.abs(res["u_zone"][0] - sol.u_zone).max() < 1e-9 * np.abs(sol.u_zone).max()
