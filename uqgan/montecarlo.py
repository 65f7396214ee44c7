"""Monte Carlo of zone QoIs: parameters from the case's ranges, boundary histories from a
generator, the submodel, and statistics with confidence intervals.

Resumable like a campaign: samples are computed in chunks, each written atomically to
``DIR/chunks/chunk_000123.nc``; a rerun with the same seed continues where it stopped and gives
the same numbers (chunk c's parameters and generator draws come from its own random stream).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__
from .config import CaseConfig, case_from_toml, case_to_toml
from .qoi import QOI_SPECS

__all__ = ["MonteCarloError", "combined_estimates", "compare_with_reference", "equal_accuracy", "format_target",
           "paired_cheap_qois", "qoi_statistics", "run_montecarlo"]

logger = logging.getLogger(__name__)

QUANTILES = (0.05, 0.5, 0.95, 0.99)


class MonteCarloError(ValueError):
    """A Monte Carlo run cannot go on as asked; the message names the problem."""


def _chunk_path(directory: Path, c: int) -> Path:
    return directory / "chunks" / f"chunk_{c:06d}.nc"


def _chunk_rng(seed: int, chunk: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(3, chunk)))


def model_fingerprint(model_dir: str | Path) -> str:
    """SHA-256 of a saved generator's files (``config.json``, ``arrays.npz``, ``model.pt``): a resumed
    Monte Carlo refuses chunks drawn from a model that was retrained in the same directory."""
    import hashlib

    h = hashlib.sha256()
    for name in ("config.json", "arrays.npz", "model.pt"):
        f = Path(model_dir) / name
        if f.is_file():
            h.update(name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def qoi_statistics(samples, *, thresholds: dict[str, list[float]] | None = None, level: float = 0.95):
    """Statistics of each QoI with confidence intervals, as an xarray Dataset.

    Parameters
    ----------
    samples : xarray.Dataset with ``qoi_<name>(sample)`` variables
    thresholds : QoI name -> thresholds for exceedance probabilities P(QoI > t)
    level : confidence level of every interval

    Returns
    -------
    xarray.Dataset ``estimate(qoi, statistic, bound)`` with ``bound`` in (value, lower, upper) and
    ``statistic`` in mean, std, q05, q50, q95, q99 and ``p_exceed_<i>``; attrs give each method.
    """
    import xarray as xr

    from .estimators import mean_ci, probability_ci, quantile_ci, std_ci

    qois = [str(v) for v in samples.data_vars if str(v).startswith("qoi_")]
    thresholds = thresholds or {}
    n_thr = max((len(v) for v in thresholds.values()), default=0)
    stats = ["mean", "std"] + [f"q{round(100 * q):02d}" for q in QUANTILES] + [f"p_exceed_{i}" for i in range(n_thr)]
    arr = np.full((len(qois), len(stats), 3), np.nan)
    thr_arr = np.full((len(qois), n_thr), np.nan)
    for i, name in enumerate(qois):
        x = samples[name].values
        ests = [mean_ci(x, level=level), std_ci(x, level=level)] + [quantile_ci(x, q, level=level) for q in QUANTILES]
        for j, t in enumerate(thresholds.get(name.removeprefix("qoi_"), [])):
            thr_arr[i, j] = t
            ests.append(probability_ci(x, t, level=level))
        for j, e in enumerate(ests):
            arr[i, j] = (e.value, e.lower, e.upper)
    ds = xr.Dataset({"estimate": (("qoi", "statistic", "bound"), arr),
                     "threshold": (("qoi", "threshold_index"), thr_arr)},
                    coords={"qoi": qois, "statistic": stats, "bound": ["value", "lower", "upper"]})
    ds["estimate"].attrs.update({
        "long_name": "QoI statistics with confidence intervals", "confidence_level": level,
        "methods": "mean: Student t; std: chi-square (normal theory); quantiles: binomial order statistics "
                   "(distribution-free); exceedance probabilities: Wilson score"})
    for name in qois:
        spec = next((s for s in QOI_SPECS if f"qoi_{s.name}" == name), None)
        if spec is not None:
            ds.attrs[f"units_{name}"] = spec.units
    ds.attrs["n_samples"] = int(samples.sizes["sample"])
    return ds


@dataclass
class MonteCarloResult:
    samples: object  # xarray.Dataset of per-sample QoIs and parameters
    statistics: object  # xarray.Dataset from qoi_statistics
    convergence: object  # xarray.Dataset: running mean and CI half-width vs n
    elapsed_s: float
    n_computed: int
    #: generator + submodel cost per sample [s], from the chunks' recorded compute times (also those
    #: computed by an earlier, resumed run); NaN when no chunk recorded one
    seconds_per_sample: float = float("nan")


def _convergence(samples, level: float):
    import xarray as xr
    from scipy import stats

    qois = [str(v) for v in samples.data_vars if str(v).startswith("qoi_")]
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


def run_montecarlo(case: CaseConfig, model_dir: str | Path, directory: str | Path, *, n_samples: int,
                   batch: int = 256, seed: int = 0, target_halfwidth: float | None = None,
                   thresholds: dict[str, list[float]] | None = None, level: float = 0.95,
                   show_progress: bool = True) -> MonteCarloResult:
    """Monte Carlo of the zone QoIs with a trained generator and the submodel.

    Parameters
    ----------
    case : the case (parameter ranges, zone, material)
    model_dir : a generator saved by ``uqgan train``
    directory : where chunks, the manifest and the results go (resumable)
    n_samples : total samples (upper bound when ``target_halfwidth`` is set)
    batch : samples per chunk (one generator draw and one batched submodel solve)
    seed : seeds every chunk's parameters and generator draws
    target_halfwidth : stop once every QoI mean's CI half-width relative to the mean is below it
    thresholds : QoI name (without ``qoi_``) -> thresholds for exceedance probabilities; default:
        the case's ``[thresholds]``
    """
    import xarray as xr

    from .dataset import write_atomic
    from .design import scale_to_ranges
    from .fem.submodel import SubModel
    from .generators import load_generator

    if n_samples < 2:
        raise MonteCarloError(f"n_samples={n_samples}: must be >= 2")
    if batch < 1:
        raise MonteCarloError(f"batch={batch}: must be >= 1")
    if target_halfwidth is not None and not target_halfwidth > 0:
        raise MonteCarloError(f"target_halfwidth={target_halfwidth}: must be > 0 (a relative half-width, e.g. 0.01)")
    t0 = time.perf_counter()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {"case_toml": case_to_toml(case), "model_dir": str(Path(model_dir).resolve()), "seed": seed,
                "batch": batch, "uqgan_version": __version__, "model_sha256": model_fingerprint(model_dir)}
    mpath = directory / "manifest.json"
    if mpath.exists():
        old = json.loads(mpath.read_text())
        if case_from_toml(old["case_toml"]) != case or old["seed"] != seed or old["batch"] != batch \
                or old["model_dir"] != manifest["model_dir"]:
            raise MonteCarloError(f"{directory} holds a Monte Carlo run with another case, model, seed or batch; "
                                  "nothing was changed: use a new --out directory")
        if old.get("model_sha256", manifest["model_sha256"]) != manifest["model_sha256"]:
            raise MonteCarloError(f"{directory} holds a Monte Carlo run with an earlier model trained in "
                                  f"{model_dir} (it has been retrained since); nothing was changed: use a new "
                                  "--out directory")
    else:
        write_atomic(mpath, lambda tmp: tmp.write_text(json.dumps(manifest, indent=2)))
    gen = load_generator(model_dir)
    sub = None
    names = list(type(case.parameters).model_fields)
    ranges = {n: (getattr(case.parameters, n).low, getattr(case.parameters, n).high) for n in names}
    for j, n_ in enumerate(gen.prep.parameter_names):  # the amplitude is an exact scale: any range is fine
        lo, hi = ranges.get(n_, (gen.prep.low[j], gen.prep.high[j]))
        tol = 1e-9 * max(abs(gen.prep.high[j]), abs(gen.prep.low[j]), 1e-300)
        if lo < gen.prep.low[j] - tol or hi > gen.prep.high[j] + tol:
            raise MonteCarloError(f"parameters.{n_}: the case samples [{lo:.6g}, {hi:.6g}] but the generator in "
                                  f"{model_dir} was trained on [{gen.prep.low[j]:.6g}, {gen.prep.high[j]:.6g}]; "
                                  "narrow the case's range or train on data that covers it")
    n_chunks = -(-n_samples // batch)
    parts, computed, timed_s, timed_n = [], 0, 0.0, 0
    from tqdm.auto import tqdm

    for c in tqdm(range(n_chunks), desc="Monte Carlo chunks", disable=not show_progress):
        path = _chunk_path(directory, c)
        if path.exists():
            with xr.open_dataset(path, engine="h5netcdf") as ds:
                parts.append(ds.load())
            if "compute_seconds" in parts[-1].attrs:
                timed_s += float(parts[-1].attrs["compute_seconds"])
                timed_n += parts[-1].sizes["sample"]
        else:
            t_chunk = time.perf_counter()
            size = min(batch, n_samples - c * batch)
            rng = _chunk_rng(seed, c)
            params = scale_to_ranges(rng.random((size, len(names))), ranges)
            bcs = gen.sample(params, 1, rng=rng)
            if sub is None:
                sub = SubModel(case)
            node_z = bcs["node_z"].values if "node_z" in bcs.coords else None
            res = sub.solve(bcs["u_bc"].values, bcs["time"].values, node_x=bcs["node_x"].values,
                            node_y=bcs["node_y"].values, node_z=node_z, batch_size=size)
            data = {f"qoi_{s.name}": ("sample", res[s.name], {"units": s.units, "long_name": s.long_name,
                                                             "role": "qoi"}) for s in QOI_SPECS}
            for n_ in names:
                data[n_] = ("sample", params[n_], {"role": "parameter"})
            ds = xr.Dataset(data, coords={"sample": np.arange(c * batch, c * batch + size)})
            ds.attrs["compute_seconds"] = time.perf_counter() - t_chunk  # generator + submodel, this chunk
            timed_s, timed_n = timed_s + ds.attrs["compute_seconds"], timed_n + size
            write_atomic(path, lambda tmp, d=ds: d.to_netcdf(tmp, engine="h5netcdf"))
            parts.append(ds)
            computed += size
        if target_halfwidth is not None and len(parts) >= 2:  # at least 2 batches before judging
            done = xr.concat(parts, dim="sample")
            st = qoi_statistics(done, level=level)["estimate"].sel(statistic="mean")
            rel = (st.sel(bound="upper") - st.sel(bound="lower")) / 2 / np.abs(st.sel(bound="value"))
            if float(rel.max()) < target_halfwidth:
                logger.info("every mean's CI half-width is below %.3g of the mean after %d samples",
                            target_halfwidth, done.sizes["sample"])
                break
    samples = xr.concat(parts, dim="sample")
    if thresholds is None:
        thresholds = case.thresholds.by_qoi()
    stats_ds = qoi_statistics(samples, thresholds=thresholds, level=level)
    conv = _convergence(samples, level)
    for d in (samples, stats_ds, conv):
        d.attrs.update({"case_toml": case_to_toml(case), "generator": gen.name, "seed": seed,
                        "uqgan_version": __version__})
    samples.attrs.pop("compute_seconds", None)  # a chunk's, not the whole run's
    return MonteCarloResult(samples=samples, statistics=stats_ds, convergence=conv,
                            elapsed_s=time.perf_counter() - t0, n_computed=computed,
                            seconds_per_sample=timed_s / timed_n if timed_n else float("nan"))


# ------------------------------------------------------------------------------------------------
# validation against full-model references, and estimators that use them


_COMPARED = ("mean", "std", "q05", "q50", "q95")


def compare_with_reference(samples, reference, *, level: float = 0.95):
    """Monte Carlo statistics against a full-model reference campaign, per QoI and statistic.

    Both are estimated with their confidence intervals (:func:`qoi_statistics`); the difference is
    expressed in units of the combined standard error ``sqrt(se_mc² + se_ref²)`` with each se taken
    as the CI half-width / z, and the intervals' overlap is reported. A two-sample KS test per QoI
    compares the distributions.

    Returns
    -------
    xarray.Dataset with ``reference``, ``estimate`` (qoi, statistic, bound), ``difference_in_se``,
    ``overlap`` (qoi, statistic), ``ks_statistic``, ``ks_pvalue`` (qoi).
    """
    import xarray as xr
    from scipy import stats

    qois = [f"qoi_{s.name}" for s in QOI_SPECS if f"qoi_{s.name}" in reference and f"qoi_{s.name}" in samples]
    ref = qoi_statistics(reference[qois], level=level)["estimate"].sel(statistic=list(_COMPARED))
    est = qoi_statistics(samples[qois], level=level)["estimate"].sel(statistic=list(_COMPARED))
    z = stats.norm.ppf(0.5 + level / 2)

    def se(e):
        return (e.sel(bound="upper") - e.sel(bound="lower")) / (2 * z)

    diff = (est.sel(bound="value") - ref.sel(bound="value")) / np.sqrt(se(est) ** 2 + se(ref) ** 2)
    overlap = (est.sel(bound="lower") <= ref.sel(bound="upper")) & (ref.sel(bound="lower") <= est.sel(bound="upper"))
    ks = [stats.ks_2samp(samples[q].values, reference[q].values) for q in qois]
    out = xr.Dataset({"reference": ref, "estimate": est, "difference_in_se": diff, "overlap": overlap,
                      "ks_statistic": ("qoi", [k.statistic for k in ks]),
                      "ks_pvalue": ("qoi", [k.pvalue for k in ks])})
    out.attrs.update({"confidence_level": level, "n_reference": int(reference.sizes["sample"]),
                      "n_estimate": int(samples.sizes["sample"])})
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
    from both CIs; the conservative saving uses the upper end of ``|b|``'s interval, ``|b| + z se``.

    Parameters
    ----------
    validation : :func:`compare_with_reference`'s dataset (``mean`` and ``std`` statistics)
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

    def se(e):
        m = e.sel(statistic="mean")
        return (m.sel(bound="upper") - m.sel(bound="lower")).values / (2 * z)

    m_f, m_c = value(ref, "mean"), value(est, "mean")
    v_f, v_c = value(ref, "std") / np.abs(m_f), value(est, "std") / np.abs(m_f)  # errors relative to the truth
    b = m_c / m_f - 1
    b_se = np.sqrt(se(est) ** 2 + (m_c / m_f) ** 2 * se(ref) ** 2) / np.abs(m_f)  # delta method for a ratio
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


def paired_cheap_qois(case: CaseConfig, model_dir, reference, *, seed: int = 0, batch: int = 256):
    """The cheap chain (generator + submodel) at the reference runs' own parameters: one QoI set
    per reference sample, for the multi-fidelity estimators."""
    import xarray as xr

    from .fem.submodel import SubModel
    from .generators import load_generator

    gen = load_generator(model_dir)
    names = list(type(case.parameters).model_fields)
    params = {n: reference[n].values for n in names}
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(4,)))
    bcs = gen.sample(params, 1, rng=rng)
    res = SubModel(case).solve(bcs["u_bc"].values, bcs["time"].values, node_x=bcs["node_x"].values,
                               node_y=bcs["node_y"].values,
                               node_z=bcs["node_z"].values if "node_z" in bcs.coords else None, batch_size=batch)
    return xr.Dataset({f"qoi_{s.name}": ("sample", res[s.name]) for s in QOI_SPECS},
                      coords={"sample": reference["sample"].values})


def combined_estimates(reference, paired, extra, *, level: float = 0.95):
    """Estimates of the full model's QoI statistics that use the few full-model runs and many
    cheap samples and stay valid whatever the cheap chain's bias: multi-fidelity control variate
    (mean), PPI++ (mean) and PPI (quantiles), next to the full-model-only estimate.

    Parameters
    ----------
    reference : full-model QoIs (the expensive samples)
    paired : cheap-chain QoIs at the reference samples' parameters (:func:`paired_cheap_qois`)
    extra : further cheap-chain QoIs (a Monte Carlo run's samples)
    """
    import xarray as xr

    from .estimators import mean_ci, mfmc_mean, ppi_mean, ppi_quantile, quantile_ci

    qois = [f"qoi_{s.name}" for s in QOI_SPECS]
    methods = ["full-model only", "mfmc", "ppi++", "cheap only (biased?)"]
    stats_ = ["mean", "q05", "q50", "q95"]
    arr = np.full((len(qois), len(stats_), len(methods), 3), np.nan)
    reduction = np.full(len(qois), np.nan)
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
        reduction[i] = rows[("mean", 1)].extra.get("variance_reduction", np.nan)
    # the dimension is "estimator": "method" would clash with the keyword of xarray's .sel
    ds = xr.Dataset({"estimate": (("qoi", "statistic", "estimator", "bound"), arr),
                     "mfmc_variance_reduction": ("qoi", reduction, {"long_name": "variance of the full-model-only "
                                                                    "mean / variance of the MFMC mean"})},
                    coords={"qoi": qois, "statistic": stats_, "estimator": methods,
                            "bound": ["value", "lower", "upper"]})
    ds.attrs.update({"confidence_level": level, "n_full": int(reference.sizes["sample"]),
                     "n_cheap_extra": int(extra.sizes["sample"])})
    return ds
