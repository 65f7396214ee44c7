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
from .explicit import check_time_step, explicit_integrator, space_element

__all__ = ["FullSolution", "PlateModel", "Structure", "Zone", "ZoneOperators", "build_mesh", "build_structure",
           "build_zone", "write_plate_mesh"]

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


def order_boundary_nodes(coords: np.ndarray, centre: np.ndarray, start: np.ndarray, tol: float) -> np.ndarray:
    """The order of the zone-boundary nodes ``coords`` ``(n, d)`` [m] in datasets: counter-clockwise
    around ``centre`` from ``start`` in 2-D, lexicographic by (x, y, z) in 3-D with coordinates
    compared on a grid of ``tol`` [m], so that round-off (the same node computed on two meshes'
    cell numberings, as under MPI) does not change the order."""
    if coords.shape[1] == 2:
        return _order_along_perimeter(coords, centre, start)
    keys = np.rint(coords / tol).astype(np.int64)
    return np.lexsort(keys.T[::-1])


def match_nodes(source: np.ndarray, target: np.ndarray, tol: float) -> np.ndarray:
    """Index into ``target`` of each point of ``source`` (both ``(n, d)`` [m]); error if any is off."""
    dist, idx = cKDTree(target).query(source)
    bad = np.flatnonzero(dist > tol)
    if bad.size:
        p = source[bad[0]]
        raise ValueError(
            f"{bad.size} node(s) match no node within {tol:.3g} m, first at ({', '.join(f'{v:.6g}' for v in p)}) m "
            f"(nearest at {dist[bad[0]]:.3g} m): the meshes do not coincide there"
        )
    return idx


@dataclass(frozen=True)
class Structure:
    """The full mesh of a case with what the models need of its tags.

    Built by :func:`build_structure`: the built-in plate (zone cells by their midpoints in the zone
    rectangle, the bottom edge clamped, the top edge loaded) or a tagged mesh file (zone, clamped
    and loaded from its physical groups, checked by :mod:`uqgan.fem._mesh`).
    """

    mesh: object
    zone_cells: np.ndarray  # (n_zone_cells,) int32 dolfinx cells of the zone
    clamped_facets: np.ndarray  # (n,) int32
    loaded_facets: np.ndarray  # (n,) int32
    match_tolerance_m: float  # nodes of two meshes coincide when closer than this [m]
    zone_centre: np.ndarray  # (d,) [m], centre of the zone boundary's ordering (2-D)
    zone_start: np.ndarray  # (d,) [m], the boundary ordering starts nearest this point (2-D)
    zone_fraction: float  # zone area (volume) / structure area (volume)

    @property
    def dimension(self) -> int:
        return self.mesh.geometry.dim


def plate_regions(mesh, geometry, midpoints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The built-in plate's regions on ``mesh`` (serial or this rank's part): a boolean mask over the
    cells whose ``midpoints`` lie strictly inside the zone box, the clamped facets (bottom edge,
    y = 0) and the loaded facets (top edge, y = height), to 1e-6 of the element size."""
    z = geometry.zone
    in_zone = ((midpoints[:, 0] > z.x_min_m) & (midpoints[:, 0] < z.x_max_m)
               & (midpoints[:, 1] > z.y_min_m) & (midpoints[:, 1] < z.y_max_m))
    tol = 1e-6 * geometry.element_size_m
    clamp = backend.boundary_facets(mesh, lambda x: np.abs(x[1]) < tol)
    top = backend.boundary_facets(mesh, lambda x: np.abs(x[1] - geometry.height_m) < tol)
    return in_zone, clamp, top


def build_structure(case: CaseConfig) -> Structure:
    """The case's mesh, zone cells, clamped and loaded facets (see :class:`Structure`).

    Raises
    ------
    uqgan.fem._mesh.MeshError
        For a mesh file: one line naming the problem (missing tag, zone touching a support, ...).
    """
    g = case.geometry
    if g.is_mesh_file:
        return _structure_from_file(case)
    z = g.zone
    mesh = build_mesh(case)
    in_zone, clamp, top = plate_regions(mesh, g, backend.cell_midpoints(mesh))
    cells = np.flatnonzero(in_zone).astype(np.int32)
    if cells.size == 0:
        raise ValueError("the zone contains no cell: refine geometry.element_size_m or enlarge the zone")
    return Structure(mesh=mesh, zone_cells=cells, clamped_facets=clamp, loaded_facets=top,
                     match_tolerance_m=MATCH_TOLERANCE * g.element_size_m,
                     zone_centre=np.array([0.5 * (z.x_min_m + z.x_max_m), 0.5 * (z.y_min_m + z.y_max_m)]),
                     zone_start=np.array([z.x_min_m, z.y_min_m]), zone_fraction=g.zone_area_fraction)


def read_checked_mesh(case: CaseConfig):
    """A mesh case's tagged mesh and its group numbers (``zone``, ``clamped``, ``loaded``), every
    check of :mod:`uqgan.fem._mesh` passed and the load footprint on the loaded facets at both
    ends of the ``load_position`` range (numpy only: no dolfinx)."""
    from . import _mesh

    g = case.geometry
    tagged = _mesh.read_tagged_mesh(g.mesh, dimension=g.dimension)
    numbers = _mesh.resolve_tags(tagged, g.tags)
    _mesh.check_zone(tagged, numbers)
    loaded_points = tagged.points[np.unique(tagged.facets[np.isin(tagged.facet_tags, numbers["loaded"])])]
    pos = case.parameters.load_position
    for value in (pos.low, pos.high):
        message = _mesh.footprint_warning(loaded_points, case.load.centre_m(value), case.load.footprint_width_m)
        if message:
            raise _mesh.MeshError(f"parameters.load_position={value}: {message}")
    return tagged, numbers


def _structure_from_file(case: CaseConfig) -> Structure:
    tagged, numbers = read_checked_mesh(case)
    mesh, cell_tags, facet_tags = backend.mesh_from_tagged(tagged)
    cells = np.flatnonzero(np.isin(cell_tags, numbers["zone"])).astype(np.int32)
    clamped = backend.tagged_facets(facet_tags, numbers["clamped"])
    loaded = backend.tagged_facets(facet_tags, numbers["loaded"])
    volumes = backend.cell_volumes(mesh)
    mid = backend.cell_midpoints(mesh)[cells]
    centre = (mid * volumes[cells, None]).sum(axis=0) / volumes[cells].sum()
    return Structure(mesh=mesh, zone_cells=cells, clamped_facets=clamped, loaded_facets=loaded,
                     match_tolerance_m=MATCH_TOLERANCE * float(tagged.edge_lengths().min()),
                     zone_centre=centre, zone_start=mid.min(axis=0),
                     zone_fraction=float(volumes[cells].sum() / volumes.sum()))


def build_zone(case: CaseConfig, structure: Structure, space: backend.VectorSpace) -> Zone:
    """The zone's cells, its restricted mesh and space, and its ordered boundary nodes.

    In 2-D the boundary nodes are ordered counter-clockwise around the zone; in 3-D
    lexicographically by (x, y, z). Datasets match nodes by coordinates, so the order is a convention.
    """
    mesh, cells, tol = structure.mesh, structure.zone_cells, structure.match_tolerance_m
    sub, cell_map = backend.submesh(mesh, cells)
    zspace = backend.vector_space(sub, case.geometry.degree, space.element)
    full_nodes = match_nodes(zspace.node_coords, space.node_coords, tol)
    bnodes = backend.nodes_on_facets(space, backend.interface_facets(mesh, cells))
    if bnodes.size == 0:
        raise ValueError("the zone has no boundary inside the structure (it touches no other cell): the zone must "
                         "be surrounded by the rest of the structure")
    order = order_boundary_nodes(space.node_coords[bnodes], structure.zone_centre, structure.zone_start, tol)
    bnodes = bnodes[order]
    bz = match_nodes(space.node_coords[bnodes], zspace.node_coords, tol)
    return Zone(cells=cells, space=zspace, cell_map=np.asarray(cell_map, dtype=np.int64), full_nodes=full_nodes,
                boundary_nodes=bnodes, boundary_zone_nodes=bz, area_fraction=structure.zone_fraction)


def write_plate_mesh(case: CaseConfig, path, *, file_format: str = "gmsh22"):
    """Write a built-in plate case's mesh as a tagged mesh file: a start for a mesh case.

    Physical groups: ``zone`` (1, the zone's cells), ``plate`` (2, the other cells), ``clamped``
    (3, the bottom edge), ``loaded`` (4, the top edge). A mesh case of this file with
    ``load.origin_m = [0, height_m]``, ``load.direction = [1, 0]`` is the same problem as the
    built-in case (tests/test_mesh_input.py checks that they agree to round-off).
    """
    from ._mesh import write_tagged_mesh

    if case.geometry.is_mesh_file:
        raise ValueError(f"case {case.name!r} already reads a mesh file ({case.geometry.mesh})")
    st = build_structure(case)
    points, cells, clamped = backend.geometry_arrays(st.mesh, st.clamped_facets)
    _, _, loaded = backend.geometry_arrays(st.mesh, st.loaded_facets)
    tags = np.full(len(cells), 2, dtype=np.int64)
    tags[st.zone_cells] = 1
    return write_tagged_mesh(path, points, "triangle", cells, tags, {"clamped": (3, clamped), "loaded": (4, loaded)},
                             {"zone": 1, "plate": 2}, file_format=file_format)


def build_mesh(case: CaseConfig):
    """The full mesh of the built-in plate: structured triangles, or gmsh's with a hole in the zone."""
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
        return ZoneQoI(S, E[point_cells], self.case.material.poisson_ratio, K, batch=batch, dim=self.zone.space.dim)


class PlateModel:
    """Full model of a case: mesh, operators, zone, and :meth:`solve`.

    Parameters
    ----------
    case
        The case.
    solver
        ``"auto"`` (PETSc's LU in 2-D, fastest measured there; MUMPS's Cholesky in 3-D, where it
        factorises 4x faster than PETSc's LU), ``"petsc"`` (LU), ``"mumps"`` (Cholesky) or ``"scipy"`` (SuperLU).
    """

    def __init__(self, case: CaseConfig, *, solver: str = "auto"):
        if solver not in ("auto", "petsc", "mumps", "scipy"):
            raise ValueError(f"solver={solver!r}: must be 'auto', 'petsc', 'mumps' or 'scipy'")
        t0 = time.perf_counter()
        self.case = case
        if solver == "auto":
            solver = "mumps" if case.geometry.dimension == 3 else "petsc"
        self._factorize = {"petsc": backend.petsc_lu, "mumps": backend.petsc_cholesky_mumps, "scipy": scipy_lu}[solver]
        g, mat = case.geometry, case.material
        self.structure = build_structure(case)
        self.mesh = self.structure.mesh
        self.space = backend.vector_space(self.mesh, g.degree, space_element(case))
        self.dim = self.space.dim
        self.n_cells = backend.num_cells(self.mesh)
        self.assembler = backend.Assembler(self.space, density_kg_m3=mat.density_kg_m3, poisson_ratio=mat.poisson_ratio)
        self.M = self.assembler.mass()
        self._integrator_nominal: NewmarkIntegrator | None = None

        clamp = self.structure.clamped_facets
        self.clamped_dofs = self.raw_dofs(backend.nodes_on_facets(self.space, clamp))
        self.top_facets = self.structure.loaded_facets  # the loaded facets (the top edge of the built-in plate)
        self.zone = build_zone(case, self.structure, self.space)
        self.zone_ops = ZoneOperators(case, self.zone)
        self.explicit = case.time.scheme == "central-difference"
        self.time_scheme = None if self.explicit else TimeScheme.from_name(case.time.scheme, case.time.spectral_radius)
        if self.explicit:  # refuse a dt_s above the mesh's stability limit before any run
            self.stable_time_step_s = check_time_step(case, self.M, self.assembler.stiffness(mat.youngs_modulus_pa),
                                                      constrained_dofs=self.clamped_dofs)
        for warning in case.resolution()["warnings"]:
            logger.warning("under-resolved: %s", warning)
        logger.info("full model: %d dofs, %d cells, zone %d dofs (%.1f %% of the area), %d boundary nodes; "
                    "built in %.2f s", self.n_dofs, self.n_cells, self.zone.space.n_dofs, 100 * self.zone.area_fraction,
                    self.zone.boundary_nodes.size, time.perf_counter() - t0)

    # --------------------------------------------------------------------------------------------
    @property
    def n_dofs(self) -> int:
        return self.space.n_dofs

    def raw_dofs(self, nodes) -> np.ndarray:
        """Raw dof indices of ``nodes``, every component, node-major."""
        return backend.raw_dofs(nodes, tuple(range(self.dim)), dim=self.dim)

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

    def integrator(self, youngs_modulus=None):
        """The time integrator for a Young's-modulus field (cached for the nominal one): Newmark /
        generalized-α factorised once, or explicit central differences with the lumped mass."""
        if youngs_modulus is None and self._integrator_nominal is not None:
            return self._integrator_nominal
        E = self.youngs_modulus_cells(youngs_modulus)
        K = self.assembler.stiffness(E)
        mat = self.case.material
        if self.explicit:
            integ = explicit_integrator(self.case, self.M, K, constrained_dofs=self.clamped_dofs,
                                        stable_time_step_s=self.stable_time_step_s, youngs_modulus_pa=E)
        else:
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
        """Load vector [N/m] of the footprint at ``position_m`` with unit peak pressure (1 Pa).

        Mesh cases: a raised-cosine footprint around ``load.origin_m + position_m * load.direction``
        on the loaded facets (a disc in 3-D; the load vector is then in N).
        """
        if self.case.geometry.is_mesh_file:
            return self.assembler.pressure_load_disc(self.top_facets, centre_m=self.case.load.centre_m(position_m),
                                                     width_m=self.case.load.footprint_width_m)
        return self.assembler.pressure_load(self.top_facets, centre_m=position_m,
                                            width_m=self.case.load.footprint_width_m, axis=0)

    # --------------------------------------------------------------------------------------------
    def nodes_at(self, points) -> np.ndarray:
        """Full-space node indices at ``points`` ``(n, 2)`` [m]; each point must be a mesh node."""
        pts = np.atleast_2d(np.asarray(points, dtype=float))
        return match_nodes(pts, self.space.node_coords, self.structure.match_tolerance_m)

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
        zone_dofs = self.raw_dofs(self.zone.full_nodes)
        bc_dofs = self.raw_dofs(self.zone.boundary_nodes)
        u_bc = np.empty((n_out, bc_dofs.size))
        energy = np.empty(n_out)
        u_zone = np.empty((n_out, zone_dofs.size)) if keep_zone_history else None
        u_full = np.empty((n_out, self.n_dofs)) if keep_full_history else None
        rec_dofs = None if record_nodes is None else self.raw_dofs(np.asarray(record_nodes, dtype=np.int64))
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
        d = self.dim
        wall = time.perf_counter() - t0
        logger.debug("full solve %s in %.2f s", params, wall)
        return FullSolution(
            parameters=params, time_s=self.output_times, u_bc=u_bc.reshape(n_out, -1, d), qoi=qoi.result(),
            energy_j_per_m=energy, u_zone=None if u_zone is None else u_zone.reshape(n_out, -1, d),
            wall_time_s=wall, extra={**({} if u_full is None else {"u_full": u_full}),
                                     **({} if u_rec is None else {"u_nodes": u_rec.reshape(n_out, -1, d)})},
        )

    def write_xdmf(self, path: str | Path, solution: FullSolution) -> Path:
        """Write a solution's full displacement history (needs ``keep_full_history=True``) for ParaView.

        Also writes the zone's own mesh and history beside it, ``<stem>_zone.xdmf`` (what the
        submodel sees). Returns the full model's file.
        """
        if "u_full" not in solution.extra:
            raise ValueError("solution has no full history: solve with keep_full_history=True")
        u_full = solution.extra["u_full"]
        out = backend.write_xdmf(self.space, path, solution.time_s, u_full)
        zone_path = out.with_name(f"{out.stem}_zone.xdmf")
        backend.write_xdmf(self.zone.space, zone_path, solution.time_s, u_full[:, self.raw_dofs(self.zone.full_nodes)])
        logger.info("wrote %s and %s for ParaView", out, zone_path)
        return out
