"""The submodel: exact when fed the full model's own boundary history, and its error handling."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dolfinx")

import xarray as xr  # noqa: E402
from _cases import SMALL as _SMALL  # noqa: E402
from _cases import full_runs  # noqa: E402

from uqgan.config import CaseConfig  # noqa: E402
from uqgan.fem.submodel import SubModel, SubmodelError, solve_submodel  # noqa: E402
from uqgan.physics.qoi import QOI_SPECS  # noqa: E402

pytestmark = pytest.mark.fenicsx

SMALL = {
    **_SMALL,
    "time": {**_SMALL["time"], "output_stride": 1},
    # the full model's scheme and step: what reproduces the full model to round-off (these tests);
    # the chain's default central-difference submodel is tested in tests/test_submodel_explicit.py
    "submodel": {"scheme": "full-model"},
}


def small_case(**geometry_zone):
    data = {**SMALL, "geometry": {**SMALL["geometry"], "zone": {**SMALL["geometry"]["zone"], **geometry_zone}}}
    return CaseConfig.model_validate(data)


@pytest.mark.parametrize("hole_radius_m", [0.0, 0.012])
def test_submodel_reproduces_the_full_model(hole_radius_m):
    """Driven by the full model's own history at every step, the submodel reproduces the zone
    displacement and every zone QoI to round-off; the issue asks for 1e-6, we see ~1e-13."""
    case = small_case(hole_radius_m=hole_radius_m)
    model, sols = full_runs(case, 3)
    sub = SubModel(case)
    u_bc = np.stack([s.u_bc for s in sols])
    res = sub.solve(u_bc, sols[0].time_s, node_x=model.zone.boundary_coords[:, 0],
                    node_y=model.zone.boundary_coords[:, 1], keep_zone_history=True, batch_size=2)
    for i, sol in enumerate(sols):
        scale = np.abs(sol.u_zone).max()
        assert scale > 0
        np.testing.assert_allclose(res["u_zone"][i], sol.u_zone, rtol=0, atol=1e-9 * scale)
        for s in QOI_SPECS:
            assert res[s.name][i] == pytest.approx(sol.qoi[s.name], rel=1e-9), s.name


def test_stride_interpolation_error_is_small_and_cubic_beats_linear():
    """History stored every k-th step. This small case's zone lies right under the load, where the
    history is sharpest: at stride 6 the cubic spline keeps the QoIs within 3 % (measured 1.4 %;
    1.0 % on average on the default case, 0.2 % at its default stride 3, docs/submodel.md), a
    finer stride does better, and linear interpolation is worse on the stress (its kinks excite
    the zone)."""
    case = small_case()
    model, sols = full_runs(case, 1, seed=1)
    sol = sols[0]
    sub = SubModel(case)
    errs = {}
    for stride, interp in ((3, "cubic"), (6, "cubic"), (6, "linear")):
        idx = np.arange(0, sol.time_s.size, stride)
        r = sub.solve(sol.u_bc[idx], sol.time_s[idx], interpolation=interp)
        errs[stride, interp] = {s.name: abs(r[s.name][0] / sol.qoi[s.name] - 1) for s in QOI_SPECS}
    print(f"\nQoI errors against stride 1: {errs}")
    assert max(errs[6, "cubic"].values()) < 0.03
    assert errs[3, "cubic"]["peak_von_mises"] < errs[6, "cubic"]["peak_von_mises"]
    assert errs[6, "cubic"]["peak_von_mises"] < errs[6, "linear"]["peak_von_mises"]


def test_node_order_is_matched_by_coordinates():
    case = small_case()
    model, sols = full_runs(case, 1)
    sub = SubModel(case)
    perm = np.random.default_rng(0).permutation(model.zone.boundary_nodes.size)
    xy = model.zone.boundary_coords[perm]
    shuffled = sols[0].u_bc[:, perm]
    a = sub.solve(shuffled, sols[0].time_s, node_x=xy[:, 0], node_y=xy[:, 1])
    b = sub.solve(sols[0].u_bc, sols[0].time_s)
    for s in QOI_SPECS:
        assert a[s.name][0] == b[s.name][0]


def test_clear_errors():
    case = small_case()
    sub = SubModel(case)
    xy = sub.boundary_coords
    t = np.arange(10) * case.time.dt_s
    u = np.zeros((1, 10, xy.shape[0], 2))
    moved = xy.copy()
    moved[3, 0] += 0.002
    with pytest.raises(SubmodelError, match=r"match no boundary node.*first node 3 at \(0\.2"):
        sub.solve(u, t, node_x=moved[:, 0], node_y=moved[:, 1])
    with pytest.raises(SubmodelError, match="another case"):
        other = SubModel(small_case(x_min_m=0.1))
        other.solve(u, t, node_x=xy[:, 0], node_y=xy[:, 1])
    with pytest.raises(SubmodelError, match="start at t = 0"):
        sub.solve(u, t + case.time.dt_s)
    with pytest.raises(SubmodelError, match="uniform grid"):
        sub.solve(u, t * 1.3)
    with pytest.raises(SubmodelError, match="nodes"):
        sub.solve(u[:, :, :5], t)
    with pytest.raises(SubmodelError, match="NaN"):
        sub.solve(np.full_like(u, np.nan), t)
    with pytest.raises(SubmodelError, match="shape"):
        sub.solve(np.zeros((10, 3)), t)


def test_solve_submodel_on_a_dataset_gives_an_xarray_of_qois(tmp_path):
    from uqgan.data.campaign import run_campaign
    from uqgan.data.dataset import open_dataset

    case = small_case()
    case = case.model_copy(update={"time": case.time.model_copy(update={"n_steps": 60})})
    run_campaign(case, tmp_path / "d", n_samples=4, replicates=2, seed=0, show_progress=False)
    ds = open_dataset(tmp_path / "d")
    out = solve_submodel(case, ds)
    assert isinstance(out, xr.Dataset) and out.sizes["sample"] == 4
    for s in QOI_SPECS:
        v = out[f"qoi_{s.name}"]
        assert v.attrs["units"] == s.units and v.attrs["source"] == "submodel"
        # stride 1 by construction of the small case: the submodel equals the campaign's reference
        np.testing.assert_allclose(v.values, ds[f"qoi_{s.name}"].values, rtol=1e-9)
    assert out["load_amplitude"].attrs["role"] == "parameter"


def test_cli_submodel(tmp_path):
    from typer.testing import CliRunner

    from uqgan.cli import app
    from uqgan.config import write_case
    from uqgan.data.campaign import run_campaign

    case = small_case()
    case = case.model_copy(update={"time": case.time.model_copy(update={"n_steps": 60, "output_stride": 3})})
    case_file = write_case(case, tmp_path / "case.toml")
    run_campaign(case, tmp_path / "d", n_samples=2, replicates=1, seed=0, show_progress=False)
    out = tmp_path / "q.nc"
    r = CliRunner().invoke(app, ["submodel", str(case_file), "--bcs", str(tmp_path / "d"), "--out", str(out),
                                 "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "QoIs of 2 samples" in r.output
    q = xr.open_dataset(out, engine="h5netcdf")
    assert q["qoi_peak_von_mises"].attrs["units"] == "Pa" and q.sizes["sample"] == 2
    # histories of another case: one line naming the mismatch, exit code 2
    other = write_case(small_case(x_min_m=0.1), tmp_path / "other.toml")
    r = CliRunner().invoke(app, ["submodel", str(other), "--bcs", str(tmp_path / "d"), "--out", str(out)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.output.startswith("error: ") and "another case or mesh" in r.output
    r = CliRunner().invoke(app, ["submodel", str(case_file), "--bcs", str(tmp_path / "nothing"), "--out", str(out)])
    assert r.exit_code == 2 and "no dataset" in r.output
