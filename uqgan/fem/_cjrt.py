"""The mass-lumped P2 triangle of Cohen, Joly, Roberts & Tordjman (CJRT), as a basix custom element.

The space is P2 enriched with the cubic bubble ``λ₁λ₂λ₃`` (dimension 7), with a *nodal* basis on
the 3 vertices, the 3 edge midpoints and the centroid (Cohen, Joly, Roberts & Tordjman 2001,
SIAM J. Numer. Anal. 38:2047, §3; Mulder 1996, the same element for the acoustic wave equation).
Its lumped mass is the quadrature on those 7 points with weights ``|T| · (3/60, 8/60, 27/60)``
(vertex, edge, centroid): exact for P3, which contains the space, and positive. Because the basis
is nodal for an interpolatory rule exact on the space, ``∫_T φᵢ = wᵢ`` and ``Σⱼ φⱼ = 1``, so the
row sums of the element's consistent mass (cell-wise constant density) are exactly these weights:
uqgan lumps it by row sums (tests/test_cjrt.py checks both claims). Unlike HRZ on P2, this lumping
keeps the dispersion error of the consistent P2 mass (``O(h⁴)`` in the phase, CJRT 2001, §4).

On an edge the bubble vanishes and the basis restricted to the edge is P2 Lagrange on its three
nodes, so the element is H¹-conforming and its trace on a facet is P2's: the boundary nodes (and a
boundary history's values) are P2's; only the centroid dof is new, and it is interior.

Pure basix and numpy (no dolfinx): :func:`uqgan.fem._dolfinx.vector_space` wraps the element for
dolfinx.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["CJRT_WEIGHTS", "NODES", "cjrt_element"]

#: the quadrature weights of the 7 nodes per unit area: vertex, edge midpoint, centroid
CJRT_WEIGHTS = (3 / 60, 8 / 60, 27 / 60)

#: the nodes on the reference triangle (0,0), (1,0), (0,1): vertices, edge midpoints (basix's edge
#: order: edge i is opposite vertex i), centroid
NODES = np.array([[0, 0], [1, 0], [0, 1], [0.5, 0.5], [0, 0.5], [0.5, 0], [1 / 3, 1 / 3]])


@functools.lru_cache(maxsize=1)
def cjrt_element():
    """The scalar CJRT element on triangles (a ``basix.finite_element.FiniteElement``).

    Built with ``basix.create_custom_element``: the span is ``{1, x, y, x², xy, y², xy(1−x−y)}``
    (P2 plus the bubble), written in basix's orthonormal degree-3 basis by L² projection with a
    quadrature exact for degree 6; the dofs are point evaluations at :data:`NODES`, one per vertex,
    per edge and in the interior (so dolfinx numbers them like a P2 space plus one cell dof).
    """
    import basix

    cell = basix.CellType.triangle
    pts, wts = basix.make_quadrature(cell, 6)
    orth = basix.tabulate_polynomials(basix.PolynomialType.legendre, cell, 3, pts)  # (10, n_pts), orthonormal
    x, y = pts[:, 0], pts[:, 1]
    span = np.array([np.ones_like(x), x, y, x * x, x * y, y * y, x * y * (1 - x - y)])
    wcoeffs = (span * wts) @ orth.T  # (7, 10): coefficients in the orthonormal basis
    geometry = basix.geometry(cell)
    topology = basix.topology(cell)
    points = [[geometry[v] for v in topology[0]],
              [geometry[e].mean(axis=0, keepdims=True) for e in topology[1]],
              [geometry.mean(axis=0, keepdims=True)], []]
    one = np.ones((1, 1, 1, 1))  # (dof, value, point, derivative): evaluation at the entity's one point
    matrices = [[one] * 3, [one] * 3, [one], []]
    return basix.create_custom_element(cell, [], wcoeffs, points, matrices, 0, basix.MapType.identity,
                                       False, 2, 3)
