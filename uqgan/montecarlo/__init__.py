"""Monte Carlo of the zone QoIs through the cheap chain, and its validation against full-model runs.

========================================= =======================================================
:class:`~.chain.CheapChain`                parameters → generator → submodel → zone QoIs (the one chain)
:func:`~.driver.run_montecarlo`            resumable chunks of the chain over the case's ranges
:class:`~.driver.MonteCarloOutputs`        the files a run writes (``STATS.nc`` and its neighbours)
:func:`~.driver.write_results`             writes them (and ``write_validation`` the validation's)
:func:`~.statistics.qoi_statistics`        statistics with confidence intervals (xarray)
:func:`~.validation.validate_against_reference` comparison with full-model runs, MFMC and PPI++
:func:`~.validation.equal_accuracy`        the saving of a biased chain at equal accuracy
========================================= =======================================================
"""

from __future__ import annotations

from .chain import CheapChain
from .driver import (
    MonteCarloError,
    MonteCarloOutputs,
    MonteCarloResult,
    run_montecarlo,
    write_results,
    write_validation,
)
from .statistics import QUANTILES, qoi_statistics
from .validation import (
    Validation,
    combined_estimates,
    compare_with_reference,
    equal_accuracy,
    format_target,
    validate_against_reference,
)

__all__ = ["QUANTILES", "CheapChain", "MonteCarloError", "MonteCarloOutputs", "MonteCarloResult", "Validation",
           "combined_estimates", "compare_with_reference", "equal_accuracy", "format_target", "qoi_statistics",
           "run_montecarlo", "validate_against_reference", "write_results", "write_validation"]
