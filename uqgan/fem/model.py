"""The full model of a case: a plane-strain plate with a tagged submodel zone.

Built from a :class:`~uqgan.config.CaseConfig` through the thin dolfinx layer
(:mod:`uqgan.fem._dolfinx`); everything here is numpy/scipy. Units: SI (m, s, Pa, N/m).

Examples
--------
>>> from uqgan.config import default_case
>>> from uqgan.fem import PlateModel
>>> model = PlateModel(default_case())                      # doctest: +SKIP
>>> sol = model.solve({"load_amplitude": 1e6, "load_duration": 2e-5, "load_position": 0.3})  # doctest: +SKIP
>>> sol.u_bc.shape                                           # doctest: +SKIP
(68, 72, 2)
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from ..config import CaseConfig
from ..physics.material import half_sine_pulse
from ..physics.qoi import ZoneQoI
from ..physics.timestepping import NewmarkIntegrator, TimeScheme, mechanical_energy, scipy_lu
from . import _dolfinx as backend

__all__ = ["FullSolution", "PlateModel", "Zone", "ZoneOperators", "build_mesh", "build_zone"]

logger = logging.getLogger(__name__)

#: nodes of two meshes match when closer than this fraction of the element size
MATCH_TOLERANCE = 1e-6


@dataclass(frozen=True)
class FullSolution:
    """One full-model run: what a campaign keeps of it.

    Attributes
    ----------
    parameters : dict of the conditioning parameters (Pa, s, m)
    time_s : (n_out,) output times [s]
    u_bc : (n_out, n_bc, 2) displacement history on the zone boundary nodes [m]
    qoi : dict of zone QoIs (see :data:`uqgan.physics.qoi.QOI_SPECS`)
    energy_j_per_m : (n_out,) total mechanical energy of the plate [J/m]
    u_zone : (n_out, n_zone_nodes, 2) zone displacement history [m], if asked for
    wall_time_s : solve time, assembly and factorisation included [s]
    """

    parameters: dict[str, float]
    time_s: np.ndarray
    u_bc: np.ndarray
    qoi: dict[str, float]
    energy_j_per_m: np.ndarray
    u_zone: np.ndarray | None = None
    wall_time_s: float = 0.0
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Zone:
    """The submodel zone as seen from the full model."""

    cells: np.ndarray  # (n_zone_cells,) cells of the full mesh in the zone
    space: backend.VectorSpace  # P_k space on the zone's submesh (the restriction of the full mesh)
    cell_map: np.ndarray  # (n_zone_cells,) zone-mesh cell -> full-mesh cell
    full_nodes: np.ndarray  # (n_zone_nodes,) zone-space node -> full-space node
    boundary_nodes: np.ndarray  # (n_bc,) full-space nodes on the zone boundary, ordered along it
    boundary_zone_nodes: np.ndarray  # (n_bc,) the same nodes in the zone space
    area_fraction: float

    @property
    def boundary_coords(self) -> np.ndarray:
        return self.space.node_coords[self.boundary_zone_nodes]


def _order_along_perimeter(coords: np.ndarray, centre: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Order points of a star-shaped closed curve counter-clockwise, starting nearest ``start``."""
    ang = np.arctan2(coords[:, 1] - centre[1], coords[:, 0] - centre[0])
    a0 = np.arctan2(start[1] - centre[1], start[0] - centre[0])
    return np.argsort(np.mod(ang - a0 + 1e-12, 2 * np.pi), kind="stable")


def match_nodes(source: np.ndarray, target: np.ndarray, tol: float) -> np.ndarray:
    """Index into ``target`` of each point of ``source`` (both ``(n, 2)`` [m]); error if any is off."""
    dist, idx = cKDTree(target).query(source)
    bad = np.flatnonzero(dist > tol)
    if bad.size:
        p = source[bad[0]]
        raise ValueError(
            f"{bad.size} node(s) match no node within {tol:.3g} m, first at ({p[0]:.6g}, {p[1]:.6g}) m "
            f"(nearest at {dist[bad[0]]:.3g} m): the meshes do not coincide there"
        )
    return idx


def build_zone(case: CaseConfig, mesh, space: backend.VectorSpace) -> Zone:
    """The zone's cells, its restricted mesh and space, and its ordered boundary nodes."""
    g = case.geometry
    z = g.zone
    mid = backend.cell_midpoints(mesh)
    centre = np.array([0.5 * (z.x_min_m + z.x_max_m), 0.5 * (z.y_min_m + z.y_max_m)])
    cells = np.flatnonzero((mid[:, 0] > z.x_min_m) & (mid[:, 0] < z.x_max_m)
                           & (mid[:, 1] > z.y_min_m) & (mid[:, 1] < z.y_max_m)).astype(np.int32)
    if cells.size == 0:
        raise ValueError("the zone contains no cell: refine geometry.element_size_m or enlarge the zone")
    sub, cell_map = backend.submesh(mesh, cells)
    zspace = backend.vector_space(sub, g.degree)
    tol = MATCH_TOLERANCE * g.element_size_m
    full_nodes = match_nodes(zspace.node_coords, space.node_coords, tol)
    bnodes = backend.nodes_on_facets(space, backend.interface_facets(mesh, cells))
    bcoords = space.node_coords[bnodes]
    order = _order_along_perimeter(bcoords, centre, np.array([z.x_min_m, z.y_min_m]))
    bnodes = bnodes[order]
    bz = match_nodes(space.node_coords[bnodes], zspace.node_coords, tol)
    return Zone(cells=cells, space=zspace, cell_map=np.asarray(cell_map, dtype=np.int64), full_nodes=full_nodes,
                boundary_nodes=bnodes, boundary_zone_nodes=bz, area_fraction=g.zone_area_fraction)


def build_mesh(case: CaseConfig):
    """The full mesh of a case: structured triangles, or gmsh's with a hole in the zone."""
    g = case.geometry
    if g.zone.hole_radius_m > 0:
        from ._gmsh import plate_with_hole

        points, triangles = plate_with_hole(g)
        return backend.mesh_from_arrays(points, triangles)
    return backend.rectangle_mesh(g.length_m, g.height_m, g.nx, g.ny)


class ZoneOperators:
    """What the zone needs for its QoIs and its own solves: mass and stiffness on the zone mesh,
    and the strain at cell vertices. Shared by the full model and the submodel, so both compute
    QoIs the same way."""

    def __init__(self, case: CaseConfig, zone: Zone):
        mat = case.material
        self.case, self.zone = case, zone
        self.assembler = backend.Assembler(zone.space, density_kg_m3=mat.density_kg_m3,
                                           poisson_ratio=mat.poisson_ratio)
        self._strain = None
        self._mass = None

    @property
    def strain_operator(self):
        if self._strain is None:
            self._strain = backend.strain_operator(self.zone.space)
        return self._strain

    def mass(self) -> sp.csr_matrix:
        if self._mass is None:
            self._mass = self.assembler.mass()
        return self._mass

    def stiffness(self, youngs_modulus_zone_cells) -> sp.csr_matrix:
        return self.assembler.stiffness(youngs_modulus_zone_cells)

    def qoi(self, youngs_modulus_zone_cells, *, stiffness: sp.spmatrix | None = None,
            batch: int | None = None) -> ZoneQoI:
        """A fresh QoI accumulator; E per zone cell ``(n_zone_cells,)`` [Pa]."""
        E = np.broadcast_to(np.asarray(youngs_modulus_zone_cells, dtype=float), (self.zone.cells.size,))
        S, point_cells = self.strain_operator
        K = self.stiffness(E) if stiffness is None else stiffness
        return ZoneQoI(S, E[point_cells], self.case.material.poisson_ratio, K, batch=batch)


class PlateModel:
    """Full model of a case: mesh, operators, zone, and :meth:`solve`.

    Parameters
    ----------
    case
        The case.
    solver
        ``"petsc"`` (PETSc's LU, fastest measured here) or ``"scipy"`` (SuperLU).
    """

    def __init__(self, case: CaseConfig, *, solver: str = "petsc"):
        if solver not in ("petsc", "scipy"):
            raise ValueError(f"solver={solver!r}: must be 'petsc' or 'scipy'")
        t0 = time.perf_counter()
        self.case = case
        self._factorize = backend.petsc_lu if solver == "petsc" else scipy_lu
        g, mat = case.geometry, case.material
        self.mesh = build_mesh(case)
        self.space = backend.vector_space(self.mesh, g.degree)
        self.n_cells = backend.num_cells(self.mesh)
        self.assembler = backend.Assembler(self.space, density_kg_m3=mat.density_kg_m3, poisson_ratio=mat.poisson_ratio)
        self.M = self.assembler.mass()
        self._integrator_nominal: NewmarkIntegrator | None = None

        tol = 1e-6 * g.element_size_m
        clamp = backend.boundary_facets(self.mesh, lambda x: np.abs(x[1]) < tol)
        self.clamped_dofs = backend.raw_dofs(backend.nodes_on_facets(self.space, clamp))
        self.top_facets = backend.boundary_facets(self.mesh, lambda x: np.abs(x[1] - g.height_m) < tol)
        self.zone = build_zone(case, self.mesh, self.space)
        self.zone_ops = ZoneOperators(case, self.zone)
        self.time_scheme = TimeScheme.from_name(case.time.scheme, case.time.spectral_radius)
        for warning in case.resolution()["warnings"]:
            logger.warning("under-resolved: %s", warning)
        logger.info("full model: %d dofs, %d cells, zone %d dofs (%.1f %% of the area), %d boundary nodes; "
                    "built in %.2f s", self.n_dofs, self.n_cells, self.zone.space.n_dofs, 100 * self.zone.area_fraction,
                    self.zone.boundary_nodes.size, time.perf_counter() - t0)

    # --------------------------------------------------------------------------------------------
    @property
    def n_dofs(self) -> int:
        return self.space.n_dofs

    @property
    def output_steps(self) -> np.ndarray:
        t = self.case.time
        return np.arange(0, t.n_steps + 1, t.output_stride)

    @property
    def output_times(self) -> np.ndarray:
        return self.output_steps * self.case.time.dt_s

    @property
    def cell_midpoints(self) -> np.ndarray:
        return backend.cell_midpoints(self.mesh)

    # --------------------------------------------------------------------------------------------
    def youngs_modulus_cells(self, youngs_modulus=None) -> np.ndarray:
        """Young's modulus per cell ``(n_cells,)`` [Pa]: the nominal one where None is given."""
        if youngs_modulus is None:
            return np.full(self.n_cells, self.case.material.youngs_modulus_pa)
        E = np.asarray(youngs_modulus, dtype=float)
        if E.shape != (self.n_cells,):
            raise ValueError(f"youngs_modulus has shape {E.shape}: give one value per cell, ({self.n_cells},)")
        if not (np.all(np.isfinite(E)) and np.all(E > 0)):
            raise ValueError("youngs_modulus must be finite and > 0 in every cell")
        return E

    def integrator(self, youngs_modulus=None) -> NewmarkIntegrator:
        """The factorised time integrator for a Young's-modulus field (cached for the nominal one)."""
        if youngs_modulus is None and self._integrator_nominal is not None:
            return self._integrator_nominal
        K = self.assembler.stiffness(self.youngs_modulus_cells(youngs_modulus))
        mat = self.case.material
        integ = NewmarkIntegrator(self.M, K, dt=self.case.time.dt_s, scheme=self.time_scheme,
                                  constrained_dofs=self.clamped_dofs,
                                  rayleigh=(mat.rayleigh_mass_1_per_s, mat.rayleigh_stiffness_s),
                                  factorize=self._factorize)
        if youngs_modulus is None:
            self._integrator_nominal = integ
        return integ

    def zone_qoi(self, youngs_modulus=None, *, batch: int | None = None) -> ZoneQoI:
        """A fresh QoI accumulator for the zone, with the zone's material."""
        return self.zone_ops.qoi(self.youngs_modulus_cells(youngs_modulus)[self.zone.cell_map], batch=batch)

    def unit_load(self, position_m: float) -> np.ndarray:
        """Load vector [N/m] of the footprint at ``position_m`` with unit peak pressure (1 Pa)."""
        return self.assembler.pressure_load(self.top_facets, centre_m=position_m,
                                            width_m=self.case.load.footprint_width_m, axis=0)

    # --------------------------------------------------------------------------------------------
    def nodes_at(self, points) -> np.ndarray:
        """Full-space node indices at ``points`` ``(n, 2)`` [m]; each point must be a mesh node."""
        pts = np.atleast_2d(np.asarray(points, dtype=float))
        return match_nodes(pts, self.space.node_coords, MATCH_TOLERANCE * self.case.geometry.element_size_m)

    def solve(self, parameters: dict[str, float] | None = None, *, youngs_modulus=None, record_nodes=None,
              keep_zone_history: bool = False, keep_full_history: bool = False) -> FullSolution:
        """Run the full model for one parameter point and one Young's-modulus field.

        Parameters
        ----------
        parameters
            ``load_amplitude`` [Pa], ``load_duration`` [s], ``load_position`` [m]; None = nominal.
        youngs_modulus
            ``(n_cells,)`` Young's modulus per cell [Pa]; None = the nominal constant.
        record_nodes
            Full-space node indices (see :meth:`nodes_at`) whose displacement history is returned in
            ``extra["u_nodes"]``, shape ``(n_out, n_nodes, 2)`` [m].
        keep_zone_history
            Also return the zone displacement at the output times (``u_zone``).
        keep_full_history
            Keep the full displacement at the output times in ``extra["u_full"]`` (for ParaView).
        """
        t0 = time.perf_counter()
        params = self.case.check_parameters(parameters if parameters is not None else self.case.parameters.nominal())
        integ = self.integrator(youngs_modulus)
        qoi = self.zone_qoi(youngs_modulus)
        F = self.unit_load(params["load_position"])
        amp, dur = params["load_amplitude"], params["load_duration"]

        def force(t: float) -> np.ndarray:
            p = float(half_sine_pulse(t, amp, dur))
            return F * p if p else np.zeros_like(F)

        steps = set(self.output_steps.tolist())
        n_out = len(steps)
        zone_dofs = backend.raw_dofs(self.zone.full_nodes)
        bc_dofs = backend.raw_dofs(self.zone.boundary_nodes)
        u_bc = np.empty((n_out, bc_dofs.size))
        energy = np.empty(n_out)
        u_zone = np.empty((n_out, zone_dofs.size)) if keep_zone_history else None
        u_full = np.empty((n_out, self.n_dofs)) if keep_full_history else None
        rec_dofs = None if record_nodes is None else backend.raw_dofs(np.asarray(record_nodes, dtype=np.int64))
        if rec_dofs is not None and rec_dofs.size and (rec_dofs.min() < 0 or rec_dofs.max() >= self.n_dofs):
            raise ValueError(f"record_nodes must be node indices in [0, {self.space.n_nodes})")
        u_rec = None if rec_dofs is None else np.empty((n_out, rec_dofs.size))
        counter = iter(range(n_out))

        def observer(k, t, u, v, a):
            qoi.update(u[zone_dofs])
            if k in steps:
                i = next(counter)
                u_bc[i] = u[bc_dofs]
                energy[i] = mechanical_energy(integ.M, integ.K, u, v)
                if u_zone is not None:
                    u_zone[i] = u[zone_dofs]
                if u_full is not None:
                    u_full[i] = u
                if u_rec is not None:
                    u_rec[i] = u[rec_dofs]

        integ.run(self.case.time.n_steps, force=force, observer=observer)
        wall = time.perf_counter() - t0
        logger.debug("full solve %s in %.2f s", params, wall)
        return FullSolution(
            parameters=params, time_s=self.output_times, u_bc=u_bc.reshape(n_out, -1, 2), qoi=qoi.result(),
            energy_j_per_m=energy, u_zone=None if u_zone is None else u_zone.reshape(n_out, -1, 2),
            wall_time_s=wall, extra={**({} if u_full is None else {"u_full": u_full}),
                                     **({} if u_rec is None else {"u_nodes": u_rec.reshape(n_out, -1, 2)})},
        )

    def write_xdmf(self, path: str | Path, solution: FullSolution) -> Path:
        """Write a solution's full displacement history (needs ``keep_full_history=True``) for ParaView."""
        if "u_full" not in solution.extra:
            raise ValueError("solution has no full history: solve with keep_full_history=True")
        return backend.write_xdmf(self.space, path, solution.time_s, solution.extra["u_full"])
