"""Tagged mesh files as the structure: the same plate from a file equals the built-in one, and bad
meshes get one clear line each (uqgan.fem._mesh, uqgan.fem.model.build_structure)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from _cases import TINY

from uqgan.config import CaseConfig, ConfigError, case_from_dict
from uqgan.fem._mesh import MeshError, read_tagged_mesh, write_tagged_mesh

dolfinx = pytest.importorskip("dolfinx")

pytestmark = pytest.mark.fenicsx


def builtin_case():
    return CaseConfig.model_validate(TINY)


def mesh_case(path, **tags):
    """The TINY plate read from ``path``: same material, time, parameters; load on the top edge."""
    data = {**TINY, "geometry": {**TINY["geometry"], "mesh": str(path),
                                 "tags": {"zone": "zone", "clamped": "clamped", "loaded": "loaded", **tags}},
            "load": {"footprint_width_m": 0.05, "origin_m": [0.0, 0.1], "direction": [1.0, 0.0]}}
    return CaseConfig.model_validate(data)


def smooth_modulus(midpoints):
    """A smooth Young's-modulus field of position [Pa], so both meshes get the same material per cell."""
    x, y = midpoints[:, 0], midpoints[:, 1]
    return 210e9 * (1.0 + 0.3 * np.sin(7.0 * x) * np.cos(11.0 * y))


@pytest.fixture(scope="module")
def plate_files(tmp_path_factory):
    from uqgan.fem.model import write_plate_mesh

    d = tmp_path_factory.mktemp("plate")
    case = builtin_case()
    files = {fmt: write_plate_mesh(case, d / f"plate_{fmt}.{'xdmf' if fmt == 'xdmf' else 'msh'}", file_format=fmt)
             for fmt in ("gmsh22", "xdmf")}
    try:  # msh 4.1 is written by gmsh itself (meshio's 4.1 writer needs gmsh's entities)
        files["gmsh"] = write_plate_mesh(case, d / "plate_gmsh.msh", file_format="gmsh")
    except ImportError:
        pass
    return files


@pytest.mark.parametrize("fmt", ["gmsh22", "gmsh", "xdmf"])
def test_mesh_file_plate_equals_builtin_plate(plate_files, fmt):
    """Known answer: the built-in plate written as a tagged file (msh 2.2, msh 4.1 by gmsh, XDMF)
    and read back is the same discrete problem, so the boundary history and the zone QoIs agree.

    Tolerance 1e-12 relative: dolfinx numbers the cells and dofs of the two meshes differently, so
    the sparse LU eliminates in another order; the round-off of 40 Newmark steps on a well-conditioned
    902-dof system stays ~1e-14 (measured 1e-14..1e-13), the load's footprint formula (distance to a
    point vs. distance along x on the edge y = H) differs by round-off only.
    """
    from uqgan.fem import PlateModel
    from uqgan.fem.model import match_nodes

    if fmt not in plate_files:
        pytest.skip("gmsh (Debian python3-gmsh) is needed to write msh 4.1")
    tags = {"zone": 1, "clamped": 3, "loaded": 4} if fmt == "xdmf" else {}
    ref_model, file_model = PlateModel(builtin_case()), PlateModel(mesh_case(plate_files[fmt], **tags))
    assert file_model.n_dofs == ref_model.n_dofs
    params = {"load_amplitude": 1e6, "load_duration": 2e-5, "load_position": 0.17}
    ref = ref_model.solve(params, youngs_modulus=smooth_modulus(ref_model.cell_midpoints))
    got = file_model.solve(params, youngs_modulus=smooth_modulus(file_model.cell_midpoints))
    idx = match_nodes(ref_model.zone.boundary_coords, file_model.zone.boundary_coords, 1e-9)
    assert idx.size == ref_model.zone.boundary_nodes.size
    scale = np.abs(ref.u_bc).max()
    assert np.abs(got.u_bc[:, idx] - ref.u_bc).max() < 1e-12 * scale
    for name, value in ref.qoi.items():
        assert got.qoi[name] == pytest.approx(value, rel=1e-12)
    assert file_model.zone.area_fraction == pytest.approx(ref_model.zone.area_fraction, rel=1e-12)


def test_relative_mesh_path_resolves_against_the_case_file(plate_files, tmp_path):
    from uqgan.config import case_to_toml, load_case

    case = mesh_case(plate_files["gmsh22"])
    target = tmp_path / "sub"
    target.mkdir()
    (target / "plate.msh").write_bytes(plate_files["gmsh22"].read_bytes())
    text = case_to_toml(case).replace(str(plate_files["gmsh22"]), "plate.msh")
    (target / "case.toml").write_text(text)
    assert load_case(target / "case.toml").geometry.mesh == str((target / "plate.msh").resolve())


def test_mesh_case_round_trips_through_toml(plate_files):
    from uqgan.config import case_from_toml, case_to_toml

    case = mesh_case(plate_files["gmsh22"], clamped=["clamped", 3], zone=1)
    assert case_from_toml(case_to_toml(case)) == case


# ------------------------------------------------------------------------------------------------
# bad meshes: one line each


def _plate_arrays(nx=10, ny=4, length=0.4, height=0.1):
    """A structured triangle plate ``[0, L] x [0, H]`` (nx x ny squares, each cut in two)."""
    xs, ys = np.linspace(0, length, nx + 1), np.linspace(0, height, ny + 1)
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    pts = np.column_stack([X.ravel(), Y.ravel()])

    def v(i, j):
        return i * (ny + 1) + j

    tris = []
    for i in range(nx):
        for j in range(ny):
            tris += [[v(i, j), v(i + 1, j), v(i + 1, j + 1)], [v(i, j), v(i + 1, j + 1), v(i, j + 1)]]
    bottom = np.array([[v(i, 0), v(i + 1, 0)] for i in range(nx)])
    top = np.array([[v(i, ny), v(i + 1, ny)] for i in range(nx)])
    return pts, np.array(tris), bottom, top


def _write(tmp_path, zone_cells, *, pts=None, tris=None, name="m.msh"):
    p, t, bottom, top = _plate_arrays()
    p = p if pts is None else pts
    t = t if tris is None else tris
    tags = np.full(len(t), 2)
    tags[zone_cells] = 1
    return write_tagged_mesh(tmp_path / name, p, "triangle", t, tags, {"clamped": (3, bottom), "loaded": (4, top)},
                             {"zone": 1, "plate": 2})


def _zone_in_middle():
    # squares (i, j) with i in 4..5, j in 1..2: cells 2 * (i * ny + j) + {0, 1}
    return [2 * (i * 4 + j) + k for i in (4, 5) for j in (1, 2) for k in (0, 1)]


def _build(path, **tags):
    from uqgan.fem.model import build_structure

    return build_structure(mesh_case(path, **tags))


def test_good_small_mesh_builds(tmp_path):
    st = _build(_write(tmp_path, _zone_in_middle()))
    assert st.zone_cells.size == 8
    assert st.zone_fraction == pytest.approx(8 / 80, rel=1e-12)


def test_missing_tag_names_the_tags_the_file_has(tmp_path):
    path = _write(tmp_path, _zone_in_middle())
    with pytest.raises(MeshError, match=r"geometry.tags.zone='hole'.*no such physical group; it has: clamped "
                                        r"\(facets, 3\), loaded \(facets, 4\), plate \(cells, 2\), zone \(cells, 1\)"):
        _build(path, zone="hole")
    with pytest.raises(MeshError, match=r"geometry.tags.clamped=7: .*no facets in physical group 7"):
        _build(path, clamped=7)
    with pytest.raises(MeshError, match=r"geometry.tags.loaded='zone' is a group of dimension 2 \(cells\)"):
        _build(path, loaded="zone")


def test_zone_touching_supports_or_loads_is_an_error(tmp_path):
    with pytest.raises(MeshError, match="zone touches the clamped facets"):
        _build(_write(tmp_path, [0, 1, 2, 3]))  # squares (0, 0), (0, 1): on the bottom edge
    with pytest.raises(MeshError, match="zone touches the loaded facets"):
        _build(_write(tmp_path, [2 * (4 * 4 + 3), 2 * (4 * 4 + 3) + 1]))  # square (4, 3): on the top edge


def test_empty_disconnected_and_whole_zones_are_errors(tmp_path):
    with pytest.raises(MeshError, match="physical group 1 holds no cells"):
        _build(_write(tmp_path, []))
    with pytest.raises(MeshError, match="form 2 separate pieces"):
        _build(_write(tmp_path, [2 * (2 * 4 + 1), 2 * (7 * 4 + 1)]))
    with pytest.raises(MeshError, match="the zone is the whole mesh"):
        read = read_tagged_mesh(_write(tmp_path, list(range(80))), dimension=2)
        from uqgan.fem._mesh import check_zone

        check_zone(read, {"zone": np.array([1]), "clamped": np.array([3]), "loaded": np.array([4])})


def test_inverted_degenerate_and_nonmanifold_cells(tmp_path):
    pts, tris, _, _ = _plate_arrays()
    folded = pts.copy()
    folded[2 * 5 + 2] = [0.135, 0.055]  # vertex (2, 2) at (0.08, 0.05) pushed past (3, 2) at (0.12, 0.05): folds
    with pytest.raises(MeshError, match="inverted or folded cells"):
        read_tagged_mesh(_write(tmp_path, _zone_in_middle(), pts=folded), dimension=2)
    flat = pts.copy()
    flat[2 * 5 + 2] = pts[2 * 5 + 1]  # vertex (2, 2) onto vertex (2, 1): the triangles between them collapse
    with pytest.raises(MeshError, match="is degenerate"):
        read_tagged_mesh(_write(tmp_path, _zone_in_middle(), pts=flat), dimension=2)
    dup = np.vstack([tris, tris[:1], tris[:1]])
    with pytest.raises(MeshError, match="non-manifold"):
        read_tagged_mesh(_write(tmp_path, _zone_in_middle(), tris=dup), dimension=2)


def test_dimension_mismatch_and_second_order_cells(tmp_path):
    import meshio

    pts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1.0]])
    meshio.write(tmp_path / "tet.msh", meshio.Mesh(pts, [("tetra", np.array([[0, 1, 2, 3]]))]),
                 file_format="gmsh22", binary=False)
    with pytest.raises(MeshError, match=r"is a 3-D \(tetrahedra/hexahedra\) mesh but geometry.dimension=2: set "
                                        r"geometry.dimension = 3"):
        read_tagged_mesh(tmp_path / "tet.msh", dimension=2)
    p6 = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0.5, 0, 0], [0.5, 0.5, 0], [0, 0.5, 0.0]])
    meshio.write(tmp_path / "t6.msh", meshio.Mesh(p6, [("triangle6", np.array([[0, 1, 2, 3, 4, 5]]))]),
                 file_format="gmsh22", binary=False)
    with pytest.raises(MeshError, match="second-order geometry cells"):
        read_tagged_mesh(tmp_path / "t6.msh", dimension=2)
    with pytest.raises(MeshError, match="no such file"):
        read_tagged_mesh(tmp_path / "nope.msh", dimension=2)


def test_unit_slip_warns(tmp_path, caplog):
    pts, tris, bottom, top = _plate_arrays()
    tags = np.full(len(tris), 2)
    write_tagged_mesh(tmp_path / "mm.msh", pts * 1000, "triangle", tris, tags, {"clamped": (3, bottom)}, {"p": 2})
    with caplog.at_level(logging.WARNING, logger="uqgan.fem._mesh"):
        read_tagged_mesh(tmp_path / "mm.msh", dimension=2)
    assert "spans 400 m" in caplog.text and "millimetres" in caplog.text
    caplog.clear()
    write_tagged_mesh(tmp_path / "um.msh", pts * 1e-4, "triangle", tris, tags, {"clamped": (3, bottom)}, {"p": 2})
    with caplog.at_level(logging.WARNING, logger="uqgan.fem._mesh"):
        read_tagged_mesh(tmp_path / "um.msh", dimension=2)
    assert "spans only 4e-05 m" in caplog.text


def test_mesh_errors_are_config_errors_with_one_line(tmp_path):
    with pytest.raises(ConfigError) as info:
        _build(_write(tmp_path, _zone_in_middle()), zone="nope")
    assert "\n" not in str(info.value)


def test_case_needs_mesh_and_tags_together_and_a_load_origin():
    base = {**TINY, "geometry": {**TINY["geometry"], "mesh": "x.msh"}}
    with pytest.raises(ConfigError, match="mesh and \\[geometry.tags\\] go together"):
        case_from_dict(base)
    data = {**TINY, "geometry": {**TINY["geometry"], "mesh": "x.msh",
                                 "tags": {"zone": "z", "clamped": "c", "loaded": "l"}}}
    with pytest.raises(ConfigError, match="needs load.origin_m and load.direction"):
        case_from_dict(data)
    data["load"] = {"origin_m": [0, 0, 0], "direction": [1, 0, 0]}
    with pytest.raises(ConfigError, match="has 3 coordinates: give 2"):
        case_from_dict(data)


def test_quadrilateral_plate_submodel_reproduces_its_zone(tmp_path):
    """A 2-D plate of quadrilaterals (plane strain, Q2): the submodel fed the full model's own
    boundary history at every step gives the zone QoIs to 1e-9 (the same rows of the same matrices;
    measured ~1e-15)."""
    from uqgan.fem import PlateModel
    from uqgan.fem.submodel import SubModel

    nx, ny, L, H = 20, 5, 0.4, 0.1
    xs, ys = np.linspace(0, L, nx + 1), np.linspace(0, H, ny + 1)
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    pts = np.column_stack([X.ravel(), Y.ravel()])

    def v(i, j):
        return i * (ny + 1) + j

    quads = np.array([[v(i, j), v(i + 1, j), v(i + 1, j + 1), v(i, j + 1)] for i in range(nx) for j in range(ny)])
    mid = pts[quads].mean(axis=1)
    tags = np.where((mid[:, 0] > 0.16) & (mid[:, 0] < 0.24) & (mid[:, 1] > 0.02) & (mid[:, 1] < 0.08), 1, 2)
    bottom = np.array([[v(i, 0), v(i + 1, 0)] for i in range(nx)])
    top = np.array([[v(i, ny), v(i + 1, ny)] for i in range(nx)])
    path = write_tagged_mesh(tmp_path / "quads.msh", pts, "quad", quads, tags,
                             {"clamped": (3, bottom), "loaded": (4, top)}, {"zone": 1, "plate": 2})
    case = mesh_case(path)
    case = case.model_copy(update={"time": case.time.model_copy(update={"output_stride": 1})})
    model = PlateModel(case)
    assert model.zone.cells.size == 12 and model.zone.area_fraction == pytest.approx(12 / 100, rel=1e-12)
    E = smooth_modulus(model.cell_midpoints)
    E[model.zone.cells] = case.material.youngs_modulus_pa  # the zone keeps the nominal material
    sol = model.solve(youngs_modulus=E)
    res = SubModel(case, scheme="full-model").solve(sol.u_bc, sol.time_s)  # exact on its own history
    for name, value in sol.qoi.items():
        assert res[name][0] == pytest.approx(value, rel=1e-9)
    # the CJRT element is a triangle: on quadrilaterals the model refuses it in one line naming the field
    cjrt = case.model_copy(update={"time": case.time.model_copy(update={"scheme": "central-difference",
                                                                        "mass_lumping": "cjrt"})})
    with pytest.raises(ValueError) as err:
        PlateModel(cjrt)
    assert str(err.value).startswith("time.mass_lumping='cjrt': the CJRT element is P2 on triangles, this mesh has "
                                     "quadrilateral cells") and "\n" not in str(err.value)
    # the chain's submodel: "auto" is HRZ on quadrilaterals, and "cjrt" (known only once the mesh is read) is
    # refused when the submodel is built, in one line naming its field
    assert SubModel(case).mass_lumping == "hrz"
    sub_cjrt = case.model_copy(update={"submodel": case.submodel.model_copy(update={"mass_lumping": "cjrt"})})
    with pytest.raises(ConfigError) as err:
        SubModel(sub_cjrt)
    assert str(err.value) == ('submodel.mass_lumping="cjrt": the CJRT element is P2 on triangles, this mesh has '
                              'quadrilateral cells; set submodel.mass_lumping = "auto" (HRZ here) or "hrz"')


def _box_case(path, tags=None, position=(0.05, 0.15)):
    return CaseConfig.model_validate({
        "geometry": {"mesh": str(path), "dimension": 3, "tags": tags or {}},
        "load": {"origin_m": [0.0, 0.025, 0.05], "direction": [1.0, 0.0, 0.0], "footprint_width_m": 0.03},
        "parameters": {"load_position": {"low": position[0], "high": position[1]}}})


def test_3d_xdmf_and_msh_give_the_same_structure(tmp_path):
    """The same tagged box written as msh 2.2 (names) and XDMF (numbers only) builds the same zone."""
    from _meshes import box_mesh

    from uqgan.fem.model import build_structure

    zone = ((0.08, 0.12), (0.01, 0.04), (0.01, 0.04))
    a = build_structure(_box_case(box_mesh(tmp_path / "b.msh", zone=zone)))
    b = build_structure(_box_case(box_mesh(tmp_path / "b.xdmf", zone=zone, file_format="xdmf"),
                                  tags={"zone": 1, "clamped": 3, "loaded": 4}))
    assert a.zone_cells.size == b.zone_cells.size == 6 * 4 * 3 * 3
    assert a.zone_fraction == pytest.approx(b.zone_fraction, rel=1e-12)
    assert a.zone_fraction == pytest.approx(0.04 * 0.03 * 0.03 / (0.2 * 0.05 * 0.05), rel=1e-12)
    assert a.loaded_facets.size == b.loaded_facets.size == 2 * 20 * 5


def test_footprint_off_the_loaded_facets_is_an_error(tmp_path):
    from _meshes import box_mesh

    from uqgan.fem.model import build_structure

    path = box_mesh(tmp_path / "b.msh", zone=((0.08, 0.12), (0.01, 0.04), (0.01, 0.04)))
    with pytest.raises(MeshError, match=r"parameters.load_position=0.4: the load footprint centred at \(0.4, "
                                        r"0.025, 0.05\) m misses the loaded facets"):
        build_structure(_box_case(path, position=(0.05, 0.4)))
