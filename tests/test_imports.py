"""Import hygiene: ``import uqgan`` is light, works without dolfinx and torch, and the platform's
HDF5 users (dolfinx, h5py, h5netcdf, meshio, torch) load together in either order.

Each check runs in a fresh interpreter, since this test process may already hold the modules.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("dolfinx", "ufl", "petsc4py", "mpi4py", "torch", "matplotlib")


def _run(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def test_import_uqgan_is_light():
    _run(f"""
        import sys
        import uqgan
        import uqgan.config
        import uqgan.cli
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
        assert not loaded, loaded
        assert isinstance(uqgan.__version__, str) and uqgan.__version__
        assert uqgan.CaseConfig is uqgan.config.CaseConfig
        """)


def test_public_names_resolve_lazily():
    _run("""
        import sys
        import uqgan
        assert "uqgan.config" not in sys.modules, "import uqgan must not import uqgan.config"
        assert "CaseConfig" in dir(uqgan)
        from uqgan.config import CaseConfig
        assert uqgan.CaseConfig is CaseConfig
        assert uqgan.default_case() == CaseConfig()
        try:
            uqgan.no_such_name
        except AttributeError as err:
            assert "no_such_name" in str(err)
        else:
            raise AssertionError("missing attribute did not raise")
        """)


def test_works_without_dolfinx_and_torch(tmp_path):
    # sys.modules[name] = None makes `import name` raise ImportError, as on a machine without it
    case = tmp_path / "case.toml"
    proc = _run(
        """
        import sys
        for name in ("dolfinx", "torch", "ufl", "petsc4py", "mpi4py"):
            sys.modules[name] = None
        import uqgan, uqgan.config, uqgan.physics.material, uqgan.physics.timestepping, uqgan.physics.qoi, uqgan.cli
        import uqgan.fem  # the dolfinx layer imports lazily, inside its functions
        from uqgan.config import default_case, write_case
        path = write_case(default_case(), sys.argv[1])
        try:
            uqgan.fem.PlateModel(default_case())
        except ImportError as err:
            assert "apt-get install python3-dolfinx" in str(err), err
        else:
            raise AssertionError("PlateModel built without dolfinx")
        from uqgan.cli import main
        sys.argv = ["uqgan", "check", str(path)]
        try:
            main()
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
        sys.argv = ["uqgan", "solve", str(path)]
        try:
            main()
        except SystemExit as exc:
            assert exc.code == 1, exc.code
        """,
        str(case),
    )
    assert "zone area fraction" in proc.stdout
    assert "apt-get install python3-dolfinx" in proc.stderr
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------------------------
# the platform's HDF5 users in both import orders


def _stack() -> list[str]:
    names = ["dolfinx", "h5py", "h5netcdf", "meshio"]
    if importlib.util.find_spec("torch") is not None:  # optional: tested when installed
        names.append("torch")
    return names


@pytest.mark.fenicsx
@pytest.mark.parametrize("order", ["dolfinx-first", "reversed"])
def test_hdf5_stack_imports_in_either_order(tmp_path, order):
    pytest.importorskip("dolfinx")
    names = _stack() if order == "dolfinx-first" else _stack()[::-1]
    _run(_ROUND_TRIPS, str(tmp_path), *names)


#: import the modules named in argv[2:] in that order, then write and read back HDF5 files
_ROUND_TRIPS = """
import importlib
import sys
from pathlib import Path

for name in sys.argv[2:]:
    importlib.import_module(name)
import meshio
import numpy as np
import xarray as xr

tmp = Path(sys.argv[1])
u = (("time", "node"), np.arange(6.0).reshape(2, 3), {"units": "m", "long_name": "displacement"})
ds = xr.Dataset(
    {"u": u},
    coords={"time": ("time", [0.0, 1e-6], {"units": "s"})},
    attrs={"uqgan_version": "test"},
)
ds.to_netcdf(tmp / "a.nc", engine="h5netcdf")
with xr.open_dataset(tmp / "a.nc", engine="h5netcdf") as back:
    xr.testing.assert_identical(back.load(), ds)

points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
mesh = meshio.Mesh(points, [("triangle", np.array([[0, 1, 2]]))], point_data={"u": points})
mesh.write(tmp / "m.xdmf")
back = meshio.read(tmp / "m.xdmf")
np.testing.assert_array_equal(back.points[:, :2], points)
np.testing.assert_array_equal(back.point_data["u"][:, :2], points)
"""
