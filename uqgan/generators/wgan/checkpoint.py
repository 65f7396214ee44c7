"""Checkpoints of the WGAN training loop and its ``metrics.csv``: written atomically, read with
``torch.load(weights_only=True)`` (tensors and plain containers only).

A checkpoint stores the models, the optimisers, both random generators' states, the step, the
validation history and the best generator so far, the settings, the seed and the package version
(format :data:`CHECKPOINT_FORMAT`), so a resumed run follows the trajectory of an uninterrupted one.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ...data.io import write_atomic

__all__ = ["CHECKPOINT_FORMAT", "METRICS_COLUMNS", "MetricsLog", "latest_checkpoint", "load_checkpoint",
           "save_checkpoint", "to_cpu"]

METRICS_COLUMNS = ("step", "critic_loss", "generator_loss", "penalty", "validation_energy_distance", "wall_time_s")
CHECKPOINT_FORMAT = 1


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The newest ``<directory>/checkpoints/step_XXXXXXX.pt``, or None."""
    d = Path(directory) / "checkpoints"
    found = []
    for p in d.glob("step_*.pt"):
        try:
            found.append((int(p.stem.removeprefix("step_")), p))
        except ValueError:
            continue
    return max(found)[1] if found else None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)`` (tensors and plain containers only),
    onto the CPU.

    Keys: ``format``, ``uqgan_version``, ``seed``, ``config`` (the training settings), ``model_config``,
    ``step``, ``generator``, ``critic``,
    ``optimizer_generator``, ``optimizer_critic``, ``torch_rng`` (ByteTensor), ``numpy_rng`` (the
    bit generator state as JSON), ``validation_history`` (``[step, value]`` pairs), ``best_step``,
    ``best_value``, ``best_generator``, ``rollbacks``, ``lr_scale``, ``accumulators``,
    ``wall_time_s``.
    """
    import torch

    return torch.load(Path(path), map_location="cpu", weights_only=True)


def to_cpu(obj):
    """A deep copy of ``obj`` (tensors, dicts, lists, tuples) with every tensor on the CPU."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_cpu(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(to_cpu(v) for v in obj)
    return copy.deepcopy(obj)


def save_checkpoint(ck: dict[str, Any], directory: str | Path, *, keep: int | None) -> Path:
    """Write ``ck`` to ``<directory>/checkpoints/step_XXXXXXX.pt`` (atomically) and delete all but the
    newest ``keep`` checkpoints (None keeps all)."""
    import torch

    d = Path(directory) / "checkpoints"
    path = d / f"step_{ck['step']:07d}.pt"
    write_atomic(path, lambda tmp: torch.save(ck, tmp))
    if keep is not None:
        for p in sorted(d.glob("step_*.pt"))[:-keep]:
            p.unlink(missing_ok=True)
    return path


class MetricsLog:
    """``metrics.csv``: one row per ``log_every`` steps, columns :data:`METRICS_COLUMNS`; ``path=None``
    writes nothing."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path is not None else None

    def start(self) -> None:
        """A new file holding the header alone."""
        if self.path is not None:
            write_atomic(self.path, lambda tmp: tmp.write_text(",".join(METRICS_COLUMNS) + "\n"))

    def truncate(self, step: int) -> None:
        """Keep the header and the rows up to ``step`` (a resumed or rolled-back run rewrites the rest)."""
        if self.path is None:
            return
        if not self.path.is_file():
            self.start()
            return
        keep = [ln for ln in self.path.read_text().splitlines()[1:] if ln and int(ln.split(",")[0]) <= step]
        write_atomic(self.path, lambda tmp: tmp.write_text("\n".join([",".join(METRICS_COLUMNS), *keep]) + "\n"))

    def append(self, row: tuple) -> None:
        """``(step, critic loss, generator loss, penalty, validation ED, wall time)``."""
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(",".join([str(row[0]), *(f"{v:.8g}" for v in row[1:])]) + "\n")
