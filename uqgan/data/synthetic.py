"""Synthetic conditional distributions of boundary histories in the dataset schema, with known
answers: for testing generators and metrics without running a finite-element model."""

from __future__ import annotations

import numpy as np

__all__ = ["synthetic_bc_dataset", "synthetic_histories"]

RANGES = {"load_amplitude": (0.5, 2.0), "load_duration": (0.0, 1.0), "load_position": (0.0, 1.0)}


def _pulse(t, t0, width):
    s = (t - t0) / width
    return np.where(np.abs(s) < 1, np.cos(0.5 * np.pi * s) ** 2, 0.0)


def _modes(n_time: int, n_nodes: int, n_modes: int) -> np.ndarray:
    """Fixed smooth orthonormal space-time modes ``(n_modes, time, node, 2)``."""
    t = np.linspace(0, 1, n_time)[:, None, None]
    x = np.linspace(0, 1, n_nodes)[None, :, None]
    comp = np.array([1.0, -0.5])[None, None, :]
    raw = [np.sin((j + 1) * np.pi * t) * np.cos(j * np.pi * x / 2) * comp ** (j % 2) for j in range(n_modes)]
    flat = np.array([np.broadcast_to(r, (n_time, n_nodes, 2)).ravel() for r in raw])
    q, _ = np.linalg.qr(flat.T)
    return q.T.reshape(n_modes, n_time, n_nodes, 2)


def synthetic_histories(kind: str, params: dict[str, np.ndarray], *, n_time: int = 48, n_nodes: int = 6,
                        width_scale: float = 1.0, rng: np.random.Generator) -> np.ndarray:
    """Draw one history per parameter row: ``(m, time, node, 2)`` (see :func:`synthetic_bc_dataset`)."""
    if not (np.isfinite(width_scale) and width_scale > 0):
        raise ValueError(f"width_scale={width_scale!r}: must be > 0 (1 is the default pulse width)")
    amp = np.asarray(params["load_amplitude"], dtype=float)
    dur = np.asarray(params["load_duration"], dtype=float)
    pos = np.asarray(params["load_position"], dtype=float)
    m = amp.size
    t = np.linspace(0, 1, n_time)[None, :, None, None]
    node = np.linspace(0, 1, n_nodes)[None, None, :, None]
    comp = np.array([1.0, 0.6])[None, None, None, :]
    t0 = (0.25 + 0.3 * pos**2 + 0.1 * np.sin(3 * dur))[:, None, None, None] + 0.05 * node
    width = width_scale * (0.08 + 0.08 * dur)[:, None, None, None]
    if kind == "gaussian":
        mean = _pulse(t, t0, width) * comp * (1 + 0.5 * np.cos(2 * np.pi * pos))[:, None, None, None]
        phi = _modes(n_time, n_nodes, 4)
        sig = np.array([0.15, 0.1, 0.06, 0.03])
        xi = rng.standard_normal((m, 4))
        noise = np.einsum("mj,jtnc->mtnc", xi * sig, phi) * np.sqrt(n_time * n_nodes * 2) / 10
        u = mean + noise
    elif kind == "arrival":
        delta = rng.normal(0.0, 0.15, m)[:, None, None, None] * width
        u = _pulse(t, t0 + delta, width) * comp
    elif kind == "bimodal":
        sign = rng.choice([-1.0, 1.0], m)
        split = sign * (0.25 + 0.35 * pos) + rng.normal(0.0, 0.05, m)
        u = _pulse(t, t0 + split[:, None, None, None] * width, width) * comp
    else:
        raise ValueError(f"kind={kind!r}: must be 'gaussian', 'arrival' or 'bimodal'")
    return amp[:, None, None, None] * np.broadcast_to(u, (m, n_time, n_nodes, 2))


def synthetic_bc_dataset(kind: str = "gaussian", *, n_points: int = 40, replicates: int = 8, n_time: int = 48,
                         n_nodes: int = 6, width_scale: float = 1.0, seed: int = 0,
                         points: dict[str, np.ndarray] | None = None):
    """A BC dataset whose conditional law given the parameters is known.

    ``kind``:

    - ``"gaussian"``: u = A [m(c) + Σ_j σ_j ξ_j φ_j], ξ ~ N(0, 1): a conditional Gaussian whose mean
      m(c) is a pulse whose arrival time, width and size depend nonlinearly on the parameters; φ_j
      are fixed smooth orthonormal space-time modes.
    - ``"arrival"``: u = A · pulse(t − t0(c) − δ), δ ~ N(0, (0.15 w)²): a random arrival time, which no
      linear-Gaussian model of the POD coefficients can represent.
    - ``"bimodal"``: u = A · pulse(t − t0(c) − δ w), δ = ±(0.25 + 0.35 p) + N(0, 0.05²) with an equiprobable
      sign: the pulse arrives early or late by an amount that grows with the position p, so the
      deviation from the conditional mean has two modes whose separation depends on c (no Gaussian
      can be right).

    The pulse is ``cos²(π s / 2)`` on ``|s| < 1``, ``s = (t − t0) / w``, with arrival
    ``t0 = 0.25 + 0.3 p² + 0.1 sin(3 d) + 0.05 j / (N − 1)`` at node ``j`` of ``N`` and width
    ``w = width_scale · (0.08 + 0.08 d)`` (``d`` the duration, ``p`` the position, times in units of
    the record); the ``gaussian`` mean is ``pulse · (1, 0.6) · (1 + 0.5 cos 2π p)`` (x, y components).
    ``width_scale > 1`` widens the pulse: a smoother mean, still nonlinear in the parameters, which a
    kriging mean learns accurately from fewer design points.

    Parameters ``load_amplitude`` ∈ [0.5, 2], ``load_duration`` ∈ [0, 1], ``load_position`` ∈ [0, 1]:
    uniform and seeded, or ``points`` (name -> ``(n_points,)``); ``replicates`` draws per point.
    """
    import xarray as xr

    from ..config import PARAMETER_UNITS

    rng = np.random.default_rng(seed)
    if points is None:
        points = {k: rng.uniform(lo, hi, n_points) for k, (lo, hi) in RANGES.items()}
    n_points = len(next(iter(points.values())))
    rows = {k: np.repeat(np.asarray(v, dtype=float), replicates) for k, v in points.items()}
    u = synthetic_histories(kind, rows, n_time=n_time, n_nodes=n_nodes, width_scale=width_scale, rng=rng)
    n = n_points * replicates
    theta = np.linspace(0, 2 * np.pi, n_nodes, endpoint=False)
    ds = xr.Dataset(
        {"u_bc": (("sample", "time", "node", "component"), u, {"units": "m", "long_name": f"synthetic ({kind})"})},
        coords={"sample": np.arange(n), "point": ("sample", np.repeat(np.arange(n_points), replicates)),
                "replicate": ("sample", np.tile(np.arange(replicates), n_points)),
                "time": ("time", np.linspace(0, 1e-4, n_time), {"units": "s", "long_name": "time"}),
                "node": np.arange(n_nodes), "node_x": ("node", np.cos(theta), {"units": "m"}),
                "node_y": ("node", np.sin(theta), {"units": "m"}), "component": ["x", "y"]})
    for k, v in rows.items():
        lo, hi = RANGES[k]  # the law's domain (CF valid_min / valid_max): the generators' training ranges
        ds[k] = ("sample", v, {"units": PARAMETER_UNITS[k], "long_name": k, "role": "parameter", "valid_min": lo,
                               "valid_max": hi})
    ds.attrs.update({"synthetic_kind": kind, "seed": seed, "width_scale": width_scale})
    return ds
