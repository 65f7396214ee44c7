"""Validation of the cheap chain against full-model runs: comparison, multi-fidelity estimates that
stay valid whatever the chain's bias, and the saving at equal accuracy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..physics.qoi import QOI_SPECS, qoi_specs
from .driver import MonteCarloError
from .statistics import qoi_statistics

__all__ = ["Validation", "combined_estimates", "compare_with_reference", "equal_accuracy", "format_target",
           "validate_against_reference"]


_COMPARED = ("mean", "std", "q05", "q50", "q95")


def compare_with_reference(samples, reference, *, level: float = 0.95):
    """Monte Carlo statistics against a full-model reference campaign, per QoI and statistic.

    Both are estimated with their confidence intervals (:func:`qoi_statistics`); the difference is
    expressed in units of the combined standard error ``sqrt(se_mc² + se_ref²)`` with each se the
    estimator's own (``qoi_statistics``' ``standard_error``: never a CI half-width / z, which is
    wrong for the asymmetric quantile and std intervals and infinite for open ones), and the
    intervals' overlap is reported. A two-sample KS test per QoI compares the distributions.

    Returns
    -------
    xarray.Dataset with ``reference``, ``estimate`` (qoi, statistic, bound), ``reference_se``,
    ``estimate_se``, ``difference_in_se``, ``overlap`` (qoi, statistic), ``ks_statistic``,
    ``ks_pvalue`` (qoi); attrs ``coverage_note_reference_<qoi>`` and ``coverage_note_estimate_<qoi>``
    where ``n`` is too small for the level.
    """
    import xarray as xr
    from scipy import stats

    qois = [f"qoi_{s.name}" for s in QOI_SPECS if f"qoi_{s.name}" in reference and f"qoi_{s.name}" in samples]
    ref_ds = qoi_statistics(reference[qois], level=level)
    est_ds = qoi_statistics(samples[qois], level=level)
    ref = ref_ds["estimate"].sel(statistic=list(_COMPARED))
    est = est_ds["estimate"].sel(statistic=list(_COMPARED))
    ref_se = ref_ds["standard_error"].sel(statistic=list(_COMPARED))
    est_se = est_ds["standard_error"].sel(statistic=list(_COMPARED))

    diff = (est.sel(bound="value") - ref.sel(bound="value")) / np.sqrt(est_se**2 + ref_se**2)
    overlap = (est.sel(bound="lower") <= ref.sel(bound="upper")) & (ref.sel(bound="lower") <= est.sel(bound="upper"))
    ks = [stats.ks_2samp(samples[q].values, reference[q].values) for q in qois]
    out = xr.Dataset({"reference": ref, "estimate": est, "reference_se": ref_se, "estimate_se": est_se,
                      "difference_in_se": diff, "overlap": overlap,
                      "ks_statistic": ("qoi", [k.statistic for k in ks]),
                      "ks_pvalue": ("qoi", [k.pvalue for k in ks])})
    out.attrs.update({"confidence_level": level, "n_reference": int(reference.sizes["sample"]),
                      "n_estimate": int(samples.sizes["sample"])})
    for q in qois:
        out.attrs[f"coverage_note_reference_{q}"] = ref_ds.attrs.get(f"coverage_note_{q}", "")
        out.attrs[f"coverage_note_estimate_{q}"] = est_ds.attrs.get(f"coverage_note_{q}", "")
    return out


def equal_accuracy(validation, *, cost_ratio: float, targets=(0.02, 0.05, 0.1, 0.2, 0.5), speedup: float = 20.0):
    """What the cheap chain saves at equal accuracy of each QoI's mean, from a validation against
    full-model references (:func:`compare_with_reference`).

    A full-model Monte Carlo reaches a relative CI half-width ``h`` (at the validation's level, z)
    with ``N_f = (z v_f / h)²`` runs, ``v_f`` the QoI's coefficient of variation (``v_c`` the cheap
    chain's standard deviation over the same full-model mean). The cheap chain
    carries a relative bias ``b``; its error is at most ``|b| + z v_c / √N_c``, so it reaches ``h``
    only if ``h > |b|``, with ``N_c = (z v_c / (h − |b|))²`` samples, and the saving at equal
    accuracy is ``cost_ratio · N_f / N_c = cost_ratio (v_f / v_c)² (1 − |b| / h)²``. It tends to
    ``cost_ratio`` for coarse targets and vanishes at ``h = |b|``: a biased chain is only cheaper for
    targets coarser than its bias. ``b`` is measured against the reference, with a standard error
    from both means' own standard errors (the validation's ``reference_se`` and ``estimate_se``);
    the conservative saving uses the upper end of ``|b|``'s interval, ``|b| + z se``.

    Parameters
    ----------
    validation : :func:`compare_with_reference`'s dataset (``mean`` and ``std`` statistics, with
        ``reference_se`` and ``estimate_se``)
    cost_ratio : full-model cost per sample / cheap-chain cost per sample (the benchmark's "cheaper")
    targets : relative CI half-widths of the mean at which to compare
    speedup : the saving to solve for: ``target_for_speedup`` is the finest target (smallest ``h``)
        at which the cheap chain is at least this many times cheaper

    Returns
    -------
    xarray.Dataset over ``qoi`` (``relative_bias``, ``relative_bias_se``, ``bias_bound``,
    ``target_for_speedup`` and ``_conservative``, ``full_runs_at_that_target`` and ``_conservative``)
    and (``qoi``, ``target``) (``full_runs``, ``saving``, ``saving_conservative``; 0 where the chain
    cannot reach the target).
    """
    import xarray as xr
    from scipy import stats

    level = float(validation.attrs.get("confidence_level", 0.95))
    z = stats.norm.ppf(0.5 + level / 2)
    ref, est = validation["reference"], validation["estimate"]

    def value(e, stat):
        return e.sel(statistic=stat, bound="value").values

    missing = [v for v in ("reference_se", "estimate_se") if v not in validation]
    if missing:
        raise MonteCarloError(f"validation lacks {missing}: pass compare_with_reference's dataset (the standard "
                              f"errors come from the estimators, not from the CI widths)")
    se_f = validation["reference_se"].sel(statistic="mean").values
    se_c = validation["estimate_se"].sel(statistic="mean").values

    m_f, m_c = value(ref, "mean"), value(est, "mean")
    v_f, v_c = value(ref, "std") / np.abs(m_f), value(est, "std") / np.abs(m_f)  # errors relative to the truth
    b = m_c / m_f - 1
    b_se = np.sqrt(se_c**2 + (m_c / m_f) ** 2 * se_f**2) / np.abs(m_f)  # delta method for a ratio
    bound = np.abs(b) + z * b_se
    h = np.asarray(targets, dtype=float)[None, :]

    def saving(bias):
        frac = np.clip(1 - bias[:, None] / h, 0, None)
        return cost_ratio * (v_f / v_c)[:, None] ** 2 * frac**2

    def finest(bias):  # cost_ratio (v_f/v_c)² (1 − |b|/h)² = speedup  ->  h = |b| / (1 − s)
        s_ = np.sqrt(speedup / (cost_ratio * (v_f / v_c) ** 2))
        return np.where(s_ < 1, bias / np.where(s_ < 1, 1 - s_, 1), np.inf)

    h_pt, h_cons = finest(np.abs(b)), finest(bound)
    with np.errstate(divide="ignore"):  # an unbiased chain saves the speedup at any target: infinitely many runs
        runs_pt, runs_cons = (z * v_f / h_pt) ** 2, (z * v_f / h_cons) ** 2
    ds = xr.Dataset(
        {"relative_bias": ("qoi", b), "relative_bias_se": ("qoi", b_se), "bias_bound": ("qoi", bound),
         "full_runs": (("qoi", "target"), (z * v_f[:, None] / h) ** 2),
         "saving": (("qoi", "target"), saving(np.abs(b))),
         "saving_conservative": (("qoi", "target"), saving(bound)),
         "target_for_speedup": ("qoi", h_pt), "target_for_speedup_conservative": ("qoi", h_cons),
         "full_runs_at_that_target": ("qoi", runs_pt), "full_runs_at_that_target_conservative": ("qoi", runs_cons)},
        coords={"qoi": validation["qoi"].values, "target": h[0]})
    ds["target"].attrs["long_name"] = "relative CI half-width of the mean"
    ds.attrs.update({"cost_ratio": float(cost_ratio), "speedup": float(speedup), "confidence_level": level,
                     "description": "saving of the cheap chain over a full-model Monte Carlo at equal accuracy of "
                                    "the mean (see uqgan.montecarlo.equal_accuracy)"})
    return ds


def format_target(h: float) -> str:
    """An :func:`equal_accuracy` target (``target_for_speedup``) for a report: ``±8%``, or ``never``
    where there is none (a chain whose spread is too wide, or whose cost ratio too small, is never
    that much cheaper at equal accuracy, whatever its bias)."""
    return f"±{h:.0%}" if np.isfinite(h) else "never"


def combined_estimates(reference, paired, extra, *, level: float = 0.95):
    """Estimates of the full model's QoI statistics that use the few full-model runs and many
    cheap samples and stay valid whatever the cheap chain's bias: multi-fidelity control variate
    (mean), PPI++ (mean) and PPI (quantiles), next to the full-model-only estimate.

    Parameters
    ----------
    reference : full-model QoIs (the expensive samples)
    paired : cheap-chain QoIs at the reference samples' parameters (:attr:`Validation.paired`)
    extra : further cheap-chain QoIs (a Monte Carlo run's samples)
    """
    import xarray as xr

    from ..stats.estimators import mean_ci, mfmc_mean, ppi_mean, ppi_quantile, quantile_ci

    qois = [f"qoi_{s.name}" for s in QOI_SPECS]
    methods = ["full-model only", "mfmc", "ppi++", "cheap only (biased?)"]
    stats_ = ["mean", "q05", "q50", "q95"]
    arr = np.full((len(qois), len(stats_), len(methods), 3), np.nan)
    se = np.full((len(qois), len(stats_), len(methods)), np.nan)
    reduction = np.full(len(qois), np.nan)
    notes = {}
    for i, q in enumerate(qois):
        y, yl, ye = reference[q].values, paired[q].values, extra[q].values
        rows = {("mean", 0): mean_ci(y, level=level), ("mean", 1): mfmc_mean(y, yl, ye, level=level),
                ("mean", 2): ppi_mean(y, yl, ye, level=level), ("mean", 3): mean_ci(ye, level=level)}
        for qq, name in ((0.05, "q05"), (0.5, "q50"), (0.95, "q95")):
            rows[(name, 0)] = quantile_ci(y, qq, level=level)
            rows[(name, 2)] = ppi_quantile(y, yl, ye, qq, level=level)
            rows[(name, 3)] = quantile_ci(ye, qq, level=level)
        for (stat, m), e in rows.items():
            arr[i, stats_.index(stat), m] = (e.value, e.lower, e.upper)
            se[i, stats_.index(stat), m] = e.se
        reduction[i] = rows[("mean", 1)].extra.get("variance_reduction", np.nan)
        notes[q] = "; ".join(f"{stat} {methods[m]}: {e.extra['note']}" for (stat, m), e in rows.items()
                             if e.extra.get("note"))
    # the dimension is "estimator": "method" would clash with the keyword of xarray's .sel
    ds = xr.Dataset({"estimate": (("qoi", "statistic", "estimator", "bound"), arr),
                     "standard_error": (("qoi", "statistic", "estimator"), se,
                                        {"long_name": "each estimator's own standard error (NaN for PPI "
                                                      "quantiles, whose interval inverts a test)"}),
                     "mfmc_variance_reduction": ("qoi", reduction, {"long_name": "variance of the full-model-only "
                                                                    "mean / variance of the MFMC mean"})},
                    coords={"qoi": qois, "statistic": stats_, "estimator": methods,
                            "bound": ["value", "lower", "upper"]})
    ds.attrs.update({"confidence_level": level, "n_full": int(reference.sizes["sample"]),
                     "n_cheap_extra": int(extra.sizes["sample"])})
    for q, note in notes.items():
        ds.attrs[f"coverage_note_{q}"] = note
    return ds


@dataclass(frozen=True)
class Validation:
    """A Monte Carlo run checked against full-model runs that training never saw.

    Attributes
    ----------
    comparison
        :func:`compare_with_reference`'s dataset: Monte Carlo vs reference statistics.
    paired
        The chain's QoIs at the reference runs' own parameters (one per reference sample).
    combined
        :func:`combined_estimates`'s dataset: full-model-only, MFMC, PPI++ and cheap-only estimates.
    """

    comparison: object
    paired: object
    combined: object

    @property
    def report(self):
        """``comparison`` and ``combined`` (as ``combined_estimate``) in one dataset, as written to disk."""
        return self.comparison.merge(self.combined.rename({"estimate": "combined_estimate"}), join="outer")


def validate_against_reference(chain, samples, reference, *, seed: int = 0, batch: int = 256,
                               level: float = 0.95) -> Validation:
    """Validate a Monte Carlo run of ``chain`` against a full-model reference campaign.

    The chain draws one QoI set at each reference run's own parameters (its randomness from
    ``SeedSequence(seed, spawn_key=(4,))``, apart from every Monte Carlo chunk's), the pairs the
    multi-fidelity estimators need; the Monte Carlo ``samples`` are the extra cheap samples.

    Parameters
    ----------
    chain : :class:`~uqgan.montecarlo.chain.CheapChain`
    samples : the Monte Carlo run's per-sample QoIs (:attr:`MonteCarloResult.samples`)
    reference : a full-model campaign over the case's ranges (``qoi_*`` and the parameters)
    seed, batch : the paired draws' seed and the submodel's batch size
    level : confidence level of every interval
    """
    import xarray as xr

    params = {n: reference[n].values for n in chain.case.parameter_names}
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(4,)))
    q = chain.qois(params, n=1, rng=rng, batch_size=batch)
    paired = xr.Dataset({f"qoi_{s.name}": ("sample", q[s.name], {"units": s.units, "role": "qoi"})
                         for s in qoi_specs(chain.case.geometry.dimension)},
                        coords={"sample": reference["sample"].values})
    return Validation(comparison=compare_with_reference(samples, reference, level=level), paired=paired,
                      combined=combined_estimates(reference, paired, samples, level=level))
