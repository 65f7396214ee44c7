"""The Monte Carlo driver: chunks, resume, and the output layout.

Resumable like a campaign: samples are computed in chunks, each written atomically to
``DIR/chunks/chunk_000123.nc``; a rerun with the same seed continues where it stopped and gives
the same numbers (chunk c's parameters and generator draws come from its own random stream). The
chunks of a run belong to one case, seed, batch size and model (by the generator's fingerprint):
a directory holding another refuses to resume.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..config import MonteCarloConfig, case_from_toml, case_to_toml
from ..data.io import write_atomic
from ..physics.qoi import qoi_specs
from .statistics import convergence, qoi_statistics

__all__ = ["MonteCarloError", "MonteCarloOutputs", "MonteCarloResult", "run_montecarlo", "write_results",
           "write_validation"]

logger = logging.getLogger(__name__)


class MonteCarloError(ValueError):
    """A Monte Carlo run cannot go on as asked; the message names the problem."""


@dataclass
class MonteCarloResult:
    """What :func:`run_montecarlo` computed (and what it found already computed on disk)."""

    samples: object  # xarray.Dataset of per-sample QoIs and parameters
    statistics: object  # xarray.Dataset from qoi_statistics
    convergence: object  # xarray.Dataset: running mean and CI half-width vs n
    elapsed_s: float
    n_computed: int
    #: generator + submodel cost per sample [s], from the chunks' recorded compute times (also those
    #: computed by an earlier, resumed run); NaN when no chunk recorded one
    seconds_per_sample: float = float("nan")


@dataclass(frozen=True)
class MonteCarloOutputs:
    """Where a Monte Carlo run writes, all named after the statistics file ``STATS.nc``."""

    statistics: Path

    @property
    def chunks(self) -> Path:
        """The resumable run's directory (manifest and chunks): ``STATS.mc/``."""
        return self.statistics.with_suffix(".mc")

    def _beside(self, suffix: str) -> Path:
        return self.statistics.with_name(self.statistics.stem + suffix)

    @property
    def samples(self) -> Path:
        return self._beside("_samples.nc")

    @property
    def convergence_png(self) -> Path:
        return self._beside("_convergence.png")

    @property
    def validation(self) -> Path:
        return self._beside("_validation.nc")

    @property
    def validation_png(self) -> Path:
        return self._beside("_validation.png")


def _chunk_path(directory: Path, c: int) -> Path:
    return directory / "chunks" / f"chunk_{c:06d}.nc"


def _chunk_rng(seed: int, chunk: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(3, chunk)))


def _check_manifest(directory: Path, chain, config: MonteCarloConfig) -> None:
    """Write the run's manifest, or check that ``directory`` holds this run (case, seed, batch, model)."""
    gen = chain.generator
    manifest = {"case_toml": case_to_toml(chain.case), "generator": gen.name,
                "model_fingerprint": gen.fingerprint(), "model_source": getattr(gen, "source", None),
                "seed": config.seed, "batch": config.batch, "uqgan_version": __version__}
    mpath = directory / "manifest.json"
    if not mpath.exists():
        write_atomic(mpath, lambda tmp: tmp.write_text(json.dumps(manifest, indent=2)))
        return
    old = json.loads(mpath.read_text())
    old_case = case_from_toml(old["case_toml"])
    if "[submodel]" not in old["case_toml"]:  # written before [submodel]: the chain used the full model's scheme
        sub = old_case.submodel.model_copy(update={"scheme": "full-model"})
        old_case = old_case.model_copy(update={"submodel": sub})
    sub = old_case.submodel
    if sub != chain.case.submodel and old_case.model_copy(update={"submodel": chain.case.submodel}) == chain.case:
        raise MonteCarloError(f"{directory} holds a Monte Carlo run whose submodel stepped with scheme = "
                              f"\"{sub.scheme}\" (time_step_fraction {sub.time_step_fraction}); nothing was changed: "
                              "set the case's [submodel] to that to resume it, or use a new --out directory")
    if old_case != chain.case or old["seed"] != config.seed or old["batch"] != config.batch:
        raise MonteCarloError(f"{directory} holds a Monte Carlo run with another case, seed or batch; nothing was "
                              "changed: use a new --out directory")
    if "model_fingerprint" not in old:  # written by uqgan <= 0.1.0: it hashed the model directory's files
        if old.get("model_dir") != gen.source or old.get("model_sha256") != _legacy_files_hash(gen.source):
            raise MonteCarloError(f"{directory} holds a Monte Carlo run of the model saved in {old.get('model_dir')} "
                                  "that is not this one (or was retrained since); nothing was changed: use a new "
                                  "--out directory")
        old["model_fingerprint"] = manifest["model_fingerprint"]
        write_atomic(mpath, lambda tmp: tmp.write_text(json.dumps(old, indent=2)))
    if old["model_fingerprint"] != manifest["model_fingerprint"]:
        raise MonteCarloError(f"{directory} holds a Monte Carlo run of another model (or of this one before it was "
                              f"retrained; that run used {old.get('model_source') or 'another model'}); nothing was "
                              "changed: use a new --out directory")


def _legacy_files_hash(model_dir: str | None) -> str | None:
    """The model hash that uqgan 0.1.0 wrote to a Monte Carlo manifest (``model_sha256``): SHA-256 of
    the saved files' names and bytes, so that runs it started can be resumed."""
    import hashlib

    if model_dir is None:
        return None
    h = hashlib.sha256()
    for name in ("config.json", "arrays.npz", "model.pt"):
        f = Path(model_dir) / name
        if f.is_file():
            h.update(name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def _check_ranges(chain) -> None:
    """Refuse a case whose parameter ranges leave the generator's training ranges (the amplitude is an
    exact scale: any range of it is fine)."""
    prep, ranges = chain.generator.prep, chain.case.parameters.ranges()
    for j, name in enumerate(prep.parameter_names):
        lo, hi = ranges.get(name, (prep.low[j], prep.high[j]))
        tol = 1e-9 * max(abs(prep.high[j]), abs(prep.low[j]), 1e-300)
        if lo < prep.low[j] - tol or hi > prep.high[j] + tol:
            where = getattr(chain.generator, "source", None) or "memory"
            raise MonteCarloError(f"parameters.{name}: the case samples [{lo:.6g}, {hi:.6g}] but the generator in "
                                  f"{where} was trained on [{prep.low[j]:.6g}, {prep.high[j]:.6g}]; "
                                  "narrow the case's range or train on data that covers it")


def run_montecarlo(chain, directory: str | Path, config: MonteCarloConfig, *,
                   thresholds: dict[str, list[float]] | None = None, show_progress: bool = True) -> MonteCarloResult:
    """Monte Carlo of the zone QoIs through the cheap chain, resumable in ``directory``.

    Each chunk ``c`` draws ``batch`` parameter points uniformly over the case's ranges and one
    history per point from the generator, both from the stream ``SeedSequence(seed, (3, c))``, and
    runs them through the submodel in one batched solve.

    Parameters
    ----------
    chain : :class:`~uqgan.montecarlo.chain.CheapChain` (the case and a loaded generator)
    directory : where the manifest and the chunks go (``STATS.mc/`` from the CLI)
    config : samples, batch, seed, the optional target half-width and the confidence level
    thresholds : QoI name (without ``qoi_``) -> thresholds for exceedance probabilities; default:
        the case's ``[thresholds]``
    show_progress : a progress bar over chunks

    Raises
    ------
    MonteCarloError
        If the directory holds another run, or the case's ranges leave the generator's.
    """
    import xarray as xr

    from ..data.design import scale_to_ranges

    t0 = time.perf_counter()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _check_manifest(directory, chain, config)
    _check_ranges(chain)
    case, batch, n_samples = chain.case, config.batch, config.n_samples
    names, ranges = case.parameter_names, case.parameters.ranges()
    specs = qoi_specs(case.geometry.dimension)
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
            rng = _chunk_rng(config.seed, c)
            params = scale_to_ranges(rng.random((size, len(names))), ranges)
            res = chain.qois(params, n=1, rng=rng, batch_size=size)
            data = {f"qoi_{s.name}": ("sample", res[s.name], {"units": s.units, "long_name": s.long_name,
                                                             "role": "qoi"}) for s in specs}
            for n_ in names:
                data[n_] = ("sample", params[n_], {"role": "parameter"})
            ds = xr.Dataset(data, coords={"sample": np.arange(c * batch, c * batch + size)})
            ds.attrs["compute_seconds"] = time.perf_counter() - t_chunk  # generator + submodel, this chunk
            timed_s, timed_n = timed_s + ds.attrs["compute_seconds"], timed_n + size
            write_atomic(path, lambda tmp, d=ds: d.to_netcdf(tmp, engine="h5netcdf"))
            parts.append(ds)
            computed += size
        if config.target_halfwidth is not None and len(parts) >= 2:  # at least 2 batches before judging
            done = xr.concat(parts, dim="sample")
            st = qoi_statistics(done, level=config.level)["estimate"].sel(statistic="mean")
            rel = (st.sel(bound="upper") - st.sel(bound="lower")) / 2 / np.abs(st.sel(bound="value"))
            if float(rel.max()) < config.target_halfwidth:
                logger.info("every mean's CI half-width is below %.3g of the mean after %d samples",
                            config.target_halfwidth, done.sizes["sample"])
                break
    samples = xr.concat(parts, dim="sample")
    if thresholds is None:
        thresholds = case.thresholds.by_qoi()
    stats_ds = qoi_statistics(samples, thresholds=thresholds, level=config.level)
    conv = convergence(samples, config.level)
    for d in (samples, stats_ds, conv):
        d.attrs.update({"case_toml": case_to_toml(case), "generator": chain.generator.name, "seed": config.seed,
                        "uqgan_version": __version__})
    samples.attrs.pop("compute_seconds", None)  # a chunk's, not the whole run's
    return MonteCarloResult(samples=samples, statistics=stats_ds, convergence=conv,
                            elapsed_s=time.perf_counter() - t0, n_computed=computed,
                            seconds_per_sample=timed_s / timed_n if timed_n else float("nan"))


def write_results(outputs: MonteCarloOutputs, result: MonteCarloResult) -> list[Path]:
    """Write a run's statistics (with the convergence), its per-sample QoIs and the convergence figure;
    returns the three paths."""
    from ..plots import plot_convergence

    stats = result.statistics.merge(result.convergence)
    write_atomic(outputs.statistics, lambda tmp: stats.to_netcdf(tmp, engine="h5netcdf"))
    write_atomic(outputs.samples, lambda tmp: result.samples.to_netcdf(tmp, engine="h5netcdf"))
    return [outputs.statistics, outputs.samples, plot_convergence(result.convergence, outputs.convergence_png)]


def write_validation(outputs: MonteCarloOutputs, validation, samples, reference) -> list[Path]:
    """Write a :class:`~uqgan.montecarlo.validation.Validation`'s report and the figure of the QoIs'
    distributions against the reference runs; returns the two paths."""
    from ..plots import plot_qoi_ecdfs

    report = validation.report
    write_atomic(outputs.validation, lambda tmp: report.to_netcdf(tmp, engine="h5netcdf"))
    return [outputs.validation, plot_qoi_ecdfs(samples, reference, outputs.validation_png)]
