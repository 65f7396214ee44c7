"""Proper orthogonal decomposition (PCA) of boundary histories: encode, decode, energy kept.

Generators never see raw histories: they model a few tens of POD coefficients of the
(amplitude-normalised, centred) histories, which makes training cheap and keeps wavefronts sharp
(the modes carry the space-time shapes; the coefficients only weigh them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["POD", "fit_pod"]


@dataclass(frozen=True)
class POD:
    """A fitted POD basis of flattened data.

    Attributes
    ----------
    mean : (d,) mean of the training data
    modes : (k, d) orthonormal rows (right singular vectors)
    std : (k,) standard deviation of each coefficient over the training data
    energy_kept : fraction of the centred training data's variance the k modes carry
    reconstruction_error : relative L2 error of the training data after encode/decode
    """

    mean: np.ndarray
    modes: np.ndarray
    std: np.ndarray
    energy_kept: float
    reconstruction_error: float

    @property
    def n_modes(self) -> int:
        return self.modes.shape[0]

    def encode(self, x: np.ndarray) -> np.ndarray:
        """``(n, d)`` data -> ``(n, k)`` whitened coefficients (unit variance on the training data)."""
        return ((np.asarray(x, dtype=float) - self.mean) @ self.modes.T) / self.std

    def decode(self, z: np.ndarray) -> np.ndarray:
        """``(n, k)`` whitened coefficients -> ``(n, d)`` data."""
        return (np.asarray(z, dtype=float) * self.std) @ self.modes + self.mean

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"pod_mean": self.mean, "pod_modes": self.modes, "pod_std": self.std,
                "pod_scalars": np.array([self.energy_kept, self.reconstruction_error])}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> POD:
        return cls(mean=a["pod_mean"], modes=a["pod_modes"], std=a["pod_std"], energy_kept=float(a["pod_scalars"][0]),
                   reconstruction_error=float(a["pod_scalars"][1]))


def fit_pod(x: np.ndarray, *, energy: float = 0.999, max_modes: int | None = None) -> POD:
    """Fit the fewest POD modes that keep ``energy`` of the centred data's variance.

    Parameters
    ----------
    x : (n, d) training data (rows are samples)
    energy : fraction of variance to keep, in (0, 1]
    max_modes : upper bound on the number of modes (default: n - 1)
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"fit_pod needs (n >= 2, d) data, got shape {x.shape}")
    if not 0 < energy <= 1:
        raise ValueError(f"energy={energy}: must lie in (0, 1]")
    mean = x.mean(axis=0)
    xc = x - mean
    # thin SVD through the n x n Gram matrix when d >> n (histories: d ~ 3e4, n ~ 1e3)
    if x.shape[1] > 2 * x.shape[0]:
        gram = xc @ xc.T
        evals, evecs = np.linalg.eigh(gram)
        order = np.argsort(evals)[::-1]
        evals, evecs = np.clip(evals[order], 0, None), evecs[:, order]
        s = np.sqrt(evals)
        keep_pos = s > s[0] * 1e-10
        s, evecs = s[keep_pos], evecs[:, keep_pos]
        vt = (evecs / s).T @ xc
    else:
        _, s, vt = np.linalg.svd(xc, full_matrices=False)
    var = s**2
    total = var.sum()
    if total == 0:
        raise ValueError("fit_pod: the data has no variance")
    cum = np.cumsum(var) / total
    k = int(np.searchsorted(cum, energy * (1 - 1e-12)) + 1)
    k = min(k, max_modes or x.shape[0] - 1, s.size)
    modes = vt[:k]
    z = xc @ modes.T
    std = z.std(axis=0, ddof=1)
    recon = z @ modes + mean
    err = float(np.linalg.norm(recon - x) / np.linalg.norm(x))
    return POD(mean=mean, modes=modes, std=std, energy_kept=float(cum[k - 1]), reconstruction_error=err)
