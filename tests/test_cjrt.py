"""The mass-lumped CJRT element (P2 plus bubble, nodal on 7 points): the element, its lumped mass,
its dof layout in dolfinx, the case option ``time.mass_lumping = "cjrt"`` and its errors.

Known answers: the 7-point rule ``|T| (3/60, 8/60, 27/60)`` is exact for P3 (Cohen, Joly,
Roberts & Tordjman 2001, SIAM J. Numer. Anal. 38:2047, §3); the element's nodal basis makes the
row sums of its consistent mass equal that rule. The scheme-level checks (submodel exactness,
energy balance, P-wave speed, agreement with Newmark) are in tests/test_fem_explicit.py,
parametrised over the lumping, and MPI in tests/test_mpi.py; the chain's submodel has its own
lumping (``submodel.mass_lumping``, CJRT by default on P2 triangles): tests/test_submodel_lumping.py.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("dolfinx")

from uqgan.config import CaseConfig, ConfigError, case_from_toml, case_to_toml, default_case  # noqa: E402
from uqgan.fem import PlateModel  # noqa: E402
from uqgan.fem import _dolfinx as fem  # noqa: E402
from uqgan.fem._cjrt import CJRT_WEIGHTS, NODES, cjrt_element  # noqa: E402
from uqgan.physics.explicit import lumped_mass  # noqa: E402

pytestmark = pytest.mark.fenicsx

RHO = 7850.0
#: the 7 weights on the reference triangle (area 1/2), in NODES' order
REFERENCE_WEIGHTS = 0.5 * np.array([CJRT_WEIGHTS[0]] * 3 + [CJRT_WEIGHTS[1]] * 3 + [CJRT_WEIGHTS[2]])


def _monomial_integral(p: int, q: int) -> float:
    """∫ x^p y^q over the reference triangle = p! q! / (p + q + 2)!."""
    from math import factorial

    return factorial(p) * factorial(q) / factorial(p + q + 2)


def test_the_seven_point_rule_is_exact_for_cubics_and_not_for_quartics():
    """Σ wᵢ f(xᵢ) = ∫ f for every monomial of degree ≤ 3 (to round-off), not for x⁴ (so the check
    can fail): the rule of CJRT 2001, eq. 3.3."""
    for p, q in itertools.product(range(4), range(4)):
        if p + q <= 3:
            rule = REFERENCE_WEIGHTS @ (NODES[:, 0] ** p * NODES[:, 1] ** q)
            assert rule == pytest.approx(_monomial_integral(p, q), rel=1e-14, abs=1e-16), (p, q)
    assert REFERENCE_WEIGHTS @ NODES[:, 0] ** 4 != pytest.approx(_monomial_integral(4, 0), rel=1e-3)


def test_the_element_is_nodal_on_seven_points_and_spans_p2_plus_the_bubble():
    """φⱼ(xᵢ) = δᵢⱼ; ∫ φᵢ = wᵢ (a degree-6 Gauss rule is exact on these cubics); the basis
    reproduces x², xy and the bubble λ₁λ₂λ₃ from their nodal values (the space contains them); one
    dof per vertex, per edge and in the interior."""
    import basix

    e = cjrt_element()
    assert e.dim == 7
    assert [len(d) for d in e.entity_dofs[0]] == [1, 1, 1]
    assert [len(d) for d in e.entity_dofs[1]] == [1, 1, 1]
    assert [len(d) for d in e.entity_dofs[2]] == [1]
    np.testing.assert_allclose(e.points, NODES, atol=1e-15)
    # round-off of the orthonormal-basis projection and the inversion of the 7x7 dual matrix
    np.testing.assert_allclose(e.tabulate(0, NODES)[0, :, :, 0], np.eye(7), atol=1e-12)
    pts, wts = basix.make_quadrature(basix.CellType.triangle, 6)
    phi = e.tabulate(0, pts)[0, :, :, 0]  # (n_pts, 7)
    np.testing.assert_allclose(wts @ phi, REFERENCE_WEIGHTS, rtol=1e-12)
    x, y = pts[:, 0], pts[:, 1]
    for f in (lambda x, y: x * x, lambda x, y: x * y, lambda x, y: x * y * (1 - x - y)):
        np.testing.assert_allclose(phi @ f(NODES[:, 0], NODES[:, 1]), f(x, y), atol=1e-12)


def _uniform_space(nx=4, ny=2, length=0.2, height=0.1):
    mesh = fem.rectangle_mesh(length, height, nx, ny)
    return mesh, fem.vector_space(mesh, 2, "cjrt")


def test_row_sums_of_the_consistent_mass_are_the_quadrature_and_integrate_cubics():
    """On a 4 x 2 mesh of right triangles (cell area |T| = 1.25e-3 m²) the row sums are
    ρ|T| × (3/60 × cells at a vertex, 8/60 × cells at an edge, 27/60 at a centroid), all > 0,
    summing to ρ × area per component; and Σ mᵢ f(xᵢ) = ρ ∫ f for a cubic f (the rule is exact on
    P3 cell by cell). HRZ on P2 (the other lumping) does not integrate the cubic exactly."""
    mesh, V = _uniform_space()
    M = fem.Assembler(V, density_kg_m3=RHO, poisson_ratio=0.3).mass()
    m = lumped_mass(M, 2, "cjrt")
    assert np.all(m > 0)
    assert m[0::2].sum() == pytest.approx(RHO * 0.02, rel=1e-13)
    np.testing.assert_allclose(m[0::2], m[1::2], rtol=0, atol=0)  # one scalar mass per node
    cell = RHO * 0.5 * 0.05 * 0.05
    x = V.node_coords
    interior_vertex = np.flatnonzero(np.hypot(x[:, 0] - 0.1, x[:, 1] - 0.05) < 1e-9)[0]
    assert m[2 * interior_vertex] == pytest.approx(6 * 3 / 60 * cell, rel=1e-12)  # 6 cells meet there
    c0 = fem.cell_midpoints(mesh)[0, :2]
    centroid = np.flatnonzero(np.hypot(*(x - c0).T) < 1e-9)[0]
    assert m[2 * centroid] == pytest.approx(27 / 60 * cell, rel=1e-12)
    f = x[:, 0] ** 3 + 2 * x[:, 0] * x[:, 1] ** 2 - x[:, 1] ** 3 + x[:, 1]
    exact = RHO * (0.2**4 / 4 * 0.1 + 2 * 0.2**2 / 2 * 0.1**3 / 3 - 0.2 * 0.1**4 / 4 + 0.2 * 0.1**2 / 2)
    assert m[0::2] @ f == pytest.approx(exact, rel=1e-13)
    V2 = fem.vector_space(mesh, 2)
    m2 = lumped_mass(fem.Assembler(V2, density_kg_m3=RHO, poisson_ratio=0.3).mass(), 2)
    x2 = V2.node_coords
    f2 = x2[:, 0] ** 3 + 2 * x2[:, 0] * x2[:, 1] ** 2 - x2[:, 1] ** 3 + x2[:, 1]
    assert abs(m2[0::2] @ f2 / exact - 1) > 1e-4  # measured 5.6e-4, against 1e-13 above


def test_dof_layout_boundary_nodes_are_p2s_and_the_bubble_is_interior():
    """Nodes = vertices + edge midpoints + centroids (15 + 30 + 16 on the 4 x 2 mesh); the nodes on
    the boundary facets are the P2 boundary nodes (vertices and midpoints, 2 per facet), none a
    centroid; the first nodes' coordinates coincide with the P2 space's as sets."""
    mesh, V = _uniform_space()
    assert V.n_nodes == 15 + 30 + 16
    facets = fem.boundary_facets(mesh, lambda x: np.full(x.shape[1], True))
    nodes = fem.nodes_on_facets(V, facets)
    assert nodes.size == 2 * facets.size
    V2 = fem.vector_space(mesh, 2)
    p2_boundary = V2.node_coords[fem.nodes_on_facets(V2, facets)]
    key = lambda a: np.round(a, 12)[np.lexsort(np.round(a, 12).T)]  # noqa: E731
    np.testing.assert_allclose(key(V.node_coords[nodes]), key(p2_boundary), atol=1e-12)
    p2_nodes = {tuple(p) for p in np.round(V2.node_coords, 12)}
    extra = [p for p in np.round(V.node_coords, 12) if tuple(p) not in p2_nodes]
    np.testing.assert_allclose(np.sort(np.array(extra), axis=0),
                               np.sort(fem.cell_midpoints(mesh)[:, :2], axis=0), atol=1e-12)


def test_paraview_output_interpolates_to_p1(tmp_path):
    """write_xdmf interpolates into P1: the vertex values of a CJRT field are its vertex dofs."""
    h5py = pytest.importorskip("h5py")
    mesh, V = _uniform_space()
    u = np.random.default_rng(0).standard_normal(V.n_dofs)
    path = fem.write_xdmf(V, tmp_path / "f.xdmf", np.array([0.0]), u[None])
    with h5py.File(path.with_suffix(".h5")) as f:
        geo = f["Mesh/mesh/geometry"][:, :2]
        vals = f["Function/displacement/0"][:, :2]
    idx = [int(np.argmin(np.hypot(*(V.node_coords - p).T))) for p in geo]
    np.testing.assert_allclose(vals, u.reshape(-1, 2)[idx], rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------------------------------------
# the case option


def _case(**time) -> dict:
    c = default_case().model_dump()
    c["time"].update(time)
    return c


def test_mass_lumping_round_trips_and_defaults_to_hrz():
    assert default_case().time.mass_lumping == "hrz"
    case = CaseConfig.model_validate(_case(scheme="central-difference", dt_s=0.3e-6, mass_lumping="cjrt"))
    assert case_from_toml(case_to_toml(case)) == case


@pytest.mark.parametrize(("change", "words"), [
    ({"time": {"mass_lumping": "cjrt"}},  # Newmark: it lumps the explicit full model only, whatever the chain
     'time.mass_lumping="cjrt" has no effect with time.scheme="newmark"'),
    ({"time": {"mass_lumping": "cjrt", "scheme": "central-difference"}, "geometry": {"degree": 1}},
     'time.mass_lumping="cjrt" with geometry.degree=1'),
    ({"time": {"mass_lumping": "lumpy"}}, "time.mass_lumping='lumpy': Input should be 'hrz' or 'cjrt'"),
])
def test_a_bad_mass_lumping_is_one_line(change, words):
    c = default_case().model_dump()
    for section, values in change.items():
        c[section].update(values)
    from uqgan.config import case_from_dict

    with pytest.raises(ConfigError) as err:
        case_from_dict(c)
    lines = str(err.value).splitlines()
    assert len(lines) == 1 and words in lines[0], lines


def test_cjrt_on_a_3d_mesh_case_is_refused(tmp_path):
    text = f'''
[geometry]
dimension = 3
mesh = "{tmp_path / 'box.msh'}"
element_size_m = 0.01
degree = 2
[geometry.tags]
zone = "zone"
clamped = "clamped"
loaded = "loaded"
[load]
origin_m = [0.0, 0.0, 0.1]
direction = [1.0, 0.0, 0.0]
[time]
scheme = "central-difference"
mass_lumping = "cjrt"
'''
    with pytest.raises(ConfigError) as err:
        case_from_toml(text)
    assert len(str(err.value).splitlines()) == 1
    assert "geometry.dimension=3: the CJRT element is P2 on triangles" in str(err.value)


def test_the_full_model_uses_the_cjrt_space_and_its_stable_step_is_lower():
    """The default plate with mass_lumping = "cjrt": 1.49x the dofs (one bubble node per cell:
    20502 + 2 x 5000), the same 72 boundary nodes at the same places, and a stable step 0.795x
    HRZ's (0.3688 vs 0.4638 µs; the heavy centroid adds high frequencies)."""
    hrz = PlateModel(CaseConfig.model_validate(_case(scheme="central-difference", dt_s=0.3e-6, n_steps=2)))
    cjrt = PlateModel(CaseConfig.model_validate(_case(scheme="central-difference", dt_s=0.3e-6, n_steps=2,
                                                      mass_lumping="cjrt")))
    assert cjrt.space.element == "cjrt" and cjrt.zone.space.element == "cjrt"
    assert cjrt.n_dofs == hrz.n_dofs + 2 * hrz.n_cells
    np.testing.assert_allclose(cjrt.zone.boundary_coords, hrz.zone.boundary_coords, atol=1e-12)
    ratio = cjrt.stable_time_step_s / hrz.stable_time_step_s
    print(f"\nstable step: CJRT {cjrt.stable_time_step_s:.5g} s, HRZ {hrz.stable_time_step_s:.5g} s, ratio {ratio:.4f}")
    # Lanczos to 1e-6; the measured ratio 0.7951 is a property of the mesh, kept to 1e-3
    assert ratio == pytest.approx(0.7951, abs=1e-3)
