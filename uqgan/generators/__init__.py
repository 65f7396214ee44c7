"""Conditional generators of boundary histories, one interface: ``fit``, ``sample``, ``save``, ``load``.

========================= ==================================================================
``pca-gaussian``          linear map from the parameters to the POD coefficients + Gaussian
                          residual with full covariance (the classical Karhunen–Loève approach)
``kriging-gaussian``      Gaussian-process (kriging) mean over the parameters + residual
                          covariance pooled from the replicates
``kriging-resample``      the same kriging mean + a training run's deviation from it, drawn
                          from the design points nearest to the parameters (not Gaussian)
``plom``                  probabilistic learning on manifolds (Soize & Ghanem 2016) of the
                          parameters and the runs' deviations from the kriging mean
``wgan-gp``               kriging mean + Gaussian residual + a conditional WGAN-GP correction
                          (Gulrajani et al. 2017), FiLM-conditioned MLPs (needs torch)
``wgan-clip``             the same with the original weight-clipping WGAN (Arjovsky et al. 2017)
========================= ==================================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ._base import Generator

__all__ = ["GENERATOR_NAMES", "Generator", "GeneratorError", "Preprocessor", "generator_class", "load_generator",
           "make_generator", "remove_model", "split_points"]

class GeneratorError(ValueError):
    """The data or parameters cannot serve the generator as asked (too few design points or
    replicates, a non-uniform time grid, parameters missing or outside the training ranges); the
    message names the problem and the fix."""


#: every generator: name -> (module of uqgan.generators that defines it, whether it needs torch). The one
#: list of generator names: the CLI, the docs and :meth:`Generator.load` read it.
_REGISTRY: dict[str, tuple[str, bool]] = {
    "wgan-gp": ("wgan", True),
    "wgan-clip": ("wgan", True),
    "kriging-gaussian": ("gaussian", False),
    "kriging-resample": ("gaussian", False),
    "pca-gaussian": ("gaussian", False),
    "plom": ("plom", False),
}
GENERATOR_NAMES = tuple(_REGISTRY)


def generator_class(name: str) -> type[Generator]:
    """The class of generator ``name``, importing its module (and torch only for those that need it).

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`GENERATOR_NAMES`.
    """
    import importlib

    if name not in _REGISTRY:
        raise ValueError(f"generator {name!r} is unknown: must be one of {', '.join(GENERATOR_NAMES)}")
    module, needs_torch = _REGISTRY[name]
    if needs_torch:
        from .._lazy import require

        require("torch", purpose=f"the {name} generator")
    importlib.import_module(f"{__name__}.{module}")
    from ._base import Generator

    return Generator.registry[name]


def make_generator(name: str, **config) -> Generator:
    """A new, unfitted generator by name (see the table above); ``config`` goes to its constructor."""
    return generator_class(name)(**config)


def load_generator(directory) -> Generator:
    """Load a generator saved by ``Generator.save`` / ``uqgan train``."""
    from ._base import Generator

    return Generator.load(directory)


#: what ``uqgan train`` writes into a model directory (the model, and an adversarial training's records)
MODEL_FILES = ("config.json", "arrays.npz", "metrics.csv", "training.png")
MODEL_DIRS = ("checkpoints",)


def remove_model(directory) -> None:
    """Remove a saved model and its training records from ``directory`` (what ``uqgan train`` wrote
    there: :data:`MODEL_FILES` and :data:`MODEL_DIRS`), nothing else."""
    import shutil
    from pathlib import Path

    d = Path(directory)
    for name in MODEL_FILES:
        (d / name).unlink(missing_ok=True)
    for name in MODEL_DIRS:
        shutil.rmtree(d / name, ignore_errors=True)


_LAZY = ("Generator", "Preprocessor", "split_points")


def __getattr__(name: str):
    # the registry above is light (the CLI reads the names at import); the base classes load numpy
    # and the dataset schema, so they resolve on first use
    if name in _LAZY:
        from . import _base

        value = getattr(_base, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
