"""The structure and the submodel zone of one full model over MPI ranks (:mod:`uqgan.fem.parallel`).

Two pieces, both numpy over :mod:`uqgan.fem._dolfinx`:

* :func:`distributed_structure`: the case's mesh partitioned by dolfinx over ``COMM_WORLD`` with
  what the model needs of it: a zone flag per local cell, the clamped and loaded facets. The
  built-in plate is generated in parallel (or, with a hole, meshed by gmsh on rank 0); a mesh case
  (``geometry.mesh``, 2-D or 3-D) is read and checked on rank 0 exactly as the serial model does
  (:func:`uqgan.fem.model.read_checked_mesh`) and its cells and physical groups are distributed
  by dolfinx, once, at set-up.
* :class:`DistributedZone`: each rank evaluates the zone QoIs of the zone cells it **owns**, every
  step, and keeps them locally: the peak von Mises stress and the peak displacement magnitude as
  per-step local maxima, the zone's strain energy ``½ Σₑ uₑᵀ Kₑ uₑ`` as per-step local sums over
  its cells, and the displacement history of the zone-boundary nodes it holds. Only the ghost
  values of its zone cells travel each step (a PETSc scatter of a few hundred values, neighbours
  only). At the end of the run the histories are reduced once (max, sum) and the boundary history
  gathered once to rank 0, which takes the maxima over time and writes.

The per-rank QoIs use the serial code on a mesh of the rank's own zone cells (``COMM_SELF``):
the strain at the cell vertices (:func:`uqgan.fem._dolfinx.strain_operator`), the von Mises stress
(:class:`uqgan.physics.qoi.ZoneQoI`) and the zone stiffness, so the numbers are the serial model's
up to the summation order. The boundary nodes are ordered on rank 0 by the serial model's rule
(counter-clockwise in 2-D, lexicographic in 3-D), so datasets match node for node.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ..config import CaseConfig, ConfigError
from ..physics.qoi import ZoneQoI, qoi_specs
from . import _dolfinx as backend
from .model import MATCH_TOLERANCE, order_boundary_nodes, plate_regions

__all__ = ["DistributedStructure", "DistributedZone", "distributed_structure"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedStructure:
    """This rank's part of the case's mesh (see :func:`distributed_structure`)."""

    mesh: object
    zone_flags: np.ndarray  # (n_local_cells,) bool, owned then ghost cells
    clamped_facets: np.ndarray  # (n,) int32 local facets
    loaded_facets: np.ndarray  # (n,) int32 local facets
    match_tolerance_m: float
    zone_centre: np.ndarray  # (d,) [m], centre of the boundary ordering (2-D)
    zone_start: np.ndarray  # (d,) [m], the ordering starts nearest this point (2-D)


def _plate(case: CaseConfig) -> DistributedStructure:
    g = case.geometry
    z = g.zone
    if z.hole_radius_m > 0:
        from ._gmsh import plate_with_hole

        points, triangles = plate_with_hole(g) if backend.world_rank() == 0 else (None, None)
        mesh = backend.distributed_mesh_from_arrays(points, triangles)
    else:
        mesh = backend.distributed_rectangle_mesh(g.length_m, g.height_m, g.nx, g.ny)
    flags, clamp, top = plate_regions(mesh, g, backend.local_cell_midpoints(mesh))
    return DistributedStructure(mesh=mesh, zone_flags=flags, clamped_facets=clamp, loaded_facets=top,
                                match_tolerance_m=MATCH_TOLERANCE * g.element_size_m,
                                zone_centre=np.array([0.5 * (z.x_min_m + z.x_max_m), 0.5 * (z.y_min_m + z.y_max_m)]),
                                zone_start=np.array([z.x_min_m, z.y_min_m]))


def _mesh_file(case: CaseConfig) -> DistributedStructure:
    from .model import read_checked_mesh

    tagged = numbers = None
    head: tuple = ("ok", None)
    if backend.world_rank() == 0:
        try:
            tagged, numbers = read_checked_mesh(case)
            head = ("ok", (numbers, MATCH_TOLERANCE * float(tagged.edge_lengths().min())))
        except ConfigError as err:  # every rank stops with the same one line
            head = ("error", err.problems)
    status, payload = backend.broadcast(head)
    if status == "error":
        raise ConfigError(payload)
    numbers, tol = payload
    mesh, cell_tags, facet_tags = backend.distributed_mesh_from_tagged(tagged)
    del tagged
    flags = np.isin(cell_tags, numbers["zone"])
    n_own, _ = backend.num_local_cells(mesh)
    own = np.flatnonzero(flags[:n_own])
    volumes = backend.owned_cell_volumes(mesh)[own]
    mid = backend.local_cell_midpoints(mesh)[own]
    d = mid.shape[1]
    sums = backend.all_reduce(np.concatenate([(mid * volumes[:, None]).sum(axis=0), [volumes.sum()]]), "sum")
    start = backend.all_reduce(mid.min(axis=0) if own.size else np.full(d, np.inf), "min")
    return DistributedStructure(mesh=mesh, zone_flags=flags,
                                clamped_facets=backend.tagged_facets(facet_tags, numbers["clamped"]),
                                loaded_facets=backend.tagged_facets(facet_tags, numbers["loaded"]),
                                match_tolerance_m=tol, zone_centre=sums[:d] / sums[d], zone_start=start)


def distributed_structure(case: CaseConfig) -> DistributedStructure:
    """The case's mesh over ``COMM_WORLD``: the built-in plate or a tagged mesh file.

    Raises
    ------
    uqgan.config.ConfigError
        On every rank, for a mesh file that fails a check (one line, read on rank 0).
    """
    return _mesh_file(case) if case.geometry.is_mesh_file else _plate(case)


@dataclass(frozen=True)
class _ZoneSize:
    """What ``uqgan solve``'s table and the campaign read of a zone: its dofs and its boundary."""

    n_dofs: int
    boundary_nodes: np.ndarray  # (n_bc,) global node indices of the full model, in the serial order
    boundary_coords: np.ndarray  # (n_bc, d) [m]

    @property
    def space(self):  # report.solve_table reads zone.space.n_dofs, as of the serial model's Zone
        return self


class DistributedZone:
    """The zone of a distributed full model: QoIs of owned zone cells per rank, reduced once.

    Parameters
    ----------
    case
        The case (material, degree, time grid).
    structure
        This rank's part of the mesh (:func:`distributed_structure`).
    space
        The full model's vector space on ``structure.mesh``.
    template
        A distributed PETSc matrix of the full model (its vector layout is the owned dofs').

    Attributes
    ----------
    summary
        On rank 0, the zone's dofs and its ordered boundary nodes and coordinates (``boundary_coords``
        ``(n_bc, d)`` [m]); None on the other ranks.
    """

    def __init__(self, case: CaseConfig, structure: DistributedStructure, space: backend.VectorSpace, template):
        self.case = case
        self.dim = d = space.dim
        self.rank = backend.world_rank()
        mesh = structure.mesh
        n_own_cells, _ = backend.num_local_cells(mesh)
        self.own_cells = np.flatnonzero(structure.zone_flags[:n_own_cells])
        comps = tuple(range(d))

        # the rank's own zone cells as a serial mesh: strain, von Mises and stiffness as in the serial model
        zone_nodes = np.zeros(0, dtype=np.int64)
        self._zspace = None
        off = 0.0
        if self.own_cells.size:
            zmesh, origin = backend.self_mesh_of_cells(mesh, self.own_cells)
            self._zspace = backend.vector_space(zmesh, case.geometry.degree, space.element)
            self._zcells = self.own_cells[origin]  # local full-mesh cell of each zone-mesh cell
            candidates = backend.cell_nodes(space, self.own_cells)
            dist, idx = cKDTree(space.node_coords[candidates]).query(self._zspace.node_coords)
            off = float(dist.max()) if dist.size else 0.0
            zone_nodes = candidates[idx]
            mat = case.material
            self._assembler = backend.Assembler(self._zspace, density_kg_m3=mat.density_kg_m3,
                                                poisson_ratio=mat.poisson_ratio)
            self._strain = backend.strain_operator(self._zspace)
        off = backend.global_max(off)  # every rank stops alike (a rank alone raising would leave the others waiting)
        if off > structure.match_tolerance_m:
            raise ValueError(f"a zone mesh does not match the full mesh (a node {off:.3g} m off)")

        # the zone boundary: nodes on facets between zone and rest that this rank sees (owned or ghost)
        facets = backend.local_interface_facets(mesh, structure.zone_flags)
        bnodes = backend.nodes_on_facets(space, facets)  # collective
        bglobal = backend.global_nodes(space, bnodes)
        gathered = backend.gather_to_root((bglobal, space.node_coords[bnodes],
                                           backend.global_nodes(space, zone_nodes)))
        self.summary = None
        self._placement = None
        if backend.global_max(bglobal.size) == 0:
            raise ValueError("the zone has no boundary inside the structure (it touches no other cell): the zone must "
                             "be surrounded by the rest of the structure")
        if self.rank == 0:
            n_zone_dofs = d * np.unique(np.concatenate([z for _, _, z in gathered])).size
            self._placement, self.summary = self._order_boundary(gathered, structure, n_zone_dofs)

        # one scatter for everything this rank reads each step: its zone nodes and its boundary nodes
        needed = np.union1d(zone_nodes, bnodes)
        gidx = backend.raw_dofs(backend.global_nodes(space, needed), comps, dim=d)
        self._scatter = backend.GhostScatter(template, gidx)
        pos = np.searchsorted(needed, zone_nodes)
        self._zone_pos = backend.raw_dofs(pos, comps, dim=d)
        self._bc_pos = backend.raw_dofs(np.searchsorted(needed, bnodes), comps, dim=d)
        self.n_bc_local = bnodes.size
        self._qoi = None

    def _order_boundary(self, gathered, structure: DistributedStructure, n_zone_dofs: int):
        """On rank 0: the boundary nodes of all ranks, without repeats, in the serial model's order;
        per rank, which of its columns go where."""
        gids = np.concatenate([g for g, _, _ in gathered])
        coords = np.concatenate([c for _, c, _ in gathered])
        unique, first = np.unique(gids, return_index=True)
        ucoords = coords[first]
        order = order_boundary_nodes(ucoords, structure.zone_centre, structure.zone_start,
                                     structure.match_tolerance_m)
        ordered = unique[order]
        rank_of = np.empty(ordered.size, dtype=np.int64)
        rank_of[order] = np.arange(ordered.size)  # position in the output of each unique gid
        placement = []
        for g, _, _ in gathered:
            src = np.arange(g.size)
            dst = rank_of[np.searchsorted(unique, g)]
            placement.append((src, dst))
        return placement, _ZoneSize(n_dofs=n_zone_dofs, boundary_nodes=ordered, boundary_coords=ucoords[order])

    # --------------------------------------------------------------------------------------------
    def start(self, youngs_modulus_local_cells: np.ndarray, n_steps: int, n_out: int) -> None:
        """Start a run: the zone material ``(n_local_cells,)`` [Pa] (owned then ghost cells) and
        fresh per-step histories."""
        self._vm = np.zeros(n_steps + 1)
        self._mag = np.zeros(n_steps + 1)
        self._energy = np.zeros(n_steps + 1)
        self._bc = np.empty((n_out, self.n_bc_local * self.dim))
        self._out = 0
        if self._zspace is not None:
            E = np.asarray(youngs_modulus_local_cells, dtype=float)[self._zcells]
            S, point_cells = self._strain
            self._K = self._assembler.stiffness(E)
            self._qoi = ZoneQoI(S, E[point_cells], self.case.material.poisson_ratio, self._K, dim=self.dim)

    def observe(self, k: int, u_owned: np.ndarray, record: bool) -> None:
        """Step ``k``: fold this rank's zone cells into the step's local maxima and sums; at an
        output step (``record``) keep the boundary values it holds. Collective (the ghost scatter)."""
        values = self._scatter(u_owned)
        if self._qoi is not None:
            z = values[self._zone_pos]
            self._vm[k] = self._qoi.von_mises(z).max()
            self._mag[k] = np.sqrt((z.reshape(-1, self.dim) ** 2).sum(axis=1)).max()
            self._energy[k] = 0.5 * float(z @ (self._K @ z))
        if record:
            self._bc[self._out] = values[self._bc_pos]
            self._out += 1

    def finish(self) -> tuple[np.ndarray, dict[str, float]] | None:
        """Reduce the per-step histories once (max, max, sum over ranks), gather the boundary
        history once; on rank 0 ``(u_bc (n_out, n_bc, d) [m], QoIs)``, None elsewhere."""
        vm = backend.reduce_to_root(self._vm, "max")
        mag = backend.reduce_to_root(self._mag, "max")
        energy = backend.reduce_to_root(self._energy, "sum")
        parts = backend.gather_to_root(self._bc)
        if self.rank != 0:
            return None
        n_out, d = self._bc.shape[0], self.dim
        u_bc = np.empty((n_out, self.summary.boundary_nodes.size, d))
        for part, (src, dst) in zip(parts, self._placement, strict=True):
            u_bc[:, dst] = part.reshape(n_out, -1, d)[:, src]
        names = [s.name for s in qoi_specs(d)]
        qoi = dict(zip(names, (float(vm.max()), float(mag.max()), float(energy.max())), strict=True))
        return u_bc, qoi
