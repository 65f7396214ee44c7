"""The thin layer over dolfinx 0.5: every dolfinx, ufl, petsc4py and mpi4py call of uqgan lives here.

Everything above this file works with numpy arrays and scipy sparse matrices, so porting to a
newer dolfinx (0.6 ``bb_tree``/``*_options``, 0.8 ``fem.functionspace``/``basix.ufl.element``,
0.9 ``x.petsc_vec``) touches this one file. Serial by design: each process builds its own mesh on
``MPI.COMM_SELF`` and campaigns parallelise over samples.

Dof layout: a vector P_k space is blocked with block size 2; node ``i`` (a row of
``tabulate_dof_coordinates``) owns raw dofs ``2 i`` (x) and ``2 i + 1`` (y), and the assembled
matrices use the raw numbering.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .._lazy import require

logger = logging.getLogger(__name__)

_PURPOSE = "finite-element solves (uqgan.fem)"


def _modules():
    dolfinx = require("dolfinx", purpose=_PURPOSE)
    require("dolfinx.fem.petsc", purpose=_PURPOSE)
    ufl = require("ufl", purpose=_PURPOSE)
    mpi4py = require("mpi4py.MPI", purpose=_PURPOSE)
    return dolfinx, ufl, mpi4py


def versions() -> dict[str, str]:
    """Versions of the FEM stack, for provenance."""
    dolfinx, ufl, _ = _modules()
    petsc4py = require("petsc4py", purpose=_PURPOSE)
    from petsc4py import PETSc

    return {
        "dolfinx": dolfinx.__version__,
        "ufl": getattr(ufl, "__version__", "?"),
        "petsc": ".".join(map(str, PETSc.Sys.getVersion())),
        "petsc4py": petsc4py.__version__,
    }


# ------------------------------------------------------------------------------------------------
# meshes


def rectangle_mesh(length_m: float, height_m: float, nx: int, ny: int):
    """Structured triangle mesh of [0, length] x [0, height] (each square cut along one diagonal)."""
    dolfinx, _, MPI = _modules()
    return dolfinx.mesh.create_rectangle(
        MPI.COMM_SELF, [np.array([0.0, 0.0]), np.array([length_m, height_m])], [nx, ny],
        dolfinx.mesh.CellType.triangle, diagonal=dolfinx.mesh.DiagonalType.right,
    )


def mesh_from_arrays(points: np.ndarray, triangles: np.ndarray, degree: int = 1):
    """A dolfinx triangle mesh from vertex coordinates ``(n, 2)`` and connectivity ``(m, 3)``."""
    dolfinx, ufl, MPI = _modules()
    domain = ufl.Mesh(ufl.VectorElement("Lagrange", ufl.triangle, degree))
    return dolfinx.mesh.create_mesh(MPI.COMM_SELF, np.asarray(triangles, dtype=np.int64),
                                    np.asarray(points, dtype=np.float64)[:, :2], domain)


def cell_midpoints(mesh) -> np.ndarray:
    """Midpoints of the local cells, ``(n_cells, 2)`` [m]."""
    dolfinx, _, _ = _modules()
    tdim = mesh.topology.dim
    n = mesh.topology.index_map(tdim).size_local
    return dolfinx.mesh.compute_midpoints(mesh, tdim, np.arange(n, dtype=np.int32))[:, :2]


def num_cells(mesh) -> int:
    return mesh.topology.index_map(mesh.topology.dim).size_local


def submesh(mesh, cells: np.ndarray):
    """The restriction of ``mesh`` to ``cells`` (same vertices, same element edges)."""
    dolfinx, _, _ = _modules()
    sub, entity_map, _, _ = dolfinx.mesh.create_submesh(mesh, mesh.topology.dim, np.asarray(cells, dtype=np.int32))
    return sub, np.asarray(entity_map)


def interface_facets(mesh, cells: np.ndarray) -> np.ndarray:
    """Interior facets between the cell set ``cells`` and the rest of the mesh.

    Facets on the mesh's exterior (a hole's surface inside the set, say) are not included.
    """
    tdim = mesh.topology.dim
    mesh.topology.create_connectivity(tdim - 1, tdim)
    f2c = mesh.topology.connectivity(tdim - 1, tdim)
    inside = np.zeros(num_cells(mesh), dtype=bool)
    inside[cells] = True
    n_facets = mesh.topology.index_map(tdim - 1).size_local
    offsets, links = f2c.offsets[: n_facets + 1], f2c.array
    counts = np.add.reduceat(inside[links].astype(np.int64), offsets[:-1])
    n_links = np.diff(offsets)
    return np.flatnonzero((counts == 1) & (n_links == 2)).astype(np.int32)


def boundary_facets(mesh, marker) -> np.ndarray:
    """Exterior facets whose vertices all satisfy ``marker(x) -> bool array`` (x of shape (3, n))."""
    dolfinx, _, _ = _modules()
    return dolfinx.mesh.locate_entities_boundary(mesh, mesh.topology.dim - 1, marker)


# ------------------------------------------------------------------------------------------------
# spaces, dofs


@dataclass
class VectorSpace:
    """A vector Lagrange space and what the numpy side needs of it."""

    V: object
    degree: int
    node_coords: np.ndarray  # (n_nodes, 2) [m]

    @property
    def n_nodes(self) -> int:
        return self.node_coords.shape[0]

    @property
    def n_dofs(self) -> int:
        return 2 * self.n_nodes


def vector_space(mesh, degree: int) -> VectorSpace:
    dolfinx, _, _ = _modules()
    V = dolfinx.fem.VectorFunctionSpace(mesh, ("Lagrange", degree))
    coords = V.tabulate_dof_coordinates()[:, :2].copy()
    return VectorSpace(V=V, degree=degree, node_coords=coords)


def nodes_on_facets(space: VectorSpace, facets: np.ndarray) -> np.ndarray:
    """Node (block) indices of ``space`` on ``facets``; raw dofs are ``2 i + component``."""
    dolfinx, _, _ = _modules()
    mesh = space.V.mesh
    return np.sort(dolfinx.fem.locate_dofs_topological(space.V, mesh.topology.dim - 1, facets)).astype(np.int64)


def raw_dofs(nodes: np.ndarray, components=(0, 1)) -> np.ndarray:
    """Raw dof indices of ``nodes`` for the given components, node-major: ``[2i, 2i+1, ...]``."""
    nodes = np.asarray(nodes, dtype=np.int64)
    return (2 * nodes[:, None] + np.asarray(components, dtype=np.int64)[None, :]).ravel()


# ------------------------------------------------------------------------------------------------
# assembly


def _to_scipy(A) -> sp.csr_matrix:
    A.assemble()
    indptr, indices, data = A.getValuesCSR()
    out = sp.csr_matrix((data.copy(), indices.copy(), indptr.copy()), shape=A.getSize())
    A.destroy()
    return out


def _elastic_forms(space: VectorSpace, poisson_ratio: float):
    dolfinx, ufl, _ = _modules()
    mesh = space.V.mesh
    Q = dolfinx.fem.FunctionSpace(mesh, ("DG", 0))
    E = dolfinx.fem.Function(Q)
    nu = float(poisson_ratio)
    lam_per_E, mu_per_E = nu / ((1 + nu) * (1 - 2 * nu)), 1 / (2 * (1 + nu))
    u, v = ufl.TrialFunction(space.V), ufl.TestFunction(space.V)

    def eps(w):
        return ufl.sym(ufl.grad(w))

    def sigma(w):  # plane strain, sigma = lambda tr(eps) I + 2 mu eps, both linear in E
        return E * (lam_per_E * ufl.tr(eps(w)) * ufl.Identity(2) + 2 * mu_per_E * eps(w))

    return E, u, v, ufl.inner(sigma(u), eps(v)) * ufl.dx


class Assembler:
    """Compiled forms of one mesh and space: mass, stiffness (for any DG0 Young's modulus field),
    and the unit-pressure load on part of the boundary."""

    def __init__(self, space: VectorSpace, *, density_kg_m3: float, poisson_ratio: float):
        dolfinx, ufl, _ = _modules()
        self.space = space
        self.density = float(density_kg_m3)
        self.E, u, v, a_k = _elastic_forms(space, poisson_ratio)
        self._k_form = dolfinx.fem.form(a_k)
        self._m_form = dolfinx.fem.form(self.density * ufl.inner(u, v) * ufl.dx)
        self._v = v
        self._load_forms: dict = {}

    @property
    def n_cells(self) -> int:
        return self.E.x.array.size

    def mass(self) -> sp.csr_matrix:
        """Consistent mass matrix ``∫ ρ u·v`` [kg], no boundary conditions."""
        dolfinx, _, _ = _modules()
        return _to_scipy(dolfinx.fem.petsc.assemble_matrix(self._m_form))

    def stiffness(self, youngs_modulus_pa) -> sp.csr_matrix:
        """Stiffness ``∫ σ(u):ε(v)`` [N/m], E per cell ``(n_cells,)`` or a scalar; no BCs."""
        dolfinx, _, _ = _modules()
        values = np.broadcast_to(np.asarray(youngs_modulus_pa, dtype=float), (self.n_cells,))
        self.E.x.array[:] = values
        return _to_scipy(dolfinx.fem.petsc.assemble_matrix(self._k_form))

    def pressure_load(self, facets: np.ndarray, *, centre_m: float | None = None, width_m: float | None = None,
                      axis: int = 0, quadrature_degree: int = 8) -> np.ndarray:
        """Load vector [N/m] of a unit-peak pressure pushing into the body on ``facets``.

        The pressure is ``cos²(π (s - centre) / width)`` for ``|s - centre| < width/2`` along
        coordinate ``axis`` of the facet (see :func:`uqgan.physics.material.raised_cosine_footprint`), or
        uniform (1 Pa) when ``centre_m`` is None; traction ``t = -p n``. The footprint is smooth,
        so a high quadrature degree integrates it accurately whatever its position on the mesh.
        """
        dolfinx, ufl, _ = _modules()
        if centre_m is None:
            centre_m, width_m = 0.0, np.inf
        key = (tuple(np.asarray(facets).tolist()), axis, quadrature_degree, bool(np.isinf(width_m)))
        if key not in self._load_forms:
            mesh = self.space.V.mesh
            fdim = mesh.topology.dim - 1
            facets = np.asarray(facets, dtype=np.int32)
            tags = dolfinx.mesh.meshtags(mesh, fdim, facets, np.ones_like(facets))
            ds = ufl.Measure("ds", domain=mesh, subdomain_data=tags, metadata={"quadrature_degree": quadrature_degree})
            c = dolfinx.fem.Constant(mesh, 0.0)
            w = dolfinx.fem.Constant(mesh, 1.0)
            x = ufl.SpatialCoordinate(mesh)
            if key[-1]:
                p = 1.0
            else:
                s = (x[axis] - c) / w
                p = ufl.conditional(ufl.lt(abs(s), 0.5), ufl.cos(np.pi * s) ** 2, 0.0)
            n = ufl.FacetNormal(mesh)
            form = dolfinx.fem.form(-p * ufl.inner(n, self._v) * ds(1))
            self._load_forms[key] = (form, c, w)
        form, c, w = self._load_forms[key]
        c.value = float(centre_m)
        if np.isfinite(width_m):
            w.value = float(width_m)
        vec = dolfinx.fem.petsc.assemble_vector(form)
        from petsc4py import PETSc

        vec.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        out = vec.array.copy()
        vec.destroy()
        return out


# ------------------------------------------------------------------------------------------------
# zone operators


def strain_operator(space: VectorSpace) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse map from displacement dofs to the strain at the vertices of every cell.

    For P_k displacements on affine triangles the strain is a P_{k-1} polynomial per cell;
    evaluating it at the nodes of a discontinuous P_{max(k-1,1)} space gives a field whose
    per-cell maximum of any convex function (von Mises) is at those nodes when k <= 2.

    Returns
    -------
    S : (3 n_points, n_dofs) csr — rows ``3 p + (0, 1, 2)`` give ``(ε_xx, ε_yy, 2 ε_xy)`` at point p
    cells : (n_points,) int — the cell of each point (to look up the material there)
    """
    dolfinx, ufl, _ = _modules()
    mesh = space.V.mesh
    W = dolfinx.fem.VectorFunctionSpace(mesh, ("DG", max(space.degree - 1, 1)), dim=3)
    u = dolfinx.fem.Function(space.V)
    e = ufl.sym(ufl.grad(u))
    expr = dolfinx.fem.Expression(ufl.as_vector([e[0, 0], e[1, 1], 2 * e[0, 1]]), W.element.interpolation_points())
    w = dolfinx.fem.Function(W)
    n = space.n_dofs
    rows, cols, vals = [], [], []
    for j in range(n):
        u.x.array[:] = 0.0
        u.x.array[j] = 1.0
        w.interpolate(expr)
        col = w.x.array
        nz = np.flatnonzero(np.abs(col) > 1e-14 * max(np.abs(col).max(), 1.0))
        rows.append(nz)
        cols.append(np.full(nz.size, j))
        vals.append(col[nz].copy())
    S = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(w.x.array.size, n))
    # the cell of each DG point: DG dofs are blocked by 3, dofmap gives the points of each cell
    n_cells = num_cells(mesh)
    cell_dofs = W.dofmap.list.array.reshape(n_cells, -1)
    cells = np.empty(w.x.array.size // 3, dtype=np.int64)
    cells[cell_dofs] = np.arange(n_cells)[:, None]
    return S, cells


# ------------------------------------------------------------------------------------------------
# output


def write_xdmf(space: VectorSpace, path: str | Path, times: np.ndarray, displacements: np.ndarray) -> Path:
    """ParaView output: displacement snapshots ``(n_times, n_dofs)`` [m] at ``times`` [s], XDMF+HDF5."""
    dolfinx, _, MPI = _modules()
    path = Path(path).with_suffix(".xdmf")
    mesh = space.V.mesh
    # XDMF in dolfinx 0.5 writes P1 (or the mesh's degree) fields: interpolate P_k into P1
    V1 = dolfinx.fem.VectorFunctionSpace(mesh, ("Lagrange", 1))
    u = dolfinx.fem.Function(space.V)
    u1 = dolfinx.fem.Function(V1)
    u1.name = "displacement"
    with dolfinx.io.XDMFFile(MPI.COMM_SELF, str(path), "w") as f:
        f.write_mesh(mesh)
        for t, snap in zip(times, displacements, strict=True):
            u.x.array[:] = snap
            u1.interpolate(u)
            f.write_function(u1, float(t))
    return path


# ------------------------------------------------------------------------------------------------
# linear solver


def petsc_lu(A: sp.spmatrix, *, ordering: str = "nd"):
    """Factorise ``A`` once with PETSc's own sparse LU; returns ``solve(b)`` for (n,) or (n, k).

    Measured on the default case's 20.5k-dof P2 operator (2 cores, serial): PETSc LU with nested
    dissection solves in 1.0 ms, SuperLU (scipy, MMD on AᵀA+A) in 2.0 ms, MUMPS in 3.0 ms.
    """
    require("petsc4py", purpose=_PURPOSE)
    from petsc4py import PETSc

    A = sp.csr_matrix(A)
    n = A.shape[0]
    mat = PETSc.Mat().createAIJ(size=A.shape, csr=(A.indptr.astype(PETSc.IntType), A.indices.astype(PETSc.IntType),
                                                   A.data), comm=PETSc.COMM_SELF)
    mat.assemble()
    ksp = PETSc.KSP().create(PETSc.COMM_SELF)
    ksp.setOperators(mat)
    ksp.setType("preonly")
    pc = ksp.getPC()
    pc.setType("lu")
    pc.setFactorSolverType("petsc")
    pc.setFactorOrdering(ordering)
    ksp.setUp()
    factor = pc.getFactorMatrix()
    b_vec, x_vec = mat.createVecRight(), mat.createVecLeft()

    def solve(b: np.ndarray) -> np.ndarray:
        if b.ndim == 1:
            b_vec.array_w[:] = b
            factor.solve(b_vec, x_vec)
            return x_vec.array_r.copy()
        k = b.shape[1]
        B = PETSc.Mat().createDense((n, k), array=np.asfortranarray(b, dtype=float), comm=PETSc.COMM_SELF)
        X = PETSc.Mat().createDense((n, k), comm=PETSc.COMM_SELF)
        X.setUp()
        factor.matSolve(B, X)
        out = X.getDenseArray().copy()
        B.destroy()
        X.destroy()
        return out

    # The factor lives as long as the closure. petsc4py does not free a KSP's factorisation when the
    # Python objects go (measured: +16 MiB per factorisation of the 20.5k-dof operator, so a campaign
    # worker grew by ~34 MiB per sample until the OOM killer took it): destroy them explicitly then.
    solve.petsc_objects = (factor, pc, ksp, mat, b_vec, x_vec)  # destroyed when ``solve`` goes (tested)
    finalizer = weakref.finalize(solve, _destroy_petsc, *solve.petsc_objects)
    finalizer.atexit = False  # at interpreter exit PETSc may be finalised already; the OS frees it all
    return solve


def _destroy_petsc(*objs) -> None:
    for obj in objs:
        obj.destroy()
