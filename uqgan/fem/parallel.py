"""One full model over the MPI ranks: ``mpirun -n N uqgan solve CASE.toml``.

The mesh is partitioned by dolfinx over ``COMM_WORLD`` (the built-in plate, or a tagged mesh file
in 2-D or 3-D read on rank 0 and distributed with its physical groups once, at set-up:
:mod:`uqgan.fem.parallel_zone`); mass and stiffness are PETSc parallel matrices; each rank steps
the dofs it owns (numpy arrays of its owned part) and one ``MatMult`` per step exchanges the ghost
values. The time loop is the serial model's own:
:class:`~uqgan.physics.explicit.CentralDifferenceIntegrator` with a PETSc operator behind ``K @ x``, or
:class:`~uqgan.physics.timestepping.NewmarkIntegrator`'s steps with a parallel direct solve (MUMPS).

No rank gathers the mesh or the zone during the time loop: each rank evaluates the QoIs of the
zone cells it owns every step and keeps per-step local maxima (von Mises, displacement), local
sums (strain energy, the total mechanical energy) and the boundary values it holds
(:class:`~uqgan.fem.parallel_zone.DistributedZone`); they are reduced and gathered once at the end,
and rank 0 writes.

A random Young's-modulus field is evaluated by each rank at its own cells (the KL basis's
Nyström extension at the local cell midpoints), so no rank holds the whole field.

Examples
--------
>>> # mpirun -n 2 python -m uqgan.cli solve case.toml --history run.nc      # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time

import numpy as np

from ..config import CaseConfig
from ..physics.explicit import CentralDifferenceIntegrator, critical_time_step, max_eigenvalue
from ..physics.material import half_sine_pulse
from ..physics.timestepping import NewmarkIntegrator, TimeScheme, newmark_constants
from . import _dolfinx as backend
from .explicit import _rayleigh, space_element, time_step_error
from .model import FullSolution
from .parallel_zone import DistributedZone, distributed_structure

__all__ = ["DistributedPlateModel", "full_model", "is_root"]

logger = logging.getLogger(__name__)


class _DistributedNewmark(NewmarkIntegrator):
    """Newmark / generalized-α steps on owned parts with a parallel factorisation of the
    effective matrix (clamped dofs as identity rows); zero prescribed values only (a clamp)."""

    def __init__(self, M_op, K_op, solve, *, n: int, dt: float, scheme: TimeScheme, fixed: np.ndarray,
                 rayleigh: tuple[float, float]):
        self.M, self.K, self.n, self.dt, self.scheme = M_op, K_op, n, float(dt), scheme
        self.rayleigh = (float(rayleigh[0]), float(rayleigh[1]))
        self.fixed = np.unique(np.asarray(fixed, dtype=np.int64))
        mask = np.ones(n, dtype=bool)
        mask[self.fixed] = False
        self.free = np.flatnonzero(mask)
        self._c, _, _ = newmark_constants(scheme, self.dt, self.rayleigh)
        self._A_fc = None
        self._solve_mass = None

        def solve_free(rhs_free: np.ndarray) -> np.ndarray:
            b = np.zeros(n)
            b[self.free] = rhs_free
            return solve(b)[self.free]

        self._solve = solve_free

    def initial_acceleration(self, u0, v0, f0) -> np.ndarray:
        if np.any(u0) or np.any(v0) or np.any(f0):
            raise ValueError("the MPI Newmark model starts at rest and unloaded (the load pulse is zero at t = 0)")
        return np.zeros_like(u0)


class DistributedPlateModel:
    """The full model of a case (the built-in plate or a tagged mesh file, 2-D or 3-D) over the
    ranks of ``COMM_WORLD``.

    ``solve`` returns the :class:`~uqgan.fem.model.FullSolution` on rank 0 and None on the others.
    """

    def __init__(self, case: CaseConfig, *, solver: str = "mumps"):
        t0 = time.perf_counter()
        self.case = case
        g, mat = case.geometry, case.material
        self.rank, self.size = backend.world_rank(), backend.world_size()
        self.structure = structure = distributed_structure(case)
        self.mesh = structure.mesh
        self.space = backend.vector_space(self.mesh, g.degree, space_element(case))
        self.dim = d = self.space.dim
        self.assembler = backend.Assembler(self.space, density_kg_m3=mat.density_kg_m3,
                                           poisson_ratio=mat.poisson_ratio)
        self.n_owned = d * backend.owned_nodes(self.space)
        self.first_dof = backend.first_global_dof(self.space)
        self.explicit = case.time.scheme == "central-difference"
        self.M = backend.petsc_mass(self.assembler)
        if self.explicit:  # only its lumped diagonal is used: free the consistent mass before K exists
            self.mass_diagonal = backend.lumped_mass_petsc(self.M, g.degree, case.time.mass_lumping)
            self.M.destroy()
            self.M = None
        self.K = backend.petsc_stiffness(self.assembler, mat.youngs_modulus_pa)
        self.M_op = None if self.M is None else backend.PetscOperator(self.M)
        self.K_op = backend.PetscOperator(self.K)
        clamped = backend.raw_dofs(backend.nodes_on_facets(self.space, structure.clamped_facets),
                                   tuple(range(d)), dim=d)
        self.clamped_dofs = clamped[clamped < self.n_owned]  # owned ones; ghosts are another rank's
        self.top_facets = structure.loaded_facets  # the loaded facets (the top edge of the built-in plate)
        self.dot = backend.global_dot()
        self._solver = solver if self.size > 1 else "petsc"
        self.cell_midpoints = backend.local_cell_midpoints(self.mesh)  # owned and ghost cells
        self.n_cells = self.cell_midpoints.shape[0]
        self.zone_cells = np.flatnonzero(structure.zone_flags)  # local zone cells, owned and ghost
        if self.explicit:
            self.stable_time_step_s = self._stable_time_step(self.K_op)
            if case.time.dt_s > self.stable_time_step_s:
                raise time_step_error(case, self.stable_time_step_s)
        self.integrator = self._integrator(self.K, self.K_op)
        self.distributed_zone = DistributedZone(case, structure, self.space, self.K)
        #: on rank 0 the zone's size and ordered boundary (``boundary_coords``), as the serial model's ``zone``
        self.zone = self.distributed_zone.summary
        self.n_dofs = int(self.K.getSize()[0])
        if self.rank == 0:
            logger.info("MPI full model on %d ranks: %d dofs (%d on rank 0), zone %d dofs, %d boundary nodes; "
                        "built in %.2f s", self.size, self.n_dofs, self.n_owned, self.zone.n_dofs,
                        self.zone.boundary_nodes.size, time.perf_counter() - t0)

    def _stable_time_step(self, K_op) -> float:
        free = np.setdiff1d(np.arange(self.n_owned), self.clamped_dofs)
        lam = max_eigenvalue(K_op.__matmul__, self.mass_diagonal, free=free, dot=self.dot,
                             rng=np.random.default_rng([0, self.rank]))
        return critical_time_step(np.sqrt(lam), rayleigh=_rayleigh(self.case))

    def _integrator(self, K, K_op):
        case = self.case
        if self.explicit:
            return CentralDifferenceIntegrator(self.mass_diagonal, K_op, dt=case.time.dt_s,
                                               constrained_dofs=self.clamped_dofs, rayleigh=_rayleigh(case))
        scheme = TimeScheme.from_name(case.time.scheme, case.time.spectral_radius)
        _, m_coef, k_coef = newmark_constants(scheme, case.time.dt_s, _rayleigh(case))
        solve = backend.petsc_effective_solver(self.M, K, m_coef, k_coef, self.clamped_dofs, self.first_dof,
                                               solver=self._solver)
        return _DistributedNewmark(self.M_op, K_op, solve, n=self.n_owned, dt=case.time.dt_s, scheme=scheme,
                                   fixed=self.clamped_dofs, rayleigh=_rayleigh(case))

    def integrator_for(self, youngs_modulus=None):
        """``(integrator, K operator)`` for a Young's modulus per local cell ``(n_cells,)`` [Pa]
        (owned and ghost cells, the order of :attr:`cell_midpoints`), or the nominal one for None.
        The explicit time step is checked as in the serial model: the nominal limit times
        ``√(E₀ / max E)`` first, the field's own Lanczos limit only when that bound is exceeded."""
        if youngs_modulus is None:
            return self.integrator, self.K_op
        E = np.asarray(youngs_modulus, dtype=float)
        if E.shape != (self.n_cells,):
            raise ValueError(f"youngs_modulus has shape {E.shape}: give one value per local cell, ({self.n_cells},)")
        K = backend.petsc_stiffness(self.assembler, E)
        K_op = backend.PetscOperator(K)
        if self.explicit:
            e_max = backend.global_max(E.max())
            bound = self.stable_time_step_s * np.sqrt(min(1.0, self.case.material.youngs_modulus_pa / e_max))
            if self.case.time.dt_s > bound:
                limit = self._stable_time_step(K_op)
                if self.case.time.dt_s > limit:
                    raise time_step_error(self.case, limit, f"this Young's-modulus field (max {e_max:.4g} Pa)")
        return self._integrator(K, K_op), K_op

    @property
    def output_steps(self) -> np.ndarray:
        t = self.case.time
        return np.arange(0, t.n_steps + 1, t.output_stride)

    def solve(self, parameters: dict[str, float] | None = None, *, youngs_modulus=None) -> FullSolution | None:
        """Run the full model at one parameter point; rank 0 gets the solution, the others None.

        ``youngs_modulus``: one value per local cell [Pa] (see :meth:`integrator_for`; with
        :func:`uqgan.data.campaign.material_field_basis` on this model each rank evaluates the KL basis
        at its own cells), None for the nominal material. Same outputs as
        :meth:`uqgan.fem.PlateModel.solve`: the zone boundary history in the serial model's node
        order, the zone QoIs and the total mechanical energy per output time.
        """
        t0 = time.perf_counter()
        case = self.case
        integrator, K_op = self.integrator_for(youngs_modulus)
        params = case.check_parameters(parameters if parameters is not None else case.parameters.nominal())
        if case.geometry.is_mesh_file:
            F = self.assembler.pressure_load_disc(self.top_facets, centre_m=case.load.centre_m(params["load_position"]),
                                                  width_m=case.load.footprint_width_m)
        else:
            F = self.assembler.pressure_load(self.top_facets, centre_m=params["load_position"],
                                             width_m=case.load.footprint_width_m, axis=0)
        amp, dur = params["load_amplitude"], params["load_duration"]

        def force(t: float) -> np.ndarray:
            p = float(half_sine_pulse(t, amp, dur))
            return F * p if p else np.zeros_like(F)

        steps = set(self.output_steps.tolist())
        n_out = len(steps)
        zone = self.distributed_zone
        E_local = (np.full(self.n_cells, case.material.youngs_modulus_pa) if youngs_modulus is None
                   else np.asarray(youngs_modulus, dtype=float))
        zone.start(E_local, case.time.n_steps, n_out)
        energy = np.empty(n_out)  # this rank's share (owned dofs), summed over the ranks at the end
        M_energy = integrator.M if not self.explicit else None
        out = iter(range(n_out))

        def observer(k, t, u, v, a):
            record = k in steps
            zone.observe(k, u, record)
            if record:
                kinetic = v @ (self.mass_diagonal * v) if self.explicit else v @ (M_energy @ v)
                energy[next(out)] = 0.5 * kinetic + 0.5 * float(u @ (K_op @ u))

        t_loop = time.perf_counter()
        integrator.run(case.time.n_steps, force=force, observer=observer)
        t_loop = backend.global_max(time.perf_counter() - t_loop)
        result = zone.finish()
        energy = backend.reduce_to_root(energy, "sum")
        wall = backend.global_max(time.perf_counter() - t0)
        if result is None:
            return None
        u_bc, qoi = result
        return FullSolution(parameters=params, time_s=self.output_steps * case.time.dt_s, u_bc=u_bc, qoi=qoi,
                            energy_j_per_m=energy, wall_time_s=wall,
                            extra={"ranks": self.size, "time_loop_s": t_loop})


def full_model(case: CaseConfig):
    """The full model for this process: :class:`DistributedPlateModel` when started by ``mpirun``
    on more than one rank, else the serial :class:`~uqgan.fem.PlateModel`."""
    if backend.world_size() > 1:
        return DistributedPlateModel(case)
    from .model import PlateModel

    return PlateModel(case)


def is_root() -> bool:
    """Whether this process is rank 0 of ``COMM_WORLD`` (the one that prints and writes)."""
    return backend.world_rank() == 0


def run_task_file(task_path: str, out_path: str) -> None:
    """One campaign sample on this process's ranks: read the task (a pickle written by
    :func:`uqgan.data.campaign.solve_sample_mpi`), solve, and let rank 0 write the result as ``.npz``."""
    import json
    import pickle

    from ..config import case_from_toml
    from ..physics.random_fields import youngs_modulus_field

    with open(task_path, "rb") as f:
        task = pickle.load(f)  # noqa: S301 - our own file, written by the campaign for this run
    case = case_from_toml(task["case_toml"])
    model = DistributedPlateModel(case)
    basis = task["basis"]
    E = None
    if basis is not None:
        psi = basis.evaluate(model.cell_midpoints)  # this rank's cells only
        E = youngs_modulus_field(case, psi, np.asarray(task["xi"], dtype=float), model.zone_cells)
    from ..data.campaign import with_inclusions

    E = with_inclusions(case, E, model.cell_midpoints, task.get("inclusions"))
    sol = model.solve(task["parameters"], youngs_modulus=E)
    if sol is None:
        return
    import os

    tmp = f"{out_path}.tmp.npz"
    np.savez(tmp, u_bc=sol.u_bc, time_s=sol.time_s, boundary_coords=model.zone.boundary_coords,
             qoi_json=json.dumps(sol.qoi), wall_time_s=sol.wall_time_s, ranks=model.size,
             fem_versions_json=json.dumps(backend.versions()))
    os.replace(tmp, out_path)


if __name__ == "__main__":  # mpirun -n R python -m uqgan.fem.parallel TASK.pkl OUT.npz
    import sys

    run_task_file(sys.argv[1], sys.argv[2])
