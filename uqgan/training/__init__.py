"""Training loops: they take models, data, a config and the random generators, and own nothing else.

Models (:mod:`uqgan.generators`) hold no training loop; the loop here writes checkpoints, metrics
and plots and can resume a run along the same trajectory. Names resolve lazily, so importing
this package does not import torch.

================================ ============================================================
:func:`train_wgan`               WGAN-GP / weight-clipping WGAN loop (checkpoints, resume,
                                 divergence guard, validation, best model)
:class:`WGANTrainConfig`         its validated settings
:class:`TrainingDiverged`        raised when the divergence guard gives up
:func:`gradient_penalty`         the WGAN-GP penalty (Gulrajani et al. 2017, eq. 3)
:func:`conditional_mean_penalty` unbiased ``E_c ‖E[G | c]‖²`` of a correction, from two draws
================================ ============================================================
"""

from __future__ import annotations

import importlib

__all__ = ["TrainingDiverged", "TrainingResult", "WGANTrainConfig", "conditional_mean_penalty", "gradient_penalty",
           "latest_checkpoint", "load_checkpoint", "train_wgan"]


def __getattr__(name: str):
    if name in __all__:
        value = getattr(importlib.import_module("uqgan.training.wgan"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'uqgan.training' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
