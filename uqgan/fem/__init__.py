"""The finite-element layer: the only part of uqgan that needs dolfinx.

All dolfinx/ufl/petsc4py/mpi4py calls live in :mod:`uqgan.fem._dolfinx` (one file to port to a
newer dolfinx); the rest of this package works on numpy arrays and scipy sparse matrices.
"""

from __future__ import annotations

from .model import FullSolution, PlateModel, Zone

__all__ = ["FullSolution", "PlateModel", "Zone", "fem_versions"]


def fem_versions() -> dict[str, str]:
    """Versions of the FEM stack (dolfinx, ufl, PETSc, petsc4py), for provenance."""
    from ._dolfinx import versions

    return versions()
