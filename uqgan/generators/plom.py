"""Probabilistic learning on manifolds (PLoM, Soize & Ghanem 2016) and the ``plom`` generator.

PLoM learns new realizations of a random vector ``X`` (values in R^n) from ``N`` samples
``x_1..x_N`` whose law is concentrated near an unknown subset (a "manifold") of R^n:

1. **Normalisation** (Soize & Ghanem 2016, §2.1): principal components of the samples, whitened,
   ``η_j = μ^{-1/2} Φᵀ (x_j − x̄)`` with the ``ν`` leading eigenpairs ``(μ, Φ)`` of the sample
   covariance (those beyond a relative energy ``pca_tolerance`` are dropped). The ``η_j`` have zero
   mean and unit covariance; the columns of ``[η]`` (ν × N) are the data.
2. **Kernel density** (§2.3): ``p(η) = (1/N) Σ_j N(η; (ŝ/s) η_j, ŝ² I)`` with the modified Silverman
   bandwidth ``s = (4 / (N (2 + ν)))^{1/(ν+4)}`` and ``ŝ = s / √(s² + (N − 1)/N)``: this density has
   exactly the data's mean (0) and covariance (I). ``kde_bandwidth_factor`` (1) multiplies ``s``
   (then ``ŝ`` follows; the covariance stays I), as the public PLoM code's ``kde_bw_factor``.
3. **Diffusion maps** (§3, Coifman & Lafon 2006): ``K_ij = exp(−‖η_i − η_j‖² / (4 ε))``,
   ``b = diag(K 1)``, the eigenpairs ``(λ_α, φ_α)`` of ``b^{-1/2} K b^{-1/2}`` (λ_1 = 1 > λ_2 ≥ …),
   ``ψ_α = b^{-1/2} φ_α`` and the basis ``g_α = λ_α^κ ψ_α``, α = 1..m (κ = 1; the sampler depends
   only on the span of the basis, so κ changes nothing; the code keeps ``ψ``). ``ε`` by the
   criterion of Soize & Ghanem (2020, §5; 2022, §3.2): the smallest value at which the spectrum
   jumps after the first ``ν + 1`` eigenvalues, ``λ_{ν+2}(ε) / λ_2(ε) ≤ eigenvalue_jump`` (0.1).
   ``m``: with ``basis_criterion="concentrated"`` the papers' ``m = ν + 1``; with ``"covariance"``
   (default) the 2016 paper's mean-square criterion (§5.3) applied to the learned realizations: the
   smallest ``m`` in ``ν + 1, 2(ν + 1), 4(ν + 1), …, N`` whose learned realizations (``n_check_sets``
   integrations) have the data's covariance, ``‖cov(η_learned) − I‖_F / √ν ≤ covariance_tolerance +
   √((ν + 1) / (n_check_sets N))`` (the second term: a sample covariance's own error). Why both: the
   invariant law of the reduced equation is ``∏_j p(u_j)`` restricted to ``[U] = [Z][g]ᵀ``; with few
   basis vectors (the constant among them) it concentrates, and where the kernel density is smooth
   (low ``ν``, many samples) it shrinks towards the density's mode (measured in docs/generators.md);
   ``m = N`` is the plain kernel density. The projector on the basis is ``[a] = [g] ([g]ᵀ[g])^{-1}``;
   the relative error of the reduced data ``[η][a][g]ᵀ`` is reported as ``reduced_covariance_error``.
4. **Reduced Itô equation** (§4, a dissipative Hamiltonian system whose invariant measure has the
   kernel density above as marginal): with ``[U] = [Z][g]ᵀ``,
   ``d[Z] = [Y] dr``, ``d[Y] = [L([Z][g]ᵀ)][a] dr − ½ f0 [Y] dr + √f0 d[W][a]``,
   ``[L(u)]_{·ℓ} = ∇ log p`` at column ``u_ℓ`` (the potential's force), ``[Z(0)] = [η][a]``,
   ``[Y(0)] = [N][a]``, ``[N]`` and ``[W]`` standard normal (Wiener). Integrated by the
   Störmer–Verlet scheme of the paper (§4.3, eq. 45), ``b = f0 Δr / 4``::

       Z_{l+½} = Z_l + Δr/2 Y_l
       Y_{l+1} = (1 − b)/(1 + b) Y_l + Δr/(1 + b) L(Z_{l+½} gᵀ) a + √f0/(1 + b) ΔW_{l+1} a
       Z_{l+1} = Z_{l+½} + Δr/2 Y_{l+1}

   with the paper's ``f0 = 1.5``, ``Δr = 2π ŝ / 20`` and ``M0 = 110`` steps per realization
   (``M0 Δr`` well beyond the relaxation time ``4 / f0``). Each of ``n_learned_sets`` independent
   integrations gives one matrix ``[Z][g]ᵀ`` (ν × N), i.e. ``N`` learned realizations, mapped back
   by ``x = x̄ + Φ μ^{1/2} η``.
5. **Conditioning** on the first ``p`` coordinates (the parameters ``c``; Soize & Ghanem 2020,
   "Sampling of Bayesian posteriors with a non-Gaussian probabilistic learning on manifolds from
   a small dataset", Stat. Comput. 30, §3; Soize 2020 on conditional statistics): the learned
   realizations ``(c_ℓ, q_ℓ)`` weighted by a Gaussian kernel in ``c`` (Nadaraya–Watson weights
   ``w_ℓ(c) ∝ exp(−½ Σ_d ((c_d − c_ℓd) / h_d)²)``, ``h_d`` Silverman's bandwidth for the learned
   ``c`` in ``p`` dimensions times ``bandwidth_factor``); a draw picks ``ℓ`` with probability ``w_ℓ``
   (``conditioning="kernel"``), and with ``conditioning="local-linear"`` (default) carries it to
   ``c`` along the weighted least-squares slope ``B(c)`` of ``q`` on ``c`` around ``c``:
   ``q = q_ℓ + B(c)(c − c_ℓ)`` (the regression adjustment of Beaumont, Zhang & Balding 2002), which
   removes the kernel's first-order bias where the conditional mean changes within a bandwidth.

The generator ``plom`` applies this to ``x_j = (c_j, d_j[:k])``: the conditioning parameters in
[-1, 1] and the leading ``k = n_coefficients`` whitened POD coefficients of every training run
(:mod:`uqgan.generators._base`), by default (``mean="kriging"``) as deviations from the kriging
mean at the run's own parameters, ``d_j = z_j − m(c_j)`` (:class:`uqgan.generators._kriging.KrigingMean`, as in
``kriging-resample``), and a draw is ``m(c) + d``; with ``mean="none"``, ``d_j = z_j`` (PLoM of the
joint law itself). The remaining coefficients, if any, get a linear-Gaussian law given
``(c, d[:k])`` (least squares, full residual covariance). Measured numbers are in
``docs/generators.md``.

References
----------
C. Soize, R. Ghanem, Data-driven probability concentration and sampling on manifold,
J. Comput. Phys. 321 (2016) 242–258, doi:10.1016/j.jcp.2016.05.044.
C. Soize, R. Ghanem, Probabilistic learning on manifolds, Found. Data Sci. 2 (2020) 279–307.
C. Soize, R. Ghanem, Probabilistic learning on manifolds (PLoM) with partition, Int. J. Numer.
Methods Eng. 123 (2022) 268–290 (arXiv:2102.10894).
R. R. Coifman, S. Lafon, Diffusion maps, Appl. Comput. Harmon. Anal. 21 (2006) 5–30.
M. A. Beaumont, W. Zhang, D. J. Balding, Approximate Bayesian computation in population
genetics, Genetics 162 (2002) 2025–2035.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config import ConfigError, error_lines
from ._base import Generator, GeneratorError

__all__ = ["CONDITIONINGS", "PLoM", "PLoMConfig", "PLoMGenerator", "conditional_sample", "silverman_bandwidth"]

logger = logging.getLogger(__name__)

CONDITIONINGS = ("local-linear", "kernel")
MEANS = ("none", "kriging")


class PLoMConfig(BaseModel):
    """The options of PLoM (all dimensionless); defaults are the papers' values."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pca_tolerance: float = Field(1e-6, gt=0, lt=1, description="relative variance the normalising PCA may drop")
    n_basis: int | None = Field(None, ge=2, description="diffusion-maps basis size m; None: by basis_criterion")
    basis_criterion: Literal["covariance", "concentrated"] = Field(
        "covariance", description="covariance: the smallest m >= ν + 1 whose learned covariance is the data's; "
        "concentrated: m = ν + 1")
    covariance_tolerance: float = Field(0.1, gt=0, description="the m criterion's bound on the learned covariance")
    n_check_sets: int = Field(4, ge=1, description="learned sets per trial m of the m criterion")
    kernel_epsilon: float | None = Field(None, gt=0, description="diffusion-maps kernel ε; None: the jump criterion")
    eigenvalue_jump: float = Field(0.1, gt=0, lt=1, description="the ε criterion's bound on λ_{ν+2}/λ_2")
    f0: float = Field(1.5, gt=0, description="the Itô equation's dissipation")
    step_factor: float = Field(20.0, gt=0, description="Fac in Δr = 2π ŝ / Fac")
    steps_per_realization: int = Field(110, ge=1, description="M0: Störmer–Verlet steps per learned matrix")
    n_learned_sets: int = Field(20, ge=1, description="independent integrations, N learned realizations each")
    conditioning: Literal["local-linear", "kernel"] = Field("local-linear", description="see the module docstring")
    bandwidth_factor: float = Field(1.0, gt=0, description="multiplies Silverman's bandwidth in c")
    kde_bandwidth_factor: float = Field(1.0, gt=0, description="multiplies the kernel density's Silverman s")

    @classmethod
    def build(cls, **options) -> PLoMConfig:
        """Validated config; a bad option raises ValueError with one line per problem, naming it."""
        def name(loc):
            return "PLoMConfig." + ".".join(str(p) for p in loc)

        def hint(loc):
            field = cls.model_fields.get(str(loc[0]))
            return "" if field is None else f" ({field.description}; default {field.default!r})"

        try:
            return cls(**options)
        except ValidationError as err:
            raise ConfigError(error_lines(err, name=name, hint=hint, unknown=lambda loc: f"{name(loc)}: unknown option "
                                          f"(known: {', '.join(cls.model_fields)})")) from None


def silverman_bandwidth(n: int, dim: int) -> float:
    """Silverman's rule for a Gaussian kernel on whitened data, ``(4 / (n (2 + dim)))^{1/(dim+4)}``."""
    return float((4.0 / (n * (2.0 + dim))) ** (1.0 / (dim + 4.0)))


@dataclass
class PLoM:
    """A fitted PLoM of samples ``(N, n)``: normalisation, kernel density and diffusion-maps basis.

    Build with :meth:`fit`, draw learned realizations with :meth:`learn` (see the module docstring
    for the law and the references).

    Attributes
    ----------
    mean : (n,) sample mean x̄
    transform : (n, ν) ``Φ μ^{1/2}``: ``x = x̄ + transform @ η``
    eta : (N, ν) the normalised data
    s, s_hat : the Silverman bandwidth and its modified value ŝ
    epsilon : diffusion-maps kernel ε
    eigenvalues : (N,) of the symmetric transition matrix, descending
    g : (N, m) diffusion-maps basis; ``a`` (N, m) its projector ``g (gᵀg)^{-1}``
    """

    config: PLoMConfig
    mean: np.ndarray
    transform: np.ndarray
    eta: np.ndarray
    s: float
    s_hat: float
    epsilon: float
    eigenvalues: np.ndarray
    g: np.ndarray
    a: np.ndarray

    @property
    def nu(self) -> int:
        return self.eta.shape[1]

    @property
    def m(self) -> int:
        return self.g.shape[1]

    @classmethod
    def fit(cls, x: np.ndarray, config: PLoMConfig | None = None, *, rng: np.random.Generator) -> PLoM:
        """Normalise ``x`` ``(N, n)``, set the bandwidths, choose ε and m, build the basis.

        ``rng`` drives the trial integrations of the ``m`` criterion (none when ``n_basis`` is given).

        Raises
        ------
        ValueError
            when ``x`` is not a finite 2-D array, has too few samples for the basis (``N <= ν + 1``),
            or no ε in [1e-4, 1e4] × the median squared distance / 4 meets the jump criterion.
        """
        config = config or PLoMConfig()
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or not np.all(np.isfinite(x)):
            raise ValueError(f"PLoM.fit: x must be a finite (N, n) array, got shape {x.shape}")
        n_samples = x.shape[0]
        mean = x.mean(axis=0)
        _, sv, vt = np.linalg.svd(x - mean, full_matrices=False)
        mu = sv**2 / max(n_samples - 1, 1)
        if mu.size == 0 or mu[0] <= 0:
            raise ValueError("PLoM.fit: the samples do not vary (zero covariance)")
        dropped = 1 - np.cumsum(mu) / mu.sum()
        nu = int(np.argmax(dropped <= config.pca_tolerance)) + 1
        nu = min(nu, int(np.sum(mu > 1e-12 * mu[0])))
        m_first = config.n_basis if config.n_basis is not None else nu + 1
        if n_samples < m_first or n_samples <= nu + 1:
            raise ValueError(f"PLoM.fit: {n_samples} samples in ν = {nu} normalised dimensions are too few for a "
                             f"diffusion-maps basis of m = {m_first} vectors (need N >= m): give more samples or "
                             "fewer coefficients (n_coefficients), or a smaller n_basis")
        transform = vt[:nu].T * np.sqrt(mu[:nu])
        eta = (x - mean) @ vt[:nu].T / np.sqrt(mu[:nu])
        s = config.kde_bandwidth_factor * silverman_bandwidth(n_samples, nu)
        s_hat = s / np.sqrt(s**2 + (n_samples - 1) / n_samples)
        d2 = _sqdist(eta, eta)
        epsilon = config.kernel_epsilon or _choose_epsilon(d2, nu + 1, config.eigenvalue_jump)
        lam, phi, deg = _transition_spectrum(d2, epsilon)
        psi = phi / np.sqrt(deg)[:, None]  # all N vectors; the basis is the first m

        def build(m: int) -> PLoM:
            g = psi[:, :m]
            return cls(config=config, mean=mean, transform=transform, eta=eta, s=s, s_hat=float(s_hat),
                       epsilon=float(epsilon), eigenvalues=lam, g=g, a=g @ np.linalg.inv(g.T @ g))

        if config.n_basis is not None or config.basis_criterion == "concentrated":
            model = build(m_first)
        else:
            # the 2016 paper's criterion: the smallest m whose learned realizations have the data's
            # covariance (I) within covariance_tolerance, plus the relative Frobenius error that a
            # sample covariance of as many independent N(0, I) draws has, √((ν + 1) / n); m = N is
            # the plain kernel density
            allowance = np.sqrt((nu + 1) / (config.n_check_sets * n_samples))
            model, m = None, m_first
            while True:
                model = build(m)
                err = model.learned_covariance_error(rng=rng)
                logger.info("PLoM basis m = %d: learned covariance error %.3f (bound %.3f)", m, err,
                            config.covariance_tolerance + allowance)
                if err <= config.covariance_tolerance + allowance or m >= n_samples:
                    break
                m = min(2 * m, n_samples)
        logger.info("PLoM: N = %d, n = %d -> ν = %d, s = %.3f, ŝ = %.3f, ε = %.4g, m = %d, λ_{ν+2}/λ_2 = %.3f, "
                    "reduced covariance error %.3g", n_samples, x.shape[1], nu, s, s_hat, epsilon, model.m,
                    model.jump_ratio, model.reduced_covariance_error)
        return model

    def learned_covariance_error(self, *, rng: np.random.Generator) -> float:
        """``‖cov(η_learned) − I‖_F / ‖I‖_F`` over ``n_check_sets`` learned sets (the m criterion)."""
        eta = (self.learn(self.config.n_check_sets, rng=rng) - self.mean) @ np.linalg.pinv(self.transform).T
        return float(np.linalg.norm(np.atleast_2d(np.cov(eta.T)) - np.eye(self.nu)) / np.sqrt(self.nu))

    @property
    def jump_ratio(self) -> float:
        """``λ_{ν+2} / λ_2`` at the fitted ε (the ε criterion's quantity)."""
        k = self.nu + 1
        return float(self.eigenvalues[k] / self.eigenvalues[1]) if self.eigenvalues.size > k else 0.0

    @property
    def reduced_covariance_error(self) -> float:
        """``‖cov([η][a][g]ᵀ) − I‖_F / ‖I‖_F``: how much of the data the reduced basis keeps (2016, §5.3)."""
        h = self.eta.T @ self.a @ self.g.T  # (ν, N)
        cov = np.cov(h)
        cov = np.atleast_2d(cov)
        return float(np.linalg.norm(cov - np.eye(self.nu)) / np.sqrt(self.nu))

    @property
    def step(self) -> float:
        """The integration step Δr = 2π ŝ / Fac."""
        return 2 * np.pi * self.s_hat / self.config.step_factor

    def force(self, u: np.ndarray) -> np.ndarray:
        """``∇ log p(u)`` ``(M, ν)`` of the kernel density at points ``u`` ``(M, ν)`` (the columns of [L])."""
        centres = (self.s_hat / self.s) * self.eta
        out = np.empty_like(u)
        rows = max(1, 2**22 // centres.shape[0])  # blocks of ~4M kernel values (32 MiB)
        for i0 in range(0, u.shape[0], rows):
            ub = u[i0:i0 + rows]
            logits = -_sqdist(ub, centres) / (2 * self.s_hat**2)
            logits -= logits.max(axis=1, keepdims=True)
            w = np.exp(logits)
            w /= w.sum(axis=1, keepdims=True)
            out[i0:i0 + rows] = (w @ centres - ub) / self.s_hat**2
        return out

    def learn(self, n_sets: int | None = None, *, rng: np.random.Generator) -> np.ndarray:
        """``(n_sets · N, n)`` learned realizations in the data's units (module docstring, step 4).

        Each set is one independent Störmer–Verlet integration of the reduced Itô equation over
        ``M0`` steps from ``[Z(0)] = [η][a]``; its end state ``[Z][g]ᵀ`` gives ``N`` realizations.
        """
        n_sets = self.config.n_learned_sets if n_sets is None else int(n_sets)
        if n_sets < 1:
            raise ValueError(f"n_sets={n_sets}: must be >= 1")
        cfg = self.config
        n, nu = self.eta.shape
        dr, f0 = self.step, cfg.f0
        b = f0 * dr / 4
        h = self.eta.T  # (ν, N)
        z = np.broadcast_to(h @ self.a, (n_sets, nu, self.m)).copy()
        y = rng.standard_normal((n_sets, nu, n)) @ self.a
        for _ in range(cfg.steps_per_realization):
            z_half = z + 0.5 * dr * y
            u = z_half @ self.g.T  # (S, ν, N)
            force = self.force(u.transpose(0, 2, 1).reshape(-1, nu)).reshape(n_sets, n, nu).transpose(0, 2, 1)
            dw = np.sqrt(dr) * rng.standard_normal((n_sets, nu, n))
            y = ((1 - b) * y + dr * (force @ self.a) + np.sqrt(f0) * (dw @ self.a)) / (1 + b)
            z = z_half + 0.5 * dr * y
        eta = (z @ self.g.T).transpose(0, 2, 1).reshape(-1, nu)
        return self.mean + eta @ self.transform.T


def _sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(len(a), len(b))`` (clipped at 0 against round-off)."""
    d2 = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2 * a @ b.T
    return np.maximum(d2, 0.0)


def _symmetric_transition(d2: np.ndarray, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """``b^{-1/2} K b^{-1/2}`` (symmetrised against round-off) and the degrees ``b`` for kernel ``ε``."""
    k = np.exp(-d2 / (4 * epsilon))
    deg = k.sum(axis=1)
    ps = k / np.sqrt(np.outer(deg, deg))
    return 0.5 * (ps + ps.T), deg


def _transition_spectrum(d2: np.ndarray, epsilon: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvalues (descending), eigenvectors of ``b^{-1/2} K b^{-1/2}`` and ``b`` for kernel ``ε``."""
    ps, deg = _symmetric_transition(d2, epsilon)
    lam, phi = np.linalg.eigh(ps)
    return lam[::-1], phi[:, ::-1], deg


def _jump(d2: np.ndarray, epsilon: float, m: int) -> float:
    lam = np.linalg.eigvalsh(_symmetric_transition(d2, epsilon)[0])[::-1]
    return float(lam[m] / lam[1]) if lam[1] > 0 else np.inf


def _choose_epsilon(d2: np.ndarray, m: int, jump: float) -> float:
    """The smallest ε with ``λ_{m+1}(ε) / λ_2(ε) ≤ jump`` (Soize & Ghanem 2020): a geometric scan of
    ``[1e-4, 1e4] × median(d²)/4`` for the first ε that meets it, then bisection in log ε."""
    scale = float(np.median(d2[np.triu_indices_from(d2, k=1)])) / 4
    grid = scale * np.logspace(-4, 4, 33)
    prev = None
    for eps in grid:
        if _jump(d2, eps, m) <= jump:
            break
        prev = eps
    else:
        raise ValueError(f"PLoM: no kernel ε in [{grid[0]:.3g}, {grid[-1]:.3g}] makes the diffusion-maps spectrum "
                         f"jump after λ_{m} (λ_{m + 1}/λ_2 <= {jump}): set kernel_epsilon and n_basis explicitly")
    if prev is None:
        return float(eps)
    lo, hi = np.log(prev), np.log(eps)
    for _ in range(20):  # ratio 10^(8/32) = 1.78 between grid points -> 1.78^(1/2^20): ε to 1e-6 relative
        mid = 0.5 * (lo + hi)
        if _jump(d2, np.exp(mid), m) <= jump:
            hi = mid
        else:
            lo = mid
    return float(np.exp(hi))


def conditional_sample(learned: np.ndarray, p: int, c: np.ndarray, *, rng: np.random.Generator,
                       conditioning: str = "local-linear", bandwidth_factor: float = 1.0,
                       block: int = 256) -> np.ndarray:
    """One draw of ``q | c`` per row of ``c`` from learned realizations ``(c_ℓ, q_ℓ)`` (module docstring, step 5).

    Parameters
    ----------
    learned : (L, p + k) learned realizations, the conditioning first
    p : number of conditioning coordinates
    c : (M, p) where to condition
    rng : the randomness (keyword-only)
    conditioning : ``"local-linear"`` (the draw carried to ``c`` along the local slope) or ``"kernel"``
    bandwidth_factor : multiplies Silverman's bandwidth ``(4 / (L (2 + p)))^{1/(p+4)} · std(c_ℓ)``

    Returns
    -------
    (M, k) draws of ``q``
    """
    if conditioning not in CONDITIONINGS:
        raise ValueError(f"conditioning={conditioning!r}: must be one of {', '.join(CONDITIONINGS)}")
    learned = np.asarray(learned, dtype=float)
    c = np.asarray(c, dtype=float).reshape(-1, p) if p else np.zeros((np.asarray(c).shape[0], 0))
    cl, ql = learned[:, :p], learned[:, p:]
    n_l = learned.shape[0]
    if p == 0:
        return ql[rng.integers(n_l, size=c.shape[0])]
    h = bandwidth_factor * silverman_bandwidth(n_l, p) * cl.std(axis=0, ddof=1)
    h = np.where(h > 0, h, 1.0)
    cs, cls = c / h, cl / h
    out = np.empty((c.shape[0], ql.shape[1]))
    sq_l = (cls * cls).sum(axis=1)
    k = ql.shape[1]
    if conditioning == "local-linear":  # the products whose weighted sums give the local covariances
        cc_l = (cls[:, :, None] * cls[:, None, :]).reshape(n_l, p * p)
        cq_l = (cls[:, :, None] * ql[:, None, :]).reshape(n_l, p * k)
    for i0 in range(0, c.shape[0], block):
        ci = cs[i0:i0 + block]
        logits = -0.5 * ((ci * ci).sum(axis=1)[:, None] + sq_l[None, :] - 2 * ci @ cls.T)
        logits -= logits.max(axis=1, keepdims=True)
        w = np.exp(logits)
        w /= w.sum(axis=1, keepdims=True)
        u = rng.random(ci.shape[0])
        pick = np.minimum((np.cumsum(w, axis=1) < u[:, None]).sum(axis=1), n_l - 1)
        draw = ql[pick].copy()
        if conditioning == "local-linear":
            # weighted covariances of (c, q) around c -> slope B = C_cc^{-1} C_cq, on the scaled c
            cbar = w @ cls  # (B, p)
            qbar = w @ ql  # (B, k)
            ccc = (w @ cc_l).reshape(-1, p, p) - cbar[:, :, None] * cbar[:, None, :]
            ccq = (w @ cq_l).reshape(-1, p, k) - cbar[:, :, None] * qbar[:, None, :]
            ccc += 1e-8 * np.eye(p)  # ccc is O(1) on the scaled c: a negligible ridge against degenerate weights
            slope = np.linalg.solve(ccc, ccq)  # (B, p, k)
            draw += np.einsum("bd,bdk->bk", ci - cls[pick], slope)
        out[i0:i0 + block] = draw
    return out


class PLoMGenerator(Generator):
    """PLoM of the parameters and the leading POD coefficients, conditioned on the parameters.

    ``x_j = (c_j, d_j[:k])`` for every training run ``j`` (``c`` in [-1, 1], ``d`` the whitened POD
    coefficients' deviations from the kriging mean, or the coefficients with ``mean="none"``);
    :class:`PLoM` learns ``n_learned_sets × N`` realizations of ``x`` at fit time, and a draw at
    ``c`` is :func:`conditional_sample` of them (plus the kriging mean); coefficients ``k`` and beyond
    get ``d[k:] = A [1, c, d[:k]] + L ε`` (least squares on the training runs, ``L Lᵀ`` their residual
    covariance). See the module docstring for the law and the references.

    Parameters
    ----------
    n_coefficients : leading POD coefficients modelled with the parameters (16; None: all)
    mean : ``"kriging"`` (default): PLoM of the runs' deviations from the kriging mean, a draw is
        ``m(c) + d``; ``"none"``: PLoM of the coefficients themselves
    **options : :class:`PLoMConfig`'s fields (``pca_tolerance``, ``n_basis``, ``kernel_epsilon``,
        ``basis_criterion``, ``covariance_tolerance``, ``n_check_sets``, ``eigenvalue_jump``, ``f0``,
        ``step_factor``, ``steps_per_realization``, ``n_learned_sets``, ``conditioning``,
        ``bandwidth_factor``, ``kde_bandwidth_factor``) and the shared ones of
        :class:`~uqgan.generators.Generator` (``pod_energy``, ``max_modes``, ``validation_fraction``,
        ``seed`` — which also seeds the Itô integration —, ``registration``, ``arrival_fraction``)
    """

    name = "plom"

    _BASE = ("pod_energy", "max_modes", "validation_fraction", "seed", "registration", "arrival_fraction")

    def __init__(self, *, n_coefficients: int | None = 16, mean: str = "kriging", **options):
        base = {k: options.pop(k) for k in self._BASE if k in options}
        super().__init__(**base)
        if n_coefficients is not None and (isinstance(n_coefficients, bool) or not isinstance(
                n_coefficients, (int, np.integer)) or n_coefficients < 1):
            raise ValueError(f"n_coefficients={n_coefficients!r}: must be an integer >= 1 or None (all POD "
                             "coefficients); 16 is the default")
        if mean not in MEANS:
            raise ValueError(f"mean={mean!r}: must be one of {', '.join(MEANS)} (none: PLoM of the coefficients "
                             "themselves; kriging: of their deviations from the kriging mean)")
        self.plom_config = PLoMConfig.build(**options)
        self.config.update({"n_coefficients": None if n_coefficients is None else int(n_coefficients), "mean": mean,
                            **self.plom_config.model_dump()})
        self.learned: np.ndarray | None = None  # (L, p + k)
        self.n_parameters = 0
        self.tail_map: np.ndarray | None = None  # (1 + p + k, K - k)
        self.tail_cholesky: np.ndarray | None = None
        self.kriging = None  # KrigingMean when mean="kriging"
        self.diagnostics: dict = {}

    def _fit(self, z, c, points, *, validation=None) -> None:
        from .gaussian import _cholesky_psd

        t0 = time.perf_counter()
        if self.config.get("mean", "none") == "kriging":
            from ._kriging import KrigingMean

            self.kriging = KrigingMean(k_individual=64, seed=self.config["seed"]).fit(z, c, points)
            z = z - self.kriging.predict(c)  # every run's deviation from the kriging mean at its parameters
        k = z.shape[1] if self.config["n_coefficients"] is None else min(self.config["n_coefficients"], z.shape[1])
        p = c.shape[1]
        x = np.column_stack([c, z[:, :k]])
        rng = np.random.default_rng(np.random.SeedSequence(self.config["seed"], spawn_key=(16,)))
        try:
            model = PLoM.fit(x, self.plom_config, rng=rng)
        except ValueError as err:
            raise GeneratorError(f"plom: {err}") from None
        self.learned = model.learn(rng=rng)
        self.n_parameters = p
        if k < z.shape[1]:
            design = np.column_stack([np.ones(z.shape[0]), c, z[:, :k]])
            dof = z.shape[0] - design.shape[1]
            if dof < 1:
                raise GeneratorError(f"plom: {z.shape[0]} training runs cannot fit the linear law of the "
                                     f"{z.shape[1] - k} coefficients beyond n_coefficients={k}: lower "
                                     "pod_energy or raise n_coefficients")
            coef, *_ = np.linalg.lstsq(design, z[:, k:], rcond=None)
            resid = z[:, k:] - design @ coef
            self.tail_map, self.tail_cholesky = coef, _cholesky_psd(resid.T @ resid / dof)
        else:
            self.tail_map = self.tail_cholesky = None
        self.diagnostics = {"fit_seconds": time.perf_counter() - t0, "n_samples": int(x.shape[0]),
                            "n_coefficients": int(k), "nu": model.nu, "m": model.m, "s": model.s,
                            "s_hat": model.s_hat, "epsilon": model.epsilon, "jump_ratio": model.jump_ratio,
                            "reduced_covariance_error": model.reduced_covariance_error, "step": model.step,
                            "n_learned": int(self.learned.shape[0])}
        logger.info("plom fitted in %.1f s: %d runs of %d parameters + %d coefficients -> ν = %d, m = %d, ε = %.3g; "
                    "%d learned realizations", self.diagnostics["fit_seconds"], x.shape[0], p, k, model.nu, model.m,
                    model.epsilon, self.learned.shape[0])

    def _sample(self, c: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.learned is None:
            raise RuntimeError("plom is not fitted: call fit(dataset) or load a saved model")
        head = conditional_sample(self.learned, self.n_parameters, c, rng=rng,
                                  conditioning=self.plom_config.conditioning,
                                  bandwidth_factor=self.plom_config.bandwidth_factor)
        if self.tail_map is not None:
            tail = np.column_stack([np.ones(c.shape[0]), c, head]) @ self.tail_map
            head = np.column_stack([head, tail + rng.standard_normal(tail.shape) @ self.tail_cholesky.T])
        return head if self.kriging is None else head + self.kriging.predict(c)

    def _state(self) -> dict[str, np.ndarray]:
        tail = {} if self.tail_map is None else {"tail_map": self.tail_map, "tail_cholesky": self.tail_cholesky}
        kriging = {} if self.kriging is None else self.kriging.to_arrays()
        return {"learned": self.learned, **tail, **kriging}

    def _meta(self) -> dict:
        return {"n_parameters": self.n_parameters, "diagnostics": self.diagnostics}

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict, *, directory: Path) -> None:
        self.learned = arrays["learned"]
        self.tail_map, self.tail_cholesky = arrays.get("tail_map"), arrays.get("tail_cholesky")
        self.n_parameters = int(meta["n_parameters"])
        if self.config.get("mean", "none") == "kriging":
            from ._kriging import KrigingMean

            self.kriging = KrigingMean.from_arrays(arrays)
        self.diagnostics = meta.get("diagnostics", {})
