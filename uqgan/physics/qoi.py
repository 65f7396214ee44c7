"""Quantities of interest in the submodel zone, from zone displacements (pure numpy).

The full model and the submodel both feed their zone displacement at every time step to one
:class:`ZoneQoI`, so the two compute the same numbers the same way. Plane strain (QoIs per unit
thickness where extensive: J/m), or 3-D solids (``dim=3``: full von Mises, strain energy in J):
:func:`qoi_specs` gives each dimension's units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .material import lame_parameters, plane_strain_von_mises

__all__ = ["QOI_SPECS", "QoISpec", "ZoneQoI", "qoi_specs"]


@dataclass(frozen=True)
class QoISpec:
    name: str
    units: str
    long_name: str
    #: the QoI scales as load_amplitude ** amplitude_power (the model is linear in the load)
    amplitude_power: int


#: the zone QoIs, in the order they are stored (dataset variables are ``qoi_<name>``)
QOI_SPECS: tuple[QoISpec, ...] = (
    QoISpec("peak_von_mises", "Pa", "space-time maximum of the von Mises stress in the zone", 1),
    QoISpec("peak_displacement", "m", "space-time maximum of the displacement magnitude in the zone", 1),
    QoISpec("peak_strain_energy", "J/m", "maximum over time of the zone's strain energy per unit thickness", 2),
)

#: the same QoIs of a 3-D solid: the strain energy is the zone's, in J
_QOI_SPECS_3D: tuple[QoISpec, ...] = (
    QOI_SPECS[0], QOI_SPECS[1],
    QoISpec("peak_strain_energy", "J", "maximum over time of the zone's strain energy", 2),
)


def qoi_specs(dimension: int = 2) -> tuple[QoISpec, ...]:
    """The zone QoIs of a ``dimension``-D model (2: plane strain, per unit thickness; 3: a solid),
    in the order they are stored; names and amplitude powers are the same in both."""
    if dimension not in (2, 3):
        raise ValueError(f"dimension={dimension!r}: must be 2 or 3")
    return QOI_SPECS if dimension == 2 else _QOI_SPECS_3D


class ZoneQoI:
    """Running space-time maxima of zone QoIs; call :meth:`update` at every time step.

    Parameters
    ----------
    strain_operator
        ``(3 P, n)`` sparse: zone dofs -> ``(ε_xx, ε_yy, 2ε_xy)`` at P points (cell vertices).
    point_youngs_modulus_pa
        ``(P,)`` Young's modulus at each point [Pa].
    poisson_ratio
        ν of the zone's material.
    stiffness
        ``(n, n)`` zone stiffness matrix [N/m]: strain energy ``½ uᵀKu``.
    batch
        Number of simultaneous runs (columns of ``u``), or None for one.
    """

    def __init__(self, strain_operator: sp.spmatrix, point_youngs_modulus_pa, poisson_ratio: float,
                 stiffness: sp.spmatrix, *, batch: int | None = None, dim: int = 2):
        self.S = sp.csr_matrix(strain_operator)
        self.K = sp.csr_matrix(stiffness)
        if dim not in (2, 3):
            raise ValueError(f"dim={dim}: must be 2 (plane strain) or 3")
        self.dim, self._nc = dim, 3 if dim == 2 else 6
        P = self.S.shape[0] // self._nc
        lam, mu = lame_parameters(np.broadcast_to(point_youngs_modulus_pa, (P,)), poisson_ratio)
        self._lam, self._mu, self._nu = lam, mu, float(poisson_ratio)
        if batch is not None:
            self._lam, self._mu = lam[:, None], mu[:, None]
        shape = () if batch is None else (int(batch),)
        self.peak_von_mises = np.zeros(shape)
        self.peak_displacement = np.zeros(shape)
        self.peak_strain_energy = np.zeros(shape)

    def von_mises(self, u: np.ndarray) -> np.ndarray:
        """Von Mises stress [Pa] at the points, ``(P,)`` or ``(P, batch)``.

        In 3-D, ``sqrt(((sxx-syy)^2 + (syy-szz)^2 + (szz-sxx)^2) / 2 + 3 (syz^2 + sxz^2 + sxy^2))``.
        """
        e = (self.S @ u).reshape(-1, self._nc, *u.shape[1:])
        lam, mu = self._lam, self._mu
        if self.dim == 3:
            tr = e[:, 0] + e[:, 1] + e[:, 2]
            sxx, syy, szz = (lam * tr + 2 * mu * e[:, i] for i in range(3))
            shear2 = (mu * e[:, 3]) ** 2 + (mu * e[:, 4]) ** 2 + (mu * e[:, 5]) ** 2
            return np.sqrt(0.5 * ((sxx - syy) ** 2 + (syy - szz) ** 2 + (szz - sxx) ** 2) + 3.0 * shear2)
        exx, eyy, gxy = e[:, 0], e[:, 1], e[:, 2]
        tr = exx + eyy
        return plane_strain_von_mises(lam * tr + 2 * mu * exx, lam * tr + 2 * mu * eyy, mu * gxy, self._nu)

    def update(self, u: np.ndarray, *, Ku: np.ndarray | None = None) -> None:
        """Fold one time step's zone displacement ``(n,)`` or ``(n, batch)`` [m] into the maxima;
        ``Ku``, if given, is ``stiffness @ u`` already computed (by an explicit step)."""
        np.maximum(self.peak_von_mises, self.von_mises(u).max(axis=0), out=self.peak_von_mises)
        mag = np.sqrt((u.reshape(-1, self.dim, *u.shape[1:]) ** 2).sum(axis=1))
        np.maximum(self.peak_displacement, mag.max(axis=0), out=self.peak_displacement)
        energy = 0.5 * np.einsum("i...,i...->...", u, self.K @ u if Ku is None else Ku)
        np.maximum(self.peak_strain_energy, energy, out=self.peak_strain_energy)

    def result(self) -> dict[str, np.ndarray | float]:
        """The QoIs by name (floats for one run, ``(batch,)`` arrays for a batch)."""
        out = {s.name: getattr(self, s.name).copy() for s in QOI_SPECS}
        return {k: (float(v) if v.ndim == 0 else v) for k, v in out.items()}
