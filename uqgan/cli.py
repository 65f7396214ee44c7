"""The ``uqgan`` command line: parse, build configs, call the library.

No logic lives here (see STYLE.md). Every command maps the library's :class:`ConfigError` and a
missing file to one message line per problem on stderr and exit code 2; an optional dependency
that cannot be imported (dolfinx for ``solve``) gives exit code 1 with its install hint.

Examples
--------
::

    uqgan init my_case            # writes my_case/case.toml (the default case, commented)
    uqgan check my_case/case.toml # validates it and prints a summary
    uqgan solve my_case/case.toml --set load_position=0.5 --out run.json --xdmf run.xdmf
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from .config import (
    CampaignConfig,
    ConfigError,
    MonteCarloConfig,
    TrainConfig,
    default_case,
    load_case,
    write_case,
)
from .generators import GENERATOR_NAMES

if TYPE_CHECKING:  # pragma: no cover
    from .config import CaseConfig

__all__ = ["app", "main"]

logger = logging.getLogger(__name__)

#: exit code of bad user input (bad case file, bad option value, refused overwrite)
EXIT_USAGE = 2
#: exit code of a missing optional dependency
EXIT_ENVIRONMENT = 1
#: exit code of a campaign that finished with failed samples (recorded; a rerun retries them)
EXIT_FAILED_SAMPLES = 3

#: loggers of the FEniCSx JIT (ffcx, UFL, and distutils/setuptools building the C extensions)
_NOISY_LOGGERS = (
    "ffcx",
    "UFL",
    "UFL_LEGACY",
    "ufl",
    "dijitso",
    "compilers",
    "distutils",
    "setuptools",
)

# help texts use rich markup: a literal unit is written "\\[s]" (rich would read "[s]" as a style)
# typer vendors click: take its exception classes from the public BadParameter's ancestry
_UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class _OneLineErrors(TyperGroup):
    """Report click's usage errors (a non-integer --samples, an unknown option) as one line on
    stderr with exit code 2, like every other input error, instead of a usage box."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _UsageError as err:
            if type(err).__name__ == "NoArgsIsHelpError" and err.ctx is not None:
                typer.echo(err.ctx.get_help())
            else:
                where = f" (see `{err.ctx.command_path} --help`)" if err.ctx is not None else ""
                typer.echo(f"error: {err.format_message()}{where}", err=True)
            sys.exit(EXIT_USAGE)
        except _ClickException as err:
            typer.echo(f"error: {err.format_message()}", err=True)
            sys.exit(err.exit_code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    name="uqgan",
    cls=_OneLineErrors,
    help="Uncertainty quantification in a submodel zone under fast dynamics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


# ------------------------------------------------------------------------------------------------
# logging and errors


class _OwnHandler(logging.StreamHandler):
    """The handler the CLI installs on the root logger (so repeated invocations replace it)."""


class _OnlyUqganBelowWarning(logging.Filter):
    """Let other libraries' records through only from WARNING up (the FEniCSx JIT logs its
    compiler calls at INFO on the root logger)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.split(".")[0] == "uqgan"


def _configure_logging(verbose: int, quiet: bool) -> None:
    """Install one stderr handler on the root logger: WARNING by default, ERROR with ``-q``,
    uqgan's INFO with ``-v``, everything (FEniCSx JIT included) at DEBUG with ``-vv``."""
    if quiet:
        level = logging.ERROR
    elif verbose >= 2:
        level = logging.DEBUG
    elif verbose == 1:
        level = logging.INFO
    else:
        level = logging.WARNING
    root = logging.getLogger()
    for h in [h for h in root.handlers if isinstance(h, _OwnHandler)]:
        root.removeHandler(h)
    handler = _OwnHandler(sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    if verbose < 2:
        handler.addFilter(_OnlyUqganBelowWarning())
    root.addHandler(handler)
    root.setLevel(level)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)


def _fail(lines: str | list[str], code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``lines`` to stderr (no wrapping, no traceback) and return the Exit to raise."""
    for line in [lines] if isinstance(lines, str) else lines:
        typer.echo(f"error: {line}", err=True)
    return typer.Exit(code)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Map the library's input errors to messages on stderr and exit code 2."""
    try:
        yield
    except ConfigError as err:
        raise _fail(str(err).splitlines()) from None
    except (
        FileNotFoundError,
        FileExistsError,
        IsADirectoryError,
        NotADirectoryError,
        PermissionError,
    ) as err:
        raise _fail(str(err)) from None
    except ValueError as err:
        # a DatasetError (missing, corrupt or off-schema data), a SubmodelError (histories that do
        # not fit the case) or a GeneratorError (data or parameters a generator cannot serve) can
        # only come from a loaded module: look there instead of importing them (and scipy, dolfinx)
        # for every command
        known = [getattr(sys.modules.get(f"{__package__}.{mod}"), name, None)
                 for mod, name in (("data.dataset", "DatasetError"), ("fem.submodel", "SubmodelError"),
                                   ("generators", "GeneratorError"))]
        if not any(cls is not None and isinstance(err, cls) for cls in known):
            raise
        raise _fail(str(err)) from None


def _console():
    from rich.console import Console

    return Console()


def _version_callback(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"uqgan {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="More log output on stderr: -v shows uqgan's progress (INFO), -vv everything "
            "at DEBUG, FEniCSx JIT compilation included.",
        ),
    ] = 0,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Log only errors (results are still printed).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the uqgan version and exit.",
        ),
    ] = False,
) -> None:
    """uqgan: FEniCSx full-model campaigns, generative models of zone-boundary histories and fast
    submodel Monte Carlo. Units are SI (m, s, Pa)."""
    _configure_logging(verbose, quiet)


# ------------------------------------------------------------------------------------------------
# init


@app.command()
def init(
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", help="Directory to write case.toml into (created if missing)."
        ),
    ],
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Overwrite an existing DIR/case.toml.")
    ] = False,
) -> None:
    """Write the default case, every key commented with its unit, to DIR/case.toml."""
    path = directory / "case.toml"
    with _user_errors():
        if path.exists() and not force:
            raise _fail(f"{path} exists: pass --force to overwrite it")
        directory.mkdir(parents=True, exist_ok=True)
        written = write_case(default_case(), path)
    typer.echo(str(written))


# ------------------------------------------------------------------------------------------------
# check


@app.command()
def check(
    case_file: Annotated[Path, typer.Argument(metavar="CASE.toml", help="Case file to validate.")],
) -> None:
    """Validate a case file and print a summary (no FEniCSx needed)."""
    from . import report

    with _user_errors():
        case = load_case(case_file)
    _console().print(report.case_table(case, f"{case_file}: valid"))
    for warning in case.resolution()["warnings"]:
        logger.warning("under-resolved: %s", warning)


# ------------------------------------------------------------------------------------------------
# solve


def _parse_assignments(assignments: list[str], case: CaseConfig) -> dict[str, float]:
    """``["NAME=VALUE", ...]`` over the nominal parameters, checked against the case's ranges.

    Raises
    ------
    ConfigError
        One line per bad assignment, naming the parameter and its allowed range.
    """
    names = list(case.parameter_names)
    values: dict[str, Any] = case.parameters.nominal()
    problems = []
    for text in assignments:
        name, sep, value = text.partition("=")
        name = name.strip()
        if not sep or not name:
            problems.append(f"--set {text!r}: expected NAME=VALUE with NAME one of {names}")
            continue
        try:
            values[name] = float(value)
        except ValueError:
            values[name] = value  # check_parameters names the parameter and its range
    try:
        params = case.check_parameters(values)
    except ConfigError as err:
        problems += err.problems
    if problems:
        raise ConfigError(problems)
    return params


@app.command()
def solve(
    case_file: Annotated[Path, typer.Argument(metavar="CASE.toml", help="Case file.")],
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            "-s",
            metavar="NAME=VALUE",
            help="Override a nominal parameter (repeatable): load_amplitude \\[Pa], "
            "load_duration \\[s], load_position \\[m]; must lie in the case's range.",
        ),
    ] = None,
    xdmf: Annotated[
        Path | None,
        typer.Option(help="Write the full displacement history \\[m] for ParaView (XDMF + HDF5)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write parameters \\[Pa, s, m], QoIs and wall time \\[s] as JSON."
        ),
    ] = None,
    history: Annotated[
        Path | None,
        typer.Option(help="Write the zone boundary history \\[m] and the QoIs as netCDF (the dataset schema)."),
    ] = None,
) -> None:
    """Run the full model once at the nominal parameters (overridden by --set); print its QoIs.

    Under `mpirun -n N` one model runs over the N ranks and rank 0 prints and writes."""
    with _user_errors():
        case = load_case(case_file)
        params = _parse_assignments(set_ or [], case)
        for path in (xdmf, out, history):
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
    logger.info("solving %s at %s", case_file, params)

    try:
        from .fem.parallel import full_model, is_root

        root = is_root()
        if not root:  # under MPI only rank 0 reports
            logging.getLogger().setLevel(logging.ERROR)
        model = full_model(case)
    except ImportError as err:
        raise _fail(str(err), EXIT_ENVIRONMENT) from None
    except ConfigError as err:  # a time step above the mesh's stability limit: every rank stops, rank 0 says why
        raise _fail(str(err).splitlines() if root else []) from None
    if xdmf is not None and not hasattr(model, "write_xdmf"):
        raise _fail("--xdmf writes the full field from one process: run without mpirun for it")
    solution = model.solve(params, **({} if xdmf is None else {"keep_full_history": True}))
    if not root:
        return

    from . import report

    _console().print(report.solve_table(case, params, model, solution))

    if xdmf is not None:
        written = model.write_xdmf(xdmf, solution)
        typer.echo(f"wrote {written} (+ {written.with_suffix('.h5').name})")
    if out is not None or history is not None:
        from .data.io import write_atomic
        from .data.runs import run_dataset, run_record

    if out is not None:
        record = run_record(case, params, solution, case_file=str(case_file))
        write_atomic(out, lambda tmp: tmp.write_text(json.dumps(record, indent=2) + "\n"))
        typer.echo(f"wrote {out}")
    if history is not None:
        ds = run_dataset(case, params, solution, model.zone.boundary_coords)
        write_atomic(history, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))
        typer.echo(f"wrote {history}")


# ------------------------------------------------------------------------------------------------
# generate-data


@app.command("generate-data")
def generate_data(
    case_file: Annotated[Path, typer.Argument(metavar="CASE.toml", help="Case file.")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DATA_DIR", help="Campaign directory (created).")],
    samples: Annotated[int, typer.Option("--samples", "-n", help="Total full-model runs: points x replicates.")],
    replicates: Annotated[
        int, typer.Option(help="Material fields per parameter point (--samples must be a multiple).")
    ] = 1,
    workers: Annotated[int, typer.Option(help="Local worker processes (1 = this process).")] = 1,
    scheduler: Annotated[
        str | None,
        typer.Option(metavar="ADDRESS", help="Dask distributed scheduler, e.g. tcp://host:8786 (see docs/cluster.md)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the design and of every material field.")] = 0,
    design: Annotated[
        str, typer.Option(help="Parameter design: sobol (scrambled, extensible), lhs or mc.")
    ] = "sobol",
    save_fields: Annotated[
        int, typer.Option(metavar="M", help="Write ParaView files of the first M runs to DATA_DIR/fields.")
    ] = 0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar with ETA.")] = True,
    ranks_per_sample: Annotated[int, typer.Option(
        metavar="R", help="MPI ranks per full-model run (one mpirun per sample, --workers at a time; launcher "
                          "from $UQGAN_MPIEXEC, default 'mpirun -n {ranks}'; see docs/schemes.md).")] = 1,
    ranges: Annotated[list[str] | None, typer.Option(
        "--range", metavar="NAME=LOW:HIGH",
        help="Sample NAME over a sub-range of the case's (repeatable; LOW and HIGH in the parameter's units: "
             "load_amplitude \\[Pa], load_duration \\[s], load_position \\[m]): an enrichment campaign where the "
             "histories change fastest, e.g. load_position=0.45:0.75; train on it after the full campaign "
             "(`uqgan train FULL_DIR ENRICH_DIR`).")] = None,
) -> None:
    """Run a full-model campaign and write the BC dataset; rerun the same command to resume it.

    A killed campaign resumes from the samples it lacks; a larger --samples extends it; failed
    samples are recorded in DATA_DIR/failures and retried by the next run (exit code 3 until then).
    """
    from .data.campaign import CampaignError, run_campaign

    with _user_errors():
        case = load_case(case_file)
        if ranges:
            from .config import restrict_ranges

            case = restrict_ranges(case, _parse_ranges(ranges))
        config = CampaignConfig.build(n_samples=samples, replicates=replicates, design=design, seed=seed,
                                      workers=workers, scheduler=scheduler, save_fields=save_fields,
                                      ranks_per_sample=ranks_per_sample)
        try:
            report = run_campaign(case, out, **config.model_dump(), show_progress=progress)
        except CampaignError as err:
            raise _fail(str(err)) from None
        except ImportError as err:
            raise _fail(str(err), EXIT_ENVIRONMENT) from None
    typer.echo(report.summary())
    if report.n_complete and replicates > 1:
        from .data.analysis import replicate_variance_report, variance_summary_line
        from .data.dataset import open_dataset

        typer.echo(variance_summary_line(replicate_variance_report(open_dataset(out))))
    if report.failures:
        raise typer.Exit(EXIT_FAILED_SAMPLES)


def _parse_ranges(items: list[str]) -> dict[str, tuple[float, float]]:
    """``["name=low:high", ...]`` -> ``{name: (low, high)}``; ConfigError naming each bad item."""
    out, problems = {}, []
    for item in items:
        name, _, rest = item.partition("=")
        low, colon, high = rest.partition(":")
        try:
            if not (name and colon):
                raise ValueError
            out[name.strip()] = (float(low), float(high))
        except ValueError:
            problems.append(f"--range={item!r}: expected NAME=LOW:HIGH, e.g. load_position=0.45:0.75")
    if problems:
        raise ConfigError(problems)
    return out


# ------------------------------------------------------------------------------------------------
# plot-data


@app.command("plot-data")
def plot_data(
    data: Annotated[
        Path, typer.Argument(metavar="DATA", help="Campaign directory or netCDF file in the uqgan BC schema.")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="DIR", help="Where to write the PNGs (default: DATA/plots, or "
                     "plots/ beside a netCDF file)."),
    ] = None,
) -> None:
    """Plot a BC dataset: boundary-history quantile bands, the design, QoI histograms and, with
    replicates, the share of variance the parameters do not explain."""
    from . import plots
    from .data.dataset import open_dataset

    with _user_errors():
        if not data.exists():
            raise FileNotFoundError(f"{data}: no such campaign directory or netCDF file")
        ds = open_dataset(data)
        out_dir = out if out is not None else (data.parent if data.is_file() else data) / "plots"
        try:
            written = plots.plot_data(ds, out_dir)
        except ImportError as err:  # matplotlib missing
            raise _fail(str(err), EXIT_ENVIRONMENT) from None
    for path in written:
        typer.echo(str(path))
    if plots.has_replicates(ds):
        from .data.analysis import replicate_variance_report, variance_summary_line

        typer.echo(variance_summary_line(replicate_variance_report(ds)))
    else:
        typer.echo("variance within replicates: not computed, the data has no replicates "
                   "(generate it with --replicates >= 2)")


# ------------------------------------------------------------------------------------------------
# submodel


@app.command()
def submodel(
    case_file: Annotated[Path, typer.Argument(metavar="CASE.toml", help="Case file (the zone and its material).")],
    bcs: Annotated[Path, typer.Option(metavar="FILE", help="Boundary histories: a netCDF file in the uqgan BC "
                                      "schema or a campaign directory (u_bc \\[m] with node_x, node_y \\[m]).")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE.nc", help="QoIs per sample (netCDF).")],
    batch: Annotated[int, typer.Option(help="Histories solved together per step (memory ~ batch).")] = 256,
    interpolation: Annotated[
        str, typer.Option(help="In time between stored steps: cubic (not-a-knot spline) or linear.")
    ] = "cubic",
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Solve the submodel zone driven by given boundary histories; write its QoIs per sample."""
    with _user_errors():
        case = load_case(case_file)
        problems = []
        if batch < 1:
            problems.append(f"--batch={batch}: must be >= 1")
        if interpolation not in ("cubic", "linear"):
            problems.append(f"--interpolation={interpolation!r}: must be cubic or linear")
        if problems:
            raise ConfigError(problems)
        from .data.dataset import open_dataset
        from .data.io import write_atomic

        ds = open_dataset(bcs)
        try:
            from .fem.submodel import solve_submodel

            result = solve_submodel(case, ds, batch_size=batch, interpolation=interpolation,
                                    show_progress=progress)
        except ImportError as err:
            raise _fail(str(err), EXIT_ENVIRONMENT) from None
        write_atomic(out, lambda tmp: result.to_netcdf(tmp, engine="h5netcdf"))
    n = result.sizes["sample"]
    wall = result.attrs["submodel_wall_time_s"]
    typer.echo(f"wrote {out}: QoIs of {n} samples in {wall:.2f} s ({1e3 * wall / n:.1f} ms per sample)")


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
        int | None, typer.Option(help="Generator steps of the adversarial training (wgan-*; default 2000).")
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
    resume: Annotated[bool, typer.Option(help="Continue an interrupted training from its last checkpoint.")] = False,
    force: Annotated[bool, typer.Option(help="Overwrite a model already in MODEL_DIR.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Fit a generator of boundary histories given the parameters; save it to MODEL_DIR."""
    with _user_errors():
        config = TrainConfig.build(generator=generator, seed=seed, registration=registration, pod_energy=pod_energy,
                                   covariance=covariance, steps=steps, device=device)
        if (out / "config.json").exists() and not (resume or force):
            raise ConfigError([f"--out={out} already holds a model: pass --resume to continue it or --force to "
                               "replace it"])
        from .data.dataset import open_datasets
        from .generators import generator_class, remove_model

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
        from .generators import load_generator

        try:
            gen = load_generator(model_dir)
        except ImportError as err:
            raise _fail(str(err), EXIT_ENVIRONMENT) from None
        from .data.dataset import read_parameters

        values = read_parameters(params)
        try:
            ds = gen.sample(values, n, rng=np.random.default_rng(seed), extrapolate=extrapolate)
        except ValueError as err:
            raise ConfigError([f"{params}: {err}" + (" (--extrapolate)" if "extrapolation" in str(err) else "")]) \
                from None
        ds.attrs.update({"seed": seed, "model_dir": str(model_dir)})
        from .data.io import write_atomic

        write_atomic(out, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))
    typer.echo(f"wrote {out}: {ds.sizes['sample']} histories ({n} per parameter row) from {gen.name}")


@app.command()
def evaluate(
    model_dirs: Annotated[list[Path], typer.Argument(metavar="MODEL_DIR...", help="Trained models to compare.")],
    data: Annotated[Path, typer.Option(metavar="DATA", help="Held-out campaign with many replicates per point.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the comparison as JSON.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the truth splits and the draws.")] = 0,
    zone_qois: Annotated[bool, typer.Option(help="Also run the submodel on generated histories and compare the "
                                            "zone QoIs with the full model's in DATA (needs dolfinx).")] = False,
) -> None:
    """Compare generators against held-out replicates; say which one to trust on this data."""
    with _user_errors():
        from .data.dataset import open_dataset
        from .data.io import write_atomic
        from .evaluation import evaluate_generators
        from .generators import load_generator

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
            from .evaluation import zone_qoi_check

            try:  # with the case the held-out data was made with
                zone = zone_qoi_check(gens, truth, seed=seed)
            except ImportError as err:  # the FEM layer names what is missing (dolfinx) and how to install it
                raise _fail(str(err), EXIT_ENVIRONMENT) from None
        report = evaluate_generators(gens, truth, seed=seed)
        if out is not None:
            import json

            result = report.to_dict()
            if zone is not None:
                result["zone_qois"] = {g: {q: {v: zone[v].sel(generator=g, qoi=q).values.tolist()
                                               for v in zone.data_vars}
                                           for q in zone["qoi"].values} for g in zone["generator"].values}
            write_atomic(out, lambda tmp: tmp.write_text(json.dumps(result, indent=2)))
    from . import report as tables

    _console().print(tables.evaluation_table(report))
    typer.echo(report.verdict)
    if zone is not None:
        _console().print(tables.zone_qoi_table(zone))
        from .evaluation import zone_qoi_verdict

        typer.echo(zone_qoi_verdict(zone))
    if out is not None:
        typer.echo(f"wrote {out}")


# ------------------------------------------------------------------------------------------------
# montecarlo


@app.command()
def montecarlo(
    case_file: Annotated[Path, typer.Argument(metavar="CASE.toml", help="Case file (parameter ranges, zone).")],
    model: Annotated[Path, typer.Option(metavar="MODEL_DIR", help="A generator saved by `uqgan train`.")],
    samples: Annotated[int, typer.Option("--samples", "-n", help="Monte Carlo samples (upper bound with "
                                         "--target-halfwidth).")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="STATS.nc", help="Statistics with confidence "
                                      "intervals; per-sample QoIs go to STATS_samples.nc, chunks to STATS.mc/.")],
    batch: Annotated[int, typer.Option(help="Samples per chunk (one generator draw, one batched submodel "
                                       "solve).")] = 256,
    seed: Annotated[int, typer.Option(help="Seed of the parameters and the generator draws.")] = 0,
    target_halfwidth: Annotated[float | None, typer.Option(help="Stop when every QoI mean's 95 % CI half-width "
                                                           "is below this fraction of the mean (e.g. 0.01).")] = None,
    reference: Annotated[Path | None, typer.Option(metavar="DATA_DIR", help="A full-model campaign training never "
                                                   "saw, drawn from the case's ranges: adds a validation report and "
                                                   "multi-fidelity / PPI estimates that use its runs.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """QoI statistics with 95 % confidence intervals: generator histories through the submodel."""
    with _user_errors():
        case = load_case(case_file)
        config = MonteCarloConfig.build(n_samples=samples, batch=batch, seed=seed, target_halfwidth=target_halfwidth)
        from .data.dataset import open_dataset
        from .generators import load_generator
        from .montecarlo import (
            CheapChain,
            MonteCarloError,
            MonteCarloOutputs,
            run_montecarlo,
            validate_against_reference,
            write_results,
            write_validation,
        )

        outputs = MonteCarloOutputs(out)
        try:
            chain = CheapChain(case, load_generator(model))
            res = run_montecarlo(chain, outputs.chunks, config, show_progress=progress)
            written = write_results(outputs, res)
            validation = None
            if reference is not None:
                ref = open_dataset(reference)
                validation = validate_against_reference(chain, res.samples, ref, seed=seed, batch=batch)
                written += write_validation(outputs, validation, res.samples, ref)
        except MonteCarloError as err:
            raise _fail(str(err)) from None
        except ImportError as err:
            raise _fail(str(err), EXIT_ENVIRONMENT) from None
    from . import report

    _console().print(report.montecarlo_table(res))
    for line in report.exceedance_lines(res.statistics) + report.coverage_notes(res.statistics):
        typer.echo(line)
    typer.echo(f"wrote {written[0]}, {written[1]} and {written[2]} ({res.n_computed} samples computed now, "
               f"{res.elapsed_s:.1f} s)")
    if validation is not None:
        _console().print(report.validation_table(validation))
        for line in report.coverage_notes(validation.comparison, validation.combined):
            typer.echo(line)
        typer.echo(f"wrote {written[3]} and {written[4]}")


def main() -> None:
    """Console-script entry point (``uqgan``)."""
    app(prog_name="uqgan")


if __name__ == "__main__":
    main()
