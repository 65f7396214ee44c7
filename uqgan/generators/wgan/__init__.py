"""The conditional Wasserstein GANs ``wgan-gp`` and ``wgan-clip`` (need torch, imported lazily).

========================= ==================================================================
:mod:`.config`            frozen pydantic settings of the models and of the training loop
:mod:`.networks`          FiLM-conditioned MLPs, 1-D convolutional networks, the critic
:mod:`.model`             the generators (:class:`WGANGP`, :class:`WGANClip`): a kriging-gaussian
                          composed with a trained correction; no training loop
:mod:`.trainer`           :class:`Trainer` (``step``, ``validate``, ``run``), penalties, validator
:mod:`.checkpoint`        checkpoints (``weights_only=True``) and ``metrics.csv``
========================= ==================================================================

Names resolve lazily: importing this package (or :mod:`.config`) does not import torch.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "WGANConfig": "config", "WGANClipConfig": "config", "WGANTrainConfig": "config",
    "ConvCorrection": "networks", "ConvCritic": "networks", "Critic": "networks", "FiLMMLP": "networks",
    "ResidualGenerator": "networks",
    "WGANGP": "model", "WGANClip": "model",
    "EnergyValidator": "trainer", "Trainer": "trainer", "TrainingDiverged": "trainer", "TrainingResult": "trainer",
    "conditional_mean_penalty": "trainer", "gradient_penalty": "trainer", "train_wgan": "trainer",
    "latest_checkpoint": "checkpoint", "load_checkpoint": "checkpoint",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
