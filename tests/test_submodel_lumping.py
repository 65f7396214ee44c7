"""The chain's submodel has its own mass lumping (``[submodel] mass_lumping``, default ``"auto"``):
CJRT where the zone is P2 on triangles, HRZ elsewhere; ``time.mass_lumping`` lumps the explicit
full model only. Resolution on the mesh, the one-line refusals, and the stored cases of campaigns
made before the field existed (docs/schemes.md, "Mass lumping: HRZ or CJRT")."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _cases import SMALL

from uqgan.config import ConfigError, case_from_dict, case_from_toml, case_to_toml, default_case


def _one_line_error(data: dict) -> str:
    with pytest.raises(ConfigError) as err:
        case_from_dict(data)
    lines = str(err.value).splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def _default_with(**sections) -> dict:
    c = default_case().model_dump()
    for section, values in sections.items():
        c[section].update(values)
    return c


def test_defaults_round_trip_and_the_full_model_keeps_hrz():
    case = default_case()
    assert (case.submodel.mass_lumping, case.time.mass_lumping) == ("auto", "hrz")
    for sub in ("auto", "hrz", "cjrt"):
        c = case_from_dict(_default_with(submodel={"mass_lumping": sub}))
        assert case_from_toml(case_to_toml(c)) == c and case_from_toml(case_to_toml(c, comments=False)) == c


@pytest.mark.parametrize(("sections", "words"), [
    ({"time": {"mass_lumping": "cjrt"}},  # the default Newmark full model
     'time.mass_lumping="cjrt" has no effect with time.scheme="newmark"'),
    ({"time": {"mass_lumping": "cjrt", "scheme": "generalized-alpha"}},
     'time.mass_lumping="cjrt" has no effect with time.scheme="generalized-alpha"'),
    ({"submodel": {"mass_lumping": "cjrt", "scheme": "full-model"}},
     'submodel.mass_lumping="cjrt" has no effect with submodel.scheme="full-model"'),
    ({"submodel": {"mass_lumping": "cjrt"}, "geometry": {"degree": 1}},
     'submodel.mass_lumping="cjrt" with geometry.degree=1, geometry.dimension=2: the CJRT element is P2 on '
     'triangles; set submodel.mass_lumping = "auto" (HRZ here) or "hrz"'),
    ({"submodel": {"mass_lumping": "cjrt"}, "geometry": {"degree": 3}}, 'submodel.mass_lumping="cjrt" with '
     "geometry.degree=3"),
    ({"submodel": {"mass_lumping": "lumpy"}}, "submodel.mass_lumping='lumpy': Input should be 'auto', 'hrz' or "
     "'cjrt'"),
])
def test_a_lumping_that_cannot_apply_is_one_line(sections, words):
    assert words in _one_line_error(_default_with(**sections))


def test_cjrt_submodel_on_a_3d_mesh_case_is_refused_at_config_time(tmp_path):
    text = f'''
[geometry]
dimension = 3
mesh = "{tmp_path / 'box.msh'}"
[geometry.tags]
zone = "zone"
clamped = "clamped"
loaded = "loaded"
[load]
origin_m = [0.0, 0.0, 0.1]
direction = [1.0, 0.0, 0.0]
[submodel]
mass_lumping = "cjrt"
'''
    with pytest.raises(ConfigError) as err:
        case_from_toml(text)
    assert len(str(err.value).splitlines()) == 1
    assert 'submodel.mass_lumping="cjrt" with geometry.degree=2, geometry.dimension=3' in str(err.value)


def test_a_campaign_stored_before_the_field_resumes(tmp_path):
    """A campaign's manifest stores the case as TOML; one written before ``submodel.mass_lumping``
    existed parses with the default and compares equal, so the campaign resumes (no CampaignError)."""
    from uqgan.data.campaign import MANIFEST, _check_manifest
    from uqgan.data.design import design_from_case

    case = default_case()
    design = design_from_case(case, n_samples=4, replicates=1, seed=0)
    _check_manifest(tmp_path, case, design)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    old = [line for line in manifest["case_toml"].splitlines() if not line.startswith('mass_lumping = "auto"')]
    assert len(old) == len(manifest["case_toml"].splitlines()) - 1  # the [submodel] line, and only it, is gone
    manifest["case_toml"] = "\n".join(old) + "\n"
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    assert case_from_toml(manifest["case_toml"]) == case
    _check_manifest(tmp_path, case, design)  # raises CampaignError for another case


dolfinx = pytest.importorskip("dolfinx")


@pytest.mark.fenicsx
def test_auto_is_cjrt_on_the_default_case_and_the_full_model_stays_p2():
    """The default case (P2 triangles, Newmark full model): the chain's zone is the CJRT space
    (each zone cell adds a centroid node: 200 cells of the 1 cm mesh in the 0.1 x 0.08 m zone), the
    same 72 boundary nodes; its lumped mass is the row sums (CJRT) and its stable step that of the
    CJRT free block (measured 0.757x HRZ's on this zone)."""
    from uqgan.fem.explicit import space_element
    from uqgan.fem.submodel import SubModel

    case = default_case()
    assert space_element(case) == "lagrange"  # the full model
    auto = SubModel(case)
    hrz = SubModel(case.model_copy(update={"submodel": case.submodel.model_copy(update={"mass_lumping": "hrz"})}))
    assert (auto.mass_lumping, auto.zone.space.element) == ("cjrt", "cjrt")
    assert (hrz.mass_lumping, hrz.zone.space.element) == ("hrz", "lagrange")
    assert auto.n_dofs == hrz.n_dofs + 2 * auto.zone.cells.size
    np.testing.assert_allclose(auto.boundary_coords, hrz.boundary_coords, atol=1e-12)
    np.testing.assert_allclose(auto._mass_diagonal, np.asarray(auto.M.sum(axis=1)).ravel(), rtol=1e-12)
    # the zone's limit is 2/ω_max of the CJRT free block with the row-sum mass (ARPACK agrees with the
    # Lanczos estimate to its 1e-6 tolerance); below HRZ's: the heavy centroid adds high frequencies
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    m = auto._mass_diagonal
    free = np.setdiff1d(np.arange(m.size), auto.constrained_dofs)
    d = sp.diags(1 / np.sqrt(m[free]))
    lam = spla.eigsh((d @ auto.K[free][:, free] @ d).tocsc(), k=1, which="LA", return_eigenvectors=False)[0]
    assert auto.stable_time_step_s == pytest.approx(2 / np.sqrt(lam), rel=1e-6)
    print(f"\nzone stable step: CJRT {auto.stable_time_step_s:.4g} s, HRZ {hrz.stable_time_step_s:.4g} s")
    assert auto.stable_time_step_s < hrz.stable_time_step_s
    assert SubModel(case, scheme="full-model").mass_lumping is None


@pytest.mark.fenicsx
def test_auto_is_hrz_on_p1():
    from uqgan.fem.submodel import SubModel

    case = case_from_dict({**SMALL, "geometry": {**SMALL["geometry"], "degree": 1}})
    sub = SubModel(case)
    assert (case.submodel.mass_lumping, sub.mass_lumping, sub.zone.space.element) == ("auto", "hrz", "lagrange")


@pytest.mark.fenicsx
def test_auto_is_hrz_on_tetrahedra(tmp_path):
    from _meshes import box_mesh

    from uqgan.fem.submodel import SubModel

    path = box_mesh(tmp_path / "tet.msh", n=(10, 3, 3), size=(0.2, 0.06, 0.06),
                    zone=((0.06, 0.14), (0.019, 0.041), (0.019, 0.041)))
    case = case_from_dict({
        "name": "box", "geometry": {"mesh": str(path), "dimension": 3, "degree": 2, "element_size_m": 0.01,
                                    "tags": {"zone": "zone", "clamped": "clamped", "loaded": "loaded"}},
        "load": {"footprint_width_m": 0.04, "origin_m": [0.0, 0.03, 0.06], "direction": [1.0, 0.0, 0.0]},
        "time": {"dt_s": 1e-6, "n_steps": 40, "output_stride": 1},
        "parameters": {"load_position": {"low": 0.05, "high": 0.15, "nominal": 0.1}},
        "random_field": {"coefficient_of_variation": 0.0}})
    sub = SubModel(case)
    assert (sub.mass_lumping, sub.zone.space.element) == ("hrz", "lagrange")
