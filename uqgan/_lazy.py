"""Import heavy optional dependencies only where they are needed, with an error that says how
to get them (after xarray's ``attempt_import``)."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]

_INSTALL_HINTS = {
    "dolfinx": "FEniCSx comes from Debian: `apt-get install python3-dolfinx` and a venv made with "
    "`/usr/bin/python3 -m venv --system-site-packages` (`make bootstrap` does both)",
    "ufl": "comes with dolfinx: `apt-get install python3-dolfinx`",
    "petsc4py": "comes with dolfinx: `apt-get install python3-dolfinx`",
    "mpi4py": "comes with dolfinx: `apt-get install python3-dolfinx`",
    "gmsh": "`apt-get install python3-gmsh` (needed only for meshes with a hole)",
    "torch": "`pip install -c constraints.txt 'uqgan[torch]'` (CPU wheel torch==2.13.0 here)",
    "matplotlib": "`pip install matplotlib`",
    "dask": "`pip install 'uqgan[dask]'`",
}


def require(name: str, *, purpose: str) -> ModuleType:
    """Import module ``name`` or raise an ImportError naming what it is for and how to install it.

    Parameters
    ----------
    name
        Module to import, e.g. ``"dolfinx"`` or ``"dolfinx.fem.petsc"``.
    purpose
        What the caller needs it for, shown in the error (e.g. ``"generate-data"``).
    """
    try:
        return importlib.import_module(name)
    except ImportError as err:
        top = name.split(".")[0]
        hint = _INSTALL_HINTS.get(top, f"`pip install {top}`")
        raise ImportError(f"{name} is needed for {purpose} but cannot be imported ({err}); install: {hint}") from err
