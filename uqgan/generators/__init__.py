"""Conditional generators of boundary histories, one interface: ``fit``, ``sample``, ``save``, ``load``.

========================= ==================================================================
``pca-gaussian``          linear map from the parameters to the POD coefficients + Gaussian
                          residual with full covariance (the classical Karhunen–Loève approach)
``kriging-gaussian``      Gaussian-process (kriging) mean over the parameters + residual
                          covariance pooled from the replicates
``kriging-resample``      the same kriging mean + a training run's deviation from it, drawn
                          from the design points nearest to the parameters (not Gaussian)
``wgan-gp``               kriging mean + a conditional WGAN-GP (Gulrajani et al. 2017) of the
                          runs' deviations from it given c, FiLM-conditioned MLPs (needs torch)
``wgan-clip``             the same with the original weight-clipping WGAN (Arjovsky et al. 2017)
========================= ==================================================================
"""

from __future__ import annotations

from ._base import Generator, GeneratorError, Preprocessor, split_points

__all__ = ["ADVERSARIAL_NAMES", "GENERATOR_NAMES", "Generator", "GeneratorError", "Preprocessor", "is_adversarial",
           "load_generator", "make_generator", "split_points"]

GENERATOR_NAMES = ("wgan-gp", "wgan-clip", "kriging-gaussian", "kriging-resample", "pca-gaussian")
#: the generators trained adversarially: their ``fit`` takes ``directory``, ``resume`` and
#: ``show_progress`` (checkpoints, metrics.csv, training.png) and their options ``device`` and ``steps``
ADVERSARIAL_NAMES = ("wgan-gp", "wgan-clip")


def is_adversarial(name: str) -> bool:
    """Whether generator ``name`` is trained adversarially (see :data:`ADVERSARIAL_NAMES`)."""
    return name in ADVERSARIAL_NAMES


def make_generator(name: str, **config) -> Generator:
    """A new, unfitted generator by name (see the table above); ``config`` goes to its constructor."""
    if name not in GENERATOR_NAMES:
        raise ValueError(f"generator {name!r} is unknown: must be one of {', '.join(GENERATOR_NAMES)}")
    if name in ("pca-gaussian", "kriging-gaussian", "kriging-resample"):
        from . import gaussian  # noqa: F401
    else:
        from .._lazy import require

        require("torch", purpose=f"the {name} generator")
        from .wgan import model  # noqa: F401
    return Generator.registry[name](**config)


def load_generator(directory) -> Generator:
    """Load a generator saved by ``Generator.save`` / ``uqgan train``."""
    return Generator.load(directory)
