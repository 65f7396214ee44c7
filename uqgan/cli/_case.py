"""Commands on a case: ``init``, ``check``, ``solve``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..config import ConfigError, default_case, load_case, write_case
from ._app import EXIT_ENVIRONMENT, _console, _fail, _user_errors, app

if TYPE_CHECKING:  # pragma: no cover
    from ..config import CaseConfig

logger = logging.getLogger(__name__)

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
    from .. import report

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
        from ..fem.parallel import full_model, is_root

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

    from .. import report

    _console().print(report.solve_table(case, params, model, solution))

    if xdmf is not None:
        written = model.write_xdmf(xdmf, solution)
        typer.echo(f"wrote {written} (+ {written.with_suffix('.h5').name})")
    if out is not None or history is not None:
        from ..data.io import write_atomic
        from ..data.runs import run_dataset, run_record

    if out is not None:
        record = run_record(case, params, solution, case_file=str(case_file))
        write_atomic(out, lambda tmp: tmp.write_text(json.dumps(record, indent=2) + "\n"))
        typer.echo(f"wrote {out}")
    if history is not None:
        ds = run_dataset(case, params, solution, model.zone.boundary_coords)
        write_atomic(history, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))
        typer.echo(f"wrote {history}")
