"""Unstructured triangle mesh of the plate with a circular hole in the submodel zone (gmsh).

Used by :class:`uqgan.fem.PlateModel` when ``geometry.zone.hole_radius_m > 0``; a plate without
a hole keeps dolfinx's structured mesh. gmsh (Debian ``python3-gmsh``, API 4.8) is imported
inside :func:`plate_with_hole`, so importing this module stays cheap.

The geometry is built with gmsh's built-in (``geo``) kernel as two plane surfaces that share the
four edges of the zone rectangle:

* the *outer* surface: the plate ``[0, L] x [0, H]`` with the zone rectangle as an inner loop;
* the *zone* surface: the zone rectangle with the hole circle as an inner loop.

Because the two surfaces share the rectangle's curves, every zone edge is made of mesh edges
and every triangle lies entirely inside or entirely outside the zone; picking the zone cells by
their midpoints (as :class:`~uqgan.fem.PlateModel` does) is then exact.

The hole is approximated by a polygon: its four quarter arcs are meshed with the same number of
equal segments, so the hole is a regular ``N``-gon inscribed in the circle, with

``N = 4 ceil(max(24, 2 pi r / h) / 4)``

(at least 24 segments, none longer than about the element size ``h``). The mesh is linear
(degree-1 geometry): a P2 displacement field then lives on straight-sided triangles, and the
hole's area is short of ``pi r^2`` by ``pi r^2 - (N/2) r^2 sin(2 pi / N)`` (1.1 % of
``pi r^2`` for ``N = 24``). The element size is ``h_hole = 2 pi r / N`` on the hole, grows
linearly with the distance from it, and reaches ``h`` at a distance of :data:`GRADING_LENGTH`
element sizes from the circle.

Meshing is deterministic: one thread, a fixed algorithm (Frontal-Delaunay) and random seed, no
user configuration files read, and an analytic size field, so the same geometry gives
bit-identical arrays.
"""

from __future__ import annotations

import logging
import math
import threading

import numpy as np

from .._lazy import require
from ..config import GeometryConfig

__all__ = ["hole_segments", "plate_with_hole"]

logger = logging.getLogger(__name__)

_PURPOSE = "meshing a plate with a hole (geometry.zone.hole_radius_m > 0)"

#: fewest straight segments on the hole's circle
MIN_HOLE_SEGMENTS = 24
#: distance from the hole, in element sizes, over which the size grows from h_hole back to h
GRADING_LENGTH = 3.0
#: gmsh's 2-D meshing algorithm: 6 = Frontal-Delaunay (good quality, deterministic serially)
_ALGORITHM = 6


def hole_segments(radius_m: float, element_size_m: float) -> int:
    """Number ``N`` of straight segments approximating the hole's circle.

    ``N = 4 ceil(max(24, 2 pi r / h) / 4)``: at least :data:`MIN_HOLE_SEGMENTS`, each no longer
    than about ``h``, and a multiple of 4 (each quarter arc gets ``N / 4`` equal segments).

    Examples
    --------
    >>> hole_segments(0.02, 0.01)
    24
    >>> hole_segments(0.05, 0.01)
    32
    """
    if not (radius_m > 0 and element_size_m > 0):
        raise ValueError(
            f"radius_m={radius_m} and element_size_m={element_size_m}: both must be > 0"
        )
    n = max(MIN_HOLE_SEGMENTS, math.ceil(2 * math.pi * radius_m / element_size_m - 1e-9))
    return 4 * math.ceil(n / 4)


def _import_gmsh():
    """Import gmsh, keeping Python's SIGINT handler.

    gmsh 4.8's Python wrapper resets SIGINT to the default (kill) handler at import, and puts
    the old handler back only in ``gmsh.finalize()``; ``gmsh.initialize(interruptible=...)``
    only exists from gmsh 4.9. Setting a signal handler is only allowed in the main thread.
    """
    import signal
    import sys

    if "gmsh" in sys.modules:
        return sys.modules["gmsh"]
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(
            "gmsh 4.8 must first be imported in the main thread (its import sets a signal "
            "handler): build the PlateModel with a hole in the main thread, or `import gmsh` at "
            "program start"
        )
    previous = signal.getsignal(signal.SIGINT)
    gmsh = require("gmsh", purpose=_PURPOSE)
    if previous is not None:
        signal.signal(signal.SIGINT, previous)
    return gmsh


def _finalize(gmsh) -> None:
    """``gmsh.finalize()`` without its SIGINT reset (4.8 re-sets the handler it saw at import,
    which :func:`_import_gmsh` already put back; doing it again would undo a handler installed
    since, and fails outside the main thread)."""
    saved, gmsh.oldsig = getattr(gmsh, "oldsig", None), None
    try:
        gmsh.finalize()
    finally:
        gmsh.oldsig = saved


def plate_with_hole(geometry: GeometryConfig) -> tuple[np.ndarray, np.ndarray]:
    """Triangle mesh of the plate with a circular hole at the zone centre, conforming to the zone.

    Parameters
    ----------
    geometry
        The plate ``[0, length_m] x [0, height_m]``, the element size ``element_size_m`` [m] and
        the zone rectangle with ``hole_radius_m > 0`` [m]; ``degree`` is not used (the mesh is
        linear).

    Returns
    -------
    points : (n_vertices, 2) float64
        Vertex coordinates [m]; every vertex belongs to a triangle.
    triangles : (n_cells, 3) int64
        Vertex indices of the linear triangles, counter-clockwise (positive area).

    Raises
    ------
    ValueError
        If ``geometry.zone.hole_radius_m`` is 0 (use the structured mesh then).
    ImportError
        If gmsh cannot be imported (the message says how to install it).
    RuntimeError
        If gmsh is imported for the first time outside the main thread, or meshing fails.

    Notes
    -----
    The zone's four edges are made of mesh edges; the hole is a regular ``N``-gon inscribed in
    the circle with ``N = hole_segments(r, h)`` (see the module docstring). Same input, same
    output, bit for bit.
    """
    z, h = geometry.zone, float(geometry.element_size_m)
    r = float(z.hole_radius_m)
    if r <= 0:
        raise ValueError(
            f"geometry.zone.hole_radius_m={r}: plate_with_hole needs a hole (> 0); "
            "a plate without a hole uses the structured rectangle mesh"
        )
    L, H = float(geometry.length_m), float(geometry.height_m)
    x0, x1, y0, y1 = float(z.x_min_m), float(z.x_max_m), float(z.y_min_m), float(z.y_max_m)
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    n_seg = hole_segments(r, h)
    h_hole = min(h, 2 * math.pi * r / n_seg)

    gmsh = _import_gmsh()
    gmsh.initialize(readConfigFiles=False)  # no `interruptible=` in gmsh 4.8
    try:
        for name, value in (
            ("General.Terminal", 0),
            ("General.Verbosity", 0),
            ("General.NumThreads", 1),
            ("Mesh.Algorithm", _ALGORITHM),
            ("Mesh.RandomSeed", 1),
            ("Mesh.MeshSizeFromPoints", 0),
            ("Mesh.MeshSizeFromCurvature", 0),
            ("Mesh.MeshSizeExtendFromBoundary", 0),
            ("Mesh.MeshSizeMin", h_hole),
            ("Mesh.MeshSizeMax", h),
            ("Mesh.ElementOrder", 1),
        ):
            gmsh.option.setNumber(name, value)
        gmsh.model.add("plate_with_hole")
        geo = gmsh.model.geo

        def loop(corners):
            pts = [geo.addPoint(x, y, 0.0, h) for x, y in corners]
            lines = [geo.addLine(pts[i], pts[(i + 1) % len(pts)]) for i in range(len(pts))]
            return geo.addCurveLoop(lines)

        plate = loop([(0.0, 0.0), (L, 0.0), (L, H), (0.0, H)])
        zone = loop([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
        centre = geo.addPoint(cx, cy, 0.0, h_hole)
        quarters = ((cx + r, cy), (cx, cy + r), (cx - r, cy), (cx, cy - r))
        rim = [geo.addPoint(x, y, 0.0, h_hole) for x, y in quarters]
        arcs = [geo.addCircleArc(rim[i], centre, rim[(i + 1) % 4]) for i in range(4)]
        hole = geo.addCurveLoop(arcs)
        geo.addPlaneSurface([plate, zone])
        geo.addPlaneSurface([zone, hole])
        for arc in arcs:
            geo.mesh.setTransfiniteCurve(arc, n_seg // 4 + 1)
        geo.synchronize()

        # size: h_hole on the circle, growing linearly with the distance d from it to h at
        # d = GRADING_LENGTH h (an analytic field: exact and independent of curve sampling)
        field = gmsh.model.mesh.field
        size = field.add("MathEval")
        dist = f"(Sqrt((x-({cx!r}))^2+(y-({cy!r}))^2)-{r!r})"
        slope = (h - h_hole) / (GRADING_LENGTH * h)
        field.setString(size, "F", f"Min({h!r}, {h_hole!r}+{slope!r}*Max(0, {dist}))")
        field.setAsBackgroundMesh(size)

        gmsh.model.mesh.generate(2)
        node_tags, coords, _ = gmsh.model.mesh.getNodes()
        types, _, elem_nodes = gmsh.model.mesh.getElements(dim=2)
    except Exception as err:
        raise RuntimeError(f"gmsh failed to mesh the plate with a hole: {err}") from err
    finally:
        _finalize(gmsh)

    if list(types) != [2]:  # 2 = 3-node triangle
        raise RuntimeError(
            f"gmsh returned element types {list(types)}: expected linear triangles only (2)"
        )
    node_tags = np.asarray(node_tags, dtype=np.int64)
    xyz = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    tri_tags = np.asarray(elem_nodes[0], dtype=np.int64).reshape(-1, 3)

    # gmsh tags -> 0-based rows, keeping only vertices used by a triangle (drops the circle centre)
    lookup = np.full(node_tags.max() + 1, -1, dtype=np.int64)
    lookup[node_tags] = np.arange(node_tags.size)
    rows = lookup[tri_tags]
    used = np.unique(rows)
    renumber = np.full(node_tags.size, -1, dtype=np.int64)
    renumber[used] = np.arange(used.size)
    triangles = renumber[rows]
    points = np.ascontiguousarray(xyz[used, :2])

    # counter-clockwise: flip any triangle with a negative signed area
    a, b, c = points[triangles[:, 0]], points[triangles[:, 1]], points[triangles[:, 2]]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    flip = cross < 0
    triangles[flip] = triangles[flip][:, [0, 2, 1]]
    logger.debug(
        "gmsh plate with hole: %d vertices, %d triangles, %d segments on the hole "
        "(h=%.3g m, h_hole=%.3g m)", points.shape[0], triangles.shape[0], n_seg, h, h_hole,
    )
    return points, np.ascontiguousarray(triangles, dtype=np.int64)
