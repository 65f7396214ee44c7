"""The gmsh mesh of a plate with a hole (uqgan.fem._gmsh) and a PlateModel built on it.

Known answers: the hole is a regular N-gon inscribed in the circle of radius r, so the mesh area
is exactly ``L H - (N/2) r^2 sin(2 pi / N)`` and the zone cells' area is exactly the zone
rectangle's minus that polygon's (up to floating-point roundoff), if and only if the zone's edges
are made of mesh edges.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from uqgan.config import (
    CaseConfig,
    GeometryConfig,
    ParameterRange,
    ParametersConfig,
    TimeConfig,
    ZoneConfig,
)

pytestmark = pytest.mark.fenicsx

GEOMETRY = GeometryConfig(
    length_m=0.4, height_m=0.1, element_size_m=0.01, degree=2,
    zone=ZoneConfig(x_min_m=0.15, x_max_m=0.25, y_min_m=0.02, y_max_m=0.08, hole_radius_m=0.015),
)
CENTRE = np.array([0.2, 0.05])
R = GEOMETRY.zone.hole_radius_m
# coordinates are O(0.1) m: 1e-12 relative of a length is far above double roundoff (~1e-17 m)
# and far below any meshing error
ROUNDOFF = 1e-12


def _ngon_area(n: int, r: float) -> float:
    """Area of a regular n-gon inscribed in a circle of radius r: (n/2) r^2 sin(2 pi / n)."""
    return 0.5 * n * r**2 * math.sin(2 * math.pi / n)


def _areas(points, triangles):
    a, b, c = (points[triangles[:, i]] for i in range(3))
    ab, ac = b - a, c - a
    return 0.5 * (ab[:, 0] * ac[:, 1] - ab[:, 1] * ac[:, 0])


def _boundary_vertices(triangles) -> np.ndarray:
    """Vertices on edges that belong to one triangle only (the exterior and the hole)."""
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    edges = np.sort(edges, axis=1)
    uniq, counts = np.unique(edges, axis=0, return_counts=True)
    return np.unique(uniq[counts == 1])


def _in_zone(xy, zone, strict: bool) -> np.ndarray:
    x, y = xy[..., 0], xy[..., 1]
    if strict:
        return (x > zone.x_min_m) & (x < zone.x_max_m) & (y > zone.y_min_m) & (y < zone.y_max_m)
    tol = ROUNDOFF
    return ((x > zone.x_min_m - tol) & (x < zone.x_max_m + tol)
            & (y > zone.y_min_m - tol) & (y < zone.y_max_m + tol))


def _on_zone_edge(xy, zone) -> np.ndarray:
    """Points on the zone rectangle's boundary (to ROUNDOFF)."""
    x, y = xy[..., 0], xy[..., 1]

    def near(u, v):
        return np.abs(u - v) < ROUNDOFF

    within_x = (x > zone.x_min_m - ROUNDOFF) & (x < zone.x_max_m + ROUNDOFF)
    within_y = (y > zone.y_min_m - ROUNDOFF) & (y < zone.y_max_m + ROUNDOFF)
    vertical = (near(x, zone.x_min_m) | near(x, zone.x_max_m)) & within_y
    horizontal = (near(y, zone.y_min_m) | near(y, zone.y_max_m)) & within_x
    return vertical | horizontal


@pytest.fixture(scope="module")
def mesh():
    pytest.importorskip("gmsh")
    from uqgan.fem._gmsh import plate_with_hole

    return plate_with_hole(GEOMETRY)


def test_arrays_shape_dtype_and_no_unused_vertices(mesh):
    points, triangles = mesh
    assert points.dtype == np.float64 and points.ndim == 2 and points.shape[1] == 2
    assert triangles.dtype == np.int64 and triangles.ndim == 2 and triangles.shape[1] == 3
    assert np.array_equal(np.unique(triangles), np.arange(points.shape[0]))
    assert np.all((points >= 0) & (points <= [GEOMETRY.length_m, GEOMETRY.height_m]))


def test_mesh_area_is_plate_minus_inscribed_polygon(mesh):
    from uqgan.fem._gmsh import hole_segments

    points, triangles = mesh
    n = hole_segments(R, GEOMETRY.element_size_m)
    assert n >= 24 and n % 4 == 0
    area = _areas(points, triangles).sum()
    plate = GEOMETRY.length_m * GEOMETRY.height_m
    # the hole is the regular inscribed n-gon: the area is exact up to summation roundoff
    # (~1e3 cells x 1e-16 relative), so 1e-10 relative leaves a wide margin ...
    assert area == pytest.approx(plate - _ngon_area(n, R), rel=1e-10)
    # ... and the polygon misses pi r^2 - (n/2) r^2 sin(2 pi/n) <= pi r^2 (2 pi^2 / (3 n^2)) of
    # the circle (1.1 % of it for n = 24): the mesh area exceeds L H - pi r^2 by that much only
    deficit = math.pi * R**2 - _ngon_area(n, R)
    assert 0 < area - (plate - math.pi * R**2) <= 1.0000001 * deficit
    assert deficit <= math.pi * R**2 * 2 * math.pi**2 / (3 * n**2)


def test_zone_is_conforming(mesh):
    from uqgan.fem._gmsh import hole_segments

    points, triangles = mesh
    z = GEOMETRY.zone
    areas = _areas(points, triangles)
    mid = points[triangles].mean(axis=1)
    zone_cells = _in_zone(mid, z, strict=True)
    # exact when the zone edges are mesh edges; a single straddling cell would change the sum by
    # O(h^2) = 1e-4 of the zone area, far above the 1e-10 summation roundoff allowed here
    n = hole_segments(R, GEOMETRY.element_size_m)
    expected = (z.x_max_m - z.x_min_m) * (z.y_max_m - z.y_min_m) - _ngon_area(n, R)
    assert areas[zone_cells].sum() == pytest.approx(expected, rel=1e-10)
    # no cell straddles a zone edge: its vertices are all inside-or-on or all outside-or-on
    verts = points[triangles]  # (m, 3, 2)
    inside_or_on = _in_zone(verts, z, strict=False).all(axis=1)
    outside_or_on = (~_in_zone(verts, z, strict=True) | _on_zone_edge(verts, z)).all(axis=1)
    assert np.all(inside_or_on | outside_or_on)
    assert np.array_equal(inside_or_on, zone_cells)


def test_orientation_and_quality(mesh):
    points, triangles = mesh
    assert np.all(_areas(points, triangles) > 0)
    a, b, c = (points[triangles[:, i]] for i in range(3))

    def angle(p, q, s):
        u, v = q - p, s - p
        cos = (u * v).sum(1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1))
        return np.degrees(np.arccos(np.clip(cos, -1, 1)))

    min_angle = np.minimum(np.minimum(angle(a, b, c), angle(b, c, a)), angle(c, a, b))
    # Frontal-Delaunay gives ~30 deg or more here; 15 deg is the usual "acceptable" floor
    assert min_angle.min() > 15.0
    # the element size stays near h: no edge longer than 1.5 h
    edges = np.concatenate([b - a, c - b, a - c])
    assert np.linalg.norm(edges, axis=1).max() < 1.5 * GEOMETRY.element_size_m


def test_hole_boundary_on_circle(mesh):
    from uqgan.fem._gmsh import hole_segments

    points, triangles = mesh
    bv = _boundary_vertices(triangles)
    xy = points[bv]
    outer = ((np.abs(xy[:, 0]) < ROUNDOFF) | (np.abs(xy[:, 0] - GEOMETRY.length_m) < ROUNDOFF)
             | (np.abs(xy[:, 1]) < ROUNDOFF) | (np.abs(xy[:, 1] - GEOMETRY.height_m) < ROUNDOFF))
    hole = xy[~outer]
    assert hole.shape[0] == hole_segments(R, GEOMETRY.element_size_m)
    dist = np.linalg.norm(hole - CENTRE, axis=1)
    np.testing.assert_allclose(dist, R, rtol=ROUNDOFF, atol=0)


def test_deterministic(mesh):
    from uqgan.fem._gmsh import plate_with_hole

    points, triangles = plate_with_hole(GEOMETRY)
    assert np.array_equal(points, mesh[0])
    assert np.array_equal(triangles, mesh[1])


def test_no_hole_is_an_error():
    pytest.importorskip("gmsh")
    from uqgan.fem._gmsh import plate_with_hole

    zone = GEOMETRY.zone.model_copy(update={"hole_radius_m": 0.0})
    no_hole = GEOMETRY.model_copy(update={"zone": zone})
    with pytest.raises(ValueError, match="hole_radius_m"):
        plate_with_hole(no_hole)


# ------------------------------------------------------------------------------------------------
# full model on the mesh with a hole


@pytest.fixture(scope="module")
def model():
    pytest.importorskip("gmsh")
    pytest.importorskip("dolfinx")
    from uqgan.fem import PlateModel

    case = CaseConfig(
        name="hole_tiny",
        geometry=GEOMETRY,
        time=TimeConfig(n_steps=10),
        # footprint 0.05 m: centres in [0.1, 0.3] keep it on the 0.4 m top edge
        parameters=ParametersConfig(load_position=ParameterRange(low=0.1, high=0.3)),
    )
    return PlateModel(case)


def test_model_zone_boundary_is_the_rectangle(model):
    z = GEOMETRY.zone
    xy = model.space.node_coords[model.zone.boundary_nodes]
    assert np.all(_on_zone_edge(xy, z))
    # none on the hole, and all four corners present (P2: vertices and edge midpoints)
    assert np.all(np.linalg.norm(xy - CENTRE, axis=1) > R + 0.5 * GEOMETRY.element_size_m)
    for corner in ([z.x_min_m, z.y_min_m], [z.x_max_m, z.y_min_m],
                   [z.x_max_m, z.y_max_m], [z.x_min_m, z.y_max_m]):
        assert np.min(np.linalg.norm(xy - corner, axis=1)) < ROUNDOFF
    assert np.unique(model.zone.boundary_nodes).size == model.zone.boundary_nodes.size


def test_model_zone_area_fraction(model):
    """area_fraction = zone material area / plate material area (the hole is in neither)."""
    from uqgan.fem._gmsh import hole_segments

    mesh = model.mesh
    xy = mesh.geometry.x[:, :2]
    cells = mesh.geometry.dofmap.array.reshape(-1, 3)
    areas = np.abs(_areas(xy, cells))
    z = GEOMETRY.zone
    n = hole_segments(R, GEOMETRY.element_size_m)
    rect = (z.x_max_m - z.x_min_m) * (z.y_max_m - z.y_min_m)
    # the zone cells are exactly the rectangle minus the inscribed polygon (roundoff only)
    assert areas[model.zone.cells].sum() == pytest.approx(rect - _ngon_area(n, R), rel=1e-10)
    # the model may state the fraction with the exact circle, (rect - pi r^2) / (L H - pi r^2);
    # it differs from the meshed one by less than the relative polygon deficit of the plate,
    # (pi r^2 - n-gon) / (L H - pi r^2) = 2e-4 here
    plate = GEOMETRY.length_m * GEOMETRY.height_m - math.pi * R**2
    deficit = (math.pi * R**2 - _ngon_area(n, R)) / plate
    meshed = areas[model.zone.cells].sum() / areas.sum()
    assert model.zone.area_fraction == pytest.approx(meshed, abs=1.01 * deficit)


def test_model_solves(model):
    sol = model.solve()
    n_out = model.output_steps.size
    assert sol.u_bc.shape == (n_out, model.zone.boundary_nodes.size, 2)
    assert np.all(np.isfinite(sol.u_bc))
    assert sol.qoi and all(np.isfinite(v) for v in sol.qoi.values())
    assert np.all(np.isfinite(sol.energy_j_per_m))
