"""The whole spine on a 3-D mesh case from the command line, with no code change: a tagged box
mesh (tetrahedra) -> `uqgan check` -> `generate-data` (training and reference campaigns) ->
`train` one generator -> `montecarlo --reference`; and `solve --xdmf` writes the full model and
the zone for ParaView."""

from __future__ import annotations

import pytest
import xarray as xr
from _meshes import box_mesh
from typer.testing import CliRunner

from uqgan.cli import app

pytest.importorskip("dolfinx")

pytestmark = pytest.mark.fenicsx

CASE = """
name = "box3d"
[geometry]
mesh = "box.msh"
dimension = 3
degree = 1
element_size_m = 0.02
[geometry.tags]
zone = "zone"
clamped = "clamped"
loaded = "loaded"
[load]
footprint_width_m = 0.04
origin_m = [0.0, 0.0, 0.02]
direction = [1.0, 0.0, 0.0]
[time]
dt_s = 2e-6
n_steps = 30
output_stride = 3
[parameters.load_position]
low = 0.05
high = 0.15
[random_field]
correlation_length_m = 0.05
max_modes = 10
"""


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_spine_on_a_3d_mesh_case_from_the_command_line(tmp_path):
    box_mesh(tmp_path / "box.msh", size=(0.2, 0.06, 0.04), n=(10, 3, 2), loaded_face=(1, "min"),
             zone=((0.08, 0.12), (0.019, 0.041), (0.0, 0.04)))
    case = tmp_path / "case.toml"
    case.write_text(CASE)  # the mesh path is relative to the case file
    assert "tetra" in invoke("check", case).output
    invoke("generate-data", case, "--out", tmp_path / "train", "--samples", 8, "--replicates", 2, "--workers", 1)
    invoke("generate-data", case, "--out", tmp_path / "ref", "--samples", 6, "--seed", 7, "--workers", 1)
    ds = xr.open_mfdataset(sorted((tmp_path / "train").glob("**/*.nc")), combine="nested", concat_dim="sample")
    assert list(ds["component"].values) == ["x", "y", "z"] and "node_z" in ds.coords
    # a solid's strain energy is in J (a plane-strain one's per metre of thickness)
    assert ds["qoi_peak_strain_energy"].attrs["units"] == "J"
    invoke("train", tmp_path / "train", "--out", tmp_path / "gen", "--generator", "pca-gaussian", "--no-progress")
    out = invoke("montecarlo", case, "--model", tmp_path / "gen", "-n", 32, "--batch", 16, "--out",
                 tmp_path / "stats.nc", "--reference", tmp_path / "ref", "--no-progress").output
    assert "against the full-model reference (6 runs)" in out
    stats = xr.open_dataset(tmp_path / "stats.nc")
    assert stats.attrs["units_qoi_peak_strain_energy"] == "J"
    assert "| J " in out or " J " in out  # the printed table says so too
    invoke("solve", case, "--xdmf", tmp_path / "pv" / "run.xdmf")
    assert (tmp_path / "pv" / "run.xdmf").is_file() and (tmp_path / "pv" / "run_zone.xdmf").is_file()
