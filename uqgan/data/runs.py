"""What ``uqgan solve`` writes of one full-model run: a JSON record and a one-sample BC dataset."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import __version__
from ..config import PARAMETER_UNITS, CaseConfig, case_to_toml
from ..physics.qoi import qoi_specs
from .dataset import sample_dataset

__all__ = ["run_dataset", "run_record"]


def run_record(case: CaseConfig, params: dict[str, float], solution, *, case_file: str) -> dict[str, Any]:
    """Parameters [Pa, s, m], zone QoIs with their units, wall time [s] and the case, as plain JSON data."""
    return {
        "uqgan_version": __version__,
        "case_file": str(case_file),
        "parameters": params,
        "parameter_units": PARAMETER_UNITS,
        "qoi": {spec.name: float(solution.qoi[spec.name]) for spec in qoi_specs(case.geometry.dimension)},
        "qoi_units": {spec.name: spec.units for spec in qoi_specs(case.geometry.dimension)},
        "wall_time_s": solution.wall_time_s,
        "case": case.model_dump(mode="json"),
    }


def run_dataset(case: CaseConfig, params: dict[str, float], solution, boundary_coords: np.ndarray):
    """The run's boundary history and QoIs as a one-sample dataset in the BC schema (no random field:
    ``xi`` is empty); attrs record the case, the MPI ranks and the wall time."""
    return sample_dataset(sample=0, point=0, replicate=0, parameters=params, xi=np.zeros(0), time_s=solution.time_s,
                          boundary_coords=boundary_coords, u_bc=solution.u_bc, qoi=solution.qoi,
                          attrs={"uqgan_version": __version__, "case_toml": case_to_toml(case),
                                 "mpi_ranks": int(solution.extra.get("ranks", 1)),
                                 "wall_time_s": solution.wall_time_s})
