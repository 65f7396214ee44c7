"""The generator interface: ``fit``, ``sample``, ``save``, ``load``, on the shared pipeline of
:mod:`uqgan.generators._preprocess`.

A generator is fitted on the training points of a split by design point (replicates stay
together) and saved as ``config.json`` + ``arrays.npz``.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .. import __version__
from ..data.io import write_atomic
from . import GeneratorError
from ._preprocess import REGISTRATIONS, Preprocessor

__all__ = ["Generator", "GeneratorError", "Preprocessor", "split_points"]

logger = logging.getLogger(__name__)


def split_points(points: np.ndarray, *, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split design-point ids into (train, validation) point ids; replicates stay together."""
    unique = np.unique(points)
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction={validation_fraction}: must lie in [0, 1)")
    n_val = int(round(validation_fraction * unique.size))
    if validation_fraction > 0 and unique.size >= 2:
        n_val = max(n_val, 1)
    if unique.size - n_val < 2:
        raise GeneratorError(f"{unique.size} design points are too few to keep {n_val} for validation: "
                         "generate more points or lower validation_fraction")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,)))
    val = np.sort(rng.choice(unique, size=n_val, replace=False)) if n_val else np.array([], dtype=unique.dtype)
    return np.setdiff1d(unique, val), val


class Generator(ABC):
    """A conditional generator of boundary histories: ``fit``, ``sample``, ``save``, ``load``.

    Subclasses set ``name`` and implement ``_fit(z, c, points)`` (whitened POD coefficients
    ``(n, k)``, conditioning ``(n, p)`` in [-1, 1], design point ids ``(n,)``) and
    ``_sample(c, rng) -> z`` (one draw per row of ``c``), plus ``_state()`` / ``_restore()`` for
    their arrays. Constructor options must be stored in ``self.config``: :meth:`load` rebuilds the
    object as ``cls(**config)``.
    """

    name: ClassVar[str]
    #: trained adversarially (a training loop with checkpoints, resumable, on a device)
    adversarial: ClassVar[bool] = False
    registry: ClassVar[dict[str, type[Generator]]] = {}

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if getattr(cls, "name", None):
            Generator.registry[cls.name] = cls

    def __init__(self, *, pod_energy: float = 0.999, max_modes: int | None = None, validation_fraction: float = 0.1,
                 seed: int = 0, registration: str = "none", arrival_fraction: float = 0.05):
        if not 0 < pod_energy <= 1:
            raise ValueError(f"pod_energy={pod_energy}: must lie in (0, 1]")
        if registration not in REGISTRATIONS:
            raise ValueError(f"registration={registration!r}: must be one of {', '.join(REGISTRATIONS)}")
        if not 0 < arrival_fraction < 1:
            raise ValueError(f"arrival_fraction={arrival_fraction}: must lie in (0, 1)")
        self.config: dict[str, Any] = {"pod_energy": pod_energy, "max_modes": max_modes,
                                       "validation_fraction": validation_fraction, "seed": seed,
                                       "registration": registration, "arrival_fraction": arrival_fraction}
        self.prep: Preprocessor | None = None
        self.split: dict[str, list[int]] = {}
        #: the directory the generator was loaded from (None for one fitted in this process)
        self.source: str | None = None

    # --------------------------------------------------------------------------------------------
    def fit(self, ds, **fit_kw) -> Generator:
        """Fit on a BC dataset (its training points; the validation points are held back)."""
        from ..data.dataset import validate_dataset

        validate_dataset(ds, source="training data")
        points = ds["point"].values if "point" in ds.coords else np.arange(ds.sizes["sample"])
        train, val = split_points(points, validation_fraction=self.config["validation_fraction"],
                                  seed=self.config["seed"])
        self.split = {"train_points": train.tolist(), "validation_points": val.tolist()}
        train_ds = ds.isel(sample=np.isin(points, train))
        self.prep, z = Preprocessor.fit_transform(
            train_ds, pod_energy=self.config["pod_energy"], max_modes=self.config["max_modes"],
            registration=self.config.get("registration", "none"),
            arrival_fraction=self.config.get("arrival_fraction", 0.05))
        c = self.prep.condition({n: train_ds[n].values for n in self.prep.parameter_names})
        val_ds = ds.isel(sample=np.isin(points, val)) if val.size else None
        self._fit(z, c, points[np.isin(points, train)], validation=val_ds, **fit_kw)
        return self

    def sample(self, params: dict[str, Any], n: int = 1, *, rng: np.random.Generator, extrapolate: bool = False):
        """``n`` histories per parameter row, in the dataset schema.

        Parameters
        ----------
        params : parameter name -> ``(m,)`` values (all conditioning parameters and the amplitude)
        n : samples per row
        rng : the randomness (keyword-only; seed it for reproducible draws)
        extrapolate : allow conditioning parameters outside the ranges the generator was trained on
            (refused by default: no generator here is trustworthy there). The amplitude is an exact
            scale and may take any value.

        Returns
        -------
        xarray.Dataset with ``u_bc(sample, time, node, component)`` [m] and the parameters along
        ``sample`` (row-major: the n samples of row 0 first), ``point`` = row index.
        """
        if self.prep is None:
            raise RuntimeError(f"{self.name} is not fitted: call fit(dataset) or load a saved model")
        if n < 1:
            raise ValueError(f"n={n}: must be >= 1")
        c = self.prep.condition(params)
        if not extrapolate:
            self.prep.check_in_range(c)
        m = c.shape[0]
        amp = self.prep.amplitude(params, m)
        c_rep = np.repeat(c, n, axis=0)
        z = self._sample(c_rep, rng)
        u = self.prep.decode(z, np.repeat(amp, n))
        return self._as_dataset(u, params, m, n)

    def _as_dataset(self, u, params, m, n):
        import xarray as xr

        from ..config import PARAMETER_UNITS

        p = self.prep
        ds = xr.Dataset(
            {"u_bc": (("sample", "time", "node", "component"), u,
                      {"units": "m", "long_name": f"zone-boundary displacement history sampled by {self.name}"})},
            coords={"sample": np.arange(m * n), "point": ("sample", np.repeat(np.arange(m), n)),
                    "replicate": ("sample", np.tile(np.arange(n), m)),
                    "time": ("time", p.time, {"units": "s"}), "node": np.arange(p.node_x.size),
                    "node_x": ("node", p.node_x, {"units": "m"}), "node_y": ("node", p.node_y, {"units": "m"}),
                    "component": ["x", "y", "z"][:p.history_shape[2]],
                    **({} if p.node_z is None else {"node_z": ("node", p.node_z, {"units": "m"})})})
        for name in (*p.parameter_names, *([p.scale_name] if p.scale_name else [])):
            vals = np.broadcast_to(np.asarray(params[name], dtype=float).reshape(-1), (m,))
            ds[name] = ("sample", np.repeat(vals, n), {"units": PARAMETER_UNITS.get(name, "1"), "role": "parameter"})
        ds.attrs.update({"generator": self.name, "uqgan_version": __version__})
        return ds

    # --------------------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``config.json`` and ``arrays.npz`` (atomically) to ``directory``."""
        if self.prep is None:
            raise RuntimeError("nothing to save: the generator is not fitted")
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        arrays = {**self.prep.to_arrays(), **{f"model_{k}": v for k, v in self._state().items()}}
        def write_npz(tmp):
            with tmp.open("wb") as f:
                np.savez(f, **arrays)

        write_atomic(d / "arrays.npz", write_npz)
        meta = {"generator": self.name, "uqgan_version": __version__, "config": self.config,
                "preprocessor": self.prep.meta(), "split": self.split, "model": self._meta()}
        write_atomic(d / "config.json", lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))
        return d

    def fingerprint(self) -> str:
        """SHA-256 of what :meth:`save` writes, less the uqgan version: equal for equal models, wherever
        they lie, and different once a model is retrained (a resumed Monte Carlo checks it)."""
        import hashlib

        if self.prep is None:
            raise RuntimeError("a generator that is not fitted has no fingerprint")
        h = hashlib.sha256()
        meta = {"generator": self.name, "config": self.config, "preprocessor": self.prep.meta(), "split": self.split,
                "model": self._meta()}
        h.update(json.dumps(meta, sort_keys=True, default=str).encode())
        arrays = {**self.prep.to_arrays(), **{f"model_{k}": v for k, v in self._state().items()}}
        for k in sorted(arrays):
            a = np.ascontiguousarray(arrays[k])
            h.update(f"{k}:{a.dtype.str}:{a.shape}".encode())
            h.update(a.tobytes())
        return h.hexdigest()

    @staticmethod
    def load(directory: str | Path) -> Generator:
        """Load any saved generator (its class is read from ``config.json``)."""
        d = Path(directory)
        if not (d / "config.json").is_file():
            raise FileNotFoundError(f"{d} holds no saved generator (config.json missing): train one with `uqgan train`")
        meta = json.loads((d / "config.json").read_text())
        name = meta["generator"]
        from . import generator_class

        try:
            cls = generator_class(name)
        except ValueError as err:
            raise ValueError(f"{d}: {err}") from None
        with np.load(d / "arrays.npz", allow_pickle=False) as f:
            a = {k: f[k] for k in f.files}
        gen = cls(**meta["config"])
        gen.prep = Preprocessor.from_saved(meta["preprocessor"], a)
        gen.split = meta["split"]
        gen._restore({k.removeprefix("model_"): v for k, v in a.items() if k.startswith("model_")}, meta["model"],
                     directory=d)
        gen.source = str(d.resolve())
        return gen

    # --------------------------------------------------------------------------------------------
    @abstractmethod
    def _fit(self, z: np.ndarray, c: np.ndarray, points: np.ndarray, *, validation=None, **kw) -> None: ...

    @abstractmethod
    def _sample(self, c: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...

    def _state(self) -> dict[str, np.ndarray]:
        return {}

    def _meta(self) -> dict:
        return {}

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict, *, directory: Path) -> None:  # noqa: B027
        """Set the model's state from what ``_state``/``_meta`` saved (nothing by default)."""
