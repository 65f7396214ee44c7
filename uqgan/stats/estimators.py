"""Statistics of a scalar quantity of interest (QoI) with confidence intervals (numpy/scipy only).

Every estimator takes 1-D sample arrays and returns an :class:`Estimate`: the point value, the
two-sided interval at confidence ``level`` (0.95 by default), the method's name, the number of
(expensive) samples, the estimator's own standard error ``se`` and a dict of method-specific
diagnostics, whose ``note`` says where ``n`` is too small for the level on a skewed sample. The
coverage of every interval on skewed laws is measured by ``pipelines/coverage_study.py`` and
tabulated in docs/coverage.md.

Single-fidelity estimators (one set of i.i.d. samples ``x`` of the QoI):

- :func:`mean_ci`: Student-t interval for the mean with Hall's skewness correction (or the plain
  t, or a BCa bootstrap).
- :func:`std_ci`: Bonett's kurtosis-adjusted interval for the standard deviation (no normality
  assumed), with small-sample modifications by default; chi-square (exact for normal data only),
  BCa and percentile bootstrap on request.
- :func:`quantile_ci`: distribution-free order-statistic interval for a quantile.
- :func:`probability_ci`: Wilson score interval for an exceedance probability ``P(X > t)``.

Multi-fidelity estimators (``y_hi``: expensive model, ``y_lo_paired``: cheap model at the *same*
inputs, ``y_lo_extra``: cheap model at further independent inputs). They stay unbiased for the
expensive model's statistic whatever the cheap model's bias; the cheap model only buys variance:

- :func:`mfmc_mean`: two-model multi-fidelity Monte Carlo / control variate
  (Peherstorfer, Willcox & Gunzburger 2016).
- :func:`ppi_mean`: prediction-powered inference for the mean, with PPI++ power tuning
  (Angelopoulos et al. 2023; Angelopoulos, Duchi & Zrnic 2023).
- :func:`ppi_quantile`: prediction-powered inference for a quantile (Angelopoulos et al. 2023).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "Estimate",
    "mean_ci",
    "mfmc_mean",
    "ppi_mean",
    "ppi_quantile",
    "probability_ci",
    "quantile_ci",
    "std_ci",
]

_STD_METHODS = ("bonett-t", "bonett", "bca", "chi2", "bootstrap")
_MEAN_METHODS = ("hall", "t", "bca")
# below this n the mean's interval always carries a note (the t interval's coverage on skewed
# laws there: docs/coverage.md, "Mean")
_MEAN_T_MIN_N = 32
_DEFAULT_N_RESAMPLES = 2000
# below this n the std's interval always carries a note, whatever the sample's own kurtosis
# (why, and the measured coverage: docs/coverage.md, "Standard deviation")
_STD_MIN_N = 256
# numpy's default quantile definition, used for every point estimate of a quantile here
_NUMPY_QUANTILE_METHOD = "linear"
# elements drawn per bootstrap chunk (bounds the memory of the (n_boot, n) index array)
_BOOT_CHUNK_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided confidence interval.

    Attributes
    ----------
    value : float
        Point estimate, in the unit of the QoI (a probability for :func:`probability_ci`).
    lower, upper : float
        Interval bounds, same unit; ``-inf``/``+inf`` where the data cannot bound that side.
    method : str
        Name of the interval, e.g. ``"student-t"``, ``"wilson"``, ``"mfmc"``.
    n : int
        Number of samples of the (expensive) model the estimate rests on.
    extra : dict
        Method-specific diagnostics (ranks, ``alpha``, ``rho``, ``note``, ...), see each function.
    se : float
        The estimator's own standard error of ``value``, same unit (``nan`` where the method has
        none in that unit). Comparisons (difference in standard errors, the bias of a chain) read
        it here: an interval's half-width divided by ``z`` is not a standard error for intervals
        that are asymmetric (quantiles, the std), open or built on a Student-t quantile.
    """

    value: float
    lower: float
    upper: float
    method: str
    n: int
    extra: dict[str, Any] = field(default_factory=dict)
    se: float = math.nan

    def __post_init__(self) -> None:
        if not self.method:
            raise ValueError("Estimate.method='': must name the interval method (e.g. 'student-t')")
        if self.n < 0:
            raise ValueError(f"Estimate.n={self.n}: must be >= 0 (the number of samples used)")
        if self.lower > self.upper:  # False when either is NaN
            raise ValueError(f"Estimate.lower={self.lower} > Estimate.upper={self.upper}: the bounds are swapped")

    @property
    def width(self) -> float:
        """``upper - lower`` (``inf`` for an open interval)."""
        return self.upper - self.lower

    def covers(self, truth: float) -> bool:
        """Whether the closed interval ``[lower, upper]`` contains ``truth``."""
        return bool(self.lower <= truth <= self.upper)


# ----------------------------------------------------------------------------------------------
# input checks


def _check_level(level: float) -> float:
    try:
        lv = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"level={level!r}: must be a number in (0, 1), e.g. 0.95 for a 95 % interval") from None
    if not 0.0 < lv < 1.0:
        raise ValueError(f"level={level!r}: must be in (0, 1), e.g. 0.95 for a 95 % interval (not 95)")
    return lv


def _check_q(q: float) -> float:
    try:
        qv = float(q)
    except (TypeError, ValueError):
        raise ValueError(f"q={q!r}: must be a probability in (0, 1), e.g. 0.5 for the median") from None
    if not 0.0 < qv < 1.0:
        raise ValueError(f"q={q!r}: must be in (0, 1), e.g. 0.5 for the median or 0.95 (not 95)")
    return qv


def _sample(x, name: str, *, min_n: int = 2) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim != 1:
        raise ValueError(f"{name} has shape {a.shape}: must be 1-D (one scalar QoI per sample); "
                         f"pass e.g. ds['qoi'].values.ravel()")
    if a.size < min_n:
        raise ValueError(f"{name} has {a.size} sample(s): need at least {min_n} to estimate a variance; "
                         f"draw more samples")
    bad = int(np.count_nonzero(~np.isfinite(a)))
    if bad:
        raise ValueError(f"{name} holds {bad} non-finite value(s) (NaN/inf): drop or repair those samples first")
    return a


def _paired(y_hi, y_lo_paired, y_lo_extra, *, min_pairs: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yh = _sample(y_hi, "y_hi", min_n=min_pairs)
    yp = _sample(y_lo_paired, "y_lo_paired")
    ye = _sample(y_lo_extra, "y_lo_extra")
    if yp.size != yh.size:
        raise ValueError(f"y_lo_paired has {yp.size} samples but y_hi has {yh.size}: the pairs must be the cheap "
                         f"and expensive models at the same inputs; pass equal-length arrays (put any further "
                         f"cheap samples in y_lo_extra)")
    return yh, yp, ye


def _z(level: float) -> float:
    """Two-sided standard-normal quantile ``z_{(1+level)/2}``."""
    return float(stats.norm.ppf(0.5 + 0.5 * level))


def _cov_var(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Unbiased (ddof = 1) ``Cov(a, b)``, ``Var(a)``, ``Var(b)``."""
    c = np.cov(a, b, ddof=1)
    return float(c[0, 1]), float(c[0, 0]), float(c[1, 1])


def _leave_one_out(h: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Leave-one-pair-out means of ``h`` and ``lo``, ``Cov(h, lo)`` and ``Var(lo)`` (ddof = 1), each
    of shape (n,), by downdating the sums (O(n); data centred first against cancellation)."""
    n = h.size
    a, b = h - h.mean(), lo - lo.mean()
    k = n - 1
    ma = (a.sum() - a) / k
    mb = (b.sum() - b) / k
    cov = ((a * b).sum() - a * b - k * ma * mb) / (k - 1)
    var_b = ((b * b).sum() - b * b - k * mb * mb) / (k - 1)
    return ma + h.mean(), mb + lo.mean(), cov, np.maximum(var_b, 0.0)


def _jackknife_var(theta_i: np.ndarray) -> float:
    """Jackknife variance ``(n-1)/n Σ (θ_(i) - θ̄)²`` (Efron & Stein 1981: conservative in expectation)."""
    n = theta_i.size
    return float((n - 1) / n * np.sum((theta_i - theta_i.mean()) ** 2))


def _skew_corrected(value: float, se: float, skew: float, quantile: float) -> tuple[float, float]:
    """Hall's (1992) skewness-corrected interval for a statistic ``value`` that is approximately a
    mean, with standard error ``se`` and skewness ``skew`` (``γ/√n`` for the mean of ``n`` terms of
    skewness ``γ``).

    Johnson's (1978, J. Am. Stat. Assoc. 73:536) Edgeworth correction of ``T = (value - θ)/se``,
    ``T + skew/6 + skew T²/3``, completed to the monotone cubic
    ``g(T) = T + a T² + a² T³/3 + b = ((1 + a T)³ - 1)/(3a) + b`` with ``a = skew/3``, ``b = skew/6``
    (Hall 1992, J. R. Stat. Soc. B 54:221), removes the ``n^{-1/2}`` skewness term from the
    coverage error; ``g`` inverts in closed form, so the interval is
    ``[value - se g⁻¹(q), value - se g⁻¹(-q)]`` with ``g⁻¹(u) = (∛(1 + 3a(u - b)) - 1)/a``. For
    ``skew = 0`` it is ``value ± q se``.
    """
    if se == 0.0 or not math.isfinite(skew) or abs(skew) < 1e-12:
        return value - quantile * se, value + quantile * se
    a, b = skew / 3.0, skew / 6.0

    def g_inv(u: float) -> float:
        return (np.cbrt(1.0 + 3.0 * a * (u - b)) - 1.0) / a

    return value - se * float(g_inv(quantile)), value - se * float(g_inv(-quantile))


# ----------------------------------------------------------------------------------------------
# single fidelity


def _bootstrap_bca(a: np.ndarray, statistic, level: float, rng: np.random.Generator,
                   n_resamples: int) -> tuple[float, float, float]:
    """BCa bootstrap interval of ``statistic(a, axis=-1)`` by ``scipy.stats.bootstrap`` (Efron 1987,
    J. Am. Stat. Assoc. 82:171): lower, upper and the bootstrap standard error."""
    if rng is None:
        raise ValueError("rng=None: method='bca' resamples, so pass rng=np.random.default_rng(seed)")
    if int(n_resamples) < 100:
        raise ValueError(f"n_resamples={n_resamples!r}: must be >= 100 (2000 is usual for a 95 % BCa interval)")
    rows = max(1, _BOOT_CHUNK_ELEMENTS // a.size)  # bounds the (batch, n) resample array
    with np.errstate(invalid="ignore", divide="ignore"):
        res = stats.bootstrap((a,), statistic, n_resamples=int(n_resamples), batch=rows, vectorized=True,
                              axis=-1, confidence_level=level, method="BCa", random_state=rng)
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(lo) and math.isfinite(hi)):  # degenerate data (e.g. constant): no spread to resample
        value = float(statistic(a, axis=-1))
        lo = hi = value
    return lo, hi, float(res.standard_error)


def _cochran_note(a: np.ndarray, level: float) -> str:
    """Empty, or why a mean's CLT interval is too short for its level at this ``n``: ``n < 32``
    or Cochran's rule ``n < 25 g₁²`` fails (Cochran 1977, *Sampling Techniques*, 3rd ed., §2.15;
    ``g₁`` the bias-corrected sample skewness of the averaged terms, ``scipy.stats.skew``). The
    coverage measured where the note fires is in docs/coverage.md."""
    n = a.size
    if n >= 3 and np.ptp(a) > 0:
        g1 = float(stats.skew(a, bias=False))
    else:
        g1 = 0.0
    need = max(_MEAN_T_MIN_N, math.ceil(25 * g1**2))
    if n >= need:
        return ""
    return (f"n={n} is too small for the {level:.0%} level on this skewed sample (skewness {g1:.2f}; Cochran's "
            f"rule asks n >= 25 g1^2 = {need}, and n >= {_MEAN_T_MIN_N}): the interval may cover less than "
            f"its level (measured in docs/coverage.md); draw more samples")


def mean_ci(x, *, level: float = 0.95, method: str = "hall", rng: np.random.Generator | None = None,
            n_resamples: int = _DEFAULT_N_RESAMPLES) -> Estimate:
    """Sample mean with a skewness-corrected Student-t (default), Student-t or BCa confidence interval.

    ``method="hall"`` (default): the t interval below with Hall's (1992) skewness correction: with
    ``g(T) = T + a T² + a² T³/3 + b``, ``a = g₁/(3√n)``, ``b = g₁/(6√n)`` (``g₁ = m₃/m₂^{3/2}`` the
    sample skewness) applied to ``T = (x̄ - μ)/(s/√n)``, ``μ ∈ [x̄ - g⁻¹(t) s/√n, x̄ - g⁻¹(-t) s/√n]``
    with ``t = t_{n-1,(1+level)/2}`` (Johnson 1978, J. Am. Stat. Assoc. 73:536; Hall 1992, J. R.
    Stat. Soc. B 54:221). It removes the ``n^{-1/2}`` skewness term of the coverage error, so on a
    right-skewed QoI the interval reaches further up than down; for a symmetric sample (``g₁ = 0``)
    it is the t interval. ``extra["note"]`` as for ``"t"``.

    ``method="t"``: ``x̄ ± t_{n-1, (1+level)/2} · s / √n`` with ``s`` the ddof = 1 sample standard
    deviation (Student 1908). Exact for normal data; otherwise valid by the central limit theorem,
    with under-coverage for small ``n`` and skewed data (the skewness enters the coverage error at
    order ``n^{-1/2}``; Hall 1992, *The Bootstrap and Edgeworth Expansion*, §3.5). ``extra["note"]``
    says where the interval is too narrow for its level (``n < 32`` or Cochran's rule failing, see
    ``_cochran_note``); its measured coverage on skewed laws is in docs/coverage.md.

    ``method="bca"``: bias-corrected and accelerated bootstrap (Efron 1987, J. Am. Stat. Assoc.
    82:171; ``scipy.stats.bootstrap``), which corrects the skewness term at order ``n^{-1/2}``;
    its measured coverage is in docs/coverage.md.

    Parameters
    ----------
    x : (n,) array_like of float
        I.i.d. samples of the QoI, ``n >= 2``, any unit.
    level : float
        Confidence level in (0, 1).
    method : {"hall", "t", "bca"}
        Interval type, see above.
    rng : numpy.random.Generator, optional
        Required for ``method="bca"`` (the resampling stream); unused otherwise.
    n_resamples : int
        Bootstrap resamples for ``method="bca"`` (``>= 100``).

    Returns
    -------
    Estimate
        ``method="hall-t"``, ``"student-t"`` or ``"bca"``; ``se = s/√n`` for all; ``extra={"se",
        "std", "df", "note"}`` (plus ``"skewness"`` ``g₁`` for Hall's, ``"n_resamples"``,
        ``"se_boot"`` for BCa); ``note`` is empty unless ``n`` is too small for the level on skewed
        data.

    Raises
    ------
    ValueError
        ``x`` not 1-D, fewer than 2 samples or non-finite; ``level`` outside (0, 1); a bad
        ``method``; ``method="bca"`` without ``rng``.

    Examples
    --------
    >>> e = mean_ci([1.0, 2.0, 3.0, 4.0])
    >>> round(e.value, 3), round(e.lower, 3), round(e.upper, 3)
    (2.5, 0.446, 4.554)
    """
    lv = _check_level(level)
    a = _sample(x, "x")
    if method not in _MEAN_METHODS:
        raise ValueError(f"method={method!r}: must be one of {_MEAN_METHODS} ('bca' for small skewed samples)")
    n = a.size
    mean = float(a.mean())
    sd = float(a.std(ddof=1))
    se = sd / math.sqrt(n)
    note = _cochran_note(a, lv)
    if method == "bca":
        lo, hi, se_boot = _bootstrap_bca(a, np.mean, lv, rng, n_resamples)
        return Estimate(mean, min(lo, mean), max(hi, mean), "bca", n,
                        {"se": se, "std": sd, "df": n - 1, "n_resamples": int(n_resamples), "se_boot": se_boot,
                         "note": note}, se=se)
    t = float(stats.t.ppf(0.5 + 0.5 * lv, n - 1))
    if method == "t":
        return Estimate(mean, mean - t * se, mean + t * se, "student-t", n,
                        {"se": se, "std": sd, "df": n - 1, "note": note}, se=se)
    g1 = float(stats.skew(a, bias=True)) if np.ptp(a) > 0 else 0.0  # m3 / m2^1.5, Hall's plug-in
    lo, hi = _skew_corrected(mean, se, g1 / math.sqrt(n), t)
    return Estimate(mean, lo, hi, "hall-t", n, {"se": se, "std": sd, "df": n - 1, "skewness": g1, "note": note},
                    se=se)


def _bonett_kurtosis(a: np.ndarray, *, median: bool) -> float:
    """``n Σ(x_i - m)⁴ / (Σ(x_i - x̄)²)²`` with ``m`` Bonett's trimmed mean (trim ``1/(2√(n-4))``;
    the median for ``n <= 5``) or, with ``median=True``, the median. ``>= 1 > (n-3)/n`` by
    Cauchy-Schwarz, so the standard errors built on it are real; ``nan`` for constant data."""
    n = a.size
    ss = float(a.var(ddof=1)) * (n - 1)
    if ss <= 0.0:
        return math.nan
    trim = 1.0 / (2.0 * math.sqrt(n - 4)) if n > 4 else 0.5
    m = float(np.median(a)) if (median or trim >= 0.5) else float(stats.trim_mean(a, trim))
    return n * float(np.sum((a - m) ** 4)) / ss**2


def _bonett(a: np.ndarray, level: float, *, small_sample: bool) -> tuple[float, float, float]:
    """Bonett's (2006) interval for the variance (lower, upper) and the kurtosis estimate it used;
    ``small_sample=True``: the Student-t quantile and the median-centred kurtosis (see std_ci)."""
    n = a.size
    var = float(a.var(ddof=1))
    kurt = _bonett_kurtosis(a, median=small_sample)
    if not math.isfinite(kurt):
        return 0.0, 0.0, kurt
    q = float(stats.t.ppf(0.5 + 0.5 * level, n - 1)) if small_sample else _z(level)
    se_log = math.sqrt((kurt - (n - 3) / n) / (n - 1))
    c = n / (n - q) if n > q else math.inf
    if not math.isfinite(c):
        return 0.0, math.inf, kurt
    centre = math.log(c * var)
    return math.exp(centre - q * c * se_log), math.exp(centre + q * c * se_log), kurt


def std_ci(x, *, level: float = 0.95, method: str = "bonett", rng: np.random.Generator | None = None,
           n_boot: int = _DEFAULT_N_RESAMPLES) -> Estimate:
    """Sample standard deviation with a confidence interval that holds without normality.

    ``method="bonett-t"``: Bonett's interval below with two small-sample modifications
    proposed after Bonett (2006), not the default because we found them in no peer-reviewed
    source: the Student-t quantile ``t_{n-1,(1+level)/2}`` in place of ``z``
    (in ``c`` too), and the median as the centre ``m`` of the fourth moment in ``γ̂``; for a skewed
    sample the median lies off the mean, which raises ``γ̂`` where the kurtosis estimate is biased
    low. Both leave the interval asymptotically equal to Bonett's. Sources and measured coverage:
    docs/coverage.md. ``se`` as for ``"bonett"``.

    ``method="bonett"`` (default): Bonett's kurtosis-adjusted interval (Bonett 2006, Comput. Stat.
    Data Anal. 50:775). With ``c = n/(n - z)``, ``z = z_{(1+level)/2}`` and the kurtosis estimate
    ``γ̂ = n Σ(x_i - m)⁴ / (Σ(x_i - x̄)²)²`` (``m`` the mean trimmed by ``1/(2√(n-4))`` on each side,
    ``scipy.stats.trim_mean``; the median for ``n <= 5``),

        σ² ∈ exp( ln(c s²) ∓ z c √((γ̂ - (n-3)/n)/(n-1)) ),     σ = √σ²,

    the delta-method interval for ``ln s²`` (``Var s² ≈ σ⁴ (γ - (n-3)/(n-1)) / n``) with the kurtosis
    estimated, not assumed to be 3 (the squared bounds are Bonett's interval for the variance).
    Its standard error, kept in ``se``, is the delta method for ``s``:
    ``se = s/2 · √((γ̂ - (n-3)/n)/(n-1))``. The interval is asymptotically exact for any law with a
    finite fourth moment, but for small ``n`` on heavy tails the kurtosis estimate is biased low and
    the interval is too short; ``extra["note"]`` says so below ``n = 256``. Why it is the default
    (coverage and width against BCa and the other methods tried) and its measured coverage:
    docs/coverage.md.

    ``method="bca"``: BCa bootstrap of ``s`` (Efron 1987; ``scipy.stats.bootstrap``; ``n_boot``
    resamples); ``se`` is the bootstrap standard error.

    ``method="chi2"`` (normal theory): ``(n-1) s²/σ² ~ χ²_{n-1}`` gives
    ``σ ∈ [s √((n-1)/χ²_{n-1,(1+level)/2}), s √((n-1)/χ²_{n-1,(1-level)/2})]`` (Casella & Berger 2002,
    Ch. 9); ``se = s/√(2(n-1))``. **Exact only for normal data**: the variance of ``s²`` grows with
    the kurtosis, so on skewed or heavy-tailed QoIs it under-covers at every ``n`` and more samples
    do not fix it (docs/coverage.md).

    ``method="bootstrap"``: percentile bootstrap (Efron & Tibshirani 1993, Ch. 13), kept for
    comparison; ``se`` is the bootstrap standard error.

    Parameters
    ----------
    x : (n,) array_like of float
        I.i.d. samples, ``n >= 2``.
    level : float
        Confidence level in (0, 1).
    method : {"bonett-t", "bonett", "bca", "chi2", "bootstrap"}
        Interval type, see above.
    rng : numpy.random.Generator, optional
        Required for the two bootstrap methods (the resampling stream); unused otherwise.
    n_boot : int
        Number of bootstrap resamples (``>= 100``).

    Returns
    -------
    Estimate
        ``value`` is the ddof = 1 sample std; ``method`` is ``"bonett-t"`` or ``"bonett"``
        (``extra={"kurtosis", "note"}``, the kurtosis estimate the interval used), ``"bca"`` or
        ``"bootstrap-percentile"`` (``extra={"n_boot", "se_boot"}``) or ``"chi2"``
        (``extra={"df"}``).

    Raises
    ------
    ValueError
        Bad ``x``, ``level``, ``method`` or ``n_boot``; a bootstrap method without ``rng``.
    """
    lv = _check_level(level)
    a = _sample(x, "x")
    n = a.size
    sd = float(a.std(ddof=1))
    if method in ("bonett", "bonett-t"):
        lo, hi, kurt = _bonett(a, lv, small_sample=method == "bonett-t")
        k_trim = kurt if method == "bonett" else _bonett_kurtosis(a, median=False)
        se_log = math.sqrt((k_trim - (n - 3) / n) / (n - 1)) if math.isfinite(k_trim) else 0.0
        note = ("" if n >= _STD_MIN_N else
                f"n={n} < {_STD_MIN_N}: on a skewed, heavy-tailed QoI the kurtosis is underestimated and the "
                f"{lv:.0%} interval of the std covers less than its level (measured in docs/coverage.md); "
                f"draw more samples")
        return Estimate(sd, math.sqrt(lo), math.sqrt(hi), method, n, {"kurtosis": kurt, "note": note},
                        se=0.5 * sd * se_log)
    if method == "chi2":
        lo = sd * math.sqrt((n - 1) / stats.chi2.ppf(0.5 + 0.5 * lv, n - 1))
        hi = sd * math.sqrt((n - 1) / stats.chi2.ppf(0.5 - 0.5 * lv, n - 1))
        return Estimate(sd, lo, hi, "chi2", n, {"df": n - 1}, se=sd / math.sqrt(2 * (n - 1)))
    if method == "bca":
        if rng is None:
            raise ValueError("rng=None: method='bca' resamples, so pass rng=np.random.default_rng(seed)")
        if int(n_boot) < 100:
            raise ValueError(f"n_boot={n_boot!r}: must be >= 100 (2000 is usual for a 95 % BCa interval)")
        lo, hi, se_boot = _bootstrap_bca(a, _std_ddof1, lv, rng, n_boot)
        return Estimate(sd, min(lo, sd), max(hi, sd), "bca", n, {"n_boot": int(n_boot), "se_boot": se_boot},
                        se=se_boot)
    if method != "bootstrap":
        raise ValueError(f"method={method!r}: must be one of {_STD_METHODS} ('bonett' for non-normal data)")
    if rng is None:
        raise ValueError("rng=None: method='bootstrap' resamples, so pass rng=np.random.default_rng(seed)")
    if int(n_boot) < 100:
        raise ValueError(f"n_boot={n_boot!r}: must be >= 100 (2000 is usual for a 95 % percentile interval)")
    n_boot = int(n_boot)
    rows = max(1, _BOOT_CHUNK_ELEMENTS // n)
    boot = np.empty(n_boot)
    for start in range(0, n_boot, rows):
        stop = min(start + rows, n_boot)
        idx = rng.integers(0, n, size=(stop - start, n))
        boot[start:stop] = a[idx].std(axis=1, ddof=1)
    lo, hi = np.quantile(boot, [0.5 - 0.5 * lv, 0.5 + 0.5 * lv])
    se_boot = float(boot.std(ddof=1))
    return Estimate(sd, float(lo), float(hi), "bootstrap-percentile", n, {"n_boot": n_boot, "se_boot": se_boot},
                    se=se_boot)


def _std_ddof1(a: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.std(a, axis=axis, ddof=1)


def _order_statistic_ranks(n: int, q: float, level: float) -> tuple[int, int, float]:
    """1-based ranks ``(l, u)`` of the equal-tailed order-statistic interval and its exact coverage.

    With ``B ~ Binomial(n, q)`` the number of samples below the true quantile ``ξ_q``,
    ``P(X_(l) <= ξ_q <= X_(u)) >= P(l <= B <= u-1) = F_B(u-1) - F_B(l-1)`` (equality for continuous
    data). ``l = F_B^{-1}(α/2)`` makes ``P(B < l) < α/2`` and ``u = F_B^{-1}(1-α/2) + 1`` makes
    ``P(B >= u) <= α/2``, so the coverage is at least ``level``. ``l = 0`` means "no lower bound"
    (``-inf``), ``u = n + 1`` "no upper bound" (``+inf``).
    """
    alpha = 1.0 - level
    l = int(stats.binom.ppf(alpha / 2, n, q))
    u = int(stats.binom.ppf(1 - alpha / 2, n, q)) + 1
    cover = float(stats.binom.cdf(u - 1, n, q) - (stats.binom.cdf(l - 1, n, q) if l >= 1 else 0.0))
    return l, u, cover


def quantile_ci(x, q: float, *, level: float = 0.95) -> Estimate:
    """Sample ``q``-quantile with a distribution-free order-statistic confidence interval.

    The interval is ``[X_(l), X_(u)]`` (sorted sample, 1-based ranks) with
    ``l = F_B^{-1}((1-level)/2)`` and ``u = F_B^{-1}((1+level)/2) + 1``, ``B ~ Binomial(n, q)``
    (``scipy.stats.binom.ppf``): the number of samples below the true quantile is binomial for any
    continuous distribution, so the coverage ``F_B(u-1) - F_B(l-1)`` is at least ``level`` by
    construction (Hahn & Meeker 1991, *Statistical Intervals*, §5.2; David & Nagaraja 2003, *Order
    Statistics*, §7.1). It is conservative: the binomial is discrete, so the exact coverage, given in
    ``extra["coverage"]``, usually exceeds ``level`` by up to a few percent. With ties (discrete data)
    the closed interval covers at least as often. (``scipy.stats.quantile_test``, whose
    ``confidence_interval`` offers an order-statistic interval, exists only from scipy 1.11; the
    project supports scipy 1.10, so the binomial ranks are computed here.)

    For small ``n`` or extreme ``q`` no order statistic is far enough out (e.g. no upper bound for
    ``q = 0.95`` at 95 % below ``n = 72``, where ``1 - 0.95^n`` first reaches 0.975): that side is
    then open, returned as ``-inf``/``+inf`` and named in ``extra["open"]``.

    The point estimate is ``np.quantile(x, q, method="linear")``, numpy's default (Hyndman & Fan
    1996, type 7), so it matches what the rest of the code reports.

    Parameters
    ----------
    x : (n,) array_like of float
        I.i.d. samples, ``n >= 2``.
    q : float
        Probability level of the quantile, in (0, 1).
    level : float
        Confidence level in (0, 1).

    Returns
    -------
    Estimate
        ``method="order-statistic"``, ``extra={"q", "lower_rank", "upper_rank", "coverage", "open",
        "point_method", "note"}``; ranks are 1-based, ``0``/``n + 1`` for an open side; ``open`` is
        ``None``, ``"lower"``, ``"upper"`` or ``"both"``. ``se`` is the Maritz-Jarrett standard
        error of the sample quantile (Maritz & Jarrett 1978, J. Am. Stat. Assoc. 73:194;
        ``scipy.stats.mstats.mjci``): a beta-weighted spread of the order statistics around rank
        ``qn``, finite also where the interval is open, and not the half-width of an interval
        that is asymmetric about the point.

    Raises
    ------
    ValueError
        Bad ``x``; ``q`` or ``level`` outside (0, 1).

    Examples
    --------
    >>> e = quantile_ci(np.arange(1.0, 101.0), 0.5)
    >>> e.lower, e.upper, e.extra["lower_rank"], e.extra["upper_rank"]
    (40.0, 61.0, 40, 61)
    """
    qv = _check_q(q)
    lv = _check_level(level)
    a = np.sort(_sample(x, "x"))
    n = a.size
    l, u, cover = _order_statistic_ranks(n, qv, lv)
    lower = float(a[l - 1]) if l >= 1 else -math.inf
    upper = float(a[u - 1]) if u <= n else math.inf
    open_lo, open_hi = l < 1, u > n
    opened = {(False, False): None, (True, False): "lower", (False, True): "upper", (True, True): "both"}
    side = opened[(open_lo, open_hi)]
    note = ("" if side is None else
            f"n={n} is too small for a {lv:.0%} bound on the {side} side of the {qv:g}-quantile: "
            f"no order statistic reaches it, so that bound is infinite; draw more samples")
    value = float(np.quantile(a, qv, method=_NUMPY_QUANTILE_METHOD))
    se = float(np.asarray(stats.mstats.mjci(a, prob=[qv])).ravel()[0])
    return Estimate(value, lower, upper, "order-statistic", n,
                    {"q": qv, "lower_rank": l, "upper_rank": u, "coverage": cover, "open": side,
                     "point_method": f"numpy {_NUMPY_QUANTILE_METHOD!r} (Hyndman & Fan type 7)", "note": note},
                    se=se)


def probability_ci(x, threshold: float, *, level: float = 0.95) -> Estimate:
    """Exceedance probability ``P(X > threshold)`` with the Wilson score interval.

    With ``k`` of ``n`` samples strictly above ``threshold``, ``p̂ = k/n`` and the interval is the
    set of ``p`` with ``|p̂ - p| <= z √(p(1-p)/n)``:
    ``(p̂ + z²/2n ± z √(p̂(1-p̂)/n + z²/4n²)) / (1 + z²/n)`` (Wilson 1927, JASA 22:209), computed by
    ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``. Unlike the Wald interval it stays
    inside [0, 1] and keeps close to nominal coverage for small ``n·p`` (Brown, Cai & DasGupta 2001,
    Stat. Sci. 16:101); for ``k = 0`` it is ``[0, z²/(n + z²)]``.

    Parameters
    ----------
    x : (n,) array_like of float
        I.i.d. samples of the QoI, ``n >= 2``.
    threshold : float
        Finite threshold, same unit as ``x``; the event is ``X > threshold`` (strict).
    level : float
        Confidence level in (0, 1).

    Returns
    -------
    Estimate
        ``value = p̂`` (the maximum-likelihood estimate, not the Wilson centre), ``method="wilson"``,
        ``extra={"successes": k, "threshold"}``; ``se = √(p̂(1-p̂)/n)`` (the binomial standard
        error, 0 when ``k`` is 0 or ``n``).

    Raises
    ------
    ValueError
        Bad ``x`` or ``level``; non-finite ``threshold``.
    """
    lv = _check_level(level)
    a = _sample(x, "x")
    t = float(threshold)
    if not math.isfinite(t):
        raise ValueError(f"threshold={threshold!r}: must be finite (the event is X > threshold)")
    n = a.size
    k = int(np.count_nonzero(a > t))
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=lv, method="wilson")
    p_hat = k / n
    return Estimate(p_hat, float(ci.low), float(ci.high), "wilson", n, {"successes": k, "threshold": t},
                    se=math.sqrt(p_hat * (1.0 - p_hat) / n))


# ----------------------------------------------------------------------------------------------
# multi-fidelity


def mfmc_mean(y_hi, y_lo_paired, y_lo_extra, *, level: float = 0.95) -> Estimate:
    """Two-model multi-fidelity Monte Carlo (control-variate) estimate of ``E[Y_hi]``.

    With ``N`` pairs ``(y_hi, y_lo_paired)`` (both models at the same inputs) and ``M`` further cheap
    samples ``y_lo_extra`` at independent inputs (Peherstorfer, Willcox & Gunzburger 2016, SIAM J.
    Sci. Comput. 38(5):A3163, two models, ``m_1 = N``, ``m_2 = N + M``)::

        ŝ = ȳ_hi,N + α (ȳ_lo,N+M - ȳ_lo,N),      α = Cov(Y_hi, Y_lo) / Var(Y_lo)

    where ``ȳ_lo,N+M`` averages all ``N + M`` cheap samples. The correction has mean zero for *any*
    ``α``, so ``ŝ`` is unbiased for ``E[Y_hi]`` whatever the cheap model's bias or scale. Writing
    ``D = ȳ_lo,N+M - ȳ_lo,N = M/(N+M) (ȳ_lo,extra - ȳ_lo,N)``, ``Var D = σ_lo² M/(N(N+M))`` and
    ``Cov(ȳ_hi, D) = -ρ σ_hi σ_lo M/(N(N+M))``, so

        Var ŝ = σ_hi²/N + M/(N(N+M)) (α² σ_lo² - 2 α ρ σ_hi σ_lo),

    minimised by ``α = ρ σ_hi/σ_lo`` at ``Var ŝ = (σ_hi²/N)(1 - ρ² M/(N+M))`` (the paper's variance
    lemma for two models). ``α``, ``ρ`` and ``σ_hi`` are estimated from the ``N`` pairs (ddof = 1) and
    the interval is ``ŝ ± t_{N-2,(1+level)/2} √(Var ŝ)`` before the skewness correction below: the
    normal approximation, with the Student-t quantile on ``N - 2`` degrees of freedom (one estimated
    control coefficient; Lavenberg, Moeller & Welch 1982, Oper. Res. 30:182) in place of ``z`` as a
    small-``N`` correction. It tends to ``z`` as ``N`` grows (``t_{48} = 2.01`` vs ``z = 1.96``); the
    coverage with either is in docs/coverage.md.

    Estimating ``α`` from the same pairs makes ``ŝ`` biased by ``O(1/N)`` (``α̂`` is correlated with
    ``ȳ_lo,N``; the bias vanishes for jointly Gaussian outputs, where sample covariances are
    independent of sample means), small next to the ``O(1/√N)`` standard error. The plug-in variance
    above ignores the variability of ``α̂`` and its correlation with the means, which on skewed
    outputs is not small. The standard error used is therefore the jackknife over the ``N`` pairs
    (Efron & Stein 1981, Ann. Stat. 9:586: conservative in expectation), ``α`` re-estimated on each
    delete-one sample (O(N) by downdating the sums), plus the extra cheap samples' share
    ``α² Var(y_lo) M/(N+M)²`` that deleting pairs does not see. The plug-in value is kept in
    ``extra["se_plugin"]``; the coverage of both is in docs/coverage.md. ``ŝ`` is, up to that
    nearly constant cheap term, the mean of the control-variate residuals ``y_hi - α̂ y_lo``, so
    the interval is Hall's skewness-corrected one (:func:`mean_ci`, method ``"hall-t"``) around it:
    ``t`` quantile and jackknife ``se`` as above, the residuals' skewness ``g₁`` (kept in
    ``extra["skewness"]``); on a right-skewed sample it reaches further up than down, and for
    symmetric residuals it is ``ŝ ± t se``. ``extra["note"]`` applies
    Cochran's rule to the control-variate residuals ``y_hi - α y_lo`` and to ``y_hi`` itself (see
    :func:`mean_ci`): the residuals can be nearly symmetric while a rare mode of ``y_hi`` that the
    pairs under-sample still shortens the interval.

    Parameters
    ----------
    y_hi : (N,) array_like of float
        Expensive-model QoI, ``N >= 3``.
    y_lo_paired : (N,) array_like of float
        Cheap-model QoI at the same inputs as ``y_hi``, in the same order.
    y_lo_extra : (M,) array_like of float
        Cheap-model QoI at independent inputs from the same input distribution, ``M >= 2``.
    level : float
        Confidence level in (0, 1).

    Returns
    -------
    Estimate
        ``method="mfmc"``, ``n = N``, ``se`` the jackknife standard error; ``extra={"alpha", "rho",
        "se", "se_plugin", "df", "skewness", "variance_reduction", "n_hi", "n_lo", "note"}`` with
        ``variance_reduction = Var ȳ_hi / Var ŝ = 1/(1 - ρ² M/(N+M))`` (the plug-in's) and
        ``n_lo = N + M``. A cheap model that is constant on the pairs gives ``α = ρ = 0`` (plain
        Monte Carlo).

    Raises
    ------
    ValueError
        Bad samples, unequal pair lengths, ``level`` outside (0, 1).
    """
    lv = _check_level(level)
    yh, yp, ye = _paired(y_hi, y_lo_paired, y_lo_extra, min_pairs=3)
    n_pair, m = yh.size, ye.size
    cov, var_hi, var_lo = _cov_var(yh, yp)
    if var_lo > 0 and var_hi > 0:
        alpha = cov / var_lo
        rho = cov / math.sqrt(var_hi * var_lo)
    else:
        alpha = rho = 0.0
    mean_lo_all = (yp.sum() + ye.sum()) / (n_pair + m)
    value = float(yh.mean() + alpha * (mean_lo_all - yp.mean()))
    shrink = 1.0 - rho**2 * m / (n_pair + m)
    var_plugin = var_hi / n_pair * shrink
    # jackknife over the pairs, α re-estimated each time (see the docstring), plus the extra
    # cheap samples' own share α² Var(y_lo) M/(N+M)², which deleting pairs does not see
    mh_i, ml_i, cov_i, vl_i = _leave_one_out(yh, yp)
    alpha_i = np.divide(cov_i, vl_i, out=np.zeros_like(cov_i), where=vl_i > 0) if alpha != 0.0 else 0.0 * cov_i
    all_i = (yp.sum() - yp + ye.sum()) / (n_pair - 1 + m)
    var = _jackknife_var(mh_i + alpha_i * (all_i - ml_i)) + alpha**2 * float(ye.var(ddof=1)) * m / (n_pair + m) ** 2
    se = math.sqrt(var)
    # Student t with N - 2 df (one estimated control coefficient) rather than z: the small-N
    # correction of Lavenberg, Moeller & Welch (1982); it tends to z as N grows
    t = float(stats.t.ppf(0.5 + 0.5 * lv, n_pair - 2))
    resid = yh - alpha * yp  # ŝ is their mean plus a term with N + M samples behind it
    g1 = float(stats.skew(resid, bias=True)) if np.ptp(resid) > 0 else 0.0
    lo, hi = _skew_corrected(value, se, g1 / math.sqrt(n_pair), t)
    reduction = 1.0 / shrink if shrink > 0 else math.inf
    return Estimate(value, lo, hi, "mfmc", n_pair,
                    {"alpha": alpha, "rho": rho, "se": se, "se_plugin": math.sqrt(var_plugin), "df": n_pair - 2,
                     "skewness": g1, "variance_reduction": reduction, "n_hi": n_pair, "n_lo": n_pair + m,
                     "note": _cochran_note(resid, lv) or _cochran_note(yh, lv)}, se=se)


def ppi_mean(y_hi, y_lo_paired, y_lo_extra, *, level: float = 0.95, tuned: bool = True) -> Estimate:
    """Prediction-powered inference (PPI / PPI++) for ``E[Y_hi]``.

    With ``n`` pairs and ``N`` extra cheap samples (Angelopoulos, Bates, Fannjiang, Jordan & Zrnic
    2023, "Prediction-powered inference", Science 382:669; power tuning from Angelopoulos, Duchi &
    Zrnic 2023, "PPI++: efficient prediction-powered inference", arXiv:2311.01453)::

        θ̂ = λ mean(y_lo_extra) + mean(y_hi - λ y_lo_paired)
        θ̂ ± t_{df,(1+level)/2} √( Var(λ y_lo_extra)/N + Var(y_hi - λ y_lo_paired)/n )

    The papers use the normal quantile ``z``; here the Student-t quantile with ``df = n - 1`` (plain
    PPI) or ``n - 2`` (PPI++, one more estimated coefficient) is a small-``n`` correction that tends
    to ``z`` as ``n`` grows, the same as for :func:`mfmc_mean`. With ``N → ∞`` and normal data,
    plain PPI is the mean of the ``n`` rectifier terms plus a known constant, so ``t_{n-1}`` is exact.
    The coverage with ``z`` and with ``t`` is in docs/coverage.md.

    For PPI++ the variance above is a plug-in at the estimated ``λ̂``; as for :func:`mfmc_mean` it
    ignores the variability of ``λ̂`` (measured in docs/coverage.md), so the standard error used is
    the jackknife over the ``n`` pairs with ``λ``
    re-estimated (and clipped) on each delete-one sample, plus ``λ̂² Var(y_lo_extra)/N``. For plain
    PPI (fixed ``λ = 1``) that jackknife equals ``Var(rect)/n`` exactly, so the closed form is kept.
    ``extra["note"]`` applies Cochran's rule to the rectifier terms and to ``y_hi`` (as for
    :func:`mfmc_mean`).

    The two means are independent and the "rectifier" ``mean(y_hi - λ y_lo_paired)`` removes the
    cheap model's bias, so the interval is valid whatever that bias. Plain PPI uses ``λ = 1``; PPI++
    (``tuned=True``) uses the variance-minimising
    ``λ̂ = Cov(y_hi, y_lo_paired) / ((1 + n/N) Var(y_lo))``, clipped to [0, 1] so that it
    interpolates between the classical mean (``λ = 0``) and PPI (``λ = 1``) and never does worse than
    either asymptotically. ``Cov`` and ``Var(y_lo)`` both come from the pairs, so that
    ``λ̂ = β̂/(1 + n/N)`` with ``β̂`` the least-squares slope of ``y_hi`` on ``y_lo``. (The authors'
    ``ppi_py`` takes ``Var(y_lo)`` from all ``n + N`` cheap samples; with heavy-tailed outputs that
    ratio of covariances from different samples swings with the pairs' spread and is correlated
    with ``mean(y_lo_paired)``, which biases ``θ̂`` and shortens the interval; the comparison is in
    docs/coverage.md.) Compared with :func:`mfmc_mean`, the clip forbids
    ``λ > 1``, which a cheap model with a too-small slope would want. Estimating ``λ̂`` from the pairs
    adds an ``O(1/n)`` bias, negligible next to the standard error.

    Parameters
    ----------
    y_hi : (n,) array_like of float
        Expensive-model QoI, ``n >= 3``.
    y_lo_paired : (n,) array_like of float
        Cheap-model QoI at the same inputs as ``y_hi``.
    y_lo_extra : (N,) array_like of float
        Cheap-model QoI at independent inputs, ``N >= 2``.
    level : float
        Confidence level in (0, 1).
    tuned : bool
        ``True``: PPI++ with ``λ̂`` as above; ``False``: plain PPI, ``λ = 1``.

    Returns
    -------
    Estimate
        ``method="ppi++"`` or ``"ppi"``, ``n = n``; ``extra={"lambda", "se", "se_plugin", "df",
        "variance_reduction", "n_hi", "n_lo", "note"}``, ``variance_reduction = (Var(y_hi)/n) / se²``,
        ``n_lo = n + N``.

    Raises
    ------
    ValueError
        Bad samples, unequal pair lengths, ``level`` outside (0, 1).
    """
    lv = _check_level(level)
    yh, yp, ye = _paired(y_hi, y_lo_paired, y_lo_extra, min_pairs=3)
    n, n_extra = yh.size, ye.size
    if tuned:
        cov, _, var_lo = _cov_var(yh, yp)
        lam = cov / ((1.0 + n / n_extra) * var_lo) if var_lo > 0 else 0.0
        lam = min(max(lam, 0.0), 1.0)
    else:
        lam = 1.0
    rect = yh - lam * yp
    value = float(lam * ye.mean() + rect.mean())
    var_plugin = lam**2 * float(ye.var(ddof=1)) / n_extra + float(rect.var(ddof=1)) / n
    var = var_plugin
    if tuned:
        # jackknife over the pairs with λ re-estimated each time (see the docstring); for a fixed λ
        # it is exactly Var(rect)/n, so plain PPI keeps the closed form
        mh_i, ml_i, cov_i, vl_i = _leave_one_out(yh, yp)
        lam_i = np.divide(cov_i, (1.0 + (n - 1) / n_extra) * vl_i, out=np.zeros_like(cov_i), where=vl_i > 0)
        lam_i = np.clip(lam_i, 0.0, 1.0)
        var = _jackknife_var(lam_i * ye.mean() + mh_i - lam_i * ml_i) + lam**2 * float(ye.var(ddof=1)) / n_extra
    se = math.sqrt(var)
    df = n - 2 if tuned else n - 1  # one degree of freedom per estimated coefficient (λ̂, the mean)
    t = float(stats.t.ppf(0.5 + 0.5 * lv, df))
    var_classical = float(yh.var(ddof=1)) / n
    reduction = var_classical / var if var > 0 else math.inf
    return Estimate(value, value - t * se, value + t * se, "ppi++" if tuned else "ppi", n,
                    {"lambda": lam, "se": se, "se_plugin": math.sqrt(var_plugin), "df": df,
                     "variance_reduction": reduction, "n_hi": n, "n_lo": n + n_extra,
                     "note": _cochran_note(rect, lv) or _cochran_note(yh, lv)}, se=se)


def _count_le(sorted_a: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """``#{a_i <= θ}`` for each θ (``sorted_a`` ascending)."""
    return np.searchsorted(sorted_a, theta, side="right")


def ppi_quantile(y_hi, y_lo_paired, y_lo_extra, q: float, *, level: float = 0.95, grid=None) -> Estimate:
    """Prediction-powered inference for the ``q``-quantile of ``Y_hi``.

    Following Angelopoulos et al. (2023, Science 382:669, quantile estimation), the rectified CDF
    at a candidate ``θ`` is::

        F̂(θ) = mean_N(1[y_lo_extra <= θ]) + mean_n(1[y_hi <= θ] - 1[y_lo_paired <= θ])

    an unbiased estimate of ``P(Y_hi <= θ)`` whatever the cheap model's bias. The two means are
    independent, so ``se(θ)² = Var(1[y_lo_extra <= θ])/N + Var(d)/n`` with
    ``d = 1[y_hi <= θ] - 1[y_lo_paired <= θ]``, and the confidence set is
    ``C = {θ : |F̂(θ) - q| <= z_{(1+level)/2} se(θ)}`` (normal approximation, the test of
    ``F_hi(θ) = q`` inverted). ``Var(d)`` is its sample value (ddof = 1), floored at
    ``|μ₀|(1 - |μ₀|)`` with ``μ₀ = q - F̂_lo(θ)`` the rectifier's mean under that null (the variance
    of a one-signed ``d`` with that mean; the same idea as the Wilson interval's null variance):
    near a tail quantile a biased cheap model makes ``d`` non-zero for only a few of the ``n``
    pairs, often none, and the sample variance alone then collapsed the interval (measured in
    docs/coverage.md). The interval returned is
    ``[min C, sup C]``, the hull of ``C`` (``C`` need not be an interval since ``F̂`` is not
    monotone, so the hull is conservative), and the
    point estimate is the smallest grid ``θ`` with ``F̂(θ) >= q`` (where ``F̂`` crosses ``q``; the
    inverse-CDF definition, Hyndman & Fan type 1). Plain PPI (``λ = 1``): no power tuning.

    Grid: by default the pooled sample ``y_hi ∪ y_lo_paired ∪ y_lo_extra`` (sorted, unique). ``F̂``
    and ``se`` are right-continuous step functions that jump only there, so ``C`` is a union of
    intervals ``[g_i, g_{i+1})`` and the default grid gives the exact hull: the upper bound is the
    grid point *after* the last member of ``C``, and ``+inf`` where ``C`` holds the largest sample
    (``F̂ = 1`` beyond it); the lower bound is ``-inf`` where ``F̂ = 0`` (below every sample) is in
    ``C``. With the null-variance floor, there ``se² = q(1-q)/n``, so both happen at about the ``n``
    where the order-statistic interval of :func:`quantile_ci` is open too (for ``q = 0.95`` at 95 %:
    ``n <= 73`` here, ``n <= 71`` there): the expensive samples alone cannot rule out that the
    quantile lies beyond them, and PPI, valid whatever the cheap model, does not let the cheap
    samples decide that. With a user ``grid`` the bounds are the smallest and largest grid members
    of ``C`` (resolution-limited); a side where ``C`` reaches the edge of the grid is returned as
    ``-inf``/``+inf`` (``extra["open"]``), since ``C`` may extend past it.
    Cost ``O((G + n + N) log(n + N))`` for ``G`` grid points (counts by ``np.searchsorted``).

    Parameters
    ----------
    y_hi : (n,) array_like of float
        Expensive-model QoI, ``n >= 2``.
    y_lo_paired : (n,) array_like of float
        Cheap-model QoI at the same inputs as ``y_hi``.
    y_lo_extra : (N,) array_like of float
        Cheap-model QoI at independent inputs, ``N >= 2``.
    q : float
        Probability level of the quantile, in (0, 1).
    level : float
        Confidence level in (0, 1).
    grid : (G,) array_like of float, optional
        Candidate ``θ`` values (finite; sorted and de-duplicated here). Default: the pooled sample.

    Returns
    -------
    Estimate
        ``method="ppi-quantile"``, ``n = n``; ``extra={"q", "se_at_value", "n_hi", "n_lo", "grid",
        "set_is_interval", "open", "note"}``.

    Raises
    ------
    ValueError
        Bad samples, unequal pair lengths, ``q`` or ``level`` outside (0, 1), a bad ``grid`` or one
        on which ``F̂`` never reaches ``q``.
    """
    qv = _check_q(q)
    lv = _check_level(level)
    yh, yp, ye = _paired(y_hi, y_lo_paired, y_lo_extra)
    n, n_extra = yh.size, ye.size
    if grid is None:
        g = np.unique(np.concatenate([yh, yp, ye]))
        grid_name = "pooled order statistics (exact)"
    else:
        g = np.unique(_sample(grid, "grid", min_n=1))
        grid_name = f"user ({g.size} points)"

    c_e = _count_le(np.sort(ye), g)
    c_h = _count_le(np.sort(yh), g)
    c_p = _count_le(np.sort(yp), g)
    c_both = _count_le(np.sort(np.maximum(yh, yp)), g)  # 1[y_hi <= θ] · 1[y_lo_paired <= θ]
    a_e = c_e / n_extra
    d_mean = (c_h - c_p) / n
    d_sq = (c_h + c_p - 2 * c_both) / n  # mean of (1[y_hi<=θ] - 1[y_lo<=θ])², the difference being 0 or ±1
    var_e = a_e * (1.0 - a_e) * n_extra / (n_extra - 1)
    var_d = np.maximum(d_sq - d_mean**2, 0.0) * n / (n - 1)
    # floor from the tested null F_hi(θ) = q (see the docstring): the rectifier then has mean
    # mu0 = q - F_lo(θ), so P(d != 0) >= |mu0| and Var d >= |mu0| (1 - |mu0|) when d has one sign
    mu0 = qv - a_e
    var_d = np.maximum(var_d, np.abs(mu0) * (1.0 - np.abs(mu0)))
    se = np.sqrt(var_e / n_extra + var_d / n)
    f_hat = a_e + d_mean

    reach = np.flatnonzero(f_hat >= qv)
    if reach.size == 0:
        raise ValueError(f"grid reaches only F̂ = {f_hat.max():.3g} < q={qv}: extend it above {g[-1]:.6g} "
                         f"(or pass grid=None for the pooled sample)")
    j = int(reach[0])
    value = float(g[j])
    z = _z(lv)
    inside = np.flatnonzero(np.abs(f_hat - qv) <= z * se)
    note = ""
    side = None
    if inside.size == 0:
        # F̂ jumps over q with a tiny se: keep the step where it crosses
        lo_i, hi_i = max(j - 1, 0), j
        lower, upper = float(g[lo_i]), float(g[hi_i])
        note = "confidence set empty on the grid; interval is the grid step where F̂ crosses q"
        is_interval = False
    else:
        lo_i, hi_i = int(inside[0]), int(inside[-1])
        is_interval = bool(inside.size == hi_i - lo_i + 1)
        lower = float(g[lo_i])
        if grid is None:
            # F̂ and se are constant on [g_hi, g_hi+1): the set's supremum is the next jump point;
            # past the largest sample F̂ = 1 for ever, and below the smallest F̂ = 0 (se² = q(1-q)/n
            # under the null there), so the set is unbounded on a side where those are in it
            open_hi = hi_i == g.size - 1
            open_lo = qv <= z * math.sqrt(qv * (1.0 - qv) / n)
            upper = math.inf if open_hi else float(g[hi_i + 1])
            if open_lo:
                lower = -math.inf
            side = {(False, False): None, (True, False): "lower", (False, True): "upper",
                    (True, True): "both"}[(open_lo, open_hi)]
            if side is not None:
                note = (f"n={n} expensive samples cannot bound the {side} side of the {qv:g}-quantile at "
                        f"{lv:.0%} whatever the cheap samples say (as for the order-statistic interval); "
                        f"that bound is infinite")
        else:
            upper = float(g[hi_i])
            open_lo, open_hi = lo_i == 0, hi_i == g.size - 1
            if open_lo:
                lower = -math.inf
            if open_hi:
                upper = math.inf
            side = {(False, False): None, (True, False): "lower", (False, True): "upper",
                    (True, True): "both"}[(open_lo, open_hi)]
            if side is not None:
                note = f"confidence set reaches the {side} end of the grid; widen the grid to bound it"
    return Estimate(value, lower, upper, "ppi-quantile", n,
                    {"q": qv, "se_at_value": float(se[j]), "n_hi": n, "n_lo": n + n_extra, "grid": grid_name,
                     "set_is_interval": is_interval, "open": side, "note": note})
