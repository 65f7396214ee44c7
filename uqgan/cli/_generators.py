"""Commands on generators: ``train``, ``sample``, ``evaluate``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..config import ConfigError, TrainConfig
from ..generators import GENERATOR_NAMES
from ._app import EXIT_ENVIRONMENT, _console, _fail, _user_errors, app

if TYPE_CHECKING:  # pragma: no cover
    pass

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------------
# train, sample, evaluate


REGISTRATION_DEFAULT = "none"  # the plain pipeline; "arrival" pays where wavefronts arrive at random times


@app.command()
def train(
    data: Annotated[list[Path], typer.Argument(
        metavar="DATA", help="Campaign directories or netCDF files in the BC schema: one, or a campaign over "
                                "the case's full ranges followed by enrichment campaigns (`generate-data --range`).")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="MODEL_DIR", help="Where the model is saved.")],
    generator: Annotated[str, typer.Option(
        help=f"One of {', '.join(GENERATOR_NAMES)} (docs/generators.md).")] = "wgan-gp",
    steps: Annotated[
        int | None, typer.Option(help="Generator steps of the adversarial training (wgan-*; default 3000).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto (cuda when present), cpu or cuda.")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed of the split, the initialisation and the training draws.")] = 0,
    registration: Annotated[str, typer.Option(
        help="arrival: line up the wavefronts' arrival times before the POD and model the shift too "
             "(keeps the peaks of waves whose speed is random); none: model the histories as they are.")
    ] = REGISTRATION_DEFAULT,
    pod_energy: Annotated[float, typer.Option(help="Fraction of the histories' variance the POD keeps.")] = 0.999,
    covariance: Annotated[str, typer.Option(
        help="kriging-gaussian's residual law: pooled (one Gaussian for all parameters) or local (a Gaussian "
             "from the 3 nearest design points' replicates, so it follows the parameters); for resampled "
             "training runs use --generator kriging-resample.")] = "pooled",
    residuals: Annotated[str | None, typer.Option(
        help="wgan-*: neighbours (start from a neighbouring training run's deviation, kriging-resample's law; the "
             "default) or deviations (start from the Gaussian of the deviations); docs/generators.md.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted training from its last checkpoint.")] = False,
    force: Annotated[bool, typer.Option(help="Overwrite a model already in MODEL_DIR.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Fit a generator of boundary histories given the parameters; save it to MODEL_DIR."""
    with _user_errors():
        config = TrainConfig.build(generator=generator, seed=seed, registration=registration, pod_energy=pod_energy,
                                   covariance=covariance, steps=steps, device=device, residuals=residuals)
        if (out / "config.json").exists() and not (resume or force):
            raise ConfigError([f"--out={out} already holds a model: pass --resume to continue it or --force to "
                               "replace it"])
        from ..data.dataset import open_datasets
        from ..generators import generator_class, remove_model

        ds = open_datasets(data)
        try:
            cls = generator_class(generator)
        except ImportError as err:
            raise _fail(str(err), EXIT_ENVIRONMENT) from None
        adversarial = cls.adversarial
        if force and not resume:
            remove_model(out)  # --force replaces this model: what uqgan train wrote there, nothing else
        gen = cls(**config.generator_options(adversarial=adversarial))
        import time

        t0 = time.perf_counter()
        fit_kw = {"directory": out, "resume": resume, "show_progress": progress} if adversarial else {}
        gen.fit(ds, **fit_kw)
        gen.save(out)
    pod = gen.prep.pod
    reg = "" if gen.prep.shift is None else "arrival times registered (shift modelled with the modes); "
    typer.echo(f"{generator}: trained on {len(gen.split['train_points'])} points "
               f"({len(gen.split['validation_points'])} held for validation) in {time.perf_counter() - t0:.1f} s; "
               f"{reg}POD {pod.n_modes} modes, {100 * pod.energy_kept:.3f} % of the variance, reconstruction error "
               f"{pod.reconstruction_error:.2e}; saved to {out}")


@app.command()
def sample(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL_DIR", help="A model saved by `uqgan train`.")],
    params: Annotated[Path, typer.Option(metavar="FILE", help="CSV or netCDF: one column/variable per parameter "
                                         "(load_amplitude \\[Pa], load_duration \\[s], load_position \\[m]).")],
    n: Annotated[int, typer.Option("--n", help="Histories per parameter row.")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE.nc", help="Output in the BC dataset schema.")],
    seed: Annotated[int, typer.Option(help="Seed of the draws.")] = 0,
    extrapolate: Annotated[bool, typer.Option(help="Allow parameters outside the training ranges (refused by "
                                              "default).")] = False,
) -> None:
    """Draw boundary histories from a trained generator at given parameters."""
    import numpy as np

    with _user_errors():
        if n < 1:
            raise ConfigError([f"--n={n}: must be >= 1"])
        from ..generators import load_generator

        try:
            gen = load_generator(model_dir)
        except ImportError as err:
            raise _fail(str(err), EXIT_ENVIRONMENT) from None
        from ..data.dataset import read_parameters

        values = read_parameters(params)
        try:
            ds = gen.sample(values, n, rng=np.random.default_rng(seed), extrapolate=extrapolate)
        except ValueError as err:
            raise ConfigError([f"{params}: {err}" + (" (--extrapolate)" if "extrapolation" in str(err) else "")]) \
                from None
        ds.attrs.update({"seed": seed, "model_dir": str(model_dir)})
        from ..data.io import write_atomic

        write_atomic(out, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))
    typer.echo(f"wrote {out}: {ds.sizes['sample']} histories ({n} per parameter row) from {gen.name}")


@app.command()
def evaluate(
    model_dirs: Annotated[list[Path], typer.Argument(metavar="MODEL_DIR...", help="Trained models to compare.")],
    data: Annotated[Path, typer.Option(metavar="DATA", help="Held-out campaign with many replicates per point.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the comparison as JSON.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the truth splits and the draws.")] = 0,
    draws: Annotated[int, typer.Option(min=1, help="Evaluation draws averaged (seeds SEED, SEED+1, ...): one "
                                       "draw's noise can swap generators that are close.")] = 1,
    zone_qois: Annotated[bool, typer.Option(help="Also run the submodel on generated histories and compare the "
                                            "zone QoIs with the full model's in DATA (needs dolfinx).")] = False,
) -> None:
    """Compare generators against held-out replicates; say which one to trust on this data."""
    with _user_errors():
        from ..data.dataset import open_dataset
        from ..data.io import write_atomic
        from ..evaluation import evaluate_generators
        from ..generators import load_generator

        gens = {}
        for d in model_dirs:
            try:
                g = load_generator(d)
            except ImportError as err:
                raise _fail(str(err), EXIT_ENVIRONMENT) from None
            key = g.name if g.name not in gens else f"{g.name} ({d})"
            gens[key] = g
        truth = open_dataset(data)
        zone = None
        if zone_qois:
            from ..evaluation import zone_qoi_check

            try:  # with the case the held-out data was made with
                zone = zone_qoi_check(gens, truth, seed=seed, draws=draws)
            except ImportError as err:  # the FEM layer names what is missing (dolfinx) and how to install it
                raise _fail(str(err), EXIT_ENVIRONMENT) from None
        report = evaluate_generators(gens, truth, seed=seed, draws=draws)
        if out is not None:
            import json

            result = report.to_dict()
            if zone is not None:
                result["zone_qois"] = {g: {q: {v: zone[v].sel(generator=g, qoi=q).values.tolist()
                                               for v in zone.data_vars}
                                           for q in zone["qoi"].values} for g in zone["generator"].values}
            write_atomic(out, lambda tmp: tmp.write_text(json.dumps(result, indent=2)))
    from .. import report as tables

    _console().print(tables.evaluation_table(report))
    typer.echo(report.verdict)
    if zone is not None:
        _console().print(tables.zone_qoi_table(zone))
        from ..evaluation import zone_qoi_verdict

        typer.echo(zone_qoi_verdict(zone))
    if out is not None:
        typer.echo(f"wrote {out}")
