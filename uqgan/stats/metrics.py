"""Two-sample metrics: how close generated boundary histories are to the true ones (numpy/scipy only).

A *sample* is an array ``(n, d)``: rows are samples, columns features (a flattened history
``time * node * component``, or its POD coefficients). Input ``(n, ...)`` is flattened to
``(n, prod(...))`` (a view when the array is contiguous) and 1-D input ``(n,)`` is read as
``(n, 1)``. Inputs keep their dtype (float32 is not copied whole to float64): the pairwise metrics
convert one row block at a time and accumulate in float64.

Conventions a caller must know
------------------------------
- :func:`energy_distance` is the **V-statistic** (every mean includes the zero diagonal), the
  default of ``dcor.energy_distance`` (``estimation_stat="V_STATISTIC"``, ``average=mean``,
  ``exponent=1``). It is >= 0 and exactly 0 for identical samples, and biased upward by about
  ``(E|X-X'| + E|Y-Y'|) / n`` (equal sizes ``n``).
- :func:`mmd2_unbiased` is the **unbiased** U-statistic (Gretton et al. 2012, eq. 3): it can be
  negative, and its expectation is 0 when both samples come from one distribution. The RBF
  bandwidth's median heuristic is the median of the Euclidean distances over all unordered pairs
  of distinct rows of the pooled sample ``[x; y]`` (diagonal excluded).
- :func:`frechet_distance` fits the Gaussians with the unbiased covariance (``ddof=1``, as the
  reference FID code's ``np.cov``). It is the squared 2-Wasserstein distance between the fits.
- The finite-sample biases of all of these depend on the sample sizes: compare a generator's value
  with :func:`truth_floor` computed at the same size (see there).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import numpy as np
import scipy.linalg
import scipy.stats
from scipy.spatial.distance import cdist

__all__ = [
    "energy_distance",
    "frechet_distance",
    "frechet_distance_gaussians",
    "kid",
    "mmd2_unbiased",
    "peak_displacement",
    "energy_permutation_test",
    "permutation_test",
    "qoi_comparison",
    "quantile_coverage",
    "truth_floor",
]

logger = logging.getLogger(__name__)

#: memory budget of one float64 row block (and of one block of pairwise values)
_BLOCK_BYTES = 32 * 2**20
#: up to this many features squared distances are summed directly (scipy cdist, exact); above it
#: the Gram trick ``|a|^2 + |b|^2 - 2 a.b`` (BLAS) is used with the near pairs recomputed exactly
_DIRECT_MAX_FEATURES = 64
#: Gram-trick pairs with ``|a-b|^2 < _NEAR * (|a|^2 + |b|^2)`` are recomputed directly: the trick's
#: absolute error is ~ eps * (|a|^2 + |b|^2), so the kept pairs have relative error <~ eps / _NEAR
_NEAR = 1e-3
_KERNELS = ("rbf", "polynomial")


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------
def _as_samples(a, name: str, *, min_rows: int = 2) -> np.ndarray:
    """``a`` as a real ``(n, d)`` array (no dtype copy), checked finite with at least ``min_rows`` rows."""
    arr = np.asarray(a)
    if arr.ndim == 0:
        raise ValueError(f"{name} is a scalar: pass an array of samples, shape (n, d)")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} has dtype {arr.dtype}: must be real numbers (integer or float)")
    arr = arr.reshape(-1, 1) if arr.ndim == 1 else arr.reshape(arr.shape[0], -1)
    if arr.shape[0] < min_rows:
        raise ValueError(f"{name} has {arr.shape[0]} samples (rows): need at least {min_rows}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has no features (shape {arr.shape}): need d >= 1")
    step = max(1, _BLOCK_BYTES // (8 * arr.shape[1]))
    for i0 in range(0, arr.shape[0], step):
        if not np.isfinite(arr[i0:i0 + step]).all():
            raise ValueError(f"{name} contains NaN or inf (in rows {i0}..{min(i0 + step, arr.shape[0]) - 1}): "
                             "drop or fix those samples")
    return arr


def _as_pair(x, y, *, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    x = _as_samples(x, "x", min_rows=min_rows)
    y = _as_samples(y, "y", min_rows=min_rows)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"y has {y.shape[1]} features per sample but x has {x.shape[1]}: both must be (n, d) "
                         "with the same d (flatten histories the same way)")
    return x, y


def _check_rng(rng) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng={rng!r}: must be a numpy.random.Generator (e.g. np.random.default_rng(seed))")


def _check_block_size(block_size, d: int) -> int:
    if block_size is None:
        return int(np.clip(_BLOCK_BYTES // (8 * d), 16, 2048))
    if int(block_size) != block_size or block_size < 1:
        raise ValueError(f"block_size={block_size!r}: must be a positive integer (rows per block) or None")
    return int(block_size)


# --------------------------------------------------------------------------------------------
# blocked pairwise values
# --------------------------------------------------------------------------------------------
def _sqdist(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(len(A), len(B))`` between float64 row blocks, >= 0."""
    if A.shape[1] <= _DIRECT_MAX_FEATURES:
        return cdist(A, B, "sqeuclidean")
    na = np.einsum("ij,ij->i", A, A)
    nb = na if B is A else np.einsum("ij,ij->i", B, B)
    scale = na[:, None] + nb[None, :]
    d2 = scale - 2.0 * (A @ B.T)
    ii, jj = np.nonzero(d2 <= _NEAR * scale)
    step = max(1, _BLOCK_BYTES // (8 * A.shape[1]))
    for s in range(0, ii.size, step):
        diff = A[ii[s:s + step]] - B[jj[s:s + step]]
        d2[ii[s:s + step], jj[s:s + step]] = np.einsum("ij,ij->i", diff, diff)
    return np.maximum(d2, 0.0, out=d2)


def _gram(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    return A @ B.T


def _pair_values(a: np.ndarray, b: np.ndarray | None, pair_fn: Callable[[np.ndarray, np.ndarray], np.ndarray], *,
                 center: np.ndarray | None, block_size: int) -> Iterator[np.ndarray]:
    """Yield flat chunks of ``pair_fn`` over all pairs ``(a_i, b_j)``; with ``b=None`` over the
    unordered pairs ``i < j`` of ``a`` (diagonal excluded). Rows are shifted by ``center`` first."""

    def block(arr, i0):
        blk = np.asarray(arr[i0:i0 + block_size], dtype=np.float64)
        return blk - center if center is not None else blk

    same = b is None
    other = a if same else b
    for i0 in range(0, a.shape[0], block_size):
        A = block(a, i0)
        for j0 in range(i0 if same else 0, other.shape[0], block_size):
            if same and j0 == i0:
                v = pair_fn(A, A)
                yield v[np.triu_indices(v.shape[0], k=1)]
            else:
                yield pair_fn(A, block(other, j0)).ravel()


def _pooled_mean(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    n = x.shape[0] + y.shape[0]
    return (x.sum(axis=0, dtype=np.float64) + y.sum(axis=0, dtype=np.float64)) / n


# --------------------------------------------------------------------------------------------
# energy distance and MMD
# --------------------------------------------------------------------------------------------
def energy_distance(x, y, *, block_size: int | None = None) -> float:
    r"""Squared energy distance between two samples, V-statistic (Székely & Rizzo 2013, J. Stat. Plann. Inference 143).

    .. math:: E = \frac{2}{mn}\sum_{i,j}\|x_i-y_j\| - \frac{1}{m^2}\sum_{i,i'}\|x_i-x_{i'}\|
              - \frac{1}{n^2}\sum_{j,j'}\|y_j-y_{j'}\|

    Euclidean norms, every mean over all ordered pairs including the zero diagonal: this is the
    V-statistic that ``dcor.energy_distance`` computes by default (``estimation_stat=V_STATISTIC``,
    ``average=None`` i.e. the mean, ``exponent=1``). It estimates the population value
    ``2E|X-Y| - E|X-X'| - E|Y-Y'|`` (zero iff the distributions are equal) with an upward bias of
    ``E|X-X'|/m + E|Y-Y'|/n``.

    Memory: pairwise distances are computed in row blocks of ``block_size`` rows (default: a block
    of about 32 MiB of float64, between 16 and 2048 rows), so the extra memory is O(block_size * d
    + block_size^2) whatever ``n``. Time is O((m + n)^2 d) (BLAS for d > 64).

    Parameters
    ----------
    x : (m, d) array (or ``(m, ...)``, flattened; ``(m,)`` read as ``(m, 1)``), real, finite.
    y : (n, d) array, same ``d``.
    block_size : rows per block, or None for the default. Does not change the result (beyond
        summation round-off).

    Returns
    -------
    float >= 0, in the units of ``x`` (a round-off negative, ~1e-16 of the mean distance, is
    returned as 0).

    Raises
    ------
    ValueError
        When ``x`` or ``y`` has fewer than 2 rows, the feature counts differ, or a value is not finite.

    Examples
    --------
    >>> energy_distance([[0.0], [0.0]], [[3.0], [3.0]])  # two point masses: 2 |a - b|
    6.0
    """
    x, y = _as_pair(x, y)
    bs = _check_block_size(block_size, x.shape[1])
    c = _pooled_mean(x, y)  # translation invariance: centering reduces the Gram trick's cancellation
    m, n = x.shape[0], y.shape[0]

    def total(a, b):
        return sum(float(np.sqrt(v).sum()) for v in _pair_values(a, b, _sqdist, center=c, block_size=bs))

    # sum over ordered pairs of x = 2 * sum over unordered pairs (the diagonal is 0)
    value = 2.0 * total(x, y) / (m * n) - 2.0 * total(x, None) / m**2 - 2.0 * total(y, None) / n**2
    return float(max(value, 0.0))  # the V-statistic is >= 0 (an energy distance of empirical laws): only round-off


def mmd2_unbiased(x, y, *, kernel: str = "rbf", bandwidth: float | None = None,
                  block_size: int | None = None) -> float:
    r"""Unbiased squared maximum mean discrepancy (Gretton et al. 2012, JMLR 13, eq. 3).

    .. math:: \mathrm{MMD}^2_u = \frac{1}{m(m-1)}\sum_{i\ne i'} k(x_i,x_{i'})
              + \frac{1}{n(n-1)}\sum_{j\ne j'} k(y_j,y_{j'}) - \frac{2}{mn}\sum_{i,j} k(x_i,y_j)

    An unbiased estimate of the population MMD²: it is negative about half the time when ``x`` and
    ``y`` come from one distribution (its expectation is then 0).

    Kernels:

    - ``"rbf"``: ``k(a, b) = exp(-|a - b|^2 / (2 h^2))``. With ``bandwidth=None``, ``h`` is the
      median heuristic: the median (``np.median``, so the mean of the two middle values for an even
      count) of the Euclidean distances ``|p_k - p_l|`` over all unordered pairs ``k < l`` of the
      pooled sample ``p = [x; y]`` (the diagonal excluded; coinciding distinct rows included). This
      step holds all ``(m+n)(m+n-1)/2`` distances in memory (float64); pass ``bandwidth`` for very
      large samples.
    - ``"polynomial"``: the KID kernel ``k(a, b) = (a.b / d + 1)^3`` (Bińkowski et al. 2018,
      "Demystifying MMD GANs", ICLR), which has no bandwidth. Not translation invariant:
      the features' origin and scale matter (use standardised or POD coefficients).

    Parameters
    ----------
    x : (m, d) array (or ``(m, ...)``, flattened), real, finite; m >= 2.
    y : (n, d) array, same d; n >= 2.
    kernel : ``"rbf"`` or ``"polynomial"``.
    bandwidth : RBF length scale ``h`` > 0 in the units of ``x``, or None for the median heuristic.
        Must be None for the polynomial kernel.
    block_size : rows per block (memory), or None for the default; does not change the result.

    Returns
    -------
    float (dimensionless; may be negative).

    Raises
    ------
    ValueError
        Bad kernel name or bandwidth, fewer than 2 rows, different ``d``, non-finite values, or a
        median pairwise distance of 0 (more than half the pooled pairs coincide).
    """
    if kernel not in _KERNELS:
        raise ValueError(f"kernel={kernel!r}: must be one of {_KERNELS}")
    if kernel == "polynomial" and bandwidth is not None:
        raise ValueError(f"bandwidth={bandwidth!r}: the polynomial (KID) kernel has no bandwidth; pass None")
    if bandwidth is not None and not (np.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"bandwidth={bandwidth!r}: must be a finite number > 0, or None for the median heuristic")
    x, y = _as_pair(x, y)
    bs = _check_block_size(block_size, x.shape[1])
    m, n, d = x.shape[0], y.shape[0], x.shape[1]

    center = None if kernel == "polynomial" else _pooled_mean(x, y)
    pair_fn = _gram if kernel == "polynomial" else _sqdist
    # flat chunks of a.b (polynomial) or |a-b|^2 (rbf): unordered pairs within x and y, all pairs across
    chunks = {key: _pair_values(a, b, pair_fn, center=center, block_size=bs)
              for key, (a, b) in {"xx": (x, None), "yy": (y, None), "xy": (x, y)}.items()}

    if kernel == "polynomial":
        def k(v):
            return (v / d + 1.0) ** 3
    else:
        if bandwidth is None:
            chunks = {key: list(gen) for key, gen in chunks.items()}  # kept: the kernel sums reuse them
            h = float(np.median(np.sqrt(np.concatenate([v for vs in chunks.values() for v in vs]))))
            if h == 0:
                raise ValueError("bandwidth=None: the median pairwise distance of the pooled sample is 0 (most rows "
                                 "coincide); pass an explicit bandwidth")
        else:
            h = float(bandwidth)
        inv = 1.0 / (2.0 * h * h)

        def k(v):
            return np.exp(-inv * v)

    sums = {key: sum(float(k(v).sum()) for v in gen) for key, gen in chunks.items()}
    # sums over i != i' are twice the sums over unordered pairs
    kxx = 2.0 * sums["xx"] / (m * (m - 1))
    kyy = 2.0 * sums["yy"] / (n * (n - 1))
    kxy = sums["xy"] / (m * n)
    return float(kxx + kyy - 2.0 * kxy)


def kid(x, y, *, block_size: int | None = None) -> float:
    """Kernel inception distance: :func:`mmd2_unbiased` with the cubic polynomial kernel
    ``(a.b / d + 1)^3`` (Bińkowski et al. 2018), on the whole samples (no subset averaging).

    Parameters and returns as :func:`mmd2_unbiased`; unbiased, so it may be negative.
    """
    return mmd2_unbiased(x, y, kernel="polynomial", block_size=block_size)


# --------------------------------------------------------------------------------------------
# Fréchet distance
# --------------------------------------------------------------------------------------------
def frechet_distance_gaussians(mu1, sigma1, mu2, sigma2, *, eps: float = 1e-6) -> float:
    r"""Fréchet (squared 2-Wasserstein) distance between two Gaussians (Dowson & Landau 1982).

    .. math:: d^2 = \|\mu_1-\mu_2\|^2 + \mathrm{Tr}\left(\Sigma_1+\Sigma_2-2(\Sigma_1\Sigma_2)^{1/2}\right)

    the FID formula (Heusel et al. 2017), computed as in the reference FID code
    (``pytorch-fid``): ``scipy.linalg.sqrtm`` of the product, real part. When that square root is
    not finite, or its diagonal has an imaginary part above ``1e-3 * s`` with
    ``s = sqrt(Tr Σ1 Tr Σ2) / d`` (a typical diagonal entry), both covariances get ``eps * s * I``
    added and a warning is logged (the reference code adds an absolute ``eps * I``; here it is
    relative, so the result does not depend on the unit). The result is clipped at 0.

    Parameters
    ----------
    mu1, mu2 : (d,) means.
    sigma1, sigma2 : (d, d) symmetric positive semi-definite covariances (units of mu squared).
    eps : relative diagonal offset for the retry, > 0.

    Returns
    -------
    float >= 0, in squared units of ``mu``.

    Raises
    ------
    ValueError
        Mismatched shapes, non-finite input, or a square root that stays complex after the retry.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    s1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    s2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    d = mu1.shape[0]
    for name, arr, shape in (("mu1", mu1, (d,)), ("mu2", mu2, (d,)), ("sigma1", s1, (d, d)), ("sigma2", s2, (d, d))):
        if arr.shape != shape:
            raise ValueError(f"{name} has shape {arr.shape}: expected {shape} (d = {d} from mu1)")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or inf")
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps={eps!r}: must be a finite number > 0")

    scale = float(np.sqrt(max(np.trace(s1), 0.0) * max(np.trace(s2), 0.0)) / d)
    tol = 1e-3 * scale

    def sqrt_product(a, b):
        root, _ = scipy.linalg.sqrtm(a @ b, disp=False)
        ok = np.isfinite(root).all() and (not np.iscomplexobj(root) or np.abs(np.diagonal(root).imag).max() <= tol)
        return root, ok

    covmean, ok = sqrt_product(s1, s2)
    if not ok:
        offset = eps * (scale if scale > 0 else 1.0) * np.eye(d)
        logger.warning("Fréchet distance: sqrtm(sigma1 @ sigma2) is singular or complex (d=%d); adding %.3g * I to "
                       "both covariances", d, offset[0, 0])
        covmean, ok = sqrt_product(s1 + offset, s2 + offset)
        if not ok:
            raise ValueError(f"sigma1, sigma2: sqrtm(sigma1 @ sigma2) stays complex or non-finite after adding "
                             f"{offset[0, 0]:.3g} * I; the covariances are too ill-conditioned (use fewer POD modes)")
    diff = mu1 - mu2
    value = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * float(np.trace(covmean.real))
    return float(max(value, 0.0))


def frechet_distance(x, y, *, eps: float = 1e-6, max_features: int = 4096) -> float:
    """Fréchet distance between Gaussian fits of two samples (the FID formula on features).

    Means and unbiased covariances (``np.cov(rowvar=False)``, ddof = 1, as the reference FID code),
    then :func:`frechet_distance_gaussians`. Equal to the squared 2-Wasserstein (Bures-Wasserstein)
    distance between the two fitted Gaussians. With ``n <= d`` the covariances are singular and the
    ``eps`` retry may apply; prefer POD coefficients (a few tens of modes) to raw histories.

    Parameters
    ----------
    x : (m, d) array (or ``(m, ...)``, flattened), real, finite; m >= 2.
    y : (n, d) array, same d; n >= 2.
    eps : see :func:`frechet_distance_gaussians`.
    max_features : refuse ``d`` above this (the ``(d, d)`` covariances and ``sqrtm`` are O(d^2)
        memory and O(d^3) time); raise it deliberately.

    Returns
    -------
    float >= 0, in squared units of ``x``.

    Raises
    ------
    ValueError
        Fewer than 2 rows, different ``d``, non-finite values, or ``d > max_features``.
    """
    x, y = _as_pair(x, y)
    if x.shape[1] > max_features:
        raise ValueError(f"x has d={x.shape[1]} features > max_features={max_features}: the Gaussian fit needs "
                         f"(d, d) covariances; pass POD coefficients, or raise max_features")
    mu1, mu2 = x.mean(axis=0, dtype=np.float64), y.mean(axis=0, dtype=np.float64)
    s1 = np.atleast_2d(np.cov(x, rowvar=False, dtype=np.float64))
    s2 = np.atleast_2d(np.cov(y, rowvar=False, dtype=np.float64))
    return frechet_distance_gaussians(mu1, s1, mu2, s2, eps=eps)


# --------------------------------------------------------------------------------------------
# tests and floors
# --------------------------------------------------------------------------------------------
def permutation_test(x, y, statistic: Callable[[np.ndarray, np.ndarray], float], *, n_permutations: int = 200,
                     rng: np.random.Generator) -> tuple[float, float]:
    """Two-sample permutation test of "x and y come from one distribution" (one-sided, large = different).

    The pooled rows ``[x; y]`` are permuted ``n_permutations`` times and split back into sizes
    ``(m, n)``; the p-value is ``(1 + #{T_perm >= T_obs}) / (1 + n_permutations)`` (Phipson &
    Smyth 2010, Stat. Appl. Genet. Mol. Biol. 9), which is never 0 and is exactly valid (``P(p <= a) <= a``) under
    exchangeability. Ties are counted with a relative tolerance of 1e-12 (the same split in
    another row order can change a sum in the last bits).

    Parameters
    ----------
    x : (m, ...) array; y : (n, ...) array with the same trailing shape. Passed to ``statistic``
        as row subsets (same trailing shape).
    statistic : ``(x, y) -> float``, larger when the samples differ (e.g. :func:`energy_distance`).
    n_permutations : number of random permutations, >= 1 (the smallest possible p is
        ``1 / (1 + n_permutations)``).
    rng : the random stream (keyword-only).

    Returns
    -------
    (observed statistic, p-value in (0, 1]).

    Raises
    ------
    ValueError
        Trailing shapes differ, fewer than 1 row in a sample, or ``n_permutations < 1``.
    TypeError
        ``rng`` is not a ``numpy.random.Generator``.
    """
    _check_rng(rng)
    if int(n_permutations) != n_permutations or n_permutations < 1:
        raise ValueError(f"n_permutations={n_permutations!r}: must be an integer >= 1 (200 gives p >= 0.005)")
    xa, ya = np.asarray(x), np.asarray(y)
    if xa.ndim == 0 or ya.ndim == 0 or len(xa) < 1 or len(ya) < 1:
        raise ValueError("x and y must each hold at least one sample (row)")
    if xa.shape[1:] != ya.shape[1:]:
        raise ValueError(f"y has sample shape {ya.shape[1:]} but x has {xa.shape[1:]}: they must match")
    observed = float(statistic(xa, ya))
    pooled = np.concatenate([xa, ya], axis=0)
    m = xa.shape[0]
    exceed = 0
    threshold = observed - 1e-12 * abs(observed)
    for _ in range(int(n_permutations)):
        idx = rng.permutation(pooled.shape[0])
        exceed += float(statistic(pooled[idx[:m]], pooled[idx[m:]])) >= threshold
    return observed, (1.0 + exceed) / (1.0 + n_permutations)


def _ed_from_distances(d: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Energy distance (V-statistic) of index sets a, b from a pooled distance matrix."""
    return 2 * d[np.ix_(a, b)].mean() - d[np.ix_(a, a)].mean() - d[np.ix_(b, b)].mean()


def energy_permutation_test(x: np.ndarray, y: np.ndarray, *, rng: np.random.Generator, n_permutations: int = 500):
    """Two-sample permutation test with the energy distance: ``(statistic, p-value)``.

    The statistic is :func:`energy_distance` (the V-statistic) of ``x`` against ``y``. The pooled
    pairwise distances are computed once (memory ``(m + n)²``), so each permutation costs only
    index arithmetic; p = (1 + #{ED_perm >= ED_obs}) / (1 + n_permutations) (Phipson & Smyth 2010).
    For large samples use :func:`permutation_test` with :func:`energy_distance`, which is blocked.
    """
    z = np.vstack([x, y])
    d = cdist(z, z)
    m = x.shape[0]
    idx = np.arange(z.shape[0])
    obs = _ed_from_distances(d, idx[:m], idx[m:])
    count = 0
    for _ in range(n_permutations):
        perm = rng.permutation(idx)
        count += _ed_from_distances(d, perm[:m], perm[m:]) >= obs - 1e-12 * abs(obs)
    return float(obs), float((1 + count) / (1 + n_permutations))


def truth_floor(truth, statistic: Callable[[np.ndarray, np.ndarray], float], *, n_split: int | None = None,
                rng: np.random.Generator, n_repeats: int = 5) -> float:
    """Truth-vs-truth floor of a two-sample metric: its value between two disjoint random halves of
    the true sample, averaged over ``n_repeats`` random splits.

    A generator cannot be expected to beat this: it is what sampling noise alone gives. Every
    metric here has a finite-sample bias that depends on the sample sizes (the energy distance's
    V-statistic by ``E|X-X'| (1/m + 1/n)``, the Fréchet distance through the covariance estimates),
    so **compare like with like**: compute the generator's value as
    ``statistic(generated[:n_split], other_truth[:n_split])`` with ``n_split`` rows of each (the
    caller subsamples), so value and floor carry the same bias.

    Parameters
    ----------
    truth : (n, ...) array of true samples.
    statistic : ``(a, b) -> float``, called on row subsets ``(n_split, ...)``.
    n_split : rows in each half, 1 <= n_split <= n // 2; None for ``n // 2``.
    rng : the random stream (keyword-only).
    n_repeats : number of random splits averaged, >= 1.

    Returns
    -------
    float: mean of ``statistic`` over the splits.

    Raises
    ------
    ValueError
        ``n_split`` or ``n_repeats`` out of range, or fewer than 2 samples.
    TypeError
        ``rng`` is not a ``numpy.random.Generator``.
    """
    _check_rng(rng)
    t = np.asarray(truth)
    if t.ndim == 0 or len(t) < 2:
        raise ValueError(f"truth has {0 if t.ndim == 0 else len(t)} samples: need at least 2 to split")
    n = len(t)
    if n_split is None:
        n_split = n // 2
    if int(n_split) != n_split or not 1 <= n_split <= n // 2:
        raise ValueError(f"n_split={n_split!r}: must be an integer in [1, {n // 2}] (two disjoint halves of "
                         f"{n} samples)")
    if int(n_repeats) != n_repeats or n_repeats < 1:
        raise ValueError(f"n_repeats={n_repeats!r}: must be an integer >= 1")
    values = []
    for _ in range(int(n_repeats)):
        idx = rng.permutation(n)
        values.append(float(statistic(t[idx[:n_split]], t[idx[n_split:2 * n_split]])))
    return float(np.mean(values))


# --------------------------------------------------------------------------------------------
# marginal and QoI-level comparisons
# --------------------------------------------------------------------------------------------
def quantile_coverage(generated, truth, *, quantiles: tuple[float, float] = (0.05, 0.95)) -> float:
    """Fraction of true values inside the generated samples' per-entry quantile band.

    For every entry (feature) ``f`` of the trailing shape, the band ``[q_lo(f), q_hi(f)]`` is taken
    from the generated sample's column (``np.quantile``, linear interpolation); the result is the
    fraction of all ``truth[i, f]`` with ``q_lo(f) <= truth[i, f] <= q_hi(f)``, over samples and
    entries. Nominal value: ``q_hi - q_lo`` (0.9 by default); a generator with too little spread
    scores below it, too much above. The band's coverage is slightly below nominal for a finite
    generated sample (about ``(n - 1)(q_hi - q_lo) / (n + 1)``).

    Parameters
    ----------
    generated : (n_g, ...) array, n_g >= 2.
    truth : (n_t, ...) array with the same trailing shape.
    quantiles : ``(q_lo, q_hi)`` with ``0 <= q_lo < q_hi <= 1``.

    Returns
    -------
    float in [0, 1].

    Raises
    ------
    ValueError
        Trailing shapes differ, too few rows, non-finite values, or bad quantiles.
    """
    q = tuple(np.asarray(quantiles, dtype=float).ravel())
    if len(q) != 2 or not (0.0 <= q[0] < q[1] <= 1.0):
        raise ValueError(f"quantiles={quantiles!r}: must be (q_lo, q_hi) with 0 <= q_lo < q_hi <= 1")
    g = np.asarray(generated)
    t = np.asarray(truth)
    if g.ndim == 0 or t.ndim == 0 or g.shape[1:] != t.shape[1:]:
        raise ValueError(f"truth has shape {t.shape} but generated has {g.shape}: the trailing (non-sample) shapes "
                         "must match")
    g = _as_samples(g, "generated", min_rows=2)
    t = _as_samples(t, "truth", min_rows=1)
    lo, hi = np.quantile(g, q, axis=0)
    return float(np.mean((t >= lo) & (t <= hi)))


def qoi_comparison(generated, truth, *, quantiles: tuple[float, ...] = (0.05, 0.5, 0.95)) -> dict:
    """Compare generated and true samples of one scalar QoI.

    Relative biases divide by the absolute truth value (``inf`` with the sign of the difference
    when that is 0 and the difference is not, 0 when both are 0).

    Parameters
    ----------
    generated : (n_g,) QoI values from generated histories, n_g >= 2.
    truth : (n_t,) true QoI values, n_t >= 2.
    quantiles : levels in [0, 1] for ``quantile_bias`` (``np.quantile``, linear interpolation).

    Returns
    -------
    dict with
        ``mean_bias``: ``(mean_g - mean_t) / |mean_t|``;
        ``quantile_bias``: ``{q: (Q_g(q) - Q_t(q)) / |Q_t(q)|}``;
        ``spread_ratio``: ``std_g / std_t`` (ddof = 1; ``inf`` or ``nan`` if ``std_t`` is 0);
        ``ks``, ``ks_pvalue``: two-sample Kolmogorov-Smirnov statistic and p-value
        (``scipy.stats.ks_2samp``, two-sided, ``method="auto"``).

    Raises
    ------
    ValueError
        Inputs not 1-D, fewer than 2 values, non-finite values, or quantiles outside [0, 1].
    """
    arrays = {}
    for name, a in (("generated", generated), ("truth", truth)):
        arr = np.asarray(a, dtype=np.float64)
        if arr.ndim != 1:
            raise ValueError(f"{name} has shape {arr.shape}: must be 1-D (n,), one scalar QoI per sample")
        arrays[name] = _as_samples(arr, name, min_rows=2)[:, 0]
    g, t = arrays["generated"], arrays["truth"]
    qs = tuple(float(v) for v in np.atleast_1d(quantiles))
    if not all(0.0 <= v <= 1.0 for v in qs):
        raise ValueError(f"quantiles={quantiles!r}: every level must be in [0, 1]")

    def rel(a: float, b: float) -> float:
        if b != 0:
            return float((a - b) / abs(b))
        return 0.0 if a == b else float(np.copysign(np.inf, a - b))

    qg, qt = np.quantile(g, qs), np.quantile(t, qs)
    ks = scipy.stats.ks_2samp(g, t)
    sd_t = t.std(ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = float(np.float64(g.std(ddof=1)) / sd_t)
    return {
        "mean_bias": rel(g.mean(), t.mean()),
        "quantile_bias": {q: rel(a, b) for q, a, b in zip(qs, qg, qt, strict=True)},
        "spread_ratio": spread,
        "ks": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
    }


def peak_displacement(u_bc) -> np.ndarray:
    """Space-time maximum of the displacement magnitude of each boundary history.

    ``max_{t, node} sqrt(u_x^2 + u_y^2)``, over the nodes the history holds (the submodel
    boundary): computable from histories alone, so it compares generated with true histories
    directly. It is not the zone QoI ``qoi_peak_displacement`` (a maximum over the zone's nodes).

    Parameters
    ----------
    u_bc : (n, time, node, 2) displacement histories [m] (dims ``sample, time, node, component``).

    Returns
    -------
    (n,) float64 array [m].

    Raises
    ------
    ValueError
        ``u_bc`` is not 4-D with 2 components, or is empty in time or node.
    """
    u = np.asarray(u_bc)
    if u.ndim != 4 or u.shape[-1] != 2:
        raise ValueError(f"u_bc has shape {u.shape}: must be (sample, time, node, 2)")
    if u.shape[1] == 0 or u.shape[2] == 0:
        raise ValueError(f"u_bc has shape {u.shape}: needs at least one time step and one node")
    out = np.empty(u.shape[0], dtype=np.float64)
    per_sample = max(1, u.shape[1] * u.shape[2] * 8)
    step = max(1, _BLOCK_BYTES // per_sample)
    for i0 in range(0, u.shape[0], step):
        blk = np.asarray(u[i0:i0 + step], dtype=np.float64)
        out[i0:i0 + step] = np.hypot(blk[..., 0], blk[..., 1]).max(axis=(1, 2))
    return out
