"""The ``montecarlo`` command."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..config import MonteCarloConfig, load_case
from ._app import EXIT_ENVIRONMENT, _console, _fail, _user_errors, app

if TYPE_CHECKING:  # pragma: no cover
    pass

logger = logging.getLogger(__name__)

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
        from ..data.dataset import open_dataset
        from ..generators import load_generator
        from ..montecarlo import (
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
    from .. import report

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
