"""The thin layer over dolfinx 0.5: every dolfinx, ufl, petsc4py and mpi4py call of uqgan lives here.

Everything above this file works with numpy arrays and scipy sparse matrices, so porting to a
newer dolfinx (0.6 ``bb_tree``/``*_options``, 0.8 ``fem.functionspace``/``basix.ufl.element``,
0.9 ``x.petsc_vec``) touches this one file. The serial model builds its mesh on ``MPI.COMM_SELF``
(campaigns parallelise over samples); the MPI section at the end partitions one model over
``COMM_WORLD`` (:mod:`uqgan.fem.parallel`).

Dof layout: a vector P_k space is blocked with block size d (2 in plane strain, 3 for a 3-D mesh);
node ``i`` (a row of ``tabulate_dof_coordinates``) owns raw dofs ``d i`` (x), ``d i + 1`` (y) and
in 3-D ``d i + 2`` (z), and the assembled matrices use the raw numbering. Tagged meshes from files
are built by :func:`mesh_from_tagged` (cells and facet groups kept through dolfinx's reordering).
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
    """Midpoints of the local cells, ``(n_cells, gdim)`` [m]."""
    dolfinx, _, _ = _modules()
    tdim = mesh.topology.dim
    n = mesh.topology.index_map(tdim).size_local
    return dolfinx.mesh.compute_midpoints(mesh, tdim, np.arange(n, dtype=np.int32))[:, :mesh.geometry.dim]


_DOLFINX_CELLS = {"triangle": "triangle", "quad": "quadrilateral", "tetra": "tetrahedron", "hexahedron": "hexahedron"}


def mesh_from_tagged(tagged) -> tuple[object, np.ndarray, object]:
    """A dolfinx mesh of a :class:`~uqgan.fem._mesh.TaggedMesh` with its cell and facet groups.

    Returns
    -------
    mesh : dolfinx Mesh (linear geometry, ``gdim`` = the tagged mesh's dimension)
    cell_tags : (n_cells,) int64, physical group of each dolfinx cell (dolfinx reorders cells)
    facet_tags : dolfinx MeshTags of the tagged facets (values = physical group numbers)
    """
    dolfinx, ufl, MPI = _modules()
    from dolfinx.io import gmshio

    cell_name = _DOLFINX_CELLS[tagged.cell_type]
    cell_type = getattr(dolfinx.mesh.CellType, cell_name)
    perm = gmshio.cell_perm_array(cell_type, tagged.cells.shape[1])
    cells = np.ascontiguousarray(tagged.cells[:, perm], dtype=np.int64)
    domain = ufl.Mesh(ufl.VectorElement("Lagrange", ufl.Cell(cell_name, geometric_dimension=tagged.dimension), 1))
    mesh = dolfinx.mesh.create_mesh(MPI.COMM_SELF, cells, np.ascontiguousarray(tagged.points), domain)
    cell_tags = np.asarray(tagged.cell_tags)[np.asarray(mesh.topology.original_cell_index)]
    tdim = mesh.topology.dim
    facet_cell = {"line": dolfinx.mesh.CellType.interval, "triangle": dolfinx.mesh.CellType.triangle,
                  "quad": dolfinx.mesh.CellType.quadrilateral}
    from ._mesh import CELL_TYPES

    ftype = facet_cell[CELL_TYPES[tagged.cell_type][1]]
    facets = np.ascontiguousarray(tagged.facets[:, gmshio.cell_perm_array(ftype, tagged.facets.shape[1])],
                                  dtype=np.int64)
    entities, values = dolfinx.io.distribute_entity_data(mesh._mesh, tdim - 1, facets,
                                                         np.asarray(tagged.facet_tags, dtype=np.int32))
    mesh.topology.create_connectivity(tdim - 1, tdim)
    adj = dolfinx.cpp.graph.AdjacencyList_int32(entities)
    facet_tags = dolfinx.mesh.meshtags_from_entities(mesh, tdim - 1, adj, np.asarray(values, dtype=np.int32))
    return mesh, cell_tags.astype(np.int64), facet_tags


def cell_volumes(mesh) -> np.ndarray:
    """Area (2-D) or volume (3-D) of each local cell, ``(n_cells,)`` [m² or m³], by ``∫ 1 dx`` per cell."""
    dolfinx, ufl, _ = _modules()
    Q = dolfinx.fem.FunctionSpace(mesh, ("DG", 0))
    vec = dolfinx.fem.petsc.assemble_vector(dolfinx.fem.form(ufl.TestFunction(Q) * ufl.dx))
    out = vec.array.copy()
    vec.destroy()
    return out


def geometry_arrays(mesh, facets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A linear mesh as arrays: points ``(n, gdim)`` [m], cells ``(m, k)`` and the given facets'
    ``(f, kf)`` node indices (dolfinx vertex order; simplices only need no permutation)."""
    dolfinx, _, _ = _modules()
    tdim = mesh.topology.dim
    cells = np.asarray(mesh.geometry.dofmap.array).reshape(num_cells(mesh), -1).astype(np.int64)
    mesh.topology.create_connectivity(tdim - 1, tdim)
    fnodes = dolfinx.cpp.mesh.entities_to_geometry(mesh._mesh, tdim - 1, np.asarray(facets, dtype=np.int32), False)
    return mesh.geometry.x[:, :mesh.geometry.dim].copy(), cells, np.asarray(fnodes, dtype=np.int64)


def tagged_facets(facet_tags, numbers) -> np.ndarray:
    """Facet indices whose tag is one of ``numbers``."""
    return np.sort(np.asarray(facet_tags.indices)[np.isin(facet_tags.values, np.asarray(numbers))]).astype(np.int32)


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
    """A vector Lagrange space (or the CJRT space, P2 plus bubble) and what the numpy side needs of it."""

    V: object
    degree: int
    node_coords: np.ndarray  # (n_nodes, gdim) [m]
    element: str = "lagrange"  # "lagrange" (P_degree) or "cjrt" (P2 + cubic bubble, uqgan.fem._cjrt)

    @property
    def n_nodes(self) -> int:
        return self.node_coords.shape[0]

    @property
    def dim(self) -> int:
        """Components per node (the geometric dimension, 2 or 3)."""
        return self.node_coords.shape[1]

    @property
    def n_dofs(self) -> int:
        return self.dim * self.n_nodes


def resolve_mass_lumping(mesh, degree: int, lumping: str) -> str:
    """The lumping an explicit model of ``mesh`` at ``degree`` uses for ``lumping`` = ``"auto"``,
    ``"hrz"`` or ``"cjrt"``: ``"auto"`` is ``"cjrt"`` where the CJRT element exists (degree 2 on
    triangles) and ``"hrz"`` elsewhere (P1, P3, quadrilaterals, tetrahedra, hexahedra); the others are
    returned as given (``vector_space`` refuses ``"cjrt"`` where it does not exist)."""
    dolfinx, _, _ = _modules()
    if lumping != "auto":
        return lumping
    return "cjrt" if degree == 2 and mesh.topology.cell_type == dolfinx.mesh.CellType.triangle else "hrz"


def cell_type_name(mesh) -> str:
    """The mesh's cell type: ``"triangle"``, ``"quadrilateral"``, ``"tetrahedron"`` or ``"hexahedron"``."""
    return mesh.topology.cell_type.name


def vector_space(mesh, degree: int, element: str = "lagrange") -> VectorSpace:
    """The vector space of displacements: P_degree Lagrange, or with ``element="cjrt"`` (degree 2,
    triangles) the mass-lumped P2-plus-bubble element of :mod:`uqgan.fem._cjrt` (nodes: vertices,
    edge midpoints, then one per cell at its centroid)."""
    dolfinx, _, _ = _modules()
    if element == "cjrt":
        if degree != 2 or mesh.topology.cell_type != dolfinx.mesh.CellType.triangle:
            raise ValueError(f"time.mass_lumping='cjrt': the CJRT element is P2 on triangles, this mesh has "
                             f"{mesh.topology.cell_type.name} cells at degree {degree}; use mass_lumping = 'hrz'")
        import basix.ufl_wrapper

        from ._cjrt import cjrt_element

        scalar = basix.ufl_wrapper.BasixElement(cjrt_element())
        V = dolfinx.fem.FunctionSpace(mesh, basix.ufl_wrapper.VectorElement(scalar, mesh.geometry.dim))
    elif element == "lagrange":
        V = dolfinx.fem.VectorFunctionSpace(mesh, ("Lagrange", degree))
    else:
        raise ValueError(f"element={element!r}: must be 'lagrange' or 'cjrt'")
    coords = V.tabulate_dof_coordinates()[:, :mesh.geometry.dim].copy()
    return VectorSpace(V=V, degree=degree, node_coords=coords, element=element)


def nodes_on_facets(space: VectorSpace, facets: np.ndarray) -> np.ndarray:
    """Node (block) indices of ``space`` on ``facets``; raw dofs are ``2 i + component``."""
    dolfinx, _, _ = _modules()
    mesh = space.V.mesh
    return np.sort(dolfinx.fem.locate_dofs_topological(space.V, mesh.topology.dim - 1, facets)).astype(np.int64)


def raw_dofs(nodes: np.ndarray, components=(0, 1), *, dim: int = 2) -> np.ndarray:
    """Raw dof indices of ``nodes`` for the given components, node-major: ``[d i, d i + 1, ...]``
    with ``d = dim`` components per node (pass ``components=range(3), dim=3`` in 3-D)."""
    nodes = np.asarray(nodes, dtype=np.int64)
    return (dim * nodes[:, None] + np.asarray(components, dtype=np.int64)[None, :]).ravel()


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

    def sigma(w):  # sigma = lambda tr(eps) I + 2 mu eps (plane strain in 2-D), both linear in E
        return E * (lam_per_E * ufl.tr(eps(w)) * ufl.Identity(mesh.geometry.dim) + 2 * mu_per_E * eps(w))

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

    def pressure_load_disc(self, facets: np.ndarray, *, centre_m, width_m: float,
                           quadrature_degree: int = 8) -> np.ndarray:
        """Load vector [N or N/m] of a unit-peak pressure footprint centred on a point, on ``facets``.

        The pressure is ``cos²(π r / width)`` for ``r = |x - centre| < width/2`` (a raised-cosine
        disc in 3-D, a raised-cosine segment on a straight 2-D edge), traction ``t = -p n``.
        """
        dolfinx, ufl, _ = _modules()
        key = ("disc", tuple(np.asarray(facets).tolist()), quadrature_degree)
        if key not in self._load_forms:
            mesh = self.space.V.mesh
            ds = _facet_measure(mesh, facets, quadrature_degree)
            c = dolfinx.fem.Constant(mesh, np.zeros(mesh.geometry.dim))
            w = dolfinx.fem.Constant(mesh, 1.0)
            x = ufl.SpatialCoordinate(mesh)
            s = ufl.sqrt(ufl.dot(x - c, x - c)) / w
            p = ufl.conditional(ufl.lt(s, 0.5), ufl.cos(np.pi * s) ** 2, 0.0)
            n = ufl.FacetNormal(mesh)
            self._load_forms[key] = (dolfinx.fem.form(-p * ufl.inner(n, self._v) * ds(1)), c, w)
        form, c, w = self._load_forms[key]
        c.value = np.asarray(centre_m, dtype=float)
        w.value = float(width_m)
        return _assembled_array(form)

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
            ds = _facet_measure(mesh, facets, quadrature_degree)
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
        return _assembled_array(form)


# ------------------------------------------------------------------------------------------------
# zone operators


def strain_operator(space: VectorSpace) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse map from displacement dofs to the strain at the vertices of every cell.

    For P_k displacements on affine triangles the strain is a P_{k-1} polynomial per cell;
    evaluating it at the nodes of a discontinuous P_{max(k-1,1)} space gives a field whose
    per-cell maximum of any convex function (von Mises) is at those nodes when k <= 2.

    Returns
    -------
    S : (3 n_points, n_dofs) csr — rows ``3 p + (0, 1, 2)`` give ``(ε_xx, ε_yy, 2 ε_xy)`` at point p;
        in 3-D ``(6 n_points, n_dofs)``, rows ``6 p + (0..5)`` give ``(ε_xx, ε_yy, ε_zz, 2 ε_yz, 2 ε_xz, 2 ε_xy)``
    cells : (n_points,) int — the cell of each point (to look up the material there)
    """
    dolfinx, ufl, _ = _modules()
    mesh = space.V.mesh
    nc = 3 if mesh.geometry.dim == 2 else 6
    W = dolfinx.fem.VectorFunctionSpace(mesh, ("DG", max(space.degree - 1, 1)), dim=nc)
    u = dolfinx.fem.Function(space.V)
    e = ufl.sym(ufl.grad(u))
    comps = ([e[0, 0], e[1, 1], 2 * e[0, 1]] if nc == 3 else
             [e[0, 0], e[1, 1], e[2, 2], 2 * e[1, 2], 2 * e[0, 2], 2 * e[0, 1]])
    expr = dolfinx.fem.Expression(ufl.as_vector(comps), W.element.interpolation_points())
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
    # the cell of each DG point: DG dofs are blocked by nc, dofmap gives the points of each cell
    n_cells = num_cells(mesh)
    cell_dofs = W.dofmap.list.array.reshape(n_cells, -1)
    cells = np.empty(w.x.array.size // nc, dtype=np.int64)
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


def petsc_lu(A: sp.spmatrix, *, ordering: str = "nd", package: str = "petsc", cholesky: bool = False):
    """Factorise ``A`` once with PETSc's own sparse LU; returns ``solve(b)`` for (n,) or (n, k).

    Measured on the default case's 20.5k-dof P2 operator (2 cores, serial): PETSc LU with nested
    dissection solves in 1.0 ms, SuperLU (scipy, MMD on AᵀA+A) in 2.0 ms, MUMPS in 3.0 ms.
    In 3-D the fill-in changes the order (30k-dof P2 tetrahedra of ``simulations/plate3d_hole``):
    PETSc LU factorises in 11.4 s and solves in 25 ms, MUMPS Cholesky (``package="mumps",
    cholesky=True``, for the symmetric effective matrix) in 2.8 s and 32 ms, CG + ICC(0) needs 23
    iterations (137 ms) per solve: see :func:`petsc_cholesky_mumps`.
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
    pc.setType("cholesky" if cholesky else "lu")
    pc.setFactorSolverType(package)
    if package == "petsc":
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


def _facet_measure(mesh, facets, quadrature_degree: int):
    """The surface measure ``ds(1)`` over the given boundary facets (tagged 1), at a fixed quadrature degree."""
    dolfinx, ufl, _ = _modules()
    facets = np.asarray(facets, dtype=np.int32)
    tags = dolfinx.mesh.meshtags(mesh, mesh.topology.dim - 1, facets, np.ones_like(facets))
    return ufl.Measure("ds", domain=mesh, subdomain_data=tags, metadata={"quadrature_degree": quadrature_degree})


def _assembled_array(form) -> np.ndarray:
    """Assemble a linear form into a PETSc vector, add the ghost contributions, return a numpy copy."""
    dolfinx, _, _ = _modules()
    from petsc4py import PETSc

    vec = dolfinx.fem.petsc.assemble_vector(form)
    vec.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    out = vec.array.copy()
    vec.destroy()
    return out


def _destroy_petsc(*objs) -> None:
    for obj in objs:
        obj.destroy()


# ------------------------------------------------------------------------------------------------
# MPI: one full model over the ranks of COMM_WORLD (dolfinx's partition, PETSc's parallel matrices)
#
# Each rank holds its own cells, the dofs it owns plus ghosts; PETSc matrices and vectors are
# distributed by owned dofs in dolfinx's local order (global raw dof = bs * local_range[0] + local, bs = 2 or 3).
# The numpy side sees each rank's owned part only.


def world():
    """``MPI.COMM_WORLD`` (initialises MPI on first use)."""
    _, _, MPI = _modules()
    return MPI.COMM_WORLD


def world_size() -> int:
    return world().size


def world_rank() -> int:
    return world().rank


def distributed_rectangle_mesh(length_m: float, height_m: float, nx: int, ny: int):
    """:func:`rectangle_mesh` partitioned over ``COMM_WORLD`` (same vertices, same diagonals)."""
    dolfinx, _, MPI = _modules()
    return dolfinx.mesh.create_rectangle(
        MPI.COMM_WORLD, [np.array([0.0, 0.0]), np.array([length_m, height_m])], [nx, ny],
        dolfinx.mesh.CellType.triangle, diagonal=dolfinx.mesh.DiagonalType.right,
    )


def distributed_mesh_from_arrays(points: np.ndarray | None, triangles: np.ndarray | None):
    """:func:`mesh_from_arrays` partitioned over ``COMM_WORLD``: rank 0 gives the arrays (the
    others None) and dolfinx's partitioner distributes the cells, once, before any time step."""
    dolfinx, ufl, MPI = _modules()
    if MPI.COMM_WORLD.rank != 0 or points is None:
        points, triangles = np.zeros((0, 2)), np.zeros((0, 3), dtype=np.int64)
    domain = ufl.Mesh(ufl.VectorElement("Lagrange", ufl.triangle, 1))
    return dolfinx.mesh.create_mesh(MPI.COMM_WORLD, np.asarray(triangles, dtype=np.int64),
                                    np.asarray(points, dtype=np.float64)[:, :2], domain)


def local_cell_midpoints(mesh) -> np.ndarray:
    """Midpoints of this rank's cells, owned then ghost ones, ``(n_local_cells, gdim)`` [m] (the
    order of a DG0 function's local array: what a per-cell Young's modulus fills)."""
    dolfinx, _, _ = _modules()
    tdim = mesh.topology.dim
    im = mesh.topology.index_map(tdim)
    n = im.size_local + im.num_ghosts
    return dolfinx.mesh.compute_midpoints(mesh, tdim, np.arange(n, dtype=np.int32))[:, :mesh.geometry.dim]


def owned_nodes(space: VectorSpace) -> int:
    """Number of nodes this rank owns (the first ones of ``space.node_coords``; the rest are ghosts)."""
    return space.V.dofmap.index_map.size_local


def first_global_dof(space: VectorSpace) -> int:
    """Global raw index of this rank's first owned dof."""
    return space.V.dofmap.index_map_bs * space.V.dofmap.index_map.local_range[0]


def petsc_mass(assembler: Assembler):
    """Consistent mass as a distributed PETSc matrix (no boundary conditions)."""
    dolfinx, _, _ = _modules()
    A = dolfinx.fem.petsc.assemble_matrix(assembler._m_form)
    A.assemble()
    return A


def petsc_stiffness(assembler: Assembler, youngs_modulus_pa):
    """Stiffness as a distributed PETSc matrix (no BCs); Young's modulus [Pa] a scalar or one
    value per local cell, ghosts included (see :func:`local_cell_midpoints`)."""
    dolfinx, _, _ = _modules()
    assembler.E.x.array[:] = np.broadcast_to(np.asarray(youngs_modulus_pa, dtype=float), assembler.E.x.array.shape)
    A = dolfinx.fem.petsc.assemble_matrix(assembler._k_form)
    A.assemble()
    return A


class PetscOperator:
    """``A @ x`` for a distributed PETSc matrix on each rank's owned part ``x`` ``(n_owned,)``:
    one ``MatMult`` (PETSc exchanges the ghost values it needs)."""

    def __init__(self, A):
        self.A = A
        self._x, self._y = A.createVecRight(), A.createVecLeft()
        n = self._x.getLocalSize()
        self.shape = (n, n)

    def __matmul__(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 1:
            raise ValueError("the MPI model steps one run at a time: x must be (n_owned,)")
        self._x.array_w[:] = x
        self.A.mult(self._x, self._y)
        return self._y.array_r.copy()


def lumped_mass_petsc(M, degree: int, lumping: str = "hrz") -> np.ndarray:
    """The rule of :func:`uqgan.physics.explicit.lumped_mass` on a distributed matrix: row sums for degree
    1 and for the CJRT space (``lumping="cjrt"``), HRZ (``diag(M) · Σᵢⱼ Mᵢⱼ / Σᵢ Mᵢᵢ``, sums over all
    ranks) otherwise. Owned part, ``(n_owned,)``."""
    ones, rows = M.createVecRight(), M.createVecLeft()
    ones.set(1.0)
    M.mult(ones, rows)
    if degree == 1 or lumping == "cjrt":
        return rows.array_r.copy()
    diag = M.getDiagonal()
    scale = rows.sum() / diag.sum()
    return diag.array_r * scale


def global_dot(comm=None):
    """``dot(a, b)`` over all ranks of ``comm`` (default ``COMM_WORLD``) for owned parts."""
    comm = comm or world()
    if comm.size == 1:
        return lambda a, b: float(np.dot(a, b))
    _, _, MPI = _modules()
    local, total = np.zeros(1), np.zeros(1)

    def dot(a, b):
        local[0] = np.dot(a, b)
        comm.Allreduce(local, total, op=MPI.SUM)
        return float(total[0])

    return dot


def broadcast(obj, root: int = 0):
    """``obj`` from ``root`` on every rank of ``COMM_WORLD`` (pickled; small objects only)."""
    return world().bcast(obj, root=root)


def global_max(value: float) -> float:
    _, _, MPI = _modules()
    return world().allreduce(float(value), op=MPI.MAX)


def petsc_effective_solver(M, K, m_coef: float, k_coef: float, fixed_owned: np.ndarray, first_dof: int,
                           *, solver: str = "mumps"):
    """Factorise ``A = m_coef M + k_coef K`` with the constrained dofs' rows and columns replaced
    by the identity, in parallel (MUMPS by default; PETSc's own LU on one rank). Returns
    ``solve(b) -> x`` on owned parts: the constrained entries of ``x`` are ``b``'s (zero for a clamp)."""
    require("petsc4py", purpose=_PURPOSE)
    from petsc4py import PETSc

    A = M.copy()
    A.scale(m_coef)
    A.axpy(k_coef, K)
    rows = (np.asarray(fixed_owned, dtype=np.int64) + first_dof).astype(PETSc.IntType)
    A.zeroRowsColumns(rows, diag=1.0)
    ksp = PETSc.KSP().create(A.getComm())
    ksp.setOperators(A)
    ksp.setType("preonly")
    pc = ksp.getPC()
    pc.setType("lu")
    pc.setFactorSolverType(solver)
    ksp.setUp()
    b_vec, x_vec = A.createVecLeft(), A.createVecRight()

    def solve(b: np.ndarray) -> np.ndarray:
        b_vec.array_w[:] = b
        ksp.solve(b_vec, x_vec)
        return x_vec.array_r.copy()

    solve.petsc_objects = (ksp, A, b_vec, x_vec)
    finalizer = weakref.finalize(solve, _destroy_petsc, *solve.petsc_objects)
    finalizer.atexit = False
    return solve


def petsc_cholesky_mumps(A: sp.spmatrix):
    """``solve(b)`` by MUMPS's sparse Cholesky of the symmetric positive definite ``A`` (3-D default)."""
    return petsc_lu(A, package="mumps", cholesky=True)


# ------------------------------------------------------------------------------------------------
# MPI: tagged mesh files and the zone's QoIs on the ranks that own its cells (uqgan.fem.parallel_zone)


def distributed_mesh_from_tagged(tagged) -> tuple[object, np.ndarray, object]:
    """:func:`mesh_from_tagged` partitioned over ``COMM_WORLD``: rank 0 gives the
    :class:`~uqgan.fem._mesh.TaggedMesh` (the others None), dolfinx's partitioner distributes its
    cells and :func:`dolfinx.io.distribute_entity_data` its cell and facet groups (as
    ``dolfinx.io.gmshio.model_to_mesh`` does), once, before any time step.

    Returns
    -------
    mesh : dolfinx Mesh over ``COMM_WORLD`` (ghost mode shared_facet)
    cell_tags : (n_local_cells,) int64, physical group of each local cell, owned then ghost ones
    facet_tags : dolfinx MeshTags of the tagged facets on this rank (values = group numbers)
    """
    dolfinx, ufl, MPI = _modules()
    from dolfinx.io import gmshio

    from ._mesh import CELL_TYPES

    comm = MPI.COMM_WORLD
    head = None
    if comm.rank == 0:
        head = (tagged.cell_type, tagged.dimension, tagged.cells.shape[1], tagged.facets.shape[1])
    cell_type_name, gdim, k, kf = comm.bcast(head, root=0)
    cell_name = _DOLFINX_CELLS[cell_type_name]
    cell_type = getattr(dolfinx.mesh.CellType, cell_name)
    if comm.rank == 0:
        cells, points = tagged.cells, tagged.points
        cell_values, facets, facet_values = tagged.cell_tags, tagged.facets, tagged.facet_tags
    else:
        cells, points = np.zeros((0, k), dtype=np.int64), np.zeros((0, gdim))
        cell_values, facets, facet_values = np.zeros(0), np.zeros((0, kf), dtype=np.int64), np.zeros(0)
    cells = np.ascontiguousarray(cells[:, gmshio.cell_perm_array(cell_type, k)], dtype=np.int64)
    domain = ufl.Mesh(ufl.VectorElement("Lagrange", ufl.Cell(cell_name, geometric_dimension=gdim), 1))
    mesh = dolfinx.mesh.create_mesh(comm, cells, np.ascontiguousarray(points, dtype=np.float64), domain)
    tdim = mesh.topology.dim
    entities, values = dolfinx.io.distribute_entity_data(mesh._mesh, tdim, cells, np.asarray(cell_values, np.int32))
    mesh.topology.create_connectivity(tdim, 0)
    ct = dolfinx.mesh.meshtags_from_entities(mesh, tdim, dolfinx.cpp.graph.AdjacencyList_int32(entities),
                                             np.asarray(values, dtype=np.int32))
    n_own = mesh.topology.index_map(tdim).size_local
    owned = np.zeros(n_own)
    idx = np.asarray(ct.indices)
    keep = idx < n_own
    owned[idx[keep]] = np.asarray(ct.values)[keep]
    cell_tags = np.rint(cell_values_with_ghosts(mesh, owned)).astype(np.int64)
    facet_cell = {"line": dolfinx.mesh.CellType.interval, "triangle": dolfinx.mesh.CellType.triangle,
                  "quad": dolfinx.mesh.CellType.quadrilateral}
    ftype = facet_cell[CELL_TYPES[cell_type_name][1]]
    facets = np.ascontiguousarray(facets[:, gmshio.cell_perm_array(ftype, kf)], dtype=np.int64)
    entities, values = dolfinx.io.distribute_entity_data(mesh._mesh, tdim - 1, facets,
                                                         np.asarray(facet_values, dtype=np.int32))
    mesh.topology.create_connectivity(tdim - 1, tdim)
    facet_tags = dolfinx.mesh.meshtags_from_entities(mesh, tdim - 1, dolfinx.cpp.graph.AdjacencyList_int32(entities),
                                                     np.asarray(values, dtype=np.int32))
    return mesh, cell_tags, facet_tags


def _dg0(mesh):
    """A DG0 function on ``mesh`` and the local dof of each local cell (owned then ghost ones)."""
    dolfinx, _, _ = _modules()
    Q = dolfinx.fem.FunctionSpace(mesh, ("DG", 0))
    return dolfinx.fem.Function(Q), np.asarray(Q.dofmap.list.array, dtype=np.int64)


def cell_values_with_ghosts(mesh, owned_values: np.ndarray) -> np.ndarray:
    """One value per owned cell ``(n_owned_cells,)`` extended to the ghost cells (their owners'
    values, one forward scatter): ``(n_local_cells,)``, owned then ghost cells."""
    f, dofs = _dg0(mesh)
    n_own = mesh.topology.index_map(mesh.topology.dim).size_local
    f.x.array[dofs[:n_own]] = owned_values
    f.x.scatter_forward()
    return f.x.array[dofs].copy()


def owned_cell_volumes(mesh) -> np.ndarray:
    """Area (2-D) or volume (3-D) [m² or m³] of each owned cell ``(n_owned_cells,)``, by ``∫ 1 dx``."""
    dolfinx, ufl, _ = _modules()
    f, dofs = _dg0(mesh)
    vec = dolfinx.fem.petsc.assemble_vector(dolfinx.fem.form(ufl.TestFunction(f.function_space) * ufl.dx))
    out = vec.array.copy()  # owned dofs; a DG0 dof is owned with its cell
    vec.destroy()
    n_own = mesh.topology.index_map(mesh.topology.dim).size_local
    return out[dofs[:n_own]]


def num_local_cells(mesh) -> tuple[int, int]:
    """(owned, owned + ghost) cells on this rank."""
    im = mesh.topology.index_map(mesh.topology.dim)
    return im.size_local, im.size_local + im.num_ghosts


def local_interface_facets(mesh, inside: np.ndarray) -> np.ndarray:
    """Local facets (owned and ghost) between a cell set and the rest, ``inside`` a flag per local
    cell (owned then ghost). With dolfinx's shared-facet ghosting both cells of every facet of an
    owned cell are local, so each interface facet is found on every rank that owns one of its cells."""
    tdim = mesh.topology.dim
    mesh.topology.create_connectivity(tdim - 1, tdim)
    f2c = mesh.topology.connectivity(tdim - 1, tdim)
    im = mesh.topology.index_map(tdim - 1)
    n = im.size_local + im.num_ghosts
    offsets, links = f2c.offsets[: n + 1], f2c.array
    flags = np.asarray(inside, dtype=bool)
    counts = np.add.reduceat(flags[links].astype(np.int64), offsets[:-1]) if n else np.zeros(0, np.int64)
    return np.flatnonzero((counts == 1) & (np.diff(offsets) == 2)).astype(np.int32)


def cell_nodes(space: VectorSpace, cells: np.ndarray) -> np.ndarray:
    """Local node (block) indices of ``space`` on the given local cells, sorted, unique."""
    dm = space.V.dofmap
    rows = np.asarray(dm.list.array).reshape(-1, dm.dof_layout.num_dofs)
    return np.unique(rows[np.asarray(cells, dtype=np.int64)]).astype(np.int64)


def global_nodes(space: VectorSpace, local_nodes: np.ndarray) -> np.ndarray:
    """Global node (block) indices of local ones (owned or ghost)."""
    return np.asarray(space.V.dofmap.index_map.local_to_global(np.asarray(local_nodes, dtype=np.int32)),
                      dtype=np.int64)


def self_mesh_of_cells(mesh, cells: np.ndarray):
    """The given local cells of a distributed linear mesh as a mesh of their own on ``COMM_SELF``
    (the same vertex coordinates). Returns the mesh and, per cell of it, the index into ``cells``
    it came from (dolfinx reorders cells)."""
    dolfinx, ufl, MPI = _modules()
    x = mesh.geometry.x[:, :mesh.geometry.dim]
    geo = np.asarray(mesh.geometry.dofmap.array).reshape(num_local_cells(mesh)[1], -1)[np.asarray(cells)]
    used, local = np.unique(geo, return_inverse=True)
    cell = ufl.Cell(mesh.ufl_cell().cellname(), geometric_dimension=mesh.geometry.dim)
    domain = ufl.Mesh(ufl.VectorElement("Lagrange", cell, 1))
    sub = dolfinx.mesh.create_mesh(MPI.COMM_SELF, local.reshape(geo.shape).astype(np.int64),
                                   np.ascontiguousarray(x[used]), domain)
    return sub, np.asarray(sub.topology.original_cell_index, dtype=np.int64)


class GhostScatter:
    """Values of a distributed vector at given global raw indices, on this rank: one PETSc
    ``VecScatter`` built once; each call sends only the values other ranks own (the ghosts of this
    rank's zone cells), never the whole vector. Collective: every rank calls it, possibly with no
    indices."""

    def __init__(self, template, global_indices: np.ndarray):
        require("petsc4py", purpose=_PURPOSE)
        from petsc4py import PETSc

        self._x = template.createVecRight()
        idx = np.asarray(global_indices, dtype=PETSc.IntType)
        self._y = PETSc.Vec().createSeq(idx.size, comm=PETSc.COMM_SELF)
        self._is = PETSc.IS().createGeneral(idx, comm=PETSc.COMM_SELF)
        self._scatter = PETSc.Scatter().create(self._x, self._is, self._y, None)
        self._modes = (PETSc.InsertMode.INSERT_VALUES, PETSc.ScatterMode.FORWARD)
        objs = (self._scatter, self._is, self._y, self._x)
        finalizer = weakref.finalize(self, _destroy_petsc, *objs)
        finalizer.atexit = False

    def __call__(self, x_owned: np.ndarray) -> np.ndarray:
        self._x.placeArray(np.ascontiguousarray(x_owned, dtype=float))
        try:
            self._scatter.scatter(self._x, self._y, *self._modes)
        finally:
            self._x.resetArray()
        return self._y.array_r.copy()


def gather_to_root(obj):
    """``obj`` of every rank as a list on rank 0 (pickled; None on the others). Once per run."""
    return world().gather(obj, root=0)


def reduce_to_root(values: np.ndarray, op: str) -> np.ndarray | None:
    """Element-wise ``"max"`` or ``"sum"`` of an array over the ranks, on rank 0 (None elsewhere)."""
    _, _, MPI = _modules()
    comm = world()
    values = np.ascontiguousarray(values, dtype=float)
    out = np.empty_like(values) if comm.rank == 0 else None
    comm.Reduce(values, out, op={"max": MPI.MAX, "sum": MPI.SUM}[op], root=0)
    return out


def all_reduce(values, op: str) -> np.ndarray:
    """Element-wise ``"sum"``, ``"min"`` or ``"max"`` of an array over all ranks (every rank gets it)."""
    _, _, MPI = _modules()
    values = np.atleast_1d(np.asarray(values, dtype=float))
    out = np.empty_like(values)
    world().Allreduce(values, out, op={"sum": MPI.SUM, "min": MPI.MIN, "max": MPI.MAX}[op])
    return out
