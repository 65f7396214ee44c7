"""Registration of arrival times: a shift in time that lines up the wavefronts of boundary histories.

Why: the hidden material field outside the zone changes the wave speed along the path, so at one
parameter point the replicates' wavefronts arrive at different times. Their pointwise mean is a
smeared pulse and their residual around it is a shifted pulse minus a smeared one, which no
Gaussian of the POD coefficients represents: measured on the default case's study data, a Gaussian
with the exact per-point covariance of the raw histories lowers the mean peak von Mises stress in
the zone by 14 %, the same Gaussian after registration by 0.4 %.

Method: each history ``x(t)`` gets an arrival time ``t_a``, the first time the norm of the whole
boundary displacement ``e(t) = ‖x(t)‖₂`` reaches ``fraction · max e``. It is shifted so that every
arrival falls on the earliest arrival ``t_0`` of the training data:
``v(τ) = x(τ + δ)``, ``δ = t_a − t_0``, on a grid ``τ = −K Δt, …, T`` that starts ``K`` steps before
0 so that nothing of ``x`` is cut (``K Δt`` ≥ the largest ``δ``); before ``t = 0`` a history is zero
(the structure is at rest) and after its last time it is held at its last value. The inverse is
``x(t) = v(t − δ)``. Both use 4-point (cubic) Lagrange interpolation on the uniform time grid, so the
round trip is exact for whole-step shifts and accurate to the interpolation error otherwise.

The generators then model the shift ``δ`` jointly with the POD coefficients of ``v``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["arrival_times", "shift_histories"]


def arrival_times(x: np.ndarray, time: np.ndarray, *, fraction: float = 0.05) -> np.ndarray:
    """First time each history's displacement norm reaches ``fraction`` of its maximum.

    Parameters
    ----------
    x : ``(n, T, ...)`` histories (any trailing shape: nodes, components)
    time : ``(T,)`` times [s]
    fraction : threshold as a fraction of each history's largest norm, in (0, 1)

    Returns
    -------
    ``(n,)`` arrival times [s], linearly interpolated between the stored times. A history that is
    zero everywhere arrives at ``time[0]``.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction={fraction}: must lie in (0, 1)")
    x = np.asarray(x, dtype=float)
    t = np.asarray(time, dtype=float)
    e = np.sqrt((x.reshape(x.shape[0], x.shape[1], -1) ** 2).sum(-1))  # (n, T)
    thr = fraction * e.max(axis=1)
    above = e >= thr[:, None]
    k = np.argmax(above, axis=1)  # first index at or above the threshold
    out = t[k].copy()
    inner = k > 0
    i = np.flatnonzero(inner)
    lo, hi = e[i, k[i] - 1], e[i, k[i]]
    w = np.where(hi > lo, (thr[i] - lo) / np.where(hi > lo, hi - lo, 1.0), 1.0)
    out[i] = t[k[i] - 1] + w * (t[k[i]] - t[k[i] - 1])
    return out


def _lagrange4(f: np.ndarray) -> np.ndarray:
    """Weights of the 4-point Lagrange interpolant at nodes -1, 0, 1, 2 for offsets ``f`` in [0, 1)."""
    return np.stack([-f * (f - 1) * (f - 2) / 6, (f + 1) * (f - 1) * (f - 2) / 2,
                     -(f + 1) * f * (f - 2) / 2, (f + 1) * f * (f - 1) / 6], axis=-1)


def shift_histories(x: np.ndarray, shift_steps: np.ndarray, *, pad_before: int = 0, n_out: int | None = None):
    """Sample each history at its own shifted times: ``y_i[j] = x_i(j − pad_before + shift_steps[i])``.

    Parameters
    ----------
    x : ``(n, T, ...)`` histories on a uniform time grid (index = time / Δt)
    shift_steps : ``(n,)`` shifts in units of the time step (fractional allowed)
    pad_before : the output's first sample is at index ``−pad_before`` of the input grid
    n_out : output length (default ``T + pad_before``)

    Returns
    -------
    ``(n, n_out, ...)``: ``x`` is zero before index 0 (at rest) and held at its last value after
    index ``T − 1``; between samples it is interpolated by 4-point Lagrange polynomials.
    """
    x = np.asarray(x, dtype=float)
    n, T = x.shape[:2]
    shift = np.asarray(shift_steps, dtype=float).reshape(n)
    n_out = T + pad_before if n_out is None else n_out
    base = np.floor(shift)
    w = _lagrange4(shift - base)  # (n, 4)
    flat = x.reshape(n, T, -1)
    out = np.empty((n, n_out, flat.shape[2]))
    j = np.arange(n_out)
    chunk = max(1, int(2**25 // max(1, n_out * flat.shape[2])))  # ~256 MB of gathered values at a time
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        # the input extended by 2 zeros before (at rest) and 2 held values after, so every stencil is defined
        ext = np.concatenate([np.zeros((b - a, 2, flat.shape[2])), flat[a:b], np.repeat(flat[a:b, -1:], 2, axis=1)],
                             axis=1)
        pos = j[None, :] - pad_before + base[a:b, None].astype(int)  # input index of stencil node 0
        acc = np.zeros((b - a, n_out, flat.shape[2]))
        for m in range(-1, 3):
            idx = pos + m
            vals = np.take_along_axis(ext, (np.clip(idx, -2, T + 1) + 2)[:, :, None], axis=1)
            vals[idx < 0] = 0.0  # before t = 0 the structure is at rest
            acc += w[a:b, m + 1, None, None] * vals
        out[a:b] = acc
    return out.reshape(n, n_out, *x.shape[2:])
