"""Explicit central differences on the finite-element model: lumping, the stable time step, the
submodel's exactness, and verification against Newmark and known answers.

Measured values are recorded in docs/schemes.md (printed with ``pytest -s``).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

pytest.importorskip("dolfinx")

from _cases import full_runs  # noqa: E402
from _strip import front_speed, p_wave_strip  # noqa: E402

from uqgan.config import CaseConfig, ConfigError, default_case  # noqa: E402
from uqgan.fem import PlateModel  # noqa: E402
from uqgan.fem import _dolfinx as fem  # noqa: E402
from uqgan.fem.explicit import energy_balance, stable_time_step  # noqa: E402
from uqgan.fem.submodel import SubModel  # noqa: E402
from uqgan.physics.explicit import CentralDifferenceIntegrator, critical_time_step, lumped_mass  # noqa: E402
from uqgan.physics.qoi import QOI_SPECS  # noqa: E402

pytestmark = pytest.mark.fenicsx

E, NU, RHO = 210e9, 0.3, 7850.0

SMALL = {
    "name": "small-explicit",
    "geometry": {"length_m": 0.4, "height_m": 0.1, "element_size_m": 0.01, "degree": 2,
                 "zone": {"x_min_m": 0.2, "x_max_m": 0.3, "y_min_m": 0.03, "y_max_m": 0.07}},
    "time": {"dt_s": 0.25e-6, "n_steps": 480, "output_stride": 1, "scheme": "central-difference"},
    "parameters": {"load_position": {"low": 0.1, "high": 0.3}},
    "random_field": {"correlation_length_m": 0.2},
}


def case_with(base: dict, **time) -> CaseConfig:
    return CaseConfig.model_validate({**base, "time": {**base["time"], **time}})


def explicit_default(**time) -> CaseConfig:
    """The default plate with central differences at 0.375 µs (81 % of its 0.464 µs limit), 800
    steps and stride 4: the same end time and output times as the default Newmark case."""
    c = default_case()
    kw = {"scheme": "central-difference", "dt_s": 0.375e-6, "n_steps": 800, "output_stride": 4, **time}
    return c.model_copy(update={"time": c.time.model_copy(update=kw)})


@pytest.mark.parametrize("degree", [1, 2])
def test_lumped_mass_is_positive_and_keeps_the_plate_mass(degree):
    """Row sums (P1) and HRZ (P2) keep ρ × area per component; HRZ on P2 triangles gives each
    vertex ρ|e|/19 and each edge node 16ρ|e|/57, so on a uniform mesh the interior edge nodes
    (2 cells each) weigh 32/57 ρ|e| and the interior vertices (6 cells) 6/19 ρ|e|."""
    mesh = fem.rectangle_mesh(0.2, 0.1, 4, 2)
    V = fem.vector_space(mesh, degree)
    M = fem.Assembler(V, density_kg_m3=RHO, poisson_ratio=NU).mass()
    m = lumped_mass(M, degree)
    assert np.all(m > 0)
    # per component the mass of the plate, to round-off
    assert m[0::2].sum() == pytest.approx(RHO * 0.02, rel=1e-13)
    if degree == 1:
        np.testing.assert_allclose(m, lumped_mass(M, 2), rtol=1e-13)  # row sums = HRZ for P1
    else:
        cell = 0.5 * 0.05 * 0.05 * RHO
        x = V.node_coords
        interior_vertex = np.flatnonzero((np.abs(x[:, 0] - 0.1) < 1e-9) & (np.abs(x[:, 1] - 0.05) < 1e-9))[0]
        assert m[2 * interior_vertex] == pytest.approx(6 / 19 * cell, rel=1e-12)


def test_stable_time_step_matches_the_eigenvalue_and_is_sharp():
    """The Lanczos limit equals 2/√λ_max from ARPACK to 1e-6; just under it a random start stays
    bounded for 3000 steps, just over it it blows up."""
    case = case_with(SMALL)
    model = PlateModel(case)
    K = model.assembler.stiffness(E)
    m = lumped_mass(model.M, 2)
    free = np.setdiff1d(np.arange(model.n_dofs), model.clamped_dofs)
    d = 1 / np.sqrt(m[free])
    lam = spla.eigsh(K[free][:, free].multiply(d[:, None]).multiply(d[None, :]).tocsr(), k=1, which="LA")[0][0]
    limit = stable_time_step(case, model.M, K, constrained_dofs=model.clamped_dofs)
    print(f"\nstable dt: Lanczos {limit:.6e} s, ARPACK {2 / np.sqrt(lam):.6e} s")
    # both solve the same symmetric eigenproblem; the Lanczos stop is at 1e-6 relative change
    assert limit == pytest.approx(2 / np.sqrt(lam), rel=1e-6)
    assert model.stable_time_step_s == pytest.approx(limit, rel=1e-12)
    u0 = np.random.default_rng(0).standard_normal(model.n_dofs)
    u0[model.clamped_dofs] = 0
    u, _, _ = CentralDifferenceIntegrator(m, K, dt=0.99 * limit, constrained_dofs=model.clamped_dofs).run(3000, u0=u0)
    assert np.abs(u).max() < 10 * np.abs(u0).max()
    with pytest.raises(FloatingPointError), np.errstate(over="ignore", invalid="ignore"):
        CentralDifferenceIntegrator(m, K, dt=1.02 * limit, constrained_dofs=model.clamped_dofs).run(3000, u0=u0)


def test_a_time_step_above_the_limit_is_refused_in_one_line():
    case = explicit_default(dt_s=0.5e-6, n_steps=600, output_stride=3)
    with pytest.raises(ConfigError) as err:
        PlateModel(case)
    lines = str(err.value).splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("time.dt_s=5e-07: above the central-difference stability limit 4.638e-07 s")
    assert "use time.dt_s <= 4.17e-07" in lines[0]


def test_stiffness_damping_lowers_the_limit():
    base = case_with(SMALL)
    model = PlateModel(base)
    K = model.assembler.stiffness(E)
    bK = 2e-8
    damped = base.model_copy(update={"material": base.material.model_copy(update={"rayleigh_stiffness_s": bK})})
    lim0 = stable_time_step(base, model.M, K, constrained_dofs=model.clamped_dofs)
    lim = stable_time_step(damped, model.M, K, constrained_dofs=model.clamped_dofs)
    omega = 2 / lim0
    assert lim == pytest.approx(critical_time_step(omega, rayleigh=(0.0, bK)), rel=1e-12)
    assert lim < lim0


@pytest.mark.parametrize(("rayleigh", "lumping"), [((0.0, 0.0), "hrz"), ((2e3, 1e-9), "hrz"), ((2e3, 1e-9), "cjrt")])
def test_explicit_submodel_reproduces_the_full_model(rayleigh, lumping):
    """Driven by the full model's own history at every step, the explicit submodel reproduces the
    zone displacement and every zone QoI to round-off (the issue asks for 1e-9; we see ~1e-13),
    undamped and with both Rayleigh terms, on P2 (HRZ) and on the CJRT space."""
    data = {**SMALL, "material": {"rayleigh_mass_1_per_s": rayleigh[0], "rayleigh_stiffness_s": rayleigh[1]},
            "time": {**SMALL["time"], "mass_lumping": lumping}}
    case = CaseConfig.model_validate(data)
    model, sols = full_runs(case, 3)
    sub = SubModel(case, scheme="full-model")  # the full model's scheme and step: exact on its history
    u_bc = np.stack([s.u_bc for s in sols])
    res = sub.solve(u_bc, sols[0].time_s, node_x=model.zone.boundary_coords[:, 0],
                    node_y=model.zone.boundary_coords[:, 1], keep_zone_history=True, batch_size=2)
    worst = 0.0
    for i, sol in enumerate(sols):
        scale = np.abs(sol.u_zone).max()
        assert scale > 0
        worst = max(worst, np.abs(res["u_zone"][i] - sol.u_zone).max() / scale)
        np.testing.assert_allclose(res["u_zone"][i], sol.u_zone, rtol=0, atol=1e-9 * scale)
        for s in QOI_SPECS:
            assert res[s.name][i] == pytest.approx(sol.qoi[s.name], rel=1e-9), s.name
    assert sub.zone.space.element == model.space.element == ("cjrt" if lumping == "cjrt" else "lagrange")
    print(f"\nexplicit submodel vs full, rayleigh {rayleigh}, {lumping}: max |du| / max |u| = {worst:.1e}")


# ------------------------------------------------------------------------------------------------
# verification


@pytest.mark.parametrize("lumping", ["hrz", "cjrt"])
def test_p_wave_front_speed_explicit(lumping):
    """As tests/test_fem_verification.py::test_p_wave_front_speed, with central differences and
    the HRZ-lumped P2 mass or the CJRT element: a pressure step on the end of a strip on rollers
    launches a front at c_p behind which v = p/(ρ c_p)."""
    height, dt = 0.02, 0.1e-6
    V, M, K, fixed, F = p_wave_strip(height=height, element="cjrt" if lumping == "cjrt" else "lagrange")
    m = lumped_mass(M, 2, lumping)
    limit = stable_time_step(default_case(), M, K, constrained_dofs=fixed, mass_diagonal=m)
    assert dt < limit
    integ = CentralDifferenceIntegrator(m, K, dt=dt, constrained_dofs=fixed)
    c, v_end, plateau, c_p = front_speed(lambda n, p, obs: integ.run(n, force=lambda t: F * p(t), observer=obs),
                                         V, height, dt=dt)
    print(f"\nexplicit P-wave speed ({lumping}): measured {c:.1f} m/s, exact {c_p:.1f} m/s, error {c / c_p - 1:+.2e}")
    # the same 3 % as the Newmark test (dispersion of the lumped mass shifts the front by well under 1 %)
    assert c == pytest.approx(c_p, rel=0.03)
    assert v_end == pytest.approx(plateau, rel=0.03)
    if lumping == "cjrt":  # P2's dispersion accuracy: measured -0.033 %, where HRZ is -0.42 % (fails this bound)
        assert c == pytest.approx(c_p, rel=0.002)


@pytest.mark.parametrize("lumping", ["hrz", "cjrt"])
def test_energy_balance_on_the_default_plate(lumping):
    """Undamped: kinetic + strain energy equals the external work ∫ f · du (trapezoidal in time)
    at every step, to the scheme's O(dt²) (the issue asks for 1 % over the run). CJRT at 0.3 µs
    (81 % of its 0.369 µs limit, 1000 steps, stride 5), HRZ at 0.375 µs (81 % of 0.464 µs)."""
    case = explicit_default() if lumping == "hrz" else explicit_default(
        dt_s=0.3e-6, n_steps=1000, output_stride=5, mass_lumping="cjrt")
    worst = energy_balance(PlateModel(case))
    print(f"\nexplicit energy balance on the default plate ({lumping}): max |E_kin + E_strain - W_ext| / W_ext = "
          f"{worst:.2e}")
    # central differences conserve a modified energy (½ v_{n-½}ᵀ M v_{n+½} + ½ uᵀKu); with the
    # integer-step velocity the balance holds to O((ω dt)²) of the excited modes, well under 1 %
    assert worst < 0.01


def test_explicit_agrees_with_newmark_on_the_default_plate():
    """The default plate at the nominal parameters: central differences (HRZ mass, 0.375 µs)
    against Newmark (consistent mass, 0.5 µs), both at their own resolved steps and the same
    output times. Their difference is the lumped mass's dispersion and both schemes' time
    errors (docs/schemes.md: each is within ~1 % of a mesh twice as fine)."""
    ref = PlateModel(default_case()).solve()
    sol = PlateModel(explicit_default()).solve()
    np.testing.assert_allclose(sol.time_s, ref.time_s, rtol=1e-12)
    diff = np.linalg.norm(sol.u_bc - ref.u_bc) / np.linalg.norm(ref.u_bc)
    qoi = {s.name: sol.qoi[s.name] / ref.qoi[s.name] - 1 for s in QOI_SPECS}
    print(f"\nexplicit vs Newmark, default plate: boundary history {diff:.2%} (relative L2), QoIs "
          + ", ".join(f"{k} {v:+.2%}" for k, v in qoi.items()))
    # measured 1.09 % and QoIs within 1 %: the 1.5 % bound leaves room for round-off across platforms
    # while failing on any real scheme error (a wrong mass or step shows up as > 5 %)
    assert diff < 0.015
    for name, rel in qoi.items():
        assert abs(rel) < 0.01, name


@pytest.mark.slow
def test_explicit_agrees_with_newmark_within_one_percent_on_a_resolved_mesh():
    """The issue's 1 %: on the 5 mm mesh (81k dofs), where both schemes are within 0.5 % of a
    reference (docs/schemes.md), central differences at 0.1875 µs and Newmark at 0.25 µs agree on
    the boundary history to 0.30 % and on the zone QoIs to 0.15 %."""
    c = default_case()
    g = c.geometry.model_copy(update={"element_size_m": 0.005})
    newmark = c.model_copy(update={"geometry": g, "time": c.time.model_copy(
        update={"dt_s": 0.25e-6, "n_steps": 1200, "output_stride": 6})})
    explicit = c.model_copy(update={"geometry": g, "time": c.time.model_copy(
        update={"scheme": "central-difference", "dt_s": 0.1875e-6, "n_steps": 1600, "output_stride": 8})})
    ref, sol = PlateModel(newmark).solve(), PlateModel(explicit).solve()
    diff = np.linalg.norm(sol.u_bc - ref.u_bc) / np.linalg.norm(ref.u_bc)
    qoi = {s.name: sol.qoi[s.name] / ref.qoi[s.name] - 1 for s in QOI_SPECS}
    print(f"\nexplicit vs Newmark, 5 mm mesh: boundary history {diff:.2%}, QoIs "
          + ", ".join(f"{k} {v:+.2%}" for k, v in qoi.items()))
    assert diff < 0.01
    for name, rel in qoi.items():
        assert abs(rel) < 0.01, name


def test_a_stiff_field_is_refused_and_the_campaign_step_is_advised(caplog):
    """Stiffer material raises ω_max as √(E/E₀): a uniform 4 E₀ halves the limit, so 0.375 µs is
    refused for that field (one line naming it); building the model warns that the default
    random field at +3.5 σ (E = 4.67 E₀) needs dt_s <= 0.9 × 0.464 / √4.67 µs."""
    import logging

    with caplog.at_level(logging.WARNING, logger="uqgan.fem.explicit"):
        model = PlateModel(explicit_default())
    assert "for campaigns use time.dt_s <= 1.93e-07" in caplog.text
    with pytest.raises(ConfigError, match=r"time.dt_s=3.75e-07: .* of this Young's-modulus field \(max 8.4e\+11 Pa\)"):
        model.solve(youngs_modulus=np.full(model.n_cells, 4 * E))
    caplog.clear()
    calm = explicit_default()
    no_field = calm.random_field.model_copy(update={"coefficient_of_variation": 0.0})
    calm = calm.model_copy(update={"random_field": no_field})
    with caplog.at_level(logging.WARNING, logger="uqgan.fem.explicit"):
        PlateModel(calm)
    assert "for campaigns" not in caplog.text


def test_cjrt_converges_to_newmark_under_refinement():
    """The small plate (0.4 x 0.1 m) for 120 µs: central differences with the CJRT element at 81 %
    of its limit (0.3 µs at h = 1 cm) against Newmark with the consistent P2 mass at 0.125 µs,
    at h = 1 cm and 5 mm (every step halved with h). Their boundary histories differ by the two
    discretisations' errors, which shrink at least as the time error, O(dt²) = O(h²): measured
    0.49 % -> 0.10 %, rate 2.3 (HRZ: 0.94 % -> 0.23 %)."""
    def case(h, scheme, dt):
        c = {**SMALL, "geometry": {**SMALL["geometry"], "element_size_m": h},
             "time": {"scheme": scheme, "dt_s": dt, "n_steps": round(120e-6 / dt), "output_stride": round(1.5e-6 / dt),
                      "mass_lumping": "cjrt" if scheme == "central-difference" else "hrz"}}
        return CaseConfig.model_validate(c)

    diffs = []
    for h in (0.01, 0.005):
        ref = PlateModel(case(h, "newmark", 0.125e-6 * h / 0.01)).solve()
        sol = PlateModel(case(h, "central-difference", 0.3e-6 * h / 0.01)).solve()
        diffs.append(np.linalg.norm(sol.u_bc - ref.u_bc) / np.linalg.norm(ref.u_bc))
    rate = np.log2(diffs[0] / diffs[1])
    print(f"\nCJRT vs Newmark, small plate: {diffs[0]:.3%} (1 cm), {diffs[1]:.3%} (5 mm), rate {rate:.2f}")
    assert diffs[0] < 0.01  # within the 1 % already at 1 cm on this plate (measured 0.49 %)
    assert rate > 2 - 0.15  # at least the second order of the time error, with the style guide's 0.15
