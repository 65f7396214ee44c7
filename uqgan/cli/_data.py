"""Commands on full-model data: ``generate-data``, ``plot-data``, ``submodel``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..config import CampaignConfig, ConfigError, load_case
from ._app import EXIT_ENVIRONMENT, EXIT_FAILED_SAMPLES, _fail, _user_errors, app

if TYPE_CHECKING:  # pragma: no cover
    pass

logger = logging.getLogger(__name__)

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
    from ..data.campaign import CampaignError, run_campaign

    with _user_errors():
        case = load_case(case_file)
        if ranges:
            from ..config import restrict_ranges

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
        from ..data.analysis import replicate_variance_report, variance_summary_line
        from ..data.dataset import open_dataset

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
    from .. import plots
    from ..data.dataset import open_dataset

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
        from ..data.analysis import replicate_variance_report, variance_summary_line

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
        from ..data.dataset import open_dataset
        from ..data.io import write_atomic

        ds = open_dataset(bcs)
        try:
            from ..fem.submodel import solve_submodel

            result = solve_submodel(case, ds, batch_size=batch, interpolation=interpolation,
                                    show_progress=progress)
        except ImportError as err:
            raise _fail(str(err), EXIT_ENVIRONMENT) from None
        write_atomic(out, lambda tmp: result.to_netcdf(tmp, engine="h5netcdf"))
    n = result.sizes["sample"]
    wall = result.attrs["submodel_wall_time_s"]
    typer.echo(f"wrote {out}: QoIs of {n} samples in {wall:.2f} s ({1e3 * wall / n:.1f} ms per sample)")
