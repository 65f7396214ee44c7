"""The pipeline every generator shares, and the generator interface.

From a BC dataset to what a generator models, and back:

1. divide each history by its ``load_amplitude`` (the response is exactly linear in it);
2. flatten ``(time, node, component)`` and fit a POD (:mod:`uqgan.reduce`): whitened coefficients
   ``z`` of unit variance;
3. map the other parameters (``load_duration``, ``load_position``) to ``c`` in [-1, 1] with the
   case's ranges;
4. a generator models ``z | c`` (subclasses: ``_fit`` and ``_sample``);
5. sampling decodes ``z``, reshapes and multiplies the amplitude back: histories in metres with the
   dataset's dims.

A generator is fitted on the training points of a split by design point (replicates stay
together) and saved as ``config.json`` + ``arrays.npz`` (+ ``model.pt`` for torch models).
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .. import __version__
from ..dataset import write_atomic
from ..reduce import POD, fit_pod

__all__ = ["Generator", "Preprocessor", "split_points"]

logger = logging.getLogger(__name__)

SCALE_PARAMETER = "load_amplitude"


def split_points(points: np.ndarray, *, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split design-point ids into (train, validation) point ids; replicates stay together."""
    unique = np.unique(points)
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction={validation_fraction}: must lie in [0, 1)")
    n_val = int(round(validation_fraction * unique.size))
    if validation_fraction > 0 and unique.size >= 2:
        n_val = max(n_val, 1)
    if unique.size - n_val < 2:
        raise ValueError(f"{unique.size} design points are too few to keep {n_val} for validation: "
                         "generate more points or lower validation_fraction")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,)))
    val = np.sort(rng.choice(unique, size=n_val, replace=False)) if n_val else np.array([], dtype=unique.dtype)
    return np.setdiff1d(unique, val), val


@dataclass
class Preprocessor:
    """Amplitude scaling, POD and parameter normalisation, fitted on training data."""

    parameter_names: tuple[str, ...]  # conditioning parameters, without the scale
    scale_name: str | None
    low: np.ndarray  # (p,) parameter ranges for the [-1, 1] map
    high: np.ndarray
    time: np.ndarray
    node_x: np.ndarray
    node_y: np.ndarray
    pod: POD

    @classmethod
    def fit(cls, ds, *, pod_energy: float = 0.999, max_modes: int | None = None) -> Preprocessor:
        params = [v for v in ds.data_vars if ds[v].attrs.get("role") == "parameter"]
        scale = SCALE_PARAMETER if SCALE_PARAMETER in params else None
        names = tuple(p for p in params if p != scale)
        low, high = _ranges(ds, names)
        x = _flat(ds, scale)
        pod = fit_pod(x, energy=pod_energy, max_modes=max_modes)
        logger.info("POD: %d modes keep %.5f of the variance; reconstruction error %.2e", pod.n_modes,
                    pod.energy_kept, pod.reconstruction_error)
        return cls(parameter_names=names, scale_name=scale, low=low, high=high, time=ds["time"].values.copy(),
                   node_x=ds["node_x"].values.copy(), node_y=ds["node_y"].values.copy(), pod=pod)

    @property
    def history_shape(self) -> tuple[int, int, int]:
        return self.time.size, self.node_x.size, 2

    def coefficients(self, ds) -> np.ndarray:
        """``(n, k)`` whitened POD coefficients of a dataset's histories."""
        return self.pod.encode(_flat(ds, self.scale_name))

    def condition(self, params: dict[str, Any]) -> np.ndarray:
        """``(m, p)`` conditioning in [-1, 1] from parameter values (arrays of one length)."""
        missing = [n for n in self.parameter_names if n not in params]
        if missing:
            raise ValueError(f"parameters {missing} are missing: the generator is conditioned on "
                             f"{list(self.parameter_names)}" + (f" (and scaled by {self.scale_name})"
                                                               if self.scale_name else ""))
        cols = [np.asarray(params[n], dtype=float).reshape(-1) for n in self.parameter_names]
        if not cols:
            return np.zeros((len(np.atleast_1d(params.get(self.scale_name, [0.0]))), 0))
        c = np.column_stack(cols)
        return 2 * (c - self.low) / np.where(self.high > self.low, self.high - self.low, 1.0) - 1

    def amplitude(self, params: dict[str, Any], m: int) -> np.ndarray:
        if self.scale_name is None:
            return np.ones(m)
        if self.scale_name not in params:
            raise ValueError(f"parameter {self.scale_name!r} is missing (the histories scale with it)")
        return np.broadcast_to(np.asarray(params[self.scale_name], dtype=float).reshape(-1), (m,)).copy()

    def decode(self, z: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
        """``(n, k)`` coefficients and ``(n,)`` amplitudes -> ``(n, time, node, 2)`` histories [m]."""
        x = self.pod.decode(z) * amplitude[:, None]
        return x.reshape(z.shape[0], *self.history_shape)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {**self.pod.to_arrays(), "low": self.low, "high": self.high, "time": self.time, "node_x": self.node_x,
                "node_y": self.node_y}

    def meta(self) -> dict:
        return {"parameter_names": list(self.parameter_names), "scale_name": self.scale_name}

    @classmethod
    def from_saved(cls, meta: dict, a: dict[str, np.ndarray]) -> Preprocessor:
        return cls(parameter_names=tuple(meta["parameter_names"]), scale_name=meta["scale_name"], low=a["low"],
                   high=a["high"], time=a["time"], node_x=a["node_x"], node_y=a["node_y"], pod=POD.from_arrays(a))


def _flat(ds, scale: str | None) -> np.ndarray:
    u = ds["u_bc"].transpose("sample", "time", "node", "component").values
    x = u.reshape(u.shape[0], -1)
    if scale is not None:
        x = x / ds[scale].values[:, None]
    return x


def _ranges(ds, names) -> tuple[np.ndarray, np.ndarray]:
    """Parameter ranges from the case the data was made with, else from the data."""
    low, high = [], []
    case = None
    if "case_toml" in ds.attrs:
        from ..config import case_from_toml

        try:
            case = case_from_toml(ds.attrs["case_toml"])
        except ValueError:
            case = None
    for n in names:
        r = getattr(case.parameters, n, None) if case is not None else None
        if r is not None:
            low.append(r.low)
            high.append(r.high)
        else:
            low.append(float(ds[n].min()))
            high.append(float(ds[n].max()))
    return np.array(low, dtype=float), np.array(high, dtype=float)


class Generator(ABC):
    """A conditional generator of boundary histories: ``fit``, ``sample``, ``save``, ``load``.

    Subclasses set ``name`` and implement ``_fit(z, c, points)`` (whitened POD coefficients
    ``(n, k)``, conditioning ``(n, p)`` in [-1, 1], design point ids ``(n,)``) and
    ``_sample(c, rng) -> z`` (one draw per row of ``c``), plus ``_state()`` / ``_restore()`` for
    their arrays. Constructor options must be stored in ``self.config``: :meth:`load` rebuilds the
    object as ``cls(**config)``.
    """

    name: ClassVar[str]
    registry: ClassVar[dict[str, type[Generator]]] = {}

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if getattr(cls, "name", None):
            Generator.registry[cls.name] = cls

    def __init__(self, *, pod_energy: float = 0.999, max_modes: int | None = None, validation_fraction: float = 0.1,
                 seed: int = 0):
        if not 0 < pod_energy <= 1:
            raise ValueError(f"pod_energy={pod_energy}: must lie in (0, 1]")
        self.config: dict[str, Any] = {"pod_energy": pod_energy, "max_modes": max_modes,
                                       "validation_fraction": validation_fraction, "seed": seed}
        self.prep: Preprocessor | None = None
        self.split: dict[str, list[int]] = {}

    # --------------------------------------------------------------------------------------------
    def fit(self, ds, **fit_kw) -> Generator:
        """Fit on a BC dataset (its training points; the validation points are held back)."""
        from ..dataset import validate_dataset

        validate_dataset(ds, source="training data")
        points = ds["point"].values if "point" in ds.coords else np.arange(ds.sizes["sample"])
        train, val = split_points(points, validation_fraction=self.config["validation_fraction"],
                                  seed=self.config["seed"])
        self.split = {"train_points": train.tolist(), "validation_points": val.tolist()}
        train_ds = ds.isel(sample=np.isin(points, train))
        self.prep = Preprocessor.fit(train_ds, pod_energy=self.config["pod_energy"],
                                     max_modes=self.config["max_modes"])
        z = self.prep.coefficients(train_ds)
        c = self.prep.condition({n: train_ds[n].values for n in self.prep.parameter_names})
        val_ds = ds.isel(sample=np.isin(points, val)) if val.size else None
        self._fit(z, c, points[np.isin(points, train)], validation=val_ds, **fit_kw)
        return self

    def sample(self, params: dict[str, Any], n: int = 1, *, rng: np.random.Generator):
        """``n`` histories per parameter row, in the dataset schema.

        Parameters
        ----------
        params : parameter name -> ``(m,)`` values (all conditioning parameters and the amplitude)
        n : samples per row
        rng : the randomness (keyword-only; seed it for reproducible draws)

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
                    "component": ["x", "y"]})
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

    @staticmethod
    def load(directory: str | Path) -> Generator:
        """Load any saved generator (its class is read from ``config.json``)."""
        d = Path(directory)
        if not (d / "config.json").is_file():
            raise FileNotFoundError(f"{d} holds no saved generator (config.json missing): train one with `uqgan train`")
        meta = json.loads((d / "config.json").read_text())
        name = meta["generator"]
        if name not in Generator.registry:
            _import_module_of(name)
        cls = Generator.registry.get(name)
        if cls is None:
            raise ValueError(f"{d}: unknown generator {name!r}; known: {sorted(Generator.registry)}")
        with np.load(d / "arrays.npz", allow_pickle=False) as f:
            a = {k: f[k] for k in f.files}
        gen = cls(**meta["config"])
        gen.prep = Preprocessor.from_saved(meta["preprocessor"], a)
        gen.split = meta["split"]
        gen._restore({k.removeprefix("model_"): v for k, v in a.items() if k.startswith("model_")}, meta["model"],
                     directory=d)
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


def _import_module_of(name: str) -> None:
    """Import the module defining generator ``name`` (torch only for the adversarial ones)."""
    import importlib

    module = {"pca-gaussian": "gaussian", "kriging-gaussian": "gaussian", "wgan-gp": "wgan", "wgan-clip": "wgan"}
    if name in module:
        if module[name] == "wgan":
            from .._lazy import require

            require("torch", purpose=f"loading a {name} model")
        importlib.import_module(f"uqgan.generators.{module[name]}")
