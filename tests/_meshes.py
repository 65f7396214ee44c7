"""Small tagged 3-D meshes for the tests, made with numpy and written with meshio (no mesher needed)."""

from __future__ import annotations

import itertools

import numpy as np

from uqgan.fem._mesh import CELL_TYPES, write_tagged_mesh


def box_mesh(path, *, size=(0.2, 0.05, 0.05), n=(20, 5, 5), cell_type="tetra", zone=None, clamped_x0=True,
             loaded_face=(2, "max"), file_format="gmsh22"):
    """A box ``[0, a] x [0, b] x [0, c]`` of ``n`` cubes (hexahedra, or 6 Kuhn tetrahedra each), tagged.

    Groups: ``zone`` (1) = cells whose centroid lies in the box ``zone = ((x0, x1), (y0, y1), (z0, z1))``,
    ``solid`` (2) the other cells, ``clamped`` (3) the face x = 0 (if ``clamped_x0``), ``loaded`` (4)
    the face z = c, ``far`` (5) the face x = a.
    """
    nx, ny, nz = n
    xs, ys, zs = (np.linspace(0, s, k + 1) for s, k in zip(size, n, strict=True))
    X, Y, Z = np.meshgrid(xs, ys, zs, indexing="ij")
    pts = np.column_stack([X.ravel(), Y.ravel(), Z.ravel()])

    def v(i, j, k):
        return (i * (ny + 1) + j) * (nz + 1) + k

    cells = []
    for i, j, k in itertools.product(range(nx), range(ny), range(nz)):
        if cell_type == "hexahedron":
            cells.append([v(i, j, k), v(i + 1, j, k), v(i + 1, j + 1, k), v(i, j + 1, k),
                          v(i, j, k + 1), v(i + 1, j, k + 1), v(i + 1, j + 1, k + 1), v(i, j + 1, k + 1)])
            continue
        for perm in itertools.permutations(range(3)):  # Kuhn: 6 tets along the diagonal (0,0,0)-(1,1,1)
            corner = np.array([0, 0, 0])
            tet = [v(i, j, k)]
            for axis in perm:
                corner = corner + np.eye(3, dtype=int)[axis]
                tet.append(v(i + corner[0], j + corner[1], k + corner[2]))
            cells.append(tet)
    cells = np.array(cells)
    centroid = pts[cells].mean(axis=1)
    tags = np.full(len(cells), 2)
    if zone is not None:
        inside = np.all([(centroid[:, d] > zone[d][0]) & (centroid[:, d] < zone[d][1]) for d in range(3)], axis=0)
        tags[inside] = 1
    # boundary facets: the cells' facets that appear once
    local = CELL_TYPES[cell_type][2]
    faces = np.concatenate([cells[:, list(f)] for f in local])
    _, first, counts = np.unique(np.sort(faces, axis=1), axis=0, return_index=True, return_counts=True)
    boundary = faces[first[counts == 1]]
    fx = pts[boundary]

    def on(axis, value):
        return boundary[np.all(np.abs(fx[:, :, axis] - value) < 1e-12, axis=1)]

    axis, end = loaded_face
    facets = {"loaded": (4, on(axis, size[axis] if end == "max" else 0.0)), "far": (5, on(0, size[0]))}
    if clamped_x0:
        facets["clamped"] = (3, on(0, 0.0))
    return write_tagged_mesh(path, pts, cell_type, cells, tags, facets, {"zone": 1, "solid": 2},
                             file_format=file_format)
