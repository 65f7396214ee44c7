"""The pipeline every generator shares, and the generator interface.

From a BC dataset to what a generator models, and back:

1. divide each history by its ``load_amplitude`` (the response is exactly linear in it);
2. optionally (``registration="arrival"``) shift each history in time so that its wavefront arrives
   at the training data's earliest arrival (:mod:`uqgan.generators._registration`); the shift becomes the first
   coordinate of ``z``, whitened;
3. flatten ``(time, node, component)`` and fit a POD (:mod:`uqgan.generators._pod`): whitened coefficients
   ``z`` of unit variance;
4. map the other parameters (``load_duration``, ``load_position``) to ``c`` in [-1, 1] with the
   case's ranges;
5. a generator models ``z | c`` (subclasses: ``_fit`` and ``_sample``);
6. sampling decodes ``z``, reshapes and multiplies the amplitude back: histories in metres with the
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
from ..data.dataset import variables_with_role
from ..data.io import write_atomic
from ._pod import POD, fit_pod

__all__ = ["Generator", "GeneratorError", "Preprocessor", "split_points"]

logger = logging.getLogger(__name__)

SCALE_PARAMETER = "load_amplitude"


class GeneratorError(ValueError):
    """The data or parameters cannot serve the generator as asked (too few design points or
    replicates, a non-uniform time grid, parameters missing or outside the training ranges); the
    message names the problem and the fix."""


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


REGISTRATIONS = ("none", "arrival")


@dataclass(frozen=True)
class ArrivalShift:
    """The arrival-time registration fitted on training data (see :mod:`uqgan.generators._registration`)."""

    fraction: float  # arrival = first time the boundary displacement norm reaches fraction * max
    t0: float  # earliest training arrival [s]: every history is shifted to arrive there
    pad: int  # steps the registered grid starts before t = 0 (>= the largest training shift)
    dt: float  # the data's uniform time step [s]
    mean: float  # mean and standard deviation of the training shifts [s], to whiten them
    std: float

    @classmethod
    def fit(cls, arrivals: np.ndarray, time: np.ndarray, *, fraction: float) -> ArrivalShift:
        """From the training histories' arrival times [s] (:func:`uqgan.generators._registration.arrival_times`
        with this ``fraction``) on the uniform grid ``time``."""
        dt = _uniform_step(time)
        delta = arrivals - arrivals.min()
        return cls(fraction=fraction, t0=float(arrivals.min()), pad=int(np.ceil(delta.max() / dt)) + 1, dt=dt,
                   mean=float(delta.mean()), std=float(max(delta.std(ddof=1), dt)))

    def register(self, u: np.ndarray, time: np.ndarray, *,
                 arrivals: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(n, T, ...)`` histories -> (shifts ``(n,)`` [s], registered ``(n, T + pad, ...)``);
        ``arrivals`` when they are known already (else they are measured)."""
        from ._registration import arrival_times, shift_histories

        if arrivals is None:
            arrivals = arrival_times(u, time, fraction=self.fraction)
        delta = arrivals - self.t0
        return delta, shift_histories(u, delta / self.dt, pad_before=self.pad)

    def unregister(self, delta: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Registered ``(n, T + pad, ...)`` histories and their shifts [s] -> ``(n, T, ...)``."""
        from ._registration import shift_histories

        return shift_histories(v, self.pad - np.asarray(delta) / self.dt, n_out=v.shape[1] - self.pad)

    def to_array(self) -> np.ndarray:
        return np.array([self.fraction, self.t0, self.pad, self.dt, self.mean, self.std])

    @classmethod
    def from_array(cls, a: np.ndarray) -> ArrivalShift:
        return cls(fraction=float(a[0]), t0=float(a[1]), pad=int(a[2]), dt=float(a[3]), mean=float(a[4]),
                   std=float(a[5]))


def _uniform_step(time: np.ndarray) -> float:
    steps = np.diff(np.asarray(time, dtype=float))
    if steps.size == 0 or not np.allclose(steps, steps[0], rtol=1e-6, atol=0):
        raise GeneratorError("registration='arrival' needs histories on a uniform time grid (the dataset's `time`)")
    return float(steps[0])


@dataclass
class Preprocessor:
    """Amplitude scaling, optional arrival registration, POD and parameter normalisation, fitted on
    training data."""

    parameter_names: tuple[str, ...]  # conditioning parameters, without the scale
    scale_name: str | None
    low: np.ndarray  # (p,) parameter ranges for the [-1, 1] map
    high: np.ndarray
    time: np.ndarray
    node_x: np.ndarray
    node_y: np.ndarray
    pod: POD
    shift: ArrivalShift | None = None

    @classmethod
    def fit(cls, ds, **options) -> Preprocessor:
        """Fitted on ``ds`` (options as :meth:`fit_transform`)."""
        return cls.fit_transform(ds, **options)[0]

    @classmethod
    def fit_transform(cls, ds, *, pod_energy: float = 0.999, max_modes: int | None = None,
                      registration: str = "none", arrival_fraction: float = 0.05) -> tuple[Preprocessor, np.ndarray]:
        """Fitted on ``ds``, and ``ds``'s coefficients ``(n, k)`` (what :meth:`coefficients` gives,
        without registering and encoding the histories a second time)."""
        if registration not in REGISTRATIONS:
            raise ValueError(f"registration={registration!r}: must be one of {', '.join(REGISTRATIONS)}")
        params = variables_with_role(ds, "parameter")
        scale = SCALE_PARAMETER if SCALE_PARAMETER in params else None
        names = tuple(p for p in params if p != scale)
        low, high = _ranges(ds, names)
        u = _histories(ds, scale)
        shift = delta = None
        if registration == "arrival":
            from ._registration import arrival_times

            arrivals = arrival_times(u, ds["time"].values, fraction=arrival_fraction)
            shift = ArrivalShift.fit(arrivals, ds["time"].values, fraction=arrival_fraction)
            delta, u = shift.register(u, ds["time"].values, arrivals=arrivals)
            logger.info("arrival registration: shifts of 0-%.1f us (mean %.1f us), %d steps of padding",
                        1e6 * delta.max(), 1e6 * shift.mean, shift.pad)
        pod = fit_pod(u.reshape(u.shape[0], -1), energy=pod_energy, max_modes=max_modes)
        logger.info("POD: %d modes keep %.5f of the variance; reconstruction error %.2e", pod.n_modes,
                    pod.energy_kept, pod.reconstruction_error)
        prep = cls(parameter_names=names, scale_name=scale, low=low, high=high, time=ds["time"].values.copy(),
                   node_x=ds["node_x"].values.copy(), node_y=ds["node_y"].values.copy(), pod=pod, shift=shift)
        return prep, prep._encode(delta, u)

    @property
    def history_shape(self) -> tuple[int, int, int]:
        return self.time.size, self.node_x.size, 2

    @property
    def n_coefficients(self) -> int:
        """Length of ``z``: the POD modes, plus the whitened arrival shift when registered."""
        return self.pod.n_modes + (self.shift is not None)

    def coefficients(self, ds) -> np.ndarray:
        """``(n, k)`` whitened coefficients of a dataset's histories (the shift first when registered)."""
        u = _histories(ds, self.scale_name)
        if self.shift is None:
            return self._encode(None, u)
        return self._encode(*self.shift.register(u, self.time))

    def _encode(self, delta: np.ndarray | None, v: np.ndarray) -> np.ndarray:
        """Shifts [s] (None unregistered) and (registered) histories -> whitened coefficients."""
        z = self.pod.encode(v.reshape(v.shape[0], -1))
        return z if delta is None else np.column_stack([(delta - self.shift.mean) / self.shift.std, z])

    def condition(self, params: dict[str, Any]) -> np.ndarray:
        """``(m, p)`` conditioning in [-1, 1] from parameter values (arrays of one length)."""
        missing = [n for n in self.parameter_names if n not in params]
        if missing:
            raise GeneratorError(f"parameters {missing} are missing: the generator is conditioned on "
                             f"{list(self.parameter_names)}" + (f" (and scaled by {self.scale_name})"
                                                               if self.scale_name else ""))
        cols = [np.asarray(params[n], dtype=float).reshape(-1) for n in self.parameter_names]
        if not cols:
            return np.zeros((len(np.atleast_1d(params.get(self.scale_name, [0.0]))), 0))
        c = np.column_stack(cols)
        return 2 * (c - self.low) / np.where(self.high > self.low, self.high - self.low, 1.0) - 1

    def check_in_range(self, c: np.ndarray, *, tol: float = 1e-9) -> None:
        """Raise ValueError naming the first parameter value outside the training ranges."""
        bad = np.argwhere(np.abs(c) > 1 + tol)
        if bad.size:
            row, j = (int(v) for v in bad[0])
            name = self.parameter_names[j]
            value = self.low[j] + (c[row, j] + 1) / 2 * (self.high[j] - self.low[j])
            raise GeneratorError(f"{name}={value:.6g} (row {row}) lies outside the range the generator was trained on, "
                             f"[{self.low[j]:.6g}, {self.high[j]:.6g}] ({bad.shape[0]} value(s) outside in all): "
                             "generators do not extrapolate reliably; keep the parameters in that range or "
                             "allow extrapolation explicitly")

    def amplitude(self, params: dict[str, Any], m: int) -> np.ndarray:
        if self.scale_name is None:
            return np.ones(m)
        if self.scale_name not in params:
            raise GeneratorError(f"parameter {self.scale_name!r} is missing (the histories scale with it)")
        return np.broadcast_to(np.asarray(params[self.scale_name], dtype=float).reshape(-1), (m,)).copy()

    def decode(self, z: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
        """``(n, k)`` coefficients and ``(n,)`` amplitudes -> ``(n, time, node, 2)`` histories [m]."""
        z = np.asarray(z, dtype=float)
        if self.shift is None:
            x = self.pod.decode(z).reshape(z.shape[0], *self.history_shape)
        else:
            delta = z[:, 0] * self.shift.std + self.shift.mean
            v = self.pod.decode(z[:, 1:]).reshape(z.shape[0], -1, *self.history_shape[1:])
            x = self.shift.unregister(delta, v)
        return x * amplitude[:, None, None, None]

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {**self.pod.to_arrays(), "low": self.low, "high": self.high, "time": self.time, "node_x": self.node_x,
               "node_y": self.node_y}
        if self.shift is not None:
            out["arrival_shift"] = self.shift.to_array()
        return out

    def meta(self) -> dict:
        return {"parameter_names": list(self.parameter_names), "scale_name": self.scale_name,
                "registration": "none" if self.shift is None else "arrival"}

    @classmethod
    def from_saved(cls, meta: dict, a: dict[str, np.ndarray]) -> Preprocessor:
        shift = ArrivalShift.from_array(a["arrival_shift"]) if "arrival_shift" in a else None
        return cls(parameter_names=tuple(meta["parameter_names"]), scale_name=meta["scale_name"], low=a["low"],
                   high=a["high"], time=a["time"], node_x=a["node_x"], node_y=a["node_y"], pod=POD.from_arrays(a),
                   shift=shift)


def _histories(ds, scale: str | None) -> np.ndarray:
    """``(n, time, node, component)`` histories divided by the scale parameter."""
    u = ds["u_bc"].transpose("sample", "time", "node", "component").values.astype(float)
    if scale is not None:
        u = u / ds[scale].values[:, None, None, None]
    return u


def _ranges(ds, names) -> tuple[np.ndarray, np.ndarray]:
    """Parameter ranges from the case the data was made with, else from the variables' CF attributes
    ``valid_min`` / ``valid_max``, else from the data."""
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
        elif "valid_min" in ds[n].attrs and "valid_max" in ds[n].attrs:
            low.append(float(ds[n].attrs["valid_min"]))
            high.append(float(ds[n].attrs["valid_max"]))
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
