"""Kriging (Gaussian-process regression) of a vector output over the normalised parameters.

The kriging mean is fitted on design-point means: replicates at one design point share the
conditioning ``c`` and differ only by the random material field, so averaging them gives the GP
unique inputs and the WhiteKernel nugget absorbs the remaining noise of the means.

Kernel (Rasmussen & Williams 2006, eqs. 4.9 and 5.1; ARD squared exponential plus noise)::

    k(c, c') = σ² exp(-½ Σ_d (c_d − c'_d)² / ℓ_d²) + σ_n² δ(c, c')

``ConstantKernel(σ²) * RBF(ℓ_1..ℓ_p, bounds 1e-2..1e2) + WhiteKernel(σ_n², bounds 1e-8..1e1)``,
with the hyperparameters maximising the log marginal likelihood (R&W eq. 5.8) over
``n_restarts_optimizer + 1`` starts, on outputs normalised to zero mean and unit variance.

The leading ``k_individual`` output coefficients (the POD coefficients carrying most of the
variance) each get their own GP and hyperparameters; the remaining ones share one multi-output GP
(one kernel, the log marginal likelihood summed over the outputs).

A fitted model is a set of plain arrays (training inputs, log-hyperparameters, ``alpha``, output
normalisation), so it saves to ``.npz`` without pickle and predicts the same numbers after loading.

References
----------
C. E. Rasmussen and C. K. I. Williams, *Gaussian Processes for Machine Learning*, MIT Press, 2006.
"""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np

__all__ = ["KrigingMean"]

logger = logging.getLogger(__name__)

_DIAGONAL_JITTER = 1e-10  # sklearn's GaussianProcessRegressor(alpha=...): added to K's diagonal in fit


def _kernel_template(p: int):
    """The unfitted kernel for ``p`` parameters (hyperparameters at their starting values)."""
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    return (ConstantKernel(1.0, constant_value_bounds=(1e-5, 1e5))
            * RBF(length_scale=[1.0] * p, length_scale_bounds=(1e-2, 1e2))
            + WhiteKernel(noise_level=1e-2, noise_level_bounds=(1e-8, 1e1)))


class KrigingMean:
    """Gaussian-process regression mean of a ``(k,)`` output over ``(p,)`` parameters in [-1, 1].

    Parameters
    ----------
    k_individual : leading output coefficients that each get their own GP (default 16); the rest
        share one multi-output GP
    n_restarts_optimizer : extra random starts of the marginal-likelihood optimiser per GP
    seed : seeds the optimiser's random starts (one stream per GP)

    Attributes (after ``fit``)
    --------------------------
    x_train : (n_points, p) the unique design-point inputs
    theta : (n_gp, p + 2) log-hyperparameters per GP: log σ², log ℓ_1..ℓ_p, log σ_n²
    alpha : (n_points, k) ``K⁻¹ y`` on the normalised outputs (R&W Alg. 2.1, line 3)
    y_mean, y_std : (k,) output normalisation
    group : (k,) index of the GP that predicts each output
    log_marginal_likelihood : (n_gp,) at the fitted hyperparameters

    Examples
    --------
    >>> km = KrigingMean(k_individual=4).fit(z, c, points)  # doctest: +SKIP
    >>> km.predict(c_new).shape  # doctest: +SKIP
    (m, k)
    """

    def __init__(self, *, k_individual: int = 16, n_restarts_optimizer: int = 2, seed: int = 0):
        if k_individual < 0:
            raise ValueError(f"k_individual={k_individual}: must be >= 0 (0 puts every output in one shared GP)")
        if n_restarts_optimizer < 0:
            raise ValueError(f"n_restarts_optimizer={n_restarts_optimizer}: must be >= 0")
        self.k_individual = int(k_individual)
        self.n_restarts_optimizer = int(n_restarts_optimizer)
        self.seed = int(seed)
        self.x_train: np.ndarray | None = None
        self.theta: np.ndarray | None = None
        self.alpha: np.ndarray | None = None
        self.y_mean: np.ndarray | None = None
        self.y_std: np.ndarray | None = None
        self.group: np.ndarray | None = None
        self.log_marginal_likelihood: np.ndarray | None = None
        self._kernels: list = []

    # --------------------------------------------------------------------------------------------
    def fit(self, z: np.ndarray, c: np.ndarray, points: np.ndarray) -> KrigingMean:
        """Fit on design-point means.

        Parameters
        ----------
        z : (n, k) outputs (e.g. whitened POD coefficients), one row per sample
        c : (n, p) parameters in [-1, 1], constant within a design point
        points : (n,) design-point id of each sample (replicates share an id)

        Raises
        ------
        ValueError
            on mismatched shapes, fewer than 2 design points, no parameters, or ``c`` that varies
            within a design point.
        """
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor

        z, c, points = np.asarray(z, dtype=float), np.asarray(c, dtype=float), np.asarray(points)
        if z.ndim != 2 or c.ndim != 2 or points.shape != (z.shape[0],) or c.shape[0] != z.shape[0]:
            raise ValueError(f"KrigingMean.fit: z {z.shape}, c {c.shape} and points {points.shape} must be "
                             "(n, k), (n, p) and (n,)")
        if c.shape[1] == 0:
            raise ValueError("KrigingMean.fit: there are no parameters to krige over (p = 0); "
                             "use the pca-gaussian generator, whose mean is then a constant")
        ids, inverse, counts = np.unique(points, return_inverse=True, return_counts=True)
        if ids.size < 2:
            raise ValueError(f"KrigingMean.fit: {ids.size} design point(s); kriging needs at least 2")
        x = _group_mean(c, inverse, counts)
        spread = float(np.max(np.abs(c - x[inverse])))
        if spread > 1e-9:
            raise ValueError(f"KrigingMean.fit: the parameters vary by up to {spread:.3g} within a design point; "
                             "replicates of one point must share their parameters")
        y = _group_mean(z, inverse, counts)
        k = z.shape[1]
        n_ind = min(self.k_individual, k)
        groups = [[j] for j in range(n_ind)] + ([list(range(n_ind, k))] if n_ind < k else [])

        t0 = time.perf_counter()
        self.x_train = x
        self.theta = np.empty((len(groups), x.shape[1] + 2))
        self.alpha = np.empty((x.shape[0], k))
        self.y_mean, self.y_std = np.empty(k), np.empty(k)
        self.group = np.empty(k, dtype=np.int64)
        self.log_marginal_likelihood = np.empty(len(groups))
        for g, cols in enumerate(groups):
            state = int(np.random.SeedSequence(self.seed, spawn_key=(g,)).generate_state(1)[0])
            gpr = GaussianProcessRegressor(kernel=_kernel_template(x.shape[1]), alpha=_DIAGONAL_JITTER,
                                           normalize_y=True, n_restarts_optimizer=self.n_restarts_optimizer,
                                           random_state=state)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                gpr.fit(x, y[:, cols])
            for w in caught:
                if issubclass(w.category, ConvergenceWarning):
                    logger.info("kriging GP %d (outputs %s): %s", g, _describe(cols), w.message)
                else:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            self.theta[g] = gpr.kernel_.theta
            self.alpha[:, cols] = gpr.alpha_.reshape(x.shape[0], len(cols))
            self.y_mean[cols] = np.broadcast_to(gpr._y_train_mean, (len(cols),))
            self.y_std[cols] = np.broadcast_to(gpr._y_train_std, (len(cols),))
            self.group[cols] = g
            self.log_marginal_likelihood[g] = gpr.log_marginal_likelihood_value_
            logger.debug("kriging GP %d (outputs %s): %s", g, _describe(cols), gpr.kernel_)
        self._build_kernels()
        logger.info("kriging mean: %d GPs on %d design points x %d parameters fitted in %.2f s", len(groups),
                    x.shape[0], x.shape[1], time.perf_counter() - t0)
        return self

    def _build_kernels(self) -> None:
        template = _kernel_template(self.x_train.shape[1])
        self._kernels = [template.clone_with_theta(t) for t in self.theta]

    def _check_fitted(self) -> None:
        if self.x_train is None:
            raise RuntimeError("KrigingMean is not fitted: call fit(z, c, points) or from_arrays(...)")

    @property
    def kernels(self) -> list:
        """The fitted sklearn kernels, one per GP (printable: ``str(km.kernels[0])``)."""
        self._check_fitted()
        return list(self._kernels)

    # --------------------------------------------------------------------------------------------
    def predict(self, c: np.ndarray) -> np.ndarray:
        """Posterior mean ``(m, k)`` at parameters ``c`` ``(m, p)`` in [-1, 1].

        ``m(c*) = k(c*, X) α · std + mean`` (R&W Alg. 2.1, line 4, with the output normalisation
        undone); the noise term of the kernel is zero between distinct inputs.
        """
        self._check_fitted()
        c = np.atleast_2d(np.asarray(c, dtype=float))
        if c.shape[1] != self.x_train.shape[1]:
            raise ValueError(f"KrigingMean.predict: c has {c.shape[1]} columns, the model was fitted on "
                             f"{self.x_train.shape[1]} parameters")
        out = np.empty((c.shape[0], self.alpha.shape[1]))
        for g, kernel in enumerate(self._kernels):
            cols = np.flatnonzero(self.group == g)
            out[:, cols] = (kernel(c, self.x_train) @ self.alpha[:, cols]) * self.y_std[cols] + self.y_mean[cols]
        return out

    def length_scales(self) -> np.ndarray:
        """One RBF length scale per parameter ``(p,)`` for the whole output: the geometric mean of the
        individual GPs' length scales, weighted by the variance of the design-point means each GP
        predicts (the shared GP's alone when ``k_individual`` is 0). The scale on which the
        parameters change the output: distances in ``c / ℓ`` compare parameters of unequal effect."""
        self._check_fitted()
        p = self.x_train.shape[1]
        logl = self.theta[:, 1:1 + p]
        n_gp = logl.shape[0]
        gps = np.arange(min(self.k_individual, n_gp)) if self.k_individual > 0 else np.arange(n_gp)
        w = np.array([np.sum(self.y_std[self.group == g] ** 2) for g in gps])
        w = np.ones(gps.size) if not np.all(np.isfinite(w)) or w.sum() <= 0 else w
        return np.exp(w @ logl[gps] / w.sum())

    def loo_residuals(self) -> np.ndarray:
        """Leave-one-point-out residuals ``(n_points, k)`` of the design-point means, in output units.

        Closed form at the fitted hyperparameters (R&W eq. 5.12): ``y_i − μ_{−i} = [K⁻¹y]_i / [K⁻¹]_ii``
        with ``K`` the fitted kernel's covariance of the training inputs (noise included), on the
        normalised outputs, then multiplied back by the output standard deviation. Hyperparameters
        and normalisation are those fitted on all points (the usual approximation, R&W §5.4.2).
        """
        self._check_fitted()
        from scipy.linalg import cho_factor, cho_solve

        res = np.empty_like(self.alpha)
        n = self.x_train.shape[0]
        for g, kernel in enumerate(self._kernels):
            cols = np.flatnonzero(self.group == g)
            kmat = kernel(self.x_train)
            kmat[np.diag_indices(n)] += _DIAGONAL_JITTER
            kinv_diag = np.diag(cho_solve(cho_factor(kmat, lower=True), np.eye(n)))
            res[:, cols] = self.alpha[:, cols] / kinv_diag[:, None] * self.y_std[cols]
        return res

    def loo_error(self) -> np.ndarray:
        """Leave-one-point-out RMSE ``(k,)`` per output coefficient (see :meth:`loo_residuals`).

        It includes the noise of the design-point means (replicate variance / replicates), so it
        bounds the error of the mean from above.
        """
        return np.sqrt(np.mean(self.loo_residuals() ** 2, axis=0))

    # --------------------------------------------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (``kriging_*``) that :meth:`from_arrays` rebuilds the model from (no pickle)."""
        self._check_fitted()
        return {"kriging_x": self.x_train, "kriging_theta": self.theta, "kriging_alpha": self.alpha,
                "kriging_y_mean": self.y_mean, "kriging_y_std": self.y_std, "kriging_group": self.group,
                "kriging_lml": self.log_marginal_likelihood,
                "kriging_settings": np.array([self.k_individual, self.n_restarts_optimizer, self.seed], dtype=np.int64)}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> KrigingMean:
        k_ind, n_restarts, seed = (int(v) for v in a["kriging_settings"])
        km = cls(k_individual=k_ind, n_restarts_optimizer=n_restarts, seed=seed)
        km.x_train, km.theta, km.alpha = a["kriging_x"], a["kriging_theta"], a["kriging_alpha"]
        km.y_mean, km.y_std, km.group = a["kriging_y_mean"], a["kriging_y_std"], a["kriging_group"]
        km.log_marginal_likelihood = a["kriging_lml"]
        km._build_kernels()
        return km


def _group_mean(v: np.ndarray, inverse: np.ndarray, counts: np.ndarray) -> np.ndarray:
    out = np.zeros((counts.size, v.shape[1]))
    np.add.at(out, inverse, v)
    return out / counts[:, None]


def _describe(cols: list[int]) -> str:
    return str(cols[0]) if len(cols) == 1 else f"{cols[0]}..{cols[-1]}"
