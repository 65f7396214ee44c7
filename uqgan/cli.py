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
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from .config import PARAMETER_UNITS, ConfigError, default_case, load_case, write_case

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
                 for mod, name in (("dataset", "DatasetError"), ("fem.submodel", "SubmodelError"),
                                   ("generators._base", "GeneratorError"))]
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


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _case_summary(case: CaseConfig) -> list[tuple[str, str, str]]:
    """Rows ``(quantity, value, unit)`` describing a case (presentation only)."""
    from rich.markup import escape


    g, z, t = case.geometry, case.geometry.zone, case.time
    zone_area = (z.x_max_m - z.x_min_m) * (z.y_max_m - z.y_min_m) - math.pi * z.hole_radius_m**2
    plate_area = g.length_m * g.height_m - math.pi * z.hole_radius_m**2  # the hole is no material
    res = case.resolution()
    rows = [
        ("case", escape(case.name), ""),
        ("plate (length x height)", f"{_fmt(g.length_m)} x {_fmt(g.height_m)}", "m"),
        ("element size", _fmt(g.element_size_m), "m"),
        ("degree", f"P{g.degree}", ""),
        ("cells nx x ny", f"{g.nx} x {g.ny}", ""),
        ("zone x", f"[{_fmt(z.x_min_m)}, {_fmt(z.x_max_m)}]", "m"),
        ("zone y", f"[{_fmt(z.y_min_m)}, {_fmt(z.y_max_m)}]", "m"),
        ("zone area fraction", f"{100 * zone_area / plate_area:.2f}", "%"),
        ("hole radius", _fmt(z.hole_radius_m), "m"),
        ("dt", _fmt(t.dt_s), "s"),
        ("n_steps", str(t.n_steps), ""),
        ("end time", _fmt(t.end_time_s), "s"),
        ("output stride", str(t.output_stride), "steps"),
        (
            "scheme",
            t.scheme if t.scheme == "newmark" else f"{t.scheme} (rho_inf={t.spectral_radius})",
            "",
        ),
    ]
    for name in type(case.parameters).model_fields:
        r = getattr(case.parameters, name)
        rows.append(
            (
                f"{name} range (nominal)",
                f"[{_fmt(r.low)}, {_fmt(r.high)}] ({_fmt(r.nominal_value)})",
                PARAMETER_UNITS[name],
            )
        )
    rows += [
        ("P-wave speed c_p", _fmt(res["c_p_m_per_s"]), "m/s"),
        ("S-wave speed c_s", _fmt(res["c_s_m_per_s"]), "m/s"),
        # degree * c_s * tau_min / h: nodes across the shortest shear pulse (docs/resolution.md)
        ("nodes per shortest shear pulse", _fmt(res["nodes_per_shear_pulse"]), ""),
        ("time steps per shortest pulse", _fmt(res["steps_per_pulse"]), ""),
    ]
    return rows


@app.command()
def check(
    case_file: Annotated[Path, typer.Argument(metavar="CASE.toml", help="Case file to validate.")],
) -> None:
    """Validate a case file and print a summary (no FEniCSx needed)."""
    from rich.markup import escape
    from rich.table import Table

    with _user_errors():
        case = load_case(case_file)
    table = Table(title=escape(f"{case_file}: valid"))
    for col in ("quantity", "value", "unit"):
        table.add_column(col)
    for row in _case_summary(case):
        table.add_row(*row)
    _console().print(table)
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
    names = list(type(case.parameters).model_fields)
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
) -> None:
    """Run the full model once at the nominal parameters (overridden by --set); print its QoIs."""
    with _user_errors():
        case = load_case(case_file)
        params = _parse_assignments(set_ or [], case)
        for path in (xdmf, out):
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
    logger.info("solving %s at %s", case_file, params)

    try:
        from .fem import PlateModel

        model = PlateModel(case)
    except ImportError as err:
        raise _fail(str(err), EXIT_ENVIRONMENT) from None
    solution = model.solve(params, keep_full_history=xdmf is not None)

    import numpy as np
    from rich.markup import escape
    from rich.table import Table

    from . import __version__
    from .qoi import QOI_SPECS

    table = Table(title=escape(f"{case.name}: full model"))
    for col in ("quantity", "value", "unit"):
        table.add_column(col)
    for name, value in params.items():
        table.add_row(name, f"{value:.4g}", PARAMETER_UNITS[name])
    table.add_row("dofs", str(model.n_dofs), "")
    table.add_row("zone dofs", str(model.zone.space.n_dofs), "")
    table.add_row("zone boundary nodes", str(model.zone.boundary_nodes.size), "")
    table.add_row("time steps", str(case.time.n_steps), "")
    table.add_row("wall time", f"{solution.wall_time_s:.3g}", "s")
    for spec in QOI_SPECS:
        table.add_row(spec.name, f"{solution.qoi[spec.name]:.4g}", spec.units)
    table.add_row("max |u_bc|", f"{float(np.linalg.norm(solution.u_bc, axis=-1).max()):.4g}", "m")
    _console().print(table)

    if xdmf is not None:
        written = model.write_xdmf(xdmf, solution)
        typer.echo(f"wrote {written} (+ {written.with_suffix('.h5').name})")
    if out is not None:
        record = {
            "uqgan_version": __version__,
            "case_file": str(case_file),
            "parameters": params,
            "parameter_units": PARAMETER_UNITS,
            "qoi": {spec.name: float(solution.qoi[spec.name]) for spec in QOI_SPECS},
            "qoi_units": {spec.name: spec.units for spec in QOI_SPECS},
            "wall_time_s": solution.wall_time_s,
            "case": case.model_dump(mode="json"),
        }
        out.write_text(json.dumps(record, indent=2) + "\n")
        typer.echo(f"wrote {out}")


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
    from .campaign import CampaignError, run_campaign

    with _user_errors():
        case = load_case(case_file)
        if ranges:
            from .config import restrict_ranges

            case = restrict_ranges(case, _parse_ranges(ranges))
        problems = []
        if samples < 1:
            problems.append(f"--samples={samples}: must be >= 1")
        if replicates < 1:
            problems.append(f"--replicates={replicates}: must be >= 1")
        elif samples >= 1 and samples % replicates:
            lo, hi = (samples // replicates) * replicates, (samples // replicates + 1) * replicates
            problems.append(f"--samples={samples} is not a multiple of --replicates={replicates}: "
                            f"use {lo or hi} or {hi}")
        if workers < 1:
            problems.append(f"--workers={workers}: must be >= 1")
        if save_fields < 0:
            problems.append(f"--save-fields={save_fields}: must be >= 0")
        if seed < 0:
            problems.append(f"--seed={seed}: must be >= 0")
        if design not in ("sobol", "lhs", "mc"):
            problems.append(f"--design={design!r}: must be one of sobol, lhs, mc")
        if problems:
            raise ConfigError(problems)
        try:
            report = run_campaign(case, out, n_samples=samples, replicates=replicates, design=design, seed=seed,
                                  workers=workers, scheduler=scheduler, save_fields=save_fields,
                                  show_progress=progress)
        except CampaignError as err:
            raise _fail(str(err)) from None
        except ImportError as err:
            raise _fail(str(err), EXIT_ENVIRONMENT) from None
    typer.echo(report.summary())
    if report.n_complete and replicates > 1:
        from .analysis import replicate_variance_report, variance_summary_line
        from .dataset import open_dataset

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
    from .dataset import open_dataset

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
        from .analysis import replicate_variance_report, variance_summary_line

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
        from .dataset import open_dataset, write_atomic

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

_GENERATORS = ("wgan-gp", "wgan-clip", "kriging-gaussian", "kriging-resample", "pca-gaussian")


REGISTRATION_DEFAULT = "none"  # the plain pipeline; "arrival" pays where wavefronts arrive at random times


@app.command()
def train(
    data: Annotated[list[Path], typer.Argument(
        metavar="DATA", help="Campaign directories or netCDF files in the BC schema: one, or a campaign over "
                                "the case's full ranges followed by enrichment campaigns (`generate-data --range`).")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="MODEL_DIR", help="Where the model is saved.")],
    generator: Annotated[str, typer.Option(
        help="wgan-gp, wgan-clip, kriging-gaussian, kriging-resample or pca-gaussian.")] = "wgan-gp",
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
    resume: Annotated[bool, typer.Option(help="Continue an interrupted training from its last checkpoint.")] = False,
    force: Annotated[bool, typer.Option(help="Overwrite a model already in MODEL_DIR.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Fit a generator of boundary histories given the parameters; save it to MODEL_DIR."""
    with _user_errors():
        problems = []
        if generator not in _GENERATORS:
            problems.append(f"--generator={generator!r}: must be one of {', '.join(_GENERATORS)}")
        if device not in ("auto", "cpu", "cuda"):
            problems.append(f"--device={device!r}: must be auto, cpu or cuda")
        if steps is not None and steps < 0:
            problems.append(f"--steps={steps}: must be >= 0")
        if seed < 0:
            problems.append(f"--seed={seed}: must be >= 0")
        if registration not in ("none", "arrival"):
            problems.append(f"--registration={registration!r}: must be arrival or none")
        if not 0 < pod_energy <= 1:
            problems.append(f"--pod-energy={pod_energy}: must lie in (0, 1], e.g. 0.999")
        if covariance not in ("pooled", "local"):
            problems.append(f"--covariance={covariance!r}: must be pooled or local"
                            + (" (resampling is --generator kriging-resample)" if covariance == "resample" else ""))
        elif covariance != "pooled" and generator != "kriging-gaussian":
            problems.append(f"--covariance={covariance}: only kriging-gaussian has it (got --generator={generator})")
        if (out / "config.json").exists() and not (resume or force):
            problems.append(f"--out={out} already holds a model: pass --resume to continue it or --force to replace it")
        if problems:
            raise ConfigError(problems)
        from .dataset import open_datasets
        from .generators import is_adversarial, make_generator

        ds = open_datasets(data)
        adversarial = is_adversarial(generator)
        if force and not resume and out.exists():
            import shutil

            # --force replaces this model: remove what uqgan train wrote there, nothing else
            for name in ("config.json", "arrays.npz", "metrics.csv", "training.png"):
                (out / name).unlink(missing_ok=True)
            shutil.rmtree(out / "checkpoints", ignore_errors=True)
        config: dict = {"seed": seed, "registration": registration, "pod_energy": pod_energy}
        if generator == "kriging-gaussian":
            config["covariance"] = covariance
        if adversarial:
            config["device"] = device
            if steps is not None:
                config["steps"] = steps
        try:
            gen = make_generator(generator, **config)
        except ImportError as err:
            raise _fail(str(err), EXIT_ENVIRONMENT) from None
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
        from .dataset import read_parameters

        values = read_parameters(params)
        try:
            ds = gen.sample(values, n, rng=np.random.default_rng(seed), extrapolate=extrapolate)
        except ValueError as err:
            raise ConfigError([f"{params}: {err}" + (" (--extrapolate)" if "extrapolation" in str(err) else "")]) \
                from None
        ds.attrs.update({"seed": seed, "model_dir": str(model_dir)})
        from .dataset import write_atomic

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
        from .dataset import open_dataset, write_atomic
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
            zone = _zone_qoi_check(gens, truth, data, seed=seed)
        report = evaluate_generators(gens, truth, seed=seed)
        if out is not None:
            import json

            result = report.to_dict()
            if zone is not None:
                result["zone_qois"] = {g: {q: {v: zone[v].sel(generator=g, qoi=q).values.tolist()
                                               for v in zone.data_vars}
                                           for q in zone["qoi"].values} for g in zone["generator"].values}
            write_atomic(out, lambda tmp: tmp.write_text(json.dumps(result, indent=2)))
    from rich.table import Table

    table = Table(title="generators at held-out points; floor = truth vs truth at the same sample size")
    n_points = report.per_point.sizes["point"]
    for title in ("generator", "ED / floor", f"ED test p<0.05 (of {n_points})", "FD10 / floor", "MMD² (floor)",
                  "90% band", "peak |bias| mean/q05/q95", "peak spread", "peak KS (floor)"):
        table.add_column(title)
    for s in report.summary:
        table.add_row(s["generator"], f"{s['ed_over_floor']:.2f}", str(s["points_rejected_5pct"]),
                      f"{s['fd10_over_floor']:.2f}", f"{s['mmd2']:.3g} ({s['mmd2_floor']:.2g})",
                      f"{s['coverage_90']:.2f}",
                      f"{s['peak_abs_bias']:.0%}/{s['peak_q05_abs_bias']:.0%}/{s['peak_q95_abs_bias']:.0%}",
                      f"{s['peak_spread_ratio']:.2f}", f"{s['peak_ks']:.2f} ({s['peak_ks_floor']:.2f})")
    _console().print(table)
    typer.echo(report.verdict)
    if zone is not None:
        ztable = Table(title="zone QoIs through the submodel vs the full model at the held-out points "
                             "(relative bias of the mean ± standard error, pooled over points; mean |bias| per "
                             "point; spread ratio; KS (truth floor))")
        for title in ("generator", "QoI", "bias of mean", "mean |bias| per point", "q95 bias", "spread",
                      "KS (floor)"):
            ztable.add_column(title)
        for g in zone["generator"].values:
            for q in zone["qoi"].values:
                z = zone.sel(generator=g, qoi=q)
                ztable.add_row(str(g), str(q).removeprefix("qoi_"),
                               f"{float(z.pooled_mean_bias):+.1%} ± {float(z.pooled_mean_bias_se):.1%}",
                               f"{float(abs(z.mean_bias).mean()):.1%}", f"{float(z.q95_bias.mean()):+.1%}",
                               f"{float(z.spread_ratio.mean()):.2f}",
                               f"{float(z.ks.mean()):.2f} ({float(z.ks_floor.mean()):.2f})")
        _console().print(ztable)
        from .evaluation import zone_qoi_verdict

        typer.echo(zone_qoi_verdict(zone))
    if out is not None:
        typer.echo(f"wrote {out}")


def _zone_qoi_check(gens: dict, truth, data: Path, *, seed: int):
    """The submodel check of ``uqgan evaluate --zone-qois``, with the case the held-out data was made with."""
    from .config import case_from_toml
    from .evaluation import zone_qoi_check

    if "case_toml" not in truth.attrs:
        raise ConfigError([f"--data={data}: holds no case (attribute case_toml), so the submodel cannot be built; "
                           "use a campaign written by `uqgan generate-data`"])
    try:
        return zone_qoi_check(gens, truth, case_from_toml(truth.attrs["case_toml"]), seed=seed)
    except ImportError as err:  # the FEM layer names what is missing (dolfinx) and how to install it
        raise _fail(str(err), EXIT_ENVIRONMENT) from None


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
        problems = []
        if samples < 2:
            problems.append(f"--samples={samples}: must be >= 2")
        if batch < 1:
            problems.append(f"--batch={batch}: must be >= 1")
        if target_halfwidth is not None and not target_halfwidth > 0:
            problems.append(f"--target-halfwidth={target_halfwidth}: must be > 0 (a fraction of the mean, e.g. 0.01)")
        if problems:
            raise ConfigError(problems)
        from .dataset import write_atomic
        from .montecarlo import MonteCarloError, run_montecarlo

        try:
            res = run_montecarlo(case, model, out.with_suffix(".mc"), n_samples=samples, batch=batch, seed=seed,
                                 target_halfwidth=target_halfwidth, show_progress=progress)
        except MonteCarloError as err:
            raise _fail(str(err)) from None
        except ImportError as err:
            raise _fail(str(err), EXIT_ENVIRONMENT) from None
        stats = res.statistics.merge(res.convergence)
        write_atomic(out, lambda tmp: stats.to_netcdf(tmp, engine="h5netcdf"))
        samples_path = out.with_name(out.stem + "_samples.nc")
        write_atomic(samples_path, lambda tmp: res.samples.to_netcdf(tmp, engine="h5netcdf"))
        from .plots import plot_convergence

        conv_png = plot_convergence(res.convergence, out.with_name(out.stem + "_convergence.png"))
        validation = combined = None
        if reference is not None:
            from .dataset import open_dataset
            from .montecarlo import combined_estimates, compare_with_reference, paired_cheap_qois
            from .plots import plot_qoi_ecdfs

            ref = open_dataset(reference)
            validation = compare_with_reference(res.samples, ref)
            paired = paired_cheap_qois(case, model, ref, seed=seed, batch=batch)
            combined = combined_estimates(ref, paired, res.samples)
            report = validation.merge(combined.rename({"estimate": "combined_estimate"}), join="outer")
            vpath = out.with_name(out.stem + "_validation.nc")
            write_atomic(vpath, lambda tmp: report.to_netcdf(tmp, engine="h5netcdf"))
            png = plot_qoi_ecdfs(res.samples, ref, out.with_name(out.stem + "_validation.png"))
    from rich.table import Table

    from .qoi import QOI_SPECS

    n = res.samples.sizes["sample"]
    table = Table(title=f"Monte Carlo, {n} samples ({res.statistics.attrs['generator']} + submodel): value [95 % CI]")
    table.add_column("QoI")
    table.add_column("unit")
    for stat in ("mean", "std", "q05", "q50", "q95", "q99"):
        table.add_column(stat)
    for spec in QOI_SPECS:
        e = res.statistics["estimate"].sel(qoi=f"qoi_{spec.name}")
        cells = []
        for stat in ("mean", "std", "q05", "q50", "q95", "q99"):
            v, lo, hi = (float(e.sel(statistic=stat, bound=b)) for b in ("value", "lower", "upper"))
            cells.append(f"{v:.4g} [{lo:.3g}, {hi:.3g}]")
        table.add_row(spec.name, spec.units, *cells)
    _console().print(table)
    import numpy as np

    est = res.statistics["estimate"]
    for spec in QOI_SPECS:
        q = f"qoi_{spec.name}"
        for j, thr in enumerate(res.statistics["threshold"].sel(qoi=q).values):
            if np.isfinite(thr):
                e = est.sel(qoi=q, statistic=f"p_exceed_{j}")
                typer.echo(f"P({spec.name} > {thr:.4g} {spec.units}) = {float(e.sel(bound='value')):.4f} "
                           f"[{float(e.sel(bound='lower')):.4f}, {float(e.sel(bound='upper')):.4f}]")
    typer.echo(f"wrote {out}, {samples_path} and {conv_png} ({res.n_computed} samples computed now, "
               f"{res.elapsed_s:.1f} s)")
    if validation is not None:
        vt = Table(title=f"against the full-model reference ({validation.attrs['n_reference']} runs): mean, "
                         "difference in combined standard errors, intervals overlap")
        for col in ("QoI", "reference mean [95 % CI]", "Monte Carlo mean [95 % CI]", "diff / SE", "overlap",
                    "KS p", "MFMC mean [CI] (variance reduction)", "PPI++ mean [CI]"):
            vt.add_column(col)
        for spec in QOI_SPECS:
            q = f"qoi_{spec.name}"

            def fmt(e):
                return f"{float(e.sel(bound='value')):.4g} [{float(e.sel(bound='lower')):.3g}, " \
                       f"{float(e.sel(bound='upper')):.3g}]"

            c = combined["estimate"].sel(qoi=q, statistic="mean")
            vt.add_row(spec.name, fmt(validation["reference"].sel(qoi=q, statistic="mean")),
                       fmt(validation["estimate"].sel(qoi=q, statistic="mean")),
                       f"{float(validation['difference_in_se'].sel(qoi=q, statistic='mean')):+.1f}",
                       "yes" if bool(validation["overlap"].sel(qoi=q, statistic="mean")) else "NO",
                       f"{float(validation['ks_pvalue'].sel(qoi=q)):.2g}",
                       f"{fmt(c.sel(estimator='mfmc'))} ({float(combined['mfmc_variance_reduction'].sel(qoi=q)):.1f}x)",
                       fmt(c.sel(estimator="ppi++")))
        _console().print(vt)
        typer.echo(f"wrote {vpath} and {png}")


def main() -> None:
    """Console-script entry point (``uqgan``)."""
    app(prog_name="uqgan")


if __name__ == "__main__":
    main()
