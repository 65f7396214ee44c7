"""Random circular inclusions (defects) in the plate: placement and their effect on the stiffness.

A structure carries unknown defects; here each is a circle of radius ``r`` and centre ``(x, y)``
whose material is ``stiffness_ratio`` times as stiff as its surroundings (``1e-3``: a near-void that
scatters the incident waves; the density is unchanged). The inclusions are hidden randomness, like
the lognormal material field: drawn per replicate from the sample's own seeded stream and stored
with the sample as latent truth, never given to a generator.

Placement (:func:`sample_inclusions`) is rejection sampling (Devroye, *Non-Uniform Random Variate
Generation*, 1986, §II.3): for each inclusion in turn, draw ``r ~ U(r_low, r_high)`` and a centre
uniform over the plate's bounding box shrunk by ``r`` (the circle lies inside the plate), or over
its intersection with a given region (``region_m``: where the defects are looked for), and
accept it when the circle is at least ``margin_m`` clear of

* the keep-out boxes (the submodel zone: the zone's own material is never changed),
* the clamped bottom edge ``y = 0`` and the loaded top edge ``y = H`` (no inclusion touches a
  support or a load), and
* every inclusion accepted before it (the inclusions stay distinct circles, so ``count`` is what
  the structure holds).

Accepted draws are uniform over the admissible set given the earlier inclusions (a random
sequential adsorption). The per-cell modulus (:func:`apply_inclusions`) is multiplied by the ratio
in every cell whose midpoint lies inside a circle, so a circle is resolved to the mesh's cells.

Pure numpy: no FEM here.
"""

from __future__ import annotations

import numpy as np

__all__ = ["InclusionPlacementError", "apply_inclusions", "inclusion_mask", "plate_inclusions",
           "sample_inclusions"]

#: draws per inclusion before the placement gives up (the admissible region is then a tiny
#: fraction of the plate: the configuration is too crowded)
MAX_TRIES = 10_000


class InclusionPlacementError(ValueError):
    """No admissible place was found for an inclusion; the message says which settings to lower."""


def _box_distance(x: float, y: float, box: np.ndarray) -> float:
    """Euclidean distance [m] from the point (x, y) to the closed box ``[x0, x1, y0, y1]`` (0 inside)."""
    dx = max(box[0] - x, 0.0, x - box[1])
    dy = max(box[2] - y, 0.0, y - box[3])
    return float(np.hypot(dx, dy))


def sample_inclusions(count: int, *, radius_range_m: tuple[float, float], length_m: float, height_m: float,
                      margin_m: float, keep_out_boxes_m=(), region_m=None, rng: np.random.Generator) -> np.ndarray:
    """Place ``count`` circles in the plate ``[0, length_m] x [0, height_m]`` by rejection sampling.

    Parameters
    ----------
    count : int
        Number of inclusions (0 gives an empty ``(0, 3)`` array and draws nothing from ``rng``).
    radius_range_m : (low, high)
        Radii are uniform in ``[low, high]`` [m].
    length_m, height_m : float
        The plate; ``y = 0`` is the clamped edge and ``y = height_m`` the loaded one [m].
    margin_m : float
        Least clearance [m] of a circle from each keep-out box, from both edges and from the other circles.
    keep_out_boxes_m : sequence of (x_min, x_max, y_min, y_max)
        Boxes no inclusion may come within ``margin_m`` of (the submodel zone) [m].
    region_m : (x_min, x_max, y_min, y_max) or None
        The box the centres are drawn in, intersected with the plate shrunk by ``r`` [m]; None: the
        whole plate.
    rng : numpy.random.Generator
        The sample's stream.

    Returns
    -------
    numpy.ndarray
        ``(count, 3)`` float64: the columns are centre x, centre y and radius [m].

    Raises
    ------
    InclusionPlacementError
        If an inclusion finds no admissible place in :data:`MAX_TRIES` draws.
    """
    low, high = (float(v) for v in radius_range_m)
    boxes = [np.asarray(b, dtype=float) for b in keep_out_boxes_m]
    rx0, rx1, ry0, ry1 = (-np.inf, np.inf, -np.inf, np.inf) if region_m is None else (float(v) for v in region_m)
    out = np.empty((count, 3))
    for k in range(count):
        for _ in range(MAX_TRIES):
            r = rng.uniform(low, high)
            x0, x1, y0, y1 = max(r, rx0), min(length_m - r, rx1), max(r, ry0), min(height_m - r, ry1)
            if x1 < x0 or y1 < y0:  # this radius fits nowhere in the region
                continue
            x = rng.uniform(x0, x1)
            y = rng.uniform(y0, y1)
            clear = r + margin_m
            if y < clear or height_m - y < clear:  # the clamped and the loaded edge
                continue
            if any(_box_distance(x, y, b) < clear for b in boxes):
                continue
            if k and np.any(np.hypot(out[:k, 0] - x, out[:k, 1] - y) < out[:k, 2] + clear):
                continue
            out[k] = (x, y, r)
            break
        else:
            raise InclusionPlacementError(
                f"random_inclusions: no place for inclusion {k + 1} of {count} in {MAX_TRIES} draws (radius_range_m="
                f"[{low}, {high}], margin_m={margin_m}"
                + ("" if region_m is None else f", region_m={[float(v) for v in region_m]}")
                + "): lower count, radius_range_m or margin_m" + ("" if region_m is None else ", or widen region_m"))
    return out


def plate_inclusions(case, *, rng: np.random.Generator) -> np.ndarray:
    """The inclusions of one replicate of ``case`` (built-in plate), ``(count, 3)`` [m]: its
    ``[random_inclusions]`` settings, its plate and its zone as the keep-out box."""
    inc, g = case.random_inclusions, case.geometry
    z = g.zone
    return sample_inclusions(inc.count, radius_range_m=inc.radius_range_m, length_m=g.length_m, height_m=g.height_m,
                             margin_m=inc.margin_m, keep_out_boxes_m=[(z.x_min_m, z.x_max_m, z.y_min_m, z.y_max_m)],
                             region_m=inc.region_m, rng=rng)


def inclusion_mask(points_m: np.ndarray, inclusions: np.ndarray) -> np.ndarray:
    """Which points lie inside (or on) an inclusion.

    Parameters
    ----------
    points_m : (n, d) float, d >= 2: cell midpoints [m] (only x and y are used)
    inclusions : (m, 3) float: centre x, centre y, radius [m]

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
    """
    p = np.asarray(points_m, dtype=float)
    inc = np.asarray(inclusions, dtype=float).reshape(-1, 3)
    inside = np.zeros(p.shape[0], dtype=bool)
    for x, y, r in inc:
        inside |= (p[:, 0] - x) ** 2 + (p[:, 1] - y) ** 2 <= r * r
    return inside


def apply_inclusions(youngs_modulus_pa: np.ndarray, points_m: np.ndarray, inclusions: np.ndarray, *,
                     stiffness_ratio: float) -> np.ndarray:
    """Per-cell Young's modulus [Pa] with the inclusions: ``E * stiffness_ratio`` in every cell whose
    midpoint (``points_m``, ``(n_cells, d)`` [m]) lies inside an inclusion, ``E`` elsewhere; a new
    array (``youngs_modulus_pa``, ``(n_cells,)``, is not changed)."""
    E = np.array(youngs_modulus_pa, dtype=float, copy=True)
    E[inclusion_mask(points_m, inclusions)] *= stiffness_ratio
    return E
