"""Gaussian and lognormal random fields on the plate by Karhunen–Loève expansion (numpy/scipy only).

A zero-mean, unit-variance Gaussian field ``g`` with stationary isotropic correlation ``C(|x - y|)``
is expanded as

    g(x) = sum_k sqrt(lambda_k) xi_k phi_k(x),    xi_k ~ N(0, 1) independent,

where ``(lambda_k, phi_k)`` are the eigenpairs of the covariance operator on the domain D,
``int_D C(|x - y|) phi_k(y) dy = lambda_k phi_k(x)`` with ``int_D phi_i phi_j = delta_ij``
(Ghanem & Spanos, *Stochastic Finite Elements: A Spectral Approach*, 1991, ch. 2). Since
``C(0) = 1``, the eigenvalues sum to the field's total variance ``int_D C(0) dx = |D|`` (Mercer), so
``sum_{k <= m} lambda_k / |D|`` is the fraction of the variance the first ``m`` modes carry.

The eigenproblem is solved by the Nyström (quadrature) method on a regular midpoint grid of the
rectangle (Atkinson, *The Numerical Solution of Integral Equations of the Second Kind*, 1997, §3.1;
Betz, Papaioannou & Straub, CMAME 271:109, 2014): with points ``x_j`` and weights ``w_j``,
``B = W^1/2 C W^1/2`` is symmetric, ``B v = lambda v`` and ``phi = W^-1/2 v``. A mode is extended
off the grid by the Nyström interpolation ``phi_k(x) = (1 / lambda_k) sum_j w_j C(x, x_j) phi_k(x_j)``,
which reproduces the grid values exactly. The truncated covariance ``Psi(x) Psi(y)^T`` so obtained is
never larger than ``C`` (the residual is a positive semi-definite Schur complement), so the point
variance of the expanded field is at most 1.

The material field is lognormal, ``E = mean exp(s g - s^2 / 2)`` with ``s^2 = ln(1 + CoV^2)``:
mean ``mean`` and coefficient of variation ``CoV`` exactly.

Typical use in a campaign::

    basis = kl_basis(length_m=1.0, height_m=0.25, kernel="squared-exponential", correlation_length_m=0.4)
    psi = basis.evaluate(cell_midpoints)          # (n_cells, n_modes), once
    xi = sample_xi(basis.n_modes, rng=rng)        # per sample
    E = lognormal_field(psi @ xi, mean=E0, coefficient_of_variation=0.3)
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.special
from scipy.spatial.distance import cdist

__all__ = ["KERNELS", "KLBasis", "covariance", "kl_basis", "kl_basis_box", "lognormal_field", "sample_xi",
           "youngs_modulus_field"]

logger = logging.getLogger(__name__)

KERNELS = ("squared-exponential", "matern")
"""Names of the covariance kernels understood by :func:`covariance`."""

# Bytes of one (chunk, n_quadrature) float64 block in evaluate(): the Bessel path makes ~10 such temporaries.
_CHUNK_BYTES = 8_000_000
# Relative round-off slack on the energy target: the eigenvalues of B sum to trace(B) = area only up to
# about n_q * eps * lambda_max (< 1e-12 * area for n_q <= 2500), so energy_fraction = 1 stays reachable.
_ENERGY_RTOL = 1e-10


def _check_positive(name: str, value, meaning: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r}: must be a finite number > 0 ({meaning})") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name}={value!r}: must be a finite number > 0 ({meaning})")
    return v


def _check_kernel(kernel, correlation_length_m, matern_nu) -> tuple[str, float, float]:
    if kernel not in KERNELS:
        raise ValueError(f"kernel={kernel!r}: must be one of {', '.join(repr(k) for k in KERNELS)}")
    ell = _check_positive("correlation_length_m", correlation_length_m, "correlation length of the field [m]")
    nu = float(matern_nu)
    if kernel == "matern":
        nu = _check_positive("matern_nu", matern_nu, "smoothness of the Matern kernel, e.g. 0.5, 1.5, 2.5")
    return kernel, ell, nu


def _matern(x: np.ndarray, nu: float) -> np.ndarray:
    """Matérn correlation of the scaled distance ``x = sqrt(2 nu) r / l``.

    Half-integer ``nu`` in {1/2, 3/2, 5/2} use the closed forms ``e^-x``, ``(1 + x) e^-x`` and
    ``(1 + x + x^2 / 3) e^-x`` (Rasmussen & Williams 2006, eq. 4.16-4.17): exact and ~50x faster
    than the Bessel function; any other ``nu`` goes through :func:`_matern_bessel`.
    """
    if nu == 0.5:
        return np.exp(-x)
    if nu == 1.5:
        return (1.0 + x) * np.exp(-x)
    if nu == 2.5:
        return (1.0 + x + x * x / 3.0) * np.exp(-x)
    return _matern_bessel(x, nu)


def _matern_bessel(x: np.ndarray, nu: float) -> np.ndarray:
    """``2^(1-nu) / Gamma(nu) x^nu K_nu(x)`` for ``x >= 0``, equal to 1 at ``x = 0``.

    Evaluated in logarithms with the scaled ``kve(nu, x) = K_nu(x) e^x``, so ``x^nu K_nu(x)`` never
    becomes ``inf * 0``. Where ``K_nu(x)`` overflows a double (``x`` small compared with ``nu``),
    ``log K_nu`` comes from the upward recurrence ``K_{mu+1} = K_{mu-1} + (2 mu / x) K_mu``
    (DLMF 10.29.1; stable upward for K) carried as ratios ``K_{mu+1} / K_mu`` from ``mu = nu - floor(nu)``.
    Below ``x = 1e-100`` (where that happens only for ``nu > 2``) the value is 1 to double precision,
    ``1 - C = O(x^2 / (nu - 1))``. Absolute error ~ ``eps (nu |ln x| + x)``: < 1e-11 up to ``nu = 1000``.
    """
    out = np.ones_like(x)
    pos = x > 0
    xp = x[pos]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        log_k = np.log(scipy.special.kve(nu, xp)) - xp
    bad = ~np.isfinite(log_k)
    if np.any(bad):
        xb = xp[bad]
        tiny = xb < 1e-100
        xr = xb[~tiny]
        n = math.floor(nu)
        mu0 = nu - n
        lk = np.log(scipy.special.kve(mu0, xr)) - xr
        rho = scipy.special.kve(mu0 + 1.0, xr) / scipy.special.kve(mu0, xr)  # K_{mu0+1} / K_{mu0}
        for j in range(n):
            if j:
                rho = 1.0 / rho + 2.0 * (mu0 + j) / xr
            lk = lk + np.log(rho)
        log_k[np.flatnonzero(bad)[~tiny]] = lk
        log_k[np.flatnonzero(bad)[tiny]] = np.nan  # set to 1 below
    log_c = (1.0 - nu) * math.log(2.0) - scipy.special.gammaln(nu) + nu * np.log(xp) + log_k
    c = np.where(np.isnan(log_c), 1.0, np.exp(np.minimum(log_c, 0.0)))
    out[pos] = c
    return out


def covariance(r, *, kernel: str, correlation_length_m: float, matern_nu: float = 1.5) -> np.ndarray:
    """Unit-variance correlation ``C(r)`` of an isotropic Gaussian field at distance ``r``.

    Parameters
    ----------
    r : array_like of float, any shape, [m]
        Distances ``|x - y| >= 0``.
    kernel : {"squared-exponential", "matern"}
        ``"squared-exponential"``: ``C = exp(-r^2 / (2 l^2))``.
        ``"matern"``: ``C = 2^(1-nu) / Gamma(nu) (sqrt(2 nu) r / l)^nu K_nu(sqrt(2 nu) r / l)``
        (Rasmussen & Williams, *Gaussian Processes for Machine Learning*, 2006, eq. 4.14), with
        ``C(0) = 1``; ``nu = 1/2`` is the exponential kernel ``exp(-r / l)`` and ``nu -> inf`` tends
        to the squared exponential.
    correlation_length_m : float, [m]
        Correlation length ``l > 0``.
    matern_nu : float
        Smoothness ``nu > 0`` of the Matérn kernel (ignored by the squared exponential).

    Returns
    -------
    numpy.ndarray of float64, same shape as ``r``, dimensionless
        Correlation in ``(0, 1]`` (it may underflow to 0 at large ``r / l``).

    Raises
    ------
    ValueError
        Unknown ``kernel``, ``correlation_length_m <= 0``, ``matern_nu <= 0`` or negative ``r``.

    Examples
    --------
    >>> covariance([0.0, 0.4], kernel="squared-exponential", correlation_length_m=0.4)
    array([1.        , 0.60653066])
    """
    kernel, ell, nu = _check_kernel(kernel, correlation_length_m, matern_nu)
    r = np.asarray(r, dtype=float)
    if np.any(r < 0) or not np.all(np.isfinite(r)):
        raise ValueError("r: distances must be finite and >= 0")
    if kernel == "squared-exponential":
        return np.exp(-0.5 * (r / ell) ** 2)
    return _matern(math.sqrt(2.0 * nu) * r / ell, nu)


def _covariance_matrix(a: np.ndarray, b: np.ndarray, *, kernel: str, ell: float, nu: float) -> np.ndarray:
    if kernel == "squared-exponential":  # skip the square root: exp(-d^2 / (2 l^2))
        return np.exp(cdist(a, b, "sqeuclidean") * (-0.5 / ell**2))
    return _matern(cdist(a, b) * (math.sqrt(2.0 * nu) / ell), nu)


def _readonly(a) -> np.ndarray:
    v = np.asarray(a, dtype=float).view()
    v.flags.writeable = False
    return v


@dataclass(frozen=True)
class KLBasis:
    """Truncated Karhunen–Loève basis of a unit-variance Gaussian field on a rectangle.

    Build it with :func:`kl_basis`; evaluate it at any points with :meth:`evaluate`. Arrays are
    read-only.

    Attributes
    ----------
    points : (n_q, d) float64 array, [m] (d = 2 for a rectangle, 3 for a box)
        Quadrature points (cell midpoints of a regular grid).
    weights : (n_q,) float64 array, [m^2]
        Quadrature weights ``h_x h_y``; they sum to the area.
    eigenvalues : (m,) float64 array, [m^2]
        Kept eigenvalues of the covariance operator, positive and descending.
    modes : (n_q, m) float64 array, [1/m]
        Eigenfunctions at the quadrature points, ``sum_j w_j phi_i(x_j) phi_k(x_j) = delta_ik``.
        Sign convention: ``sum_j w_j phi_k(x_j) exp(1.3 x_j / L + 0.7 y_j / H) > 0``. Modes of
        (near-)repeated eigenvalues are only defined up to a rotation among themselves.
    energy_fraction : float
        Fraction of the field's variance carried by the kept modes, ``sum(eigenvalues) / area``.
    kernel, correlation_length_m, matern_nu
        The covariance kernel (see :func:`covariance`).
    spacing_m : (float, float), [m]
        Quadrature grid spacing ``(h_x, h_y)``.
    grid_shape : (int, int)
        Quadrature grid size ``(n_x, n_y)``.
    """

    points: np.ndarray
    weights: np.ndarray
    eigenvalues: np.ndarray
    modes: np.ndarray
    energy_fraction: float
    kernel: str
    correlation_length_m: float
    matern_nu: float
    spacing_m: tuple[float, float]
    grid_shape: tuple[int, int]

    def __post_init__(self) -> None:
        for name in ("points", "weights", "eigenvalues", "modes"):
            object.__setattr__(self, name, _readonly(getattr(self, name)))
        n_q, m = self.modes.shape
        if (self.points.ndim != 2 or self.points.shape[0] != n_q or self.weights.shape != (n_q,)
                or self.eigenvalues.shape != (m,)):
            raise ValueError(
                f"KLBasis: inconsistent shapes points={self.points.shape}, weights={self.weights.shape}, "
                f"eigenvalues={self.eigenvalues.shape}, modes={self.modes.shape}; expected (n_q, d), (n_q,), "
                "(m,), (n_q, m)"
            )
        if m and not np.all(self.eigenvalues > 0):
            raise ValueError("KLBasis: eigenvalues must be > 0 (Psi divides by sqrt(lambda))")
        _check_kernel(self.kernel, self.correlation_length_m, self.matern_nu)

    @property
    def n_modes(self) -> int:
        """Number of kept modes ``m``."""
        return int(self.eigenvalues.shape[0])

    def evaluate(self, points, *, chunk_size: int | None = None) -> np.ndarray:
        """Scaled modes ``Psi[:, k] = sqrt(lambda_k) phi_k(x)`` at arbitrary points.

        ``phi_k(x) = (1 / lambda_k) sum_j w_j C(|x - x_j|) phi_k(x_j)`` (Nyström extension), so at
        the quadrature points ``Psi`` equals ``modes * sqrt(eigenvalues)``. A field sample is
        ``g = Psi @ xi`` with ``xi ~ N(0, I_m)``; its covariance ``Psi Psi^T`` is the truncated
        kernel and ``(Psi**2).sum(1) <= 1``.

        Parameters
        ----------
        points : (n, 2) array_like of float, [m]
            Evaluation points (x, y), e.g. cell midpoints of the finite-element mesh.
        chunk_size : int, optional
            Points per block; by default chosen so that one ``(chunk, n_q)`` block is about 8 MB, so
            the temporaries stay below ~100 MB on top of the ``8 n m``-byte result for any ``n``.

        Returns
        -------
        (n, m) float64 array, dimensionless
            ``Psi``.
        """
        x = np.asarray(points, dtype=float)
        d = self.points.shape[1]
        if x.ndim != 2 or x.shape[1] != d:
            raise ValueError(f"points: expected shape (n, {d}), got {x.shape}")
        n_q = self.points.shape[0]
        if chunk_size is None:
            chunk_size = max(1, _CHUNK_BYTES // (8 * n_q))
        elif int(chunk_size) < 1:
            raise ValueError(f"chunk_size={chunk_size!r}: must be >= 1")
        chunk_size = int(chunk_size)
        # Psi(x) = C(x, X) W phi / sqrt(lambda)
        right = (self.weights[:, None] * self.modes) / np.sqrt(self.eigenvalues)[None, :]
        out = np.empty((x.shape[0], self.n_modes))
        for start in range(0, x.shape[0], chunk_size):
            block = x[start : start + chunk_size]
            c = _covariance_matrix(
                block, self.points, kernel=self.kernel, ell=self.correlation_length_m, nu=self.matern_nu
            )
            out[start : start + chunk_size] = c @ right
        return out


def _grid_size(extent: float, h: float) -> int:
    # the 1e-9 guard keeps extent / h = 15.000000000000002 from rounding up to 16
    return max(1, math.ceil(extent / h * (1.0 - 1e-9)))


def _check_truncation(energy_fraction, max_modes, max_quadrature_points, points_per_correlation_length):
    """Validate the options that truncate a KL basis; returns ``(energy_fraction, points_per_length)``."""
    f = float(energy_fraction)
    if not (0.0 < f <= 1.0):
        raise ValueError(
            f"energy_fraction={energy_fraction!r}: must be in (0, 1] (fraction of the variance the kept modes carry)"
        )
    for name, value in (("max_modes", max_modes), ("max_quadrature_points", max_quadrature_points)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name}={value!r}: must be an integer >= 1")
    ppl = _check_positive(
        "points_per_correlation_length", points_per_correlation_length, "grid points per correlation length"
    )
    return f, ppl


def kl_basis(
    *,
    length_m: float,
    height_m: float,
    kernel: str,
    correlation_length_m: float,
    matern_nu: float = 1.5,
    energy_fraction: float = 0.95,
    max_modes: int = 100,
    max_quadrature_points: int = 2500,
    points_per_correlation_length: float = 6.0,
) -> KLBasis:
    """Karhunen–Loève basis of a unit-variance Gaussian field on ``[0, L] x [0, H]`` (Nyström method).

    The quadrature grid has target spacing ``h = max(l / points_per_correlation_length,
    sqrt(L H / max_quadrature_points))``: ``n_x = ceil(L / h)``, ``n_y = ceil(H / h)`` cells (fewer
    if that exceeds ``max_quadrature_points``), one point at each cell midpoint, weight ``h_x h_y``.
    With equal weights ``B = w C`` and ``trace(B) = sum_j w_j = L H``, the total variance, exactly.
    The largest ``min(max_modes, n_q)`` eigenpairs of ``B`` are computed (``scipy.linalg.eigh`` with
    ``subset_by_index``) and the fewest ``m`` with ``sum_{k<=m} lambda_k >= energy_fraction * L H``
    are kept. The midpoint-rule Nyström eigenvalues converge as ``O(h^2)``.

    Parameters
    ----------
    length_m, height_m : float, [m]
        Plate size ``L`` and ``H``.
    kernel, correlation_length_m, matern_nu
        Covariance of the field, see :func:`covariance`.
    energy_fraction : float
        In ``(0, 1]``: keep the fewest modes carrying this fraction of the variance ``L H``.
    max_modes : int
        ``>= 1``. Upper bound on the kept modes; if it binds, a warning states the fraction achieved.
    max_quadrature_points : int
        ``>= 1``. Upper bound on the grid size ``n_q``; the dense ``n_q x n_q`` matrix costs
        ``8 n_q^2`` bytes (50 MB at 2500) and the eigen-solve ``O(n_q^2 max_modes)`` to ``O(n_q^3)``.
    points_per_correlation_length : float
        ``> 0``. Grid resolution of one correlation length when ``max_quadrature_points`` does not bind.

    Returns
    -------
    KLBasis

    Raises
    ------
    ValueError
        An argument outside its range (the message names it).

    Examples
    --------
    >>> b = kl_basis(length_m=1.0, height_m=0.25, kernel="squared-exponential", correlation_length_m=0.4)
    >>> b.n_modes, round(b.energy_fraction, 3)
    (3, 0.964)
    """
    L = _check_positive("length_m", length_m, "plate length [m]")
    H = _check_positive("height_m", height_m, "plate height [m]")
    kernel, ell, nu = _check_kernel(kernel, correlation_length_m, matern_nu)
    f, ppl = _check_truncation(energy_fraction, max_modes, max_quadrature_points, points_per_correlation_length)

    return _kl_on_box(np.zeros(2), np.array([L, H]), kernel=kernel, ell=ell, nu=nu, f=f, max_modes=int(max_modes),
                      max_quadrature_points=int(max_quadrature_points), ppl=ppl)


def kl_basis_box(
    *,
    lower_m,
    upper_m,
    kernel: str,
    correlation_length_m: float,
    matern_nu: float = 1.5,
    energy_fraction: float = 0.95,
    max_modes: int = 100,
    max_quadrature_points: int = 2500,
    points_per_correlation_length: float = 6.0,
) -> KLBasis:
    """Karhunen–Loève basis on the box ``[lower, upper]`` in 2 or 3 dimensions (Nyström on a coarse grid).

    The field of any mesh lives on its bounding box: the eigenproblem is solved on a regular grid
    of at most ``max_quadrature_points`` cell midpoints of the box (a dense ``n_q x n_q`` matrix,
    never ``n_cells x n_cells``), and :meth:`KLBasis.evaluate` extends the modes to the mesh's cells
    by the Nyström interpolation in chunks, so memory is ``O(n_q^2 + n_cells m)`` and time
    ``O(n_q^3 + n_cells n_q m)``: a 10^6-cell mesh costs the ``8 n_cells m``-byte result plus ~100 MB.
    On a box the kept modes carry ``energy_fraction`` of the variance of the *box*; a structure
    that fills part of its box gets at least that on average over the structure minus what its
    corners of the box take (the deficit is largest near the box's faces, see ``kl_basis``).

    Grid: target spacing ``h = max(l / points_per_correlation_length, (V / max_quadrature_points)^(1/d))``,
    ``n_i = ceil(extent_i / h)`` per axis, reduced along the longest axis while the product exceeds
    ``max_quadrature_points``. In 2-D with ``lower = 0`` it is exactly :func:`kl_basis`.

    Parameters
    ----------
    lower_m, upper_m : (d,) array_like of float, [m]
        Corners of the box, ``upper > lower`` in every coordinate.
    kernel, correlation_length_m, matern_nu, energy_fraction, max_modes, max_quadrature_points,
    points_per_correlation_length
        As in :func:`kl_basis`.

    Returns
    -------
    KLBasis (``points`` of shape ``(n_q, d)``)
    """
    lo, hi = np.asarray(lower_m, dtype=float).ravel(), np.asarray(upper_m, dtype=float).ravel()
    if lo.shape != hi.shape or lo.size not in (2, 3) or not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ValueError(f"lower_m={lower_m!r}, upper_m={upper_m!r}: must be finite, 2 or 3 coordinates each")
    if not np.all(hi > lo):
        raise ValueError(f"upper_m={hi.tolist()} must exceed lower_m={lo.tolist()} in every coordinate")
    kernel, ell, nu = _check_kernel(kernel, correlation_length_m, matern_nu)
    f, ppl = _check_truncation(energy_fraction, max_modes, max_quadrature_points, points_per_correlation_length)
    return _kl_on_box(lo, hi, kernel=kernel, ell=ell, nu=nu, f=f, max_modes=int(max_modes),
                      max_quadrature_points=int(max_quadrature_points), ppl=ppl)


def _box_grid(extent: np.ndarray, h: float, max_q: int) -> list[int]:
    if extent.size == 2:  # the rectangle's rule, kept as it was (the default case's numbers depend on it)
        L, H = extent
        nx, ny = _grid_size(L, h), _grid_size(H, h)
        if nx * ny > max_q:  # ceil overshot: drop to floor, then clip the longer side
            nx, ny = max(1, math.floor(L / h)), max(1, math.floor(H / h))
            if nx * ny > max_q:
                if nx >= ny:
                    nx = max(1, max_q // ny)
                else:
                    ny = max(1, max_q // nx)
        return [nx, ny]
    n = [_grid_size(e, h) for e in extent]
    while math.prod(n) > max_q and max(n) > 1:  # thin out the axis with the most points
        n[int(np.argmax(n))] -= 1
    return n


def _kl_on_box(lower: np.ndarray, upper: np.ndarray, *, kernel: str, ell: float, nu: float, f: float, max_modes: int,
               max_quadrature_points: int, ppl: float) -> KLBasis:
    extent = upper - lower
    d = extent.size
    area = float(np.prod(extent))
    coarsest = math.sqrt(area / max_quadrature_points) if d == 2 else (area / max_quadrature_points) ** (1.0 / d)
    h = max(ell / ppl, coarsest)
    n = _box_grid(extent, h, max_quadrature_points)
    spacing = [float(e / k) for e, k in zip(extent, n, strict=True)]
    axes = [lower[i] + (np.arange(n[i]) + 0.5) * spacing[i] for i in range(d)]
    grids = np.meshgrid(*axes, indexing="ij")
    points = np.column_stack([g.ravel() for g in grids])
    n_q = points.shape[0]
    weights = np.full(n_q, math.prod(spacing))

    t0 = time.perf_counter()
    B = _covariance_matrix(points, points, kernel=kernel, ell=ell, nu=nu)
    B *= math.prod(spacing)  # B = W^1/2 C W^1/2 with equal weights
    n_eig = min(int(max_modes), n_q)
    lam, vec = scipy.linalg.eigh(
        B, subset_by_index=[n_q - n_eig, n_q - 1], overwrite_a=True, check_finite=False
    )
    lam, vec = lam[::-1], vec[:, ::-1]
    elapsed = time.perf_counter() - t0

    # Numerical-noise eigenvalues (|lambda| ~ n_q eps lambda_max) cannot be modes: Psi divides by sqrt(lambda).
    usable = int(np.count_nonzero(lam > n_q * np.finfo(float).eps * max(lam[0], 0.0)))
    cum = np.cumsum(lam[:usable])
    reached = np.nonzero(cum >= f * area * (1.0 - _ENERGY_RTOL))[0]
    if reached.size:
        m = int(reached[0]) + 1
    else:
        m = usable
        logger.warning(
            "kl_basis: %d modes carry only %.4f of the variance (energy_fraction=%g requested); "
            "raise max_modes (now %d) or lower energy_fraction",
            m, cum[-1] / area if m else 0.0, f, max_modes,
        )
    lam, vec = lam[:m], vec[:, :m]
    modes = vec / np.sqrt(weights)[:, None]  # phi = W^-1/2 v: orthonormal in sum_j w_j phi_i phi_k

    # deterministic signs (LAPACK's are arbitrary): positive projection on a generic smooth function
    coef = (1.3, 0.7, 0.4)
    probe = weights * np.exp(sum(coef[i] * (points[:, i] - lower[i]) / extent[i] for i in range(d)))
    proj = probe @ modes
    fallback = np.sign(modes[np.argmax(np.abs(modes), axis=0), np.arange(m)])
    sign = np.where(np.abs(proj) > 1e-8 * np.sqrt(probe @ (probe / weights)), np.sign(proj), fallback)
    modes = modes * sign[None, :]

    achieved = float(lam.sum() / area)
    logger.info(
        "kl_basis: %s kernel, l=%g m on a %s m box: %s quadrature grid (h = %s m), "
        "%d modes carry %.4f of the variance; eigen-solve %.2f s",
        kernel, ell, " x ".join(f"{e:g}" for e in extent), " x ".join(map(str, n)),
        " x ".join(f"{x:.4g}" for x in spacing), m, achieved, elapsed,
    )
    return KLBasis(
        points=points,
        weights=weights,
        eigenvalues=lam,
        modes=modes,
        energy_fraction=achieved,
        kernel=kernel,
        correlation_length_m=ell,
        matern_nu=nu,
        spacing_m=tuple(spacing),
        grid_shape=tuple(int(k) for k in n),
    )


def lognormal_field(gaussian, *, mean, coefficient_of_variation: float) -> np.ndarray:
    """Lognormal field ``E = mean exp(s g - s^2 / 2)`` with ``s^2 = ln(1 + CoV^2)``.

    For a standard normal ``g`` at a point, ``E`` has mean ``mean`` and ``std / mean = CoV`` exactly
    (``E[exp(s g)] = exp(s^2 / 2)``, ``Var = mean^2 (exp(s^2) - 1)``); ``ln(E / mean)`` is normal
    with mean ``-s^2 / 2`` and variance ``s^2``.

    Parameters
    ----------
    gaussian : array_like of float, any shape, dimensionless
        Unit-variance Gaussian field values ``g``, e.g. ``Psi @ xi``.
    mean : float or array_like broadcastable to ``gaussian``, e.g. [Pa]
        Mean of ``E`` (``E_0``).
    coefficient_of_variation : float
        ``CoV >= 0``; 0 returns ``mean`` everywhere.

    Returns
    -------
    numpy.ndarray of float64, broadcast shape of ``gaussian`` and ``mean``, unit of ``mean``
    """
    cov = float(coefficient_of_variation)
    if not (math.isfinite(cov) and cov >= 0):
        raise ValueError(f"coefficient_of_variation={coefficient_of_variation!r}: must be a finite number >= 0")
    g = np.asarray(gaussian, dtype=float)
    mean = np.asarray(mean, dtype=float)
    s2 = math.log1p(cov**2)
    s = math.sqrt(s2)
    return mean * np.exp(s * g - 0.5 * s2)


def sample_xi(n_modes: int, *, rng: np.random.Generator) -> np.ndarray:
    """Independent standard-normal KL coefficients ``xi``, shape ``(n_modes,)``, from ``rng``.

    Parameters
    ----------
    n_modes : int
        ``>= 0``, usually ``KLBasis.n_modes``.
    rng : numpy.random.Generator
        The caller's stream (one per sample, spawned from the case seed).

    Returns
    -------
    (n_modes,) float64 array
    """
    if isinstance(n_modes, bool) or not isinstance(n_modes, (int, np.integer)) or n_modes < 0:
        raise ValueError(f"n_modes={n_modes!r}: must be an integer >= 0")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    return rng.standard_normal(int(n_modes))


def youngs_modulus_field(case, psi: np.ndarray, xi: np.ndarray,
                         zone_cells: np.ndarray) -> np.ndarray:
    """Per-cell Young's modulus [Pa]: lognormal outside the zone, nominal inside it.

    ``E = E0 exp(σ g − σ²/2)`` with ``g = psi @ xi`` (unit-variance Gaussian field) and
    ``σ² = ln(1 + CoV²)``, so that ``E`` has mean ``E0`` and coefficient of variation ``CoV`` (the
    case's ``material.youngs_modulus_pa`` and ``random_field.coefficient_of_variation``).

    ``psi`` (n_cells, n_modes) is the KL basis at the cell midpoints (√λ_k φ_k), ``xi`` (n_modes,).
    """
    E0 = case.material.youngs_modulus_pa
    E = lognormal_field(psi @ xi, mean=E0, coefficient_of_variation=case.random_field.coefficient_of_variation)
    E[zone_cells] = E0
    return E
