"""Tagged mesh files (gmsh .msh v2/v4, XDMF) read with meshio, and their checks (numpy only, no dolfinx).

A mesh case names its structure's mesh file and three physical groups (``[geometry.tags]``): the
zone's *cells*, the *clamped* facets and the *loaded* facets. This module reads the file, keeps
the physical groups (names from gmsh's ``$PhysicalNames``, or bare numbers), and checks what the
full model and the submodel need, each failure one line (:class:`MeshError`) that names the
problem and the fix:

* the file holds cells of one linear type of the case's dimension: triangles or quadrilaterals in
  2-D (plane strain, the plane z = 0), tetrahedra or hexahedra in 3-D (a 3-D mesh in a 2-D case is
  an error; so are second-order geometry cells: the displacement degree is ``geometry.degree``);
* every named group exists (the message lists the groups the file has) and has the right
  dimension (cells for the zone, facets for clamped and loaded);
* no cell is degenerate (|volume| below 1e-10 of h^d), tangled (a quadrilateral or hexahedron whose
  Jacobian changes sign between corners) or inverted (folded over a neighbour: across an interior
  facet both cells lie on one side);
* no facet is shared by more than two cells (a non-manifold mesh);
* the zone is not empty, not the whole mesh, a connected set of cells (through shared facets), and
  shares no vertex with a clamped or loaded facet (the submodel is driven by displacements on its
  boundary only, so the loads and supports must lie outside it).

Units are metres; a mesh whose largest extent is above :data:`EXTENT_WARN_HIGH_M` or below
:data:`EXTENT_WARN_LOW_M` gets a warning naming the likely unit slip.

Examples
--------
>>> from uqgan.fem._mesh import read_tagged_mesh            # doctest: +SKIP
>>> mesh = read_tagged_mesh("bracket.msh", dimension=3)     # doctest: +SKIP
>>> mesh.cells.shape, sorted(mesh.groups)                   # doctest: +SKIP
((52311, 4), ['bolt_1', 'bolt_2', 'impact_face', 'zone'])
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import ConfigError

__all__ = ["MeshError", "TaggedMesh", "cell_measures", "check_zone", "mesh_summary", "read_tagged_mesh", "resolve_tags",
           "write_tagged_mesh"]

logger = logging.getLogger(__name__)

#: a mesh larger than this [m] is probably in millimetres
EXTENT_WARN_HIGH_M = 100.0
#: a mesh smaller than this [m] is probably scaled twice (or in km)
EXTENT_WARN_LOW_M = 1e-4
#: a cell is degenerate when |volume| < DEGENERATE_RTOL * h^d, h the mesh's median edge length
DEGENERATE_RTOL = 1e-10

#: meshio cell type -> (topological dimension, facet type, local facets in meshio/gmsh vertex order)
CELL_TYPES: dict[str, tuple[int, str, tuple[tuple[int, ...], ...]]] = {
    "triangle": (2, "line", ((1, 2), (2, 0), (0, 1))),
    "quad": (2, "line", ((0, 1), (1, 2), (2, 3), (3, 0))),
    "tetra": (3, "triangle", ((1, 2, 3), (0, 2, 3), (0, 1, 3), (0, 1, 2))),
    "hexahedron": (3, "quad", ((0, 1, 2, 3), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7))),
}
_HIGHER_ORDER = {"triangle6": "triangle", "quad8": "quad", "quad9": "quad", "tetra10": "tetra",
                 "hexahedron20": "hexahedron", "hexahedron27": "hexahedron"}
_FACET_TYPES = {"line": 2, "triangle": 3, "quad": 4}
# hexahedron corners (gmsh order): the three edge neighbours of each corner, ordered so that a
# right-handed hexahedron has a positive triple product at every corner
_HEX_CORNERS = ((0, 1, 3, 4), (1, 2, 0, 5), (2, 3, 1, 6), (3, 0, 2, 7),
                (4, 7, 5, 0), (5, 4, 6, 1), (6, 5, 7, 2), (7, 6, 4, 3))


class MeshError(ConfigError):
    """A mesh file that cannot make a case: one line naming the problem and the fix."""

    def __init__(self, message: str):
        super().__init__([message])


@dataclass(frozen=True)
class TaggedMesh:
    """A mesh file's cells, facets and physical groups, renumbered to the vertices its cells use.

    Attributes
    ----------
    path : the file read
    points : (n_vertices, dim) float64 [m]
    cell_type : meshio cell type ("triangle", "quad", "tetra", "hexahedron")
    cells : (n_cells, k) int64, vertex indices in gmsh's local order
    cell_tags : (n_cells,) int64, physical group number of each cell (0 = untagged)
    facets : (n_facets, kf) int64, the tagged facets' vertex indices
    facet_tags : (n_facets,) int64, physical group number of each tagged facet
    groups : name -> (number, dimension), from gmsh's $PhysicalNames (empty for XDMF)
    """

    path: Path
    points: np.ndarray
    cell_type: str
    cells: np.ndarray
    cell_tags: np.ndarray
    facets: np.ndarray
    facet_tags: np.ndarray
    groups: dict

    @property
    def dimension(self) -> int:
        return CELL_TYPES[self.cell_type][0]

    @property
    def extent_m(self) -> np.ndarray:
        return self.points.max(axis=0) - self.points.min(axis=0)

    def describe_groups(self) -> str:
        """The physical groups the file has, e.g. ``zone (cells, 3), impact (facets, 5)``."""
        kinds = {self.dimension: "cells", self.dimension - 1: "facets"}
        named = {num for num, _ in self.groups.values()}
        items = [f"{name} ({kinds.get(dim, f'dim {dim}')}, {num})" for name, (num, dim) in sorted(self.groups.items())]
        items += [f"{num} (cells)" for num in np.unique(self.cell_tags) if num and num not in named]
        items += [f"{num} (facets)" for num in np.unique(self.facet_tags) if num and num not in named]
        return ", ".join(items) if items else "none"

    def edge_lengths(self) -> np.ndarray:
        """Lengths [m] of the cells' edges (with repeats)."""
        ct = self.cell_type
        pairs = {"triangle": ((0, 1), (1, 2), (2, 0)), "quad": ((0, 1), (1, 2), (2, 3), (3, 0)),
                 "tetra": ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)),
                 "hexahedron": ((0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4),
                                (0, 4), (1, 5), (2, 6), (3, 7))}[ct]
        a = np.concatenate([self.cells[:, i] for i, _ in pairs])
        b = np.concatenate([self.cells[:, j] for _, j in pairs])
        return np.linalg.norm(self.points[a] - self.points[b], axis=1)


def _tag_array(mesh, i: int, name: str | None) -> np.ndarray | None:
    if name is None:
        return None
    return np.asarray(mesh.cell_data[name][i], dtype=np.int64).ravel()


def _tag_key(mesh) -> str | None:
    """The cell-data array holding the physical groups: gmsh's, else the only integer one."""
    if "gmsh:physical" in mesh.cell_data:
        return "gmsh:physical"
    ints = [k for k, v in mesh.cell_data.items() if all(np.issubdtype(np.asarray(a).dtype, np.integer) for a in v)
            and not k.startswith("gmsh:")]
    return ints[0] if len(ints) == 1 else None


def read_tagged_mesh(path: str | Path, *, dimension: int) -> TaggedMesh:
    """Read a tagged mesh file and check its cells (see the module docstring for every check).

    Parameters
    ----------
    path
        gmsh ``.msh`` (format 2.2 or 4.1) or XDMF (``.xdmf``; the physical groups are its one
        integer cell-data array, numbers only) [m].
    dimension
        The case's dimension (2 or 3): a mesh of the other dimension is an error.

    Returns
    -------
    TaggedMesh

    Raises
    ------
    MeshError
        One line naming the problem (missing file, no cells, mixed or second-order cells, wrong
        dimension, points off the plane z = 0 in 2-D, degenerate, inverted or non-manifold cells).
    """
    import meshio

    path = Path(path)
    if not path.is_file():
        raise MeshError(f"geometry.mesh={str(path)!r}: no such file (a path relative to the case file, or absolute)")
    try:
        mesh = meshio.read(path)
    except Exception as err:  # meshio raises bare Exceptions/ReadErrors of many kinds
        raise MeshError(f"geometry.mesh={str(path)!r}: meshio cannot read it ({type(err).__name__}: {err}); "
                        "use gmsh .msh (2.2 or 4.1) or XDMF") from None
    key = _tag_key(mesh)
    blocks = [(i, b.type, np.asarray(b.data, dtype=np.int64)) for i, b in enumerate(mesh.cells)]
    high = sorted({t for _, t, _ in blocks if t in _HIGHER_ORDER})
    if high:
        raise MeshError(f"geometry.mesh={path.name!r} has second-order geometry cells ({', '.join(high)}): mesh with "
                        "linear cells (gmsh: Mesh.ElementOrder = 1); the displacement degree is geometry.degree")
    solid = sorted({t for _, t, _ in blocks if t in CELL_TYPES})
    dims = {CELL_TYPES[t][0] for t in solid}
    if not solid:
        raise MeshError(f"geometry.mesh={path.name!r} holds no cells of a supported type (triangle, quad, tetra, "
                        f"hexahedron); it has {sorted({t for _, t, _ in blocks})}")
    top = max(dims)
    if top != dimension:
        kind = "3-D (tetrahedra/hexahedra)" if top == 3 else "2-D (triangles/quadrilaterals)"
        raise MeshError(f"geometry.mesh={path.name!r} is a {kind} mesh but geometry.dimension={dimension}: "
                        f"set geometry.dimension = {top} or mesh the structure in {dimension}-D")
    solid = [t for t in solid if CELL_TYPES[t][0] == top]
    if len(solid) > 1:
        raise MeshError(f"geometry.mesh={path.name!r} mixes cell types {solid}: use one type (e.g. all "
                        f"{solid[0]}, gmsh: no Mesh.RecombineAll for a partial recombination)")
    cell_type = solid[0]
    facet_type = CELL_TYPES[cell_type][1]
    cells = np.concatenate([d for _, t, d in blocks if t == cell_type])
    cell_tags = np.concatenate([_tag_array(mesh, i, key) if key else np.zeros(len(d), np.int64)
                                for i, t, d in blocks if t == cell_type])
    fblocks = [(i, d) for i, t, d in blocks if t == facet_type]
    facets = np.concatenate([d for _, d in fblocks]) if fblocks else np.empty((0, _FACET_TYPES[facet_type]), np.int64)
    facet_tags = (np.concatenate([_tag_array(mesh, i, key) for i, _ in fblocks]) if fblocks and key
                  else np.zeros(len(facets), np.int64))
    groups = {name: (int(v[0]), int(v[1])) for name, v in mesh.field_data.items() if np.size(v) >= 2}

    points = np.asarray(mesh.points, dtype=np.float64)
    extent = points.max(axis=0) - points.min(axis=0) if len(points) else np.zeros(3)
    if dimension == 2:
        if points.shape[1] == 3 and extent[2] > 1e-12 * max(extent[:2].max(), 1e-300):
            raise MeshError(f"geometry.mesh={path.name!r}: a 2-D mesh must lie in the plane z = 0 (its z spans "
                            f"{extent[2]:.3g} m)")
        points = points[:, :2]
    elif points.shape[1] != 3:
        raise MeshError(f"geometry.mesh={path.name!r}: 3-D cells need 3 coordinates per point, got {points.shape[1]}")

    # keep the vertices the cells use (gmsh files hold geometry points too), renumbered in order
    used = np.unique(cells)
    renumber = np.full(len(points), -1, dtype=np.int64)
    renumber[used] = np.arange(used.size)
    cells = renumber[cells]
    keep = np.all(np.isin(facets, used), axis=1)
    facets, facet_tags = renumber[facets[keep]], facet_tags[keep]
    out = TaggedMesh(path=path, points=np.ascontiguousarray(points[used]), cell_type=cell_type, cells=cells,
                     cell_tags=cell_tags, facets=facets, facet_tags=facet_tags, groups=groups)
    _check_cells(out)
    _warn_units(out)
    return out


def _signed_measures(mesh: TaggedMesh) -> np.ndarray:
    """Signed area/volume per cell (simplices), or per cell and corner (quads, hexes: corner Jacobians)."""
    p, c = mesh.points, mesh.cells
    if mesh.cell_type == "triangle":
        a, b = p[c[:, 1]] - p[c[:, 0]], p[c[:, 2]] - p[c[:, 0]]
        return 0.5 * (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])[:, None]
    if mesh.cell_type == "tetra":
        a, b, d = (p[c[:, i]] - p[c[:, 0]] for i in (1, 2, 3))
        return (np.einsum("ij,ij->i", a, np.cross(b, d)) / 6.0)[:, None]
    if mesh.cell_type == "quad":
        out = np.empty((len(c), 4))
        for k in range(4):
            a, b = p[c[:, (k + 1) % 4]] - p[c[:, k]], p[c[:, (k - 1) % 4]] - p[c[:, k]]
            out[:, k] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
        return out
    out = np.empty((len(c), 8))
    for k, (i, j1, j2, j3) in enumerate(_HEX_CORNERS):
        a, b, d = (p[c[:, j]] - p[c[:, i]] for j in (j1, j2, j3))
        out[:, k] = np.einsum("ij,ij->i", a, np.cross(b, d))
    return out


def _check_cells(mesh: TaggedMesh) -> None:
    """Degenerate, tangled, inverted (folded) and non-manifold cells, each one line.

    Orientation conventions differ between meshers (and dolfinx does not need one), so a cell is
    called inverted when it folds over a neighbour: across an interior facet the two cells'
    centroids must lie on opposite sides of the facet. Quadrilaterals and hexahedra must also keep
    one sign of the Jacobian at all their corners (else they are tangled or non-convex).
    """
    if len(mesh.cells) == 0:
        raise MeshError(f"geometry.mesh={mesh.path.name!r} holds no cells")
    h = float(np.median(mesh.edge_lengths()))
    name = mesh.path.name
    vol = _signed_measures(mesh)
    small = np.abs(vol) < DEGENERATE_RTOL * h**mesh.dimension
    if small.any():
        i = int(np.flatnonzero(small.any(axis=1))[0])
        raise MeshError(f"geometry.mesh={name!r}: cell {i} ({mesh.cell_type} at {_centroid(mesh, i)}) is degenerate "
                        f"(zero {'area' if mesh.dimension == 2 else 'volume'} at a corner): remesh it")
    tangled = np.flatnonzero((np.sign(vol) != np.sign(vol[:, :1])).any(axis=1))
    if tangled.size:
        i = int(tangled[0])
        raise MeshError(f"geometry.mesh={name!r}: {tangled.size} {mesh.cell_type} cell(s) are tangled or non-convex "
                        f"(the Jacobian changes sign between corners), first cell {i} at {_centroid(mesh, i)}: fix "
                        "the mesh (gmsh: Mesh.Optimize, or remesh)")
    keys = _cell_facet_keys(mesh)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    if counts.max() > 2:
        raise MeshError(f"geometry.mesh={name!r} is non-manifold: {(counts > 2).sum()} facet(s) are shared by more "
                        "than two cells (duplicate or overlapping cells): remesh it")
    n_local = len(CELL_TYPES[mesh.cell_type][2])
    owner = np.repeat(np.arange(len(mesh.cells)), n_local)
    order = np.argsort(inverse.ravel(), kind="stable")
    inv = inverse.ravel()[order]
    pair = np.flatnonzero(inv[1:] == inv[:-1])
    first, second = order[pair], order[pair + 1]  # rows of keys: the same facet seen from two cells
    p = mesh.points
    k = keys[first]
    if mesh.dimension == 2:
        t = p[k[:, 1]] - p[k[:, 0]]
        normal = np.column_stack([-t[:, 1], t[:, 0]])
    else:
        normal = np.cross(p[k[:, 1]] - p[k[:, 0]], p[k[:, 2]] - p[k[:, 0]])
    centroids = p[mesh.cells].mean(axis=1)
    s1 = np.einsum("ij,ij->i", normal, centroids[owner[first]] - p[k[:, 0]])
    s2 = np.einsum("ij,ij->i", normal, centroids[owner[second]] - p[k[:, 0]])
    folded = np.flatnonzero(s1 * s2 >= 0)
    if folded.size:
        i = int(owner[first[folded[0]]])
        raise MeshError(f"geometry.mesh={name!r}: {folded.size} interior facet(s) have both their cells on one side "
                        f"(inverted or folded cells), first at cell {i} at {_centroid(mesh, i)}: fix the mesh "
                        "(gmsh: Mesh.Optimize, or remesh)")


def _centroid(mesh: TaggedMesh, i: int) -> str:
    return _fmt_point(mesh.points[mesh.cells[i]].mean(axis=0))


def _cell_facet_keys(mesh: TaggedMesh) -> np.ndarray:
    """``(n_cells * n_local_facets, kf)`` sorted vertex lists of every cell's facets, cell-major."""
    local = CELL_TYPES[mesh.cell_type][2]
    f = np.stack([mesh.cells[:, list(loc)] for loc in local], axis=1)
    return np.sort(f.reshape(-1, f.shape[-1]), axis=1)


def _fmt_point(x) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in x) + ") m"


def _warn_units(mesh: TaggedMesh) -> None:
    ext = float(mesh.extent_m.max())
    if ext > EXTENT_WARN_HIGH_M:
        logger.warning("geometry.mesh=%r spans %.4g m: uqgan reads metres; if the mesh is in millimetres scale it "
                       "by 1e-3 (gmsh: Mesh.ScalingFactor = 0.001)", mesh.path.name, ext)
    elif ext < EXTENT_WARN_LOW_M:
        logger.warning("geometry.mesh=%r spans only %.4g m: uqgan reads metres; check the mesh's unit or its "
                       "scaling factor (a millimetre mesh scaled twice?)", mesh.path.name, ext)


def _resolve_one(mesh: TaggedMesh, field: str, ref, dim: int) -> int:
    kinds = {mesh.dimension: "cells", mesh.dimension - 1: "facets"}
    want = kinds[dim]
    numbers = mesh.cell_tags if dim == mesh.dimension else mesh.facet_tags
    other = mesh.facet_tags if dim == mesh.dimension else mesh.cell_tags
    if isinstance(ref, str):
        if ref not in mesh.groups:
            raise MeshError(f"geometry.tags.{field}={ref!r}: the mesh {mesh.path.name!r} has no such physical group; "
                            f"it has: {mesh.describe_groups()}")
        num, gdim = mesh.groups[ref]
        if gdim != dim:
            raise MeshError(f"geometry.tags.{field}={ref!r} is a group of dimension {gdim} "
                            f"({kinds.get(gdim, 'neither cells nor facets')}): {field} must tag {want} "
                            f"(dimension {dim}); the file has: {mesh.describe_groups()}")
    else:
        num = int(ref)
        if not np.any(numbers == num):
            hint = f" (group {num} tags {kinds[mesh.dimension - 1 if dim == mesh.dimension else mesh.dimension]})" \
                if np.any(other == num) else ""
            raise MeshError(f"geometry.tags.{field}={num}: the mesh {mesh.path.name!r} has no {want} in physical group "
                            f"{num}{hint}; it has: {mesh.describe_groups()}")
    if not np.any(numbers == num):
        raise MeshError(f"geometry.tags.{field}={ref!r}: physical group {num} holds no {want} in "
                        f"{mesh.path.name!r} (an empty {field}); it has: {mesh.describe_groups()}")
    return num


def resolve_tags(mesh: TaggedMesh, tags) -> dict[str, np.ndarray]:
    """Physical-group numbers of the case's tags: ``{"zone": [n], "clamped": [...], "loaded": [...]}``.

    ``tags`` is a :class:`~uqgan.config.TagsConfig`. Raises :class:`MeshError` naming a missing or
    empty group (with the groups the file has) or one of the wrong dimension.
    """
    refs = tags.as_lists()
    out = {}
    for field, lst in refs.items():
        dim = mesh.dimension if field == "zone" else mesh.dimension - 1
        out[field] = np.array([_resolve_one(mesh, field, r, dim) for r in lst], dtype=np.int64)
    return out


def check_zone(mesh: TaggedMesh, numbers: dict[str, np.ndarray]) -> np.ndarray:
    """The zone's cells (indices into ``mesh.cells``), after checking it can carry a submodel.

    Raises :class:`MeshError` when the zone is the whole mesh, is not connected through shared
    facets, or shares a vertex with a clamped or loaded facet.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    zone = np.flatnonzero(np.isin(mesh.cell_tags, numbers["zone"]))
    if zone.size == len(mesh.cells):
        raise MeshError("geometry.tags.zone: the zone is the whole mesh; it must be a part of the structure, away "
                        "from the loads and supports (docs/mesh.md)")
    # connectivity of the zone's cells through shared facets
    n_local = len(CELL_TYPES[mesh.cell_type][2])
    keys = _cell_facet_keys(mesh)
    zone_keys = keys.reshape(len(mesh.cells), n_local, -1)[zone].reshape(-1, keys.shape[1])
    _, inverse = np.unique(zone_keys, axis=0, return_inverse=True)
    owner = np.repeat(np.arange(zone.size), n_local)
    order = np.argsort(inverse.ravel(), kind="stable")
    inv_sorted = inverse.ravel()[order]
    pair = np.flatnonzero(inv_sorted[1:] == inv_sorted[:-1])
    a, b = owner[order[pair]], owner[order[pair + 1]]
    graph = coo_matrix((np.ones(a.size), (a, b)), shape=(zone.size, zone.size))
    n_comp, labels = connected_components(graph, directed=False)
    if n_comp > 1:
        sizes = np.bincount(labels)
        raise MeshError(f"geometry.tags.zone: the zone's {zone.size} cells form {n_comp} separate pieces (cell counts "
                        f"{sorted(sizes.tolist(), reverse=True)[:5]}): tag one connected region of whole cells")
    zone_vertices = np.unique(mesh.cells[zone])
    for field in ("clamped", "loaded"):
        facets = mesh.facets[np.isin(mesh.facet_tags, numbers[field])]
        shared = np.intersect1d(zone_vertices, facets)
        if shared.size:
            raise MeshError(f"geometry.tags.zone touches the {field} facets ({shared.size} shared vertices, first at "
                            f"{_fmt_point(mesh.points[shared[0]])}): the zone must lie inside the structure, away "
                            "from loads and supports (docs/mesh.md)")
    return zone


def write_tagged_mesh(path: str | Path, points: np.ndarray, cell_type: str, cells: np.ndarray,
                      cell_tags: np.ndarray, facets: dict[str, tuple[int, np.ndarray]],
                      cell_groups: dict[str, int], *, file_format: str = "gmsh22") -> Path:
    """Write a tagged mesh with meshio (for tests, and to export a built-in plate as a starting point).

    Parameters
    ----------
    path
        Output file (.msh or .xdmf).
    points : (n, d) [m]; cells : (m, k) vertex indices in gmsh order; cell_tags : (m,) group numbers
    facets
        facet group name -> (number, (f, kf) vertex indices).
    cell_groups
        cell group name -> number.
    file_format
        ``"gmsh22"`` (msh 2.2), ``"gmsh"`` (msh 4.1) or ``"xdmf"`` (numbers only: XDMF keeps no names).
    """
    import meshio

    facet_type = CELL_TYPES[cell_type][1]
    dim = CELL_TYPES[cell_type][0]
    pts = np.asarray(points, dtype=float)
    if pts.shape[1] == 2:
        pts = np.column_stack([pts, np.zeros(len(pts))])
    blocks = [(cell_type, np.asarray(cells, dtype=np.int64))]
    tags = [np.asarray(cell_tags, dtype=np.int64)]
    for _, (num, f) in facets.items():
        blocks.append((facet_type, np.asarray(f, dtype=np.int64)))
        tags.append(np.full(len(f), num, dtype=np.int64))
    field_data = {name: np.array([num, dim]) for name, num in cell_groups.items()}
    field_data.update({name: np.array([num, dim - 1]) for name, (num, _) in facets.items()})
    if file_format == "xdmf":
        mesh = meshio.Mesh(pts, blocks, cell_data={"tags": tags})
    else:
        mesh = meshio.Mesh(pts, blocks, cell_data={"gmsh:physical": tags, "gmsh:geometrical": tags},
                           field_data=field_data)
    path = Path(path)
    if file_format == "gmsh":  # meshio's 4.1 writer needs gmsh entities: let gmsh itself write 4.1 from 2.2
        tmp = path.with_name(f".{path.stem}.v2.msh")
        meshio.write(tmp, mesh, file_format="gmsh22", binary=False)
        try:
            _convert_with_gmsh(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path
    meshio.write(path, mesh, file_format=file_format, **({"binary": False} if file_format.startswith("gmsh") else {}))
    return path


def _convert_with_gmsh(source: Path, target: Path) -> None:
    from ._gmsh import _finalize, _import_gmsh

    gmsh = _import_gmsh()
    gmsh.initialize(readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.open(str(source))
        gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
        gmsh.option.setNumber("Mesh.Binary", 0)
        gmsh.write(str(target))
    finally:
        _finalize(gmsh)


def median_edge_length(mesh: TaggedMesh) -> float:
    """Median cell edge length [m]: the mesh's element size for tolerances."""
    return float(np.median(mesh.edge_lengths()))


def footprint_warning(points: np.ndarray, centre, width_m: float) -> str | None:
    """A message if no loaded-facet vertex lies within ``width_m / 2`` of the footprint centre, else None."""
    d = np.linalg.norm(np.asarray(points) - np.asarray(centre)[None, :], axis=1)
    if d.size == 0 or d.min() < 0.5 * width_m:
        return None
    return (f"the load footprint centred at {_fmt_point(centre)} misses the loaded facets (nearest loaded vertex "
            f"{d.min():.4g} m away, footprint radius {0.5 * width_m:.4g} m): check load.origin_m, load.direction and "
            "parameters.load_position")



def cell_measures(mesh: TaggedMesh) -> np.ndarray:
    """Area (2-D) or volume (3-D) of each cell [m² or m³]: exact for simplices, parallelograms and
    parallelepipeds (quadrilaterals and hexahedra use the mean corner Jacobian)."""
    vol = np.abs(_signed_measures(mesh))
    if mesh.cell_type in ("quad", "hexahedron"):
        return vol.mean(axis=1)
    return vol[:, 0]


def mesh_summary(case) -> list[tuple[str, str, str]]:
    """Rows ``(quantity, value, unit)`` describing a mesh case's mesh, after every check of
    :func:`read_tagged_mesh`, :func:`resolve_tags` and :func:`check_zone` (no FEniCSx needed).

    Raises
    ------
    MeshError
        The first problem found, one line.
    """
    g = case.geometry
    mesh = read_tagged_mesh(g.mesh, dimension=g.dimension)
    numbers = resolve_tags(mesh, g.tags)
    zone = check_zone(mesh, numbers)
    vol = cell_measures(mesh)
    ext = mesh.extent_m
    return [
        ("mesh", str(mesh.path), ""),
        ("cells", f"{len(mesh.cells)} {mesh.cell_type}, {len(mesh.points)} vertices", ""),
        ("extent", " x ".join(f"{e:.4g}" for e in ext), "m"),
        ("median edge length", f"{median_edge_length(mesh):.4g}", "m"),
        ("physical groups", mesh.describe_groups(), ""),
        ("zone cells", str(zone.size), ""),
        (f"zone {'area' if mesh.dimension == 2 else 'volume'} fraction", f"{100 * vol[zone].sum() / vol.sum():.2f}",
         "%"),
    ]
