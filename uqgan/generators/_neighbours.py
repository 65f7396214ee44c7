"""The neighbour rule of the resampling generators: which training runs a draw at ``c`` may carry over.

A draw at ``c`` picks one training run uniformly among the runs of the ``k`` design points nearest
to ``c`` in ``c / ℓ`` (``ℓ`` the kriging mean's length scales, so that a unit step in every
direction changes the histories alike): first a point with probability ``n_j / N`` (``n_j`` its
runs, ``N`` theirs together), then one of its runs. ``kriging-resample`` carries that run's
deviation from the kriging mean over to ``c``; ``wgan-gp`` with ``residuals="neighbours"`` feeds
it to its generator (the instance conditioning of Casanova et al. 2021). Training the latter
needs the same rule for a training run's own parameters with its own design point left out
(:meth:`NeighbourRule.draw_others`): at a new ``c`` no run of ``c`` itself exists.

References
----------
A. Casanova, M. Careil, J. Verbeek, M. Drozdzal, A. Romero-Soriano, "Instance-conditioned GAN",
NeurIPS 2021.
B. Efron, R. J. Tibshirani, *An Introduction to the Bootstrap*, Chapman & Hall 1993, §9.5.
"""

from __future__ import annotations

import numpy as np

__all__ = ["NeighbourRule"]


class NeighbourRule:
    """Runs grouped by design point, and the draw of a neighbouring run for given parameters.

    Parameters
    ----------
    point_conditions : ``(P, p)`` each design point's parameters (in [-1, 1])
    offsets : ``(P + 1,)`` the runs of point ``j`` are rows ``offsets[j]:offsets[j + 1]`` of the
        caller's run arrays (grouped by point)
    length_scales : ``(p,)`` the metric ``c / ℓ`` (None: ones)
    k : design points in a neighbourhood (at most ``P``; ``P − 1`` for :meth:`draw_others`)
    """

    def __init__(self, point_conditions: np.ndarray, offsets: np.ndarray, length_scales: np.ndarray | None,
                 k: int):
        from scipy.spatial import cKDTree

        self.point_conditions = np.asarray(point_conditions, dtype=float)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        n_points, p = self.point_conditions.shape
        self.ell = np.ones(p) if length_scales is None else np.asarray(length_scales, dtype=float)
        self.k = int(min(k, n_points))
        self._tree = cKDTree(self.point_conditions / self.ell)

    def nearest(self, c: np.ndarray) -> np.ndarray:
        """``(m, k)`` indices of the ``k`` design points nearest to each row of ``c`` ``(m, p)``."""
        c = np.asarray(c, dtype=float)
        _, idx = self._tree.query(c / self.ell, k=self.k)
        return np.asarray(idx).reshape(c.shape[0], self.k)

    def draw(self, c: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``(m,)`` run rows, one per row of ``c``, uniform over the runs of its ``k`` nearest points."""
        return self._pick(self.nearest(c), rng)

    def draw_others(self, point: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``(m,)`` run rows for runs of the design points ``point`` ``(m,)`` (indices into
        ``point_conditions``): uniform over the runs of the ``k`` points nearest to that point, the
        point itself excluded (needs two or more points)."""
        point = np.asarray(point, dtype=np.int64)
        n_points = self.point_conditions.shape[0]
        if n_points < 2:
            raise ValueError("draw_others needs two or more design points")
        k = min(self.k, n_points - 1)
        _, idx = self._tree.query(self.point_conditions[point] / self.ell, k=k + 1)
        idx = np.asarray(idx).reshape(point.size, k + 1)
        own = idx == point[:, None]
        # drop the point itself (or, where ties put it beyond the first k + 1, the farthest)
        drop = np.where(own.any(axis=1), own.argmax(axis=1), k)
        keep = np.ones_like(idx, dtype=bool)
        keep[np.arange(point.size), drop] = False
        return self._pick(idx[keep].reshape(point.size, k), rng)

    def _pick(self, nearest: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        m, k = nearest.shape
        sizes = np.diff(self.offsets)[nearest]  # (m, k)
        u = rng.random(m) * sizes.sum(axis=1)
        cum = np.cumsum(sizes, axis=1)
        slot = np.minimum((u[:, None] >= cum).sum(axis=1), k - 1)
        rows = np.arange(m)
        before = cum[rows, slot] - sizes[rows, slot]
        within = np.minimum(np.floor(u - before).astype(np.int64), sizes[rows, slot] - 1)
        return self.offsets[nearest[rows, slot]] + within
