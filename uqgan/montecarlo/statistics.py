"""Statistics of Monte Carlo QoI samples with confidence intervals, as xarray objects."""

from __future__ import annotations

import numpy as np

from ..data.dataset import variables_with_role

__all__ = ["QUANTILES", "convergence", "qoi_statistics"]

#: the quantiles every Monte Carlo reports
QUANTILES = (0.05, 0.5, 0.95, 0.99)


def qoi_statistics(samples, *, thresholds: dict[str, list[float]] | None = None, level: float = 0.95):
    """Statistics of each QoI with confidence intervals, as an xarray Dataset.

    Parameters
    ----------
    samples : xarray.Dataset with ``qoi_<name>(sample)`` variables (attrs ``role="qoi"``)
    thresholds : QoI name -> thresholds for exceedance probabilities P(QoI > t)
    level : confidence level of every interval

    Returns
    -------
    xarray.Dataset ``estimate(qoi, statistic, bound)`` with ``bound`` in (value, lower, upper) and
    ``statistic`` in mean, std, q05, q50, q95, q99 and ``p_exceed_<i>``; ``standard_error(qoi,
    statistic)``, each estimator's own standard error (:attr:`uqgan.stats.estimators.Estimate.se`); attrs
    give each method, and ``coverage_note_<qoi>`` says where ``n`` is too small for the level on
    that QoI's sample (empty when none; docs/coverage.md).
    """
    import xarray as xr

    from ..stats.estimators import mean_ci, probability_ci, quantile_ci, std_ci

    qois = variables_with_role(samples, "qoi")
    thresholds = thresholds or {}
    n_thr = max((len(v) for v in thresholds.values()), default=0)
    stats = ["mean", "std"] + [f"q{round(100 * q):02d}" for q in QUANTILES] + [f"p_exceed_{i}" for i in range(n_thr)]
    arr = np.full((len(qois), len(stats), 3), np.nan)
    se = np.full((len(qois), len(stats)), np.nan)
    thr_arr = np.full((len(qois), n_thr), np.nan)
    notes = {}
    for i, name in enumerate(qois):
        x = samples[name].values
        ests = [mean_ci(x, level=level), std_ci(x, level=level)] + [quantile_ci(x, q, level=level) for q in QUANTILES]
        for j, t in enumerate(thresholds.get(name.removeprefix("qoi_"), [])):
            thr_arr[i, j] = t
            ests.append(probability_ci(x, t, level=level))
        for j, e in enumerate(ests):
            arr[i, j] = (e.value, e.lower, e.upper)
            se[i, j] = e.se
        notes[name] = "; ".join(f"{stats[j]}: {e.extra['note']}" for j, e in enumerate(ests[:2]) if e.extra.get("note"))
    ds = xr.Dataset({"estimate": (("qoi", "statistic", "bound"), arr),
                     "standard_error": (("qoi", "statistic"), se),
                     "threshold": (("qoi", "threshold_index"), thr_arr)},
                    coords={"qoi": qois, "statistic": stats, "bound": ["value", "lower", "upper"]})
    ds["estimate"].attrs.update({
        "long_name": "QoI statistics with confidence intervals", "confidence_level": level,
        "methods": "mean: Student t with Hall's skewness correction; std: Bonett's kurtosis-adjusted interval "
                   "(no normality assumed); quantiles: "
                   "binomial order statistics (distribution-free, conservative; open where n is too small); "
                   "exceedance probabilities: Wilson score; coverage measured in docs/coverage.md"})
    ds["standard_error"].attrs.update({
        "long_name": "standard error of each statistic, from its estimator (not from the CI width)",
        "methods": "mean: s/sqrt(n); std: delta method with the estimated kurtosis (Bonett 2006); quantiles: "
                   "Maritz-Jarrett; exceedance probabilities: sqrt(p(1-p)/n)"})
    for name, note in notes.items():
        ds.attrs[f"coverage_note_{name}"] = note
    for name in qois:
        if "units" in samples[name].attrs:
            ds.attrs[f"units_{name}"] = samples[name].attrs["units"]
    ds.attrs["n_samples"] = int(samples.sizes["sample"])
    return ds


def convergence(samples, level: float):
    import xarray as xr
    from scipy import stats

    qois = variables_with_role(samples, "qoi")
    n = samples.sizes["sample"]
    ns = np.unique(np.clip(np.round(np.geomspace(2, n, min(60, n))).astype(int), 2, n))
    mean = np.empty((len(qois), ns.size))
    half = np.empty_like(mean)
    for i, q in enumerate(qois):
        x = samples[q].values
        for j, k in enumerate(ns):
            mean[i, j] = x[:k].mean()
            half[i, j] = stats.t.ppf(0.5 + level / 2, k - 1) * x[:k].std(ddof=1) / np.sqrt(k)
    return xr.Dataset({"running_mean": (("qoi", "n"), mean), "halfwidth": (("qoi", "n"), half)},
                      coords={"qoi": qois, "n": ns})
