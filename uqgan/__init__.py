"""uqgan: uncertainty quantification in a submodel zone under fast dynamics.

The workflow, one room per stage: a case (:mod:`uqgan.config`) → a full-model campaign
(:mod:`uqgan.data`, FEniCSx) → a generator of the zone's boundary histories given the parameters
(:mod:`uqgan.generators`) → Monte Carlo through the zone's submodel, validated against full-model
runs (:mod:`uqgan.montecarlo`, :mod:`uqgan.stats`). Every output is an xarray object.

This docstring runs as a doctest; the two steps that need FEniCSx (the campaign and the
submodel) are shown as comments, and synthetic histories in the campaign's schema stand in for
the campaign's.

>>> import numpy as np
>>> import uqgan
>>> case = uqgan.default_case()                     # or uqgan.load_case("case.toml")
>>> case.parameter_names
('load_amplitude', 'load_duration', 'load_position')
>>> config = uqgan.CampaignConfig(n_samples=64, replicates=4, seed=0)
>>> # uqgan.run_campaign(case, "data", **config.model_dump())   # full-model runs (dolfinx)
>>> # data = uqgan.open_dataset("data")
>>> from uqgan.data.synthetic import synthetic_bc_dataset
>>> data = synthetic_bc_dataset("gaussian", n_points=16, replicates=4, seed=0)
>>> data["u_bc"].dims
('sample', 'time', 'node', 'component')
>>> gen = uqgan.make_generator("kriging-gaussian", seed=0).fit(data)
>>> draws = gen.sample({"load_amplitude": [1.0], "load_duration": [0.5], "load_position": [0.5]}, 8,
...                    rng=np.random.default_rng(1))
>>> draws.sizes["sample"], draws["u_bc"].attrs["units"]
(8, 'm')
>>> # chain = uqgan.CheapChain(case, gen)                     # generator + submodel (dolfinx)
>>> # result = uqgan.run_montecarlo(chain, "mc", uqgan.MonteCarloConfig(n_samples=2048))
>>> # result.statistics["estimate"].sel(statistic="mean")    # with 95 % intervals

``import uqgan`` is light: dolfinx, torch and matplotlib load only inside the functions that use
them, and the public names below resolve on first use.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("uqgan")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

# public name -> module that defines it
_LAZY = {
    "CampaignConfig": "uqgan.config",
    "CheapChain": "uqgan.montecarlo",
    "MonteCarloConfig": "uqgan.config",
    "load_generator": "uqgan.generators",
    "make_generator": "uqgan.generators",
    "run_montecarlo": "uqgan.montecarlo",
    "validate_against_reference": "uqgan.montecarlo",
    "CaseConfig": "uqgan.config",
    "load_case": "uqgan.config",
    "default_case": "uqgan.config",
    "ConfigError": "uqgan.config",
    "open_dataset": "uqgan.data.dataset",
    "DatasetError": "uqgan.data.dataset",
    "run_campaign": "uqgan.data.campaign",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'uqgan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
