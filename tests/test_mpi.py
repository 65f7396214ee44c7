"""One full model over 2 MPI ranks equals the serial run: `mpirun -n 2 uqgan solve` as CI runs it.

The serial side is the plain ``uqgan solve`` (the scipy PlateModel), the parallel side the
PETSc DistributedPlateModel: two code paths, one answer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dolfinx")

from uqgan.config import CaseConfig, write_case  # noqa: E402
from uqgan.physics.qoi import QOI_SPECS  # noqa: E402

pytestmark = [pytest.mark.fenicsx, pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun")]

ROOT = Path(__file__).resolve().parents[1]

#: 0.4 x 0.1 m plate, 1 cm P2 (8.3k dofs), 240 explicit steps at 0.25 µs (54 % of its 0.464 µs limit)
SMALL = {
    "name": "small-mpi",
    "geometry": {"length_m": 0.4, "height_m": 0.1, "element_size_m": 0.01, "degree": 2,
                 "zone": {"x_min_m": 0.2, "x_max_m": 0.3, "y_min_m": 0.03, "y_max_m": 0.07}},
    "time": {"dt_s": 0.25e-6, "n_steps": 240, "output_stride": 2, "scheme": "central-difference"},
    "parameters": {"load_position": {"low": 0.1, "high": 0.3, "nominal": 0.25}},
}


def _env() -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMP_NUM_THREADS": "1"}
    return env


def _mpirun(n: int) -> list[str]:
    version = subprocess.run(["mpirun", "--version"], capture_output=True, text=True).stdout
    extra = ["--oversubscribe"] if "Open MPI" in version else []  # CI machines may have fewer cores than ranks
    return ["mpirun", "-n", str(n), *extra]


def _solve(tmp_path: Path, case: CaseConfig, ranks: int):
    import xarray as xr

    path = tmp_path / "case.toml"
    write_case(case, path)
    out = tmp_path / f"run{ranks}.nc"
    cmd = [sys.executable, "-m", "uqgan.cli", "solve", str(path), "--history", str(out)]
    if ranks > 1:
        cmd = _mpirun(ranks) + cmd
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("wrote") == 1  # rank 0 alone writes and prints
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        return ds.load()


def _compare(one, two):
    scale = float(np.abs(one["u_bc"]).max())
    assert scale > 0
    u_err = float(np.abs(two["u_bc"] - one["u_bc"]).max()) / scale
    q_err = {s.name: abs(float(two[f"qoi_{s.name}"][0]) / float(one[f"qoi_{s.name}"][0]) - 1) for s in QOI_SPECS}
    for name in ("node_x", "node_y", "node_z"):  # same nodes, same order; each rank's dolfinx computes the P2
        if name in one:  # node coordinates on its own cell numbering: equal to round-off (1e-12 m on ~0.1 m)
            np.testing.assert_allclose(two[name], one[name], rtol=0, atol=1e-12)
    assert int(two.attrs["mpi_ranks"]) == 2
    return u_err, q_err


@pytest.mark.parametrize("lumping", ["hrz", "cjrt"])
def test_explicit_on_two_ranks_equals_the_serial_run(tmp_path, lumping):
    """The explicit scheme on 2 ranks: only the summation order of the matrix-vector products
    differs, so the histories agree to round-off grown over 240 steps (the issue asks 1e-10);
    HRZ-lumped P2 and the CJRT element (0.25 µs is 68 % of its 0.369 µs limit)."""
    case = CaseConfig.model_validate({**SMALL, "time": {**SMALL["time"], "mass_lumping": lumping}})
    u_err, q_err = _compare(_solve(tmp_path, case, 1), _solve(tmp_path, case, 2))
    print(f"\nexplicit ({lumping}), 1 vs 2 ranks: boundary history {u_err:.1e} (max |du| / max |u|), "
          f"QoIs {max(q_err.values()):.1e}")
    assert u_err < 1e-10
    assert max(q_err.values()) < 1e-10


@pytest.mark.slow
def test_explicit_with_a_hole_on_two_ranks_equals_the_serial_run(tmp_path):
    """A gmsh mesh (hole in the zone): rank 0 builds it and dolfinx distributes it. Its small
    elements near the hole set a stable step of 0.170 µs (0.464 µs without the hole)."""
    geometry = {**SMALL["geometry"], "zone": {**SMALL["geometry"]["zone"], "hole_radius_m": 0.012}}
    case = CaseConfig.model_validate({**SMALL, "geometry": geometry,
                                      "time": {**SMALL["time"], "dt_s": 0.15e-6, "n_steps": 400}})
    u_err, q_err = _compare(_solve(tmp_path, case, 1), _solve(tmp_path, case, 2))
    print(f"\nexplicit with a hole, 1 vs 2 ranks: boundary history {u_err:.1e}, QoIs {max(q_err.values()):.1e}")
    # measured 4e-15
    assert u_err < 1e-10
    assert max(q_err.values()) < 1e-10


@pytest.mark.slow
def test_implicit_on_two_ranks_with_mumps_equals_the_serial_run(tmp_path):
    """Newmark on 2 ranks with MUMPS against the serial PETSc LU: two direct solvers, agreement to
    their round-off (measured 3e-13 on the default plate; 1e-9 leaves room for pivoting)."""
    case = CaseConfig.model_validate({**SMALL, "time": {"dt_s": 0.5e-6, "n_steps": 120, "output_stride": 1}})
    u_err, q_err = _compare(_solve(tmp_path, case, 1), _solve(tmp_path, case, 2))
    print(f"\nNewmark, 1 vs 2 ranks (MUMPS): boundary history {u_err:.1e}, QoIs {max(q_err.values()):.1e}")
    assert u_err < 1e-9
    assert max(q_err.values()) < 1e-9


def test_a_refused_time_step_is_one_line_on_every_rank(tmp_path):
    case = CaseConfig.model_validate({**SMALL, "time": {**SMALL["time"], "dt_s": 0.5e-6}})
    path = tmp_path / "case.toml"
    write_case(case, path)
    proc = subprocess.run(_mpirun(2) + [sys.executable, "-m", "uqgan.cli", "solve", str(path)], cwd=tmp_path,
                          env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert proc.stderr.count("time.dt_s=5e-07: above the central-difference stability limit") == 1
    assert "Traceback" not in proc.stderr


def test_generate_data_with_two_ranks_per_sample_equals_the_serial_campaign(tmp_path, monkeypatch):
    """`generate-data --ranks-per-sample 2`: each sample one mpirun of 2 ranks, its random material
    field evaluated by each rank on its own cells; the dataset equals the serial campaign's to
    round-off (measured 3e-15), and a rerun resumes (nothing left to compute)."""
    import xarray as xr
    from _cases import TINY

    from uqgan.data.dataset import open_dataset

    case = CaseConfig.model_validate({**TINY, "time": {**TINY["time"], "scheme": "central-difference",
                                                        "dt_s": 0.5e-6, "n_steps": 120, "output_stride": 4}})
    path = tmp_path / "case.toml"
    write_case(case, path)
    for key, value in _env().items():
        if key.startswith("OMPI_") or key == "PYTHONPATH":
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("UQGAN_MPIEXEC", " ".join(_mpirun(2)).replace("-n 2", "-n {ranks}"))
    base = [sys.executable, "-m", "uqgan.cli", "-q", "generate-data", str(path), "--samples", "2", "--no-progress"]
    for out, extra in (("serial", []), ("mpi", ["--ranks-per-sample", "2"]), ("mpi", ["--ranks-per-sample", "2"])):
        proc = subprocess.run([*base, "--out", str(tmp_path / out), *extra], env={**os.environ}, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 computed now" in proc.stdout  # the rerun found every sample done
    one, two = open_dataset(tmp_path / "serial"), open_dataset(tmp_path / "mpi")
    assert float(np.abs(one["xi"]).max()) > 0  # a real random field
    xr.testing.assert_equal(one["xi"], two["xi"])
    scale = float(np.abs(one["u_bc"]).max())
    # explicit: only the summation order of the products differs (as for one model on 2 ranks)
    assert float(np.abs(two["u_bc"] - one["u_bc"]).max()) < 1e-10 * scale
    for s in QOI_SPECS:
        np.testing.assert_allclose(two[f"qoi_{s.name}"], one[f"qoi_{s.name}"], rtol=1e-10)


#: the 3-D example (simulations/plate3d_hole, 2 cm P2 tetrahedra, 7 950 dofs) with central differences at
#: 0.2 µs (77 % of its 0.259 µs limit, set by the small tetrahedra at the hole), 300 steps
PLATE3D = ROOT / "simulations" / "plate3d_hole" / "case.toml"


def _explicit_mesh_case(path: Path, **time) -> CaseConfig:
    from uqgan.config import load_case

    case = load_case(path)
    t = {"scheme": "central-difference", "dt_s": 0.2e-6, "n_steps": 300, "output_stride": 10, **time}
    return case.model_copy(update={"time": case.time.model_copy(update=t)})


def test_explicit_3d_mesh_file_on_two_ranks_equals_the_serial_run(tmp_path):
    """A 3-D tagged gmsh mesh read on rank 0 and distributed by dolfinx with its physical groups;
    each rank evaluates the QoIs of its own zone cells, reduced once at the end. Against the serial
    model (another code path: one dolfinx mesh, scipy operators, the zone as one submesh): only the
    summation order differs, so 1e-10 (the issue's bound; measured 3e-15) holds with room."""
    case = _explicit_mesh_case(PLATE3D)
    one, two = _solve(tmp_path, case, 1), _solve(tmp_path, case, 2)
    assert "node_z" in two
    u_err, q_err = _compare(one, two)
    print(f"\n3-D mesh file, explicit, 1 vs 2 ranks: boundary history {u_err:.1e}, QoIs {max(q_err.values()):.1e}")
    assert u_err < 1e-10
    assert max(q_err.values()) < 1e-10


def test_explicit_2d_mesh_file_on_two_ranks_equals_the_serial_run(tmp_path):
    """The small plate written as a tagged 2-D gmsh file (uqgan.fem.model.write_plate_mesh): the
    same mesh-file path in 2-D, where the boundary nodes are ordered around the zone's centroid."""
    from uqgan.fem.model import write_plate_mesh

    plate = CaseConfig.model_validate(SMALL)
    msh = write_plate_mesh(plate, tmp_path / "plate.msh")
    g = {"mesh": str(msh), "dimension": 2, "degree": 2, "element_size_m": 0.01,
         "tags": {"zone": "zone", "clamped": "clamped", "loaded": "loaded"}}
    load = {"origin_m": [0.0, 0.1], "direction": [1.0, 0.0]}  # the footprint on the top edge, as the plate's
    case = CaseConfig.model_validate({**SMALL, "geometry": g, "load": load})
    u_err, q_err = _compare(_solve(tmp_path, case, 1), _solve(tmp_path, case, 2))
    print(f"\n2-D mesh file, explicit, 1 vs 2 ranks: boundary history {u_err:.1e}, QoIs {max(q_err.values()):.1e}")
    assert u_err < 1e-10
    assert max(q_err.values()) < 1e-10


@pytest.mark.slow
def test_implicit_3d_mesh_file_on_two_ranks_with_mumps_equals_the_serial_run(tmp_path):
    """Newmark on the 3-D example: MUMPS LU on 2 ranks against MUMPS Cholesky in serial, agreement
    to the direct solvers' round-off (1e-9 as for the plate)."""
    from uqgan.config import load_case

    case = load_case(PLATE3D)
    case = case.model_copy(update={"time": case.time.model_copy(update={"n_steps": 60})})
    u_err, q_err = _compare(_solve(tmp_path, case, 1), _solve(tmp_path, case, 2))
    print(f"\n3-D mesh file, Newmark, 1 vs 2 ranks (MUMPS): boundary history {u_err:.1e}, "
          f"QoIs {max(q_err.values()):.1e}")
    assert u_err < 1e-9
    assert max(q_err.values()) < 1e-9


@pytest.mark.slow
def test_generate_data_3d_mesh_file_with_two_ranks_per_sample_equals_the_serial_campaign(tmp_path, monkeypatch):
    """`generate-data --ranks-per-sample 2` on the 3-D example with its random field: each rank
    evaluates the KL basis at its own cells; equal to the serial campaign to round-off (measured 4e-15)."""
    from uqgan.data.dataset import open_dataset

    case = _explicit_mesh_case(PLATE3D, n_steps=150)
    path = tmp_path / "case.toml"
    write_case(case, path)
    for key, value in _env().items():
        if key.startswith("OMPI_") or key == "PYTHONPATH":
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("UQGAN_MPIEXEC", " ".join(_mpirun(2)).replace("-n 2", "-n {ranks}"))
    base = [sys.executable, "-m", "uqgan.cli", "-q", "generate-data", str(path), "--samples", "2", "--no-progress"]
    for out, extra in (("serial", []), ("mpi", ["--ranks-per-sample", "2"])):
        proc = subprocess.run([*base, "--out", str(tmp_path / out), *extra], env={**os.environ}, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    one, two = open_dataset(tmp_path / "serial"), open_dataset(tmp_path / "mpi")
    assert float(np.abs(one["xi"]).max()) > 0
    scale = float(np.abs(one["u_bc"]).max())
    assert float(np.abs(two["u_bc"] - one["u_bc"]).max()) < 1e-10 * scale  # explicit: summation order only
    for s in QOI_SPECS:
        np.testing.assert_allclose(two[f"qoi_{s.name}"], one[f"qoi_{s.name}"], rtol=1e-10)
