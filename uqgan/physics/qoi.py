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

from .blockops import block_product, zone_peaks
from .material import lame_parameters

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
        ``(3 P, n)`` sparse (``(6 P, n)`` in 3-D): zone dofs -> ``(ε_xx, ε_yy, 2ε_xy)`` at P points
        (cell vertices), point-major.
    point_youngs_modulus_pa
        ``(P,)`` Young's modulus at each point [Pa].
    poisson_ratio
        ν of the zone's material.
    stiffness
        ``(n, n)`` zone stiffness matrix [N/m]: strain energy ``½ uᵀKu``.
    batch
        Number of simultaneous runs (columns of ``u``), or None for one.

    Notes
    -----
    The squared von Mises stress is a quadratic form in the strain at each point, ``σ_vm² = E² εᵀ Q ε``
    (``Q`` from ν alone: Hooke's law scaled by E, then the deviatoric norm), positive semi-definite
    of rank 3 in plane strain (ν < ½) and 5 in 3-D. With ``Q = L Lᵀ`` (its eigen-decomposition)
    it is ``Σ_i ((W u)_{p,i})²``, ``W = E (I_P ⊗ Lᵀ) S``: one sparse product per step, squares and a
    maximum, the square root taken once at the end (it is monotone). The same for ``|u|²``.
    """

    def __init__(self, strain_operator: sp.spmatrix, point_youngs_modulus_pa, poisson_ratio: float,
                 stiffness: sp.spmatrix, *, batch: int | None = None, dim: int = 2):
        S = sp.csr_matrix(strain_operator)
        self.K = sp.csr_matrix(stiffness)
        if dim not in (2, 3):
            raise ValueError(f"dim={dim}: must be 2 (plane strain) or 3")
        self.dim, self._nc = dim, 3 if dim == 2 else 6
        P = S.shape[0] // self._nc
        E = np.broadcast_to(np.asarray(point_youngs_modulus_pa, dtype=float), (P,))
        L = _von_mises_factor(poisson_ratio, dim)  # (nc, r): Q = L Lᵀ for E = 1
        self._r = L.shape[1]
        #: ``(r P, n)``: the von Mises stress squared at point p is the sum of squares of rows p r .. p r + r - 1
        self.W = (sp.diags(np.repeat(E, self._r)) @ sp.kron(sp.identity(P, format="csr"), L.T, format="csr")
                  @ S).tocsr()
        self.W.eliminate_zeros()
        self._apply_W, self._apply_K = block_product(self.W), block_product(self.K)
        self._fold = zone_peaks(self.W, self._r, self.dim)
        shape = () if batch is None else (int(batch),)
        self._peak_vm2 = np.zeros(shape)
        self._peak_u2 = np.zeros(shape)
        self.peak_strain_energy = np.zeros(shape)

    @property
    def peak_von_mises(self) -> np.ndarray:
        """Space-time maximum of the von Mises stress so far [Pa]."""
        return np.sqrt(self._peak_vm2)

    @property
    def peak_displacement(self) -> np.ndarray:
        """Space-time maximum of the displacement magnitude so far [m]."""
        return np.sqrt(self._peak_u2)

    def _sum_squares(self, x: np.ndarray, group: int) -> np.ndarray:
        """``(m / group, ...)``: sums of squares of consecutive row groups of ``x`` ``(m, ...)``."""
        x = x.reshape(-1, group, *x.shape[1:])
        return np.einsum("pi...,pi...->p...", x, x)

    def von_mises(self, u: np.ndarray) -> np.ndarray:
        """Von Mises stress [Pa] at the points, ``(P,)`` or ``(P, batch)``: plane strain with
        ``σ_zz = ν (σ_xx + σ_yy)`` (:func:`~uqgan.physics.material.plane_strain_von_mises`), or in 3-D
        ``sqrt(((sxx-syy)^2 + (syy-szz)^2 + (szz-sxx)^2) / 2 + 3 (syz^2 + sxz^2 + sxy^2))``."""
        return np.sqrt(self._sum_squares(self._apply_W(u), self._r))

    def update(self, u: np.ndarray, *, Ku: np.ndarray | None = None) -> None:
        """Fold one time step's zone displacement ``(n,)`` or ``(n, batch)`` [m] into the maxima;
        ``Ku``, if given, is ``stiffness @ u`` already computed (by an explicit step)."""
        self._fold(u, self._apply_K(u) if Ku is None else Ku, self._peak_vm2, self._peak_u2, self.peak_strain_energy)

    def result(self) -> dict[str, np.ndarray | float]:
        """The QoIs by name (floats for one run, ``(batch,)`` arrays for a batch)."""
        out = {s.name: np.array(getattr(self, s.name)) for s in QOI_SPECS}
        return {k: (float(v) if v.ndim == 0 else v) for k, v in out.items()}


def _von_mises_factor(poisson_ratio: float, dim: int) -> np.ndarray:
    """``L`` ``(nc, r)`` with ``σ_vm² = εᵀ L Lᵀ ε`` for E = 1 (ε in Voigt order with engineering
    shears: ``(ε_xx, ε_yy, γ_xy)`` in plane strain, the three normal strains then the three shears
    in 3-D: the strain operator's order).

    ``σ_vm² = ½ Σ_{i<j} (σ_i − σ_j)² + 3 Σ τ²`` is ``σ_nᵀ D σ_n + 3 τᵀτ`` with the normal stresses
    ``σ_n = N ε_n`` (plane strain: ``σ_zz = λ tr ε = ν (σ_xx + σ_yy)``) and ``τ = μ γ``, so the form is
    block-diagonal: normal strains | shears. Its normal block is factorised by Cholesky in plane
    strain (definite for ν < ½: a lower-triangular factor touches fewer strain rows than
    eigenvectors would) and by its eigen-decomposition in 3-D (rank 2 of 3: the hydrostatic
    direction, which does not change the von Mises stress, dropped).
    """
    lam, mu = (float(x) for x in lame_parameters(1.0, float(poisson_ratio)))
    n_normal, n_shear = (2, 1) if dim == 2 else (3, 3)
    N = lam * np.ones((3, n_normal)) + 2 * mu * np.eye(3, n_normal)  # rows: σ_xx, σ_yy, σ_zz
    D = 0.5 * (3 * np.eye(3) - np.ones((3, 3)))
    Qn = N.T @ D @ N
    w, V = np.linalg.eigh(Qn)
    if dim == 2:
        Ln = np.linalg.cholesky(Qn)
    else:
        keep = w > 1e-9 * w.max()
        Ln = V[:, keep] * np.sqrt(w[keep])
    L = np.zeros((n_normal + n_shear, Ln.shape[1] + n_shear))
    L[:n_normal, :Ln.shape[1]] = Ln
    L[n_normal:, Ln.shape[1]:] = np.sqrt(3.0) * mu * np.eye(n_shear)
    return L
