"""Conditional Gaussian generators of the POD coefficients: ``z | c ~ N(m(c), Σ)``.

``pca-gaussian``
    ``m(c) = A c + b`` by least squares on all training samples; ``Σ`` the covariance of the
    regression residuals (the classical Karhunen–Loève / PCA model with a linear mean).
``kriging-gaussian``
    ``m(c)`` a Gaussian-process (kriging) mean over the parameters (:class:`uqgan.generators._kriging.KrigingMean`);
    ``Σ`` pooled from the replicates at each design point, so it measures the variability the
    parameters do not explain, free of any error in the mean.

Sampling is ``z = m(c) + L ε`` with ``L`` the Cholesky factor of ``Σ`` (plus a tiny jitter, since
``Σ`` may be rank-deficient) and ``ε ~ N(0, I)`` from the caller's ``rng``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from ._base import Generator, GeneratorError
from ._kriging import KrigingMean
from ._neighbours import NeighbourRule

__all__ = ["COVARIANCES", "KrigingGaussian", "KrigingResample", "PCAGaussian"]

COVARIANCES = ("pooled", "local", "resample")

logger = logging.getLogger(__name__)


def _cholesky_psd(cov: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a symmetric positive semi-definite ``cov`` plus the smallest jitter
    ``ε · mean(diag)`` (ε = 1e-10, 1e-8, ..., 1e-4) that makes it positive definite."""
    cov = 0.5 * (cov + cov.T)
    scale = max(float(np.mean(np.diag(cov))), np.finfo(float).tiny)
    for rel in (1e-10, 1e-8, 1e-6, 1e-4):
        try:
            chol = np.linalg.cholesky(cov + rel * scale * np.eye(cov.shape[0]))
        except np.linalg.LinAlgError:
            continue
        if rel > 1e-10:
            logger.info("residual covariance is nearly singular: Cholesky needed a relative jitter of %g", rel)
        return chol
    raise np.linalg.LinAlgError("the residual covariance is not positive semi-definite (Cholesky failed even with "
                                "a relative jitter of 1e-4)")


class _GaussianGenerator(Generator):
    """Shared part: ``z = mean_coefficients(c) + residual_cholesky @ ε``."""

    residual_covariance: np.ndarray | None
    residual_cholesky: np.ndarray | None

    def __init__(self, **base):
        super().__init__(**base)
        self.residual_covariance = None
        self.residual_cholesky = None
        self.diagnostics: dict = {}

    def mean_coefficients(self, c: np.ndarray) -> np.ndarray:
        """Conditional mean ``(m, k)`` of the whitened POD coefficients at ``c`` ``(m, p)`` in [-1, 1]."""
        raise NotImplementedError

    def _sample(self, c: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.residual_cholesky is None:
            raise RuntimeError(f"{self.name} is not fitted: call fit(dataset) or load a saved model")
        mean = self.mean_coefficients(c)
        eps = rng.standard_normal(mean.shape)
        return mean + eps @ self.residual_cholesky.T

    def _validation_rmse(self, validation) -> list[float] | None:
        """RMSE ``(k,)`` of the mean against the validation points' replicate means (it includes
        their sampling noise, replicate variance / replicates)."""
        if validation is None or self.prep is None:
            return None
        z = self.prep.coefficients(validation)
        c = self.prep.condition({n: validation[n].values for n in self.prep.parameter_names})
        points = validation["point"].values if "point" in validation.coords else np.arange(z.shape[0])
        ids, inverse, counts = np.unique(points, return_inverse=True, return_counts=True)
        zbar = np.zeros((ids.size, z.shape[1]))
        np.add.at(zbar, inverse, z)
        zbar /= counts[:, None]
        first = np.unique(inverse, return_index=True)[1]
        err = zbar - self.mean_coefficients(c[first])
        return np.sqrt(np.mean(err**2, axis=0)).tolist()

    def _set_residual(self, cov: np.ndarray) -> None:
        self.residual_covariance = cov
        self.residual_cholesky = _cholesky_psd(cov)


class PCAGaussian(_GaussianGenerator):
    """Linear mean and full-covariance Gaussian residual of the POD coefficients.

    ``z = A c + b + L ε``: ``A`` ``(k, p)`` and ``b`` ``(k,)`` by least squares on all training
    samples, ``Σ = Rᵀ R / (n − p − 1)`` from the residuals ``R`` (unbiased for a linear model with
    ``p + 1`` coefficients), ``L = chol(Σ + jitter)``.

    Parameters
    ----------
    **base : the shared options of :class:`~uqgan.generators.Generator` (``pod_energy``,
        ``max_modes``, ``validation_fraction``, ``seed``)
    """

    name = "pca-gaussian"

    def __init__(self, **base):
        super().__init__(**base)
        self.linear_map: np.ndarray | None = None  # A (k, p)
        self.intercept: np.ndarray | None = None  # b (k,)

    def _fit(self, z, c, points, *, validation=None) -> None:
        t0 = time.perf_counter()
        n, p = c.shape
        if n <= p + 1:
            raise GeneratorError(f"pca-gaussian: {n} training samples cannot fit a linear mean in {p} parameters "
                             f"and estimate a residual covariance (need > {p + 1})")
        x = np.column_stack([c, np.ones(n)])
        coef, *_ = np.linalg.lstsq(x, z, rcond=None)
        resid = z - x @ coef
        self.linear_map, self.intercept = coef[:p].T.copy(), coef[p].copy()
        self._set_residual(resid.T @ resid / (n - p - 1))
        self.diagnostics = {"fit_seconds": time.perf_counter() - t0,
                            "validation_point_mean_rmse": self._validation_rmse(validation)}
        logger.info("pca-gaussian fitted in %.3f s: %d coefficients, residual trace %.4g",
                    self.diagnostics["fit_seconds"], z.shape[1], float(np.trace(self.residual_covariance)))

    def mean_coefficients(self, c: np.ndarray) -> np.ndarray:
        """``A c + b``: ``(m, k)`` from ``c`` ``(m, p)`` in [-1, 1]."""
        if self.linear_map is None:
            raise RuntimeError("pca-gaussian is not fitted: call fit(dataset) or load a saved model")
        return np.asarray(c, dtype=float) @ self.linear_map.T + self.intercept

    def _state(self) -> dict[str, np.ndarray]:
        return {"linear_map": self.linear_map, "intercept": self.intercept, "residual_covariance":
                self.residual_covariance, "residual_cholesky": self.residual_cholesky}

    def _meta(self) -> dict:
        return {"diagnostics": self.diagnostics}

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict, *, directory: Path) -> None:
        self.linear_map, self.intercept = arrays["linear_map"], arrays["intercept"]
        self.residual_covariance, self.residual_cholesky = arrays["residual_covariance"], arrays["residual_cholesky"]
        self.diagnostics = meta.get("diagnostics", {})


class KrigingGaussian(_GaussianGenerator):
    """Kriging mean and replicate-pooled Gaussian residual of the POD coefficients.

    ``z = m(c) + L ε`` with ``m`` a :class:`~uqgan.generators._kriging.KrigingMean` fitted on the design-point
    means and ``Σ = Σ_p Σ_r (z_pr − z̄_p)(z_pr − z̄_p)ᵀ / (n − n_points)``, the pooled within-point
    covariance (the one-way ANOVA within-group estimator; points with one replicate add nothing).
    Without any replicated point, ``Σ`` falls back to the residuals from the kriging mean (a warning
    is logged: it then also holds the kriging error).

    ``covariance="local"`` replaces the one pooled ``Σ`` by the within-point covariance of the
    ``local_points`` design points nearest to ``c`` (distance in ``c / ℓ``, ``ℓ`` the kriging mean's
    length scales, :meth:`~uqgan.generators._kriging.KrigingMean.length_scales`: the neighbours are
    those whose histories the parameters make alike): with ``r`` the
    replicate residuals of those points, each scaled by ``√(n_p / (n_p − 1))`` so that
    ``E[r rᵀ] = Σ(c)``, a sample is ``z = m(c) + Σ_i ε_i r_i / √N`` (``N`` residuals, ε ~ N(0, I)),
    a Gaussian with covariance ``Σ_i r_i r_iᵀ / N``. The residual law then follows the parameters.

    ``covariance="resample"`` carries a real training run over to ``c``: a draw is
    ``z = m(c) + (z_j − m(c_j))`` with ``j`` uniform over the runs of the ``local_points`` nearest
    design points (a residual bootstrap, Efron & Tibshirani 1993 §9.5, of the kriging mean's
    residuals, from the neighbourhood of ``c``). The deviation ``z_j − m(c_j)`` holds the run's
    replicate residual and what the kriging mean smoothed away at ``c_j``: the sharp, non-Gaussian
    features of what the material field did to a history, and the part of the conditional mean's
    peaks that a least-squares mean shrinks towards the average. Its covariance is the
    within-point one plus the kriging error at ``c_j``. Each draw's law is discrete (``N`` atoms:
    the runs of the nearest points); over a Monte Carlo of many parameter values the atoms change
    with ``c``. What each law does to the zone QoIs at held-out points is measured in
    docs/generators.md ("Residual laws", "kriging-resample").

    Parameters
    ----------
    k_individual : leading POD coefficients with their own GP (the rest share one GP); 64 by default
        (docs/generators.md measures what a shared GP for the higher coefficients costs)
    n_restarts : extra random starts of each GP's marginal-likelihood optimiser
    covariance : ``"pooled"`` (default), ``"local"`` or ``"resample"``
    local_points : design points (with replicates) whose residuals make the local law (3)
    **base : the shared options of :class:`~uqgan.generators.Generator` (``pod_energy``,
        ``max_modes``, ``validation_fraction``, ``seed``; ``seed`` also seeds the optimiser starts)

    Attributes
    ----------
    kriging : the fitted :class:`~uqgan.generators._kriging.KrigingMean`
    residual_covariance, residual_cholesky : (k, k) ``Σ`` and ``L`` (``L Lᵀ = Σ + jitter``)
    """

    name = "kriging-gaussian"

    def __init__(self, *, k_individual: int = 64, n_restarts: int = 2, covariance: str = "pooled",
                 local_points: int = 3, **base):
        super().__init__(**base)
        if k_individual < 0:
            raise ValueError(f"k_individual={k_individual}: must be >= 0 (0 puts every coefficient in one shared GP)")
        if n_restarts < 0:
            raise ValueError(f"n_restarts={n_restarts}: must be >= 0 (2 is the default)")
        if covariance not in COVARIANCES:
            raise ValueError(f"covariance={covariance!r}: must be one of {', '.join(map(repr, COVARIANCES))}")
        if isinstance(local_points, bool) or not isinstance(local_points, (int, np.integer)) or local_points < 1:
            raise ValueError(f"local_points={local_points!r}: must be an integer >= 1 (3 is the default)")
        self.config.update({"k_individual": k_individual, "n_restarts": n_restarts, "covariance": covariance,
                            "local_points": int(local_points)})
        self.kriging: KrigingMean | None = None
        # (N, k) grouped by point: scaled replicate residuals (local) or deviations from the kriging mean (resample)
        self.local_residuals: np.ndarray | None = None
        self.local_offsets: np.ndarray | None = None  # (P + 1,) rows of each point's residuals
        self.local_conditions: np.ndarray | None = None  # (P, p) the points' conditioning
        self.local_length_scales: np.ndarray | None = None  # (p,) the neighbour metric: c / ℓ

    def _fit(self, z, c, points, *, validation=None) -> None:
        t0 = time.perf_counter()
        self.kriging = KrigingMean(k_individual=self.config["k_individual"],
                                   n_restarts_optimizer=self.config["n_restarts"],
                                   seed=self.config["seed"]).fit(z, c, points)
        t_mean = time.perf_counter() - t0
        _, inverse, counts = np.unique(points, return_inverse=True, return_counts=True)
        dof = z.shape[0] - counts.size
        if dof > 0:
            zbar = np.zeros((counts.size, z.shape[1]))
            np.add.at(zbar, inverse, z)
            zbar /= counts[:, None]
            resid = z - zbar[inverse]
            cov = resid.T @ resid / dof
        else:
            logger.warning("kriging-gaussian: no design point has two or more replicates, so the residual "
                           "covariance comes from the residuals of the kriging mean (it then also holds the "
                           "kriging error); generate replicates for a clean estimate")
            resid = z - self.kriging.predict(c)
            cov = resid.T @ resid / z.shape[0]
        self._set_residual(cov)
        if self.config.get("covariance", "pooled") in ("local", "resample"):
            self._fit_local(z, c, inverse, counts)
        self.diagnostics = {"fit_seconds": time.perf_counter() - t0, "kriging_fit_seconds": t_mean,
                            "residual_dof": int(dof), "loo_rmse": self.kriging.loo_error().tolist(),
                            "validation_point_mean_rmse": self._validation_rmse(validation)}
        logger.info("kriging-gaussian fitted in %.2f s (kriging %.2f s): %d coefficients, pooled residual trace "
                    "%.4g on %d degrees of freedom", self.diagnostics["fit_seconds"], t_mean, z.shape[1],
                    float(np.trace(cov)), dof)

    def _fit_local(self, z, c, inverse, counts) -> None:
        kind, need = self.config["covariance"], self.config["local_points"]
        resample = kind == "resample"
        keep = np.flatnonzero(counts >= (1 if resample else 2))
        if keep.size < need:
            raise GeneratorError(f"covariance={kind!r} needs at least local_points={need} design points"
                                 + ("" if resample else " with two or more replicates")
                                 + f"; the training data has {keep.size}: generate "
                                 + ("more points" if resample else "replicates (--replicates)")
                                 + " or use covariance='pooled'")
        # resample: each run's deviation from the kriging mean at its own parameters; local: the
        # replicate residuals, scaled so that E[r rᵀ] is the within-point covariance
        dev = z - self.kriging.predict(c) if resample else None
        blocks, conds = [], []
        for g in keep:
            rows = np.flatnonzero(inverse == g)
            if resample:
                blocks.append(dev[rows])
            else:
                blocks.append((z[rows] - z[rows].mean(axis=0)) * np.sqrt(rows.size / (rows.size - 1)))
            conds.append(c[rows[0]])
        self.local_residuals = np.concatenate(blocks)
        self.local_offsets = np.concatenate([[0], np.cumsum([b.shape[0] for b in blocks])])
        self.local_conditions = np.array(conds)
        self.local_length_scales = self.kriging.length_scales()

    def _sample(self, c: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        kind = self.config.get("covariance", "pooled")
        if kind == "pooled":
            return super()._sample(c, rng)
        mean = self.mean_coefficients(c)
        rule = NeighbourRule(self.local_conditions, self.local_offsets, self.local_length_scales,
                             self.config["local_points"])
        if kind == "resample":
            return mean + self.local_residuals[rule.draw(c, rng)]
        nearest = rule.nearest(c)
        out = np.empty_like(mean)
        for i, pts in enumerate(nearest):  # rows with the same neighbours could share a matmul; cheap either way
            r = np.concatenate([self.local_residuals[self.local_offsets[j]:self.local_offsets[j + 1]] for j in pts])
            out[i] = mean[i] + rng.standard_normal(r.shape[0]) @ r / np.sqrt(r.shape[0])
        return out

    def mean_coefficients(self, c: np.ndarray) -> np.ndarray:
        """The kriging mean ``(m, k)`` of the whitened POD coefficients at ``c`` ``(m, p)`` in [-1, 1]."""
        if self.kriging is None:
            raise RuntimeError("kriging-gaussian is not fitted: call fit(dataset) or load a saved model")
        return self.kriging.predict(c)

    def _state(self) -> dict[str, np.ndarray]:
        local = {} if self.local_residuals is None else {
            "local_residuals": self.local_residuals, "local_offsets": self.local_offsets,
            "local_conditions": self.local_conditions, "local_length_scales": self.local_length_scales}
        return {**self.kriging.to_arrays(), "residual_covariance": self.residual_covariance,
                "residual_cholesky": self.residual_cholesky, **local}

    def _meta(self) -> dict:
        return {"diagnostics": self.diagnostics, "kernels": [str(k) for k in self.kriging.kernels]}

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict, *, directory: Path) -> None:
        self.kriging = KrigingMean.from_arrays(arrays)
        self.residual_covariance, self.residual_cholesky = arrays["residual_covariance"], arrays["residual_cholesky"]
        if "local_residuals" in arrays:
            self.local_residuals, self.local_offsets = arrays["local_residuals"], arrays["local_offsets"]
            self.local_conditions = arrays["local_conditions"]
            self.local_length_scales = arrays.get("local_length_scales")  # absent in models saved before it
        self.diagnostics = meta.get("diagnostics", {})


class KrigingResample(KrigingGaussian):
    """Kriging mean and a local residual bootstrap: ``z = m(c) + (z_j − m(c_j))``, ``j`` a training
    run of one of the ``local_points`` design points nearest to ``c`` on the kriging's length
    scales. :class:`KrigingGaussian` with ``covariance="resample"`` (see there for the law and its
    measured effect), under its own name: its draws are not Gaussian, and ``uqgan evaluate`` and the
    Monte Carlo reports should say which law they used.

    Parameters
    ----------
    local_points : design points whose runs a draw comes from (6: measured better than 3 in the zone and on
        the histories on both shipped cases, docs/generators.md)
    **options : :class:`KrigingGaussian`'s ``k_individual`` and ``n_restarts``, and the shared ones
    """

    name = "kriging-resample"

    def __init__(self, *, local_points: int = 6, covariance: str = "resample", **options):
        if covariance != "resample":
            raise ValueError(f"covariance={covariance!r}: kriging-resample always resamples; use kriging-gaussian "
                             "for the pooled or local Gaussian")
        super().__init__(covariance="resample", local_points=local_points, **options)
