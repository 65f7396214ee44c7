"""The pipeline every generator shares: from a BC dataset to what a generator models, and back.

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
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.dataset import variables_with_role
from . import GeneratorError
from ._pod import POD, fit_pod

__all__ = ["REGISTRATIONS", "SCALE_PARAMETER", "ArrivalShift", "Preprocessor"]

logger = logging.getLogger(__name__)

SCALE_PARAMETER = "load_amplitude"


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
    node_z: np.ndarray | None = None  # 3-D mesh cases: histories have components x, y, z

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
                   node_x=ds["node_x"].values.copy(), node_y=ds["node_y"].values.copy(), pod=pod, shift=shift,
                   node_z=ds["node_z"].values.copy() if "node_z" in ds.coords else None)
        return prep, prep._encode(delta, u)

    @property
    def history_shape(self) -> tuple[int, int, int]:
        return self.time.size, self.node_x.size, 2 if self.node_z is None else 3

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
        if self.node_z is not None:
            out["node_z"] = self.node_z
        return out

    def meta(self) -> dict:
        return {"parameter_names": list(self.parameter_names), "scale_name": self.scale_name,
                "registration": "none" if self.shift is None else "arrival"}

    @classmethod
    def from_saved(cls, meta: dict, a: dict[str, np.ndarray]) -> Preprocessor:
        shift = ArrivalShift.from_array(a["arrival_shift"]) if "arrival_shift" in a else None
        return cls(parameter_names=tuple(meta["parameter_names"]), scale_name=meta["scale_name"], low=a["low"],
                   high=a["high"], time=a["time"], node_x=a["node_x"], node_y=a["node_y"], pod=POD.from_arrays(a),
                   shift=shift, node_z=a["node_z"] if "node_z" in a else None)


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
