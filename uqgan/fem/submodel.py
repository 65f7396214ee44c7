"""The submodel: the zone alone, driven by displacement histories on its boundary.

The zone's mesh is the restriction of the full mesh (same nodes), the boundary history is imposed
as a time-dependent Dirichlet condition, and the zone is stepped with one of two schemes
(``case.submodel.scheme``):

- ``"full-model"``: the full model's scheme and time step. Fed the full model's own history at
  every step, it reproduces the full model's zone solution to round-off (the interior equations
  are the same rows of the same matrices; the boundary velocity and acceleration follow from the
  same Newmark relations).
- ``"central-difference"`` (the default: the fast chain): explicit central differences with the
  zone's lumped mass at the zone's own stable step. The zone keeps the nominal E, so its stability
  limit is computed once at set-up (Lanczos, :func:`uqgan.fem.explicit.stable_time_step`); the step
  is the output spacing divided by the least integer that brings it below
  ``time_step_fraction`` of the limit, so the stored times are steps. Per step and batch: one
  sparse product with K and one with the zone's von Mises operator, no solve. It differs from the
  full model by the scheme's discretisation error only (docs/schemes.md measures it). Its lumping
  is its own, ``submodel.mass_lumping``: by default (``"auto"``) the CJRT space (P2 plus bubble,
  the same boundary nodes) where the zone is P2 on triangles, HRZ elsewhere, whatever the full
  model's scheme and lumping.

Fed a history stored every k-th step, it interpolates in time (cubic spline by default;
docs/submodel.md measures the error).

Batched: the zone operator does not depend on the sample, so a batch of B histories is one
sparse product with a ``(n, B)`` block per step (explicit) or one multi-right-hand-side solve with
one factorisation (implicit) — that is where Monte Carlo speed comes from.

Examples
--------
>>> sub = SubModel(default_case())                                 # doctest: +SKIP
>>> qois = sub.solve(u_bc, time_s)                                 # doctest: +SKIP
>>> qois["peak_von_mises"].shape                                   # doctest: +SKIP
(1024,)
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..config import CaseConfig, ConfigError
from ..data.dataset import variables_with_role
from ..physics.explicit import CentralDifferenceIntegrator
from ..physics.qoi import QOI_SPECS, qoi_specs
from ..physics.timestepping import NewmarkIntegrator, TimeScheme, scipy_lu
from . import _dolfinx as backend
from .explicit import case_lumped_mass, explicit_integrator, space_element, stable_time_step
from .model import ZoneOperators, build_structure, build_zone

__all__ = ["SUBMODEL_SCHEMES", "SubModel", "SubmodelError", "dense_inverse", "solve_submodel",
           "submodel_mass_lumping"]

logger = logging.getLogger(__name__)

#: below this many free zone dofs the effective matrix is inverted densely: a batch solve is then
#: one BLAS matrix product per step (measured fastest for the default 570-dof zone)
DENSE_LIMIT = 3000

#: the submodel's schemes (``case.submodel.scheme``)
SUBMODEL_SCHEMES = ("central-difference", "full-model")


class SubmodelError(ValueError):
    """Boundary histories that do not fit the submodel (nodes, time grid, shape); names the problem."""


def dense_inverse(A: sp.spmatrix):
    """``solve(b) = A⁻¹ b`` with the inverse formed once (small, well-conditioned systems only)."""
    inv = np.linalg.inv(A.toarray())
    return lambda b: inv @ b


@dataclass(frozen=True)
class _TimeGrid:
    stride: int  # submodel steps per stored time
    n_steps: int
    dt_s: float  # the submodel's step


def submodel_mass_lumping(case: CaseConfig, mesh) -> str:
    """The explicit submodel's lumping on ``mesh``: ``case.submodel.mass_lumping`` with ``"auto"``
    resolved to ``"cjrt"`` where the zone is P2 on triangles, else ``"hrz"``
    (:func:`uqgan.fem._dolfinx.resolve_mass_lumping`). Raises :class:`ConfigError` for ``"cjrt"`` on a
    mesh file of other cells (the config has already refused it for another degree or dimension)."""
    lumping = backend.resolve_mass_lumping(mesh, case.geometry.degree, case.submodel.mass_lumping)
    if lumping == "cjrt" and backend.resolve_mass_lumping(mesh, case.geometry.degree, "auto") != "cjrt":
        raise ConfigError([f'submodel.mass_lumping="cjrt": the CJRT element is P2 on triangles, this mesh has '
                           f'{backend.cell_type_name(mesh)} cells; set submodel.mass_lumping = "auto" (HRZ here) '
                           'or "hrz"'])
    return lumping


class SubModel:
    """The zone of a case as a standalone model driven by boundary displacement histories.

    Parameters
    ----------
    case
        The case (its geometry, zone, material inside the zone, time step and scheme).
    solver
        ``"full-model"`` with an implicit scheme: ``"auto"`` (for batches of 8 or more, a dense
        inverse when the zone is small, else sparse LU; single histories always sparse LU),
        ``"dense"`` or ``"sparse"``.
    scheme
        ``"central-difference"`` or ``"full-model"`` (see the module); None: ``case.submodel.scheme``.
    """

    def __init__(self, case: CaseConfig, *, solver: str = "auto", scheme: str | None = None):
        if solver not in ("auto", "dense", "sparse"):
            raise ValueError(f"solver={solver!r}: must be 'auto', 'dense' or 'sparse'")
        scheme = case.submodel.scheme if scheme is None else scheme
        if scheme not in SUBMODEL_SCHEMES:
            raise ValueError(f"scheme={scheme!r}: must be one of {', '.join(map(repr, SUBMODEL_SCHEMES))}")
        self.scheme = scheme
        t0 = time.perf_counter()
        self.case = case
        structure = build_structure(case)
        #: the zone's lumping with ``scheme="central-difference"`` ("cjrt" or "hrz": ``submodel.mass_lumping``
        #: resolved on the mesh), None with ``"full-model"``, which keeps the full model's space and
        #: lumping so that it reproduces the full model exactly
        self.mass_lumping = None
        if scheme == "central-difference":
            self.mass_lumping = submodel_mass_lumping(case, structure.mesh)
        full_space = backend.vector_space(structure.mesh, case.geometry.degree,
                                          space_element(case, lumping=self.mass_lumping))
        self.zone = build_zone(case, structure, full_space)
        self._tol = structure.match_tolerance_m
        self.dim = full_space.dim
        self.ops = ZoneOperators(case, self.zone)
        E = np.full(self.zone.cells.size, case.material.youngs_modulus_pa)  # the zone keeps E0
        self.M = self.ops.mass()
        self.K = self.ops.stiffness(E)
        self._E = E
        self.constrained_dofs = backend.raw_dofs(self.zone.boundary_zone_nodes, tuple(range(self.dim)),
                                                 dim=self.dim)  # boundary order, node-major
        self._to_sorted = np.argsort(self.constrained_dofs)  # -> the integrator's sorted constrained dofs
        self._solver = solver
        self._integrators: dict = {}
        self._basis_cache = None  # (time grid key, the spline of the identity on it): _cubic_spline
        #: the zone's central-difference stability limit [s] (nominal E), None with ``scheme="full-model"``
        self.stable_time_step_s = None
        if scheme == "central-difference":
            self._mass_diagonal = case_lumped_mass(case, self.M, self.mass_lumping)
            self.stable_time_step_s = stable_time_step(case, self.M, self.K, constrained_dofs=self.constrained_dofs,
                                                       mass_diagonal=self._mass_diagonal)
        logger.info("submodel: %d dofs (%d free), %d boundary nodes, scheme %s%s%s; built in %.2f s", self.n_dofs,
                    self.n_dofs - self.constrained_dofs.size, self.zone.boundary_nodes.size, scheme,
                    "" if self.mass_lumping is None else f", {self.mass_lumping} lumping",
                    "" if self.stable_time_step_s is None else f" (stable step {self.stable_time_step_s:.4g} s)",
                    time.perf_counter() - t0)

    def integrator(self, batch: int = 1, dt_s: float | None = None):
        """The zone integrator for a batch size: with ``scheme="central-difference"`` explicit central
        differences at ``dt_s`` (the zone's own step, :meth:`time_step`); with ``"full-model"`` the
        full model's scheme: central differences, or Newmark factorised once (measured: a dense
        inverse makes batched solves of the 570 free dofs of the default zone fastest, sparse LU
        single ones)."""
        if self.scheme == "central-difference":
            dt = self.time_step(self.case.time.dt_s) if dt_s is None else float(dt_s)
            key = ("central-difference", dt)
            if key not in self._integrators:
                mat = self.case.material
                self._integrators[key] = CentralDifferenceIntegrator(
                    self._mass_diagonal, self.K, dt=dt, constrained_dofs=self.constrained_dofs,
                    rayleigh=(mat.rayleigh_mass_1_per_s, mat.rayleigh_stiffness_s))
            return self._integrators[key]
        if self.case.time.scheme == "central-difference":  # no factorisation: one K @ block per step
            if "explicit" not in self._integrators:
                # the zone's free operator is a principal block of the full model's (same rows, same
                # lumped masses), so its highest frequency is below the full model's (interlacing):
                # the full model's stability check covers the submodel
                self._integrators["explicit"] = explicit_integrator(
                    self.case, self.M, self.K, constrained_dofs=self.constrained_dofs, stable_time_step_s=np.inf)
            return self._integrators["explicit"]
        n_free = self.n_dofs - self.constrained_dofs.size
        kind = self._solver
        if kind == "auto":
            kind = "dense" if batch >= 8 and n_free <= DENSE_LIMIT else "sparse"
        if kind not in self._integrators:
            mat, t = self.case.material, self.case.time
            self._integrators[kind] = NewmarkIntegrator(
                self.M, self.K, dt=t.dt_s, scheme=TimeScheme.from_name(t.scheme, t.spectral_radius),
                constrained_dofs=self.constrained_dofs, rayleigh=(mat.rayleigh_mass_1_per_s, mat.rayleigh_stiffness_s),
                factorize=dense_inverse if kind == "dense" else scipy_lu)
        return self._integrators[kind]

    def time_step(self, spacing_s: float) -> float:
        """The explicit submodel's step [s] for histories stored every ``spacing_s``: ``spacing_s / k``
        with the least integer ``k`` that puts it at or below ``time_step_fraction`` times the zone's
        stability limit (so the stored times are steps and need no interpolation)."""
        if self.stable_time_step_s is None:
            raise ValueError(f"time_step: the submodel steps with scheme={self.scheme!r}, the full model's dt_s")
        limit = self.case.submodel.time_step_fraction * self.stable_time_step_s
        return spacing_s / self._substeps(spacing_s, limit)

    @staticmethod
    def _substeps(spacing_s: float, limit_s: float) -> int:
        return max(1, int(np.ceil(spacing_s / limit_s * (1 - 1e-12))))

    @property
    def n_dofs(self) -> int:
        return self.zone.space.n_dofs

    @property
    def boundary_coords(self) -> np.ndarray:
        """``(n_bc, d)`` [m] boundary nodes in the dataset's order (2-D: counter-clockwise; 3-D: by x, y, z)."""
        return self.zone.boundary_coords

    # --------------------------------------------------------------------------------------------
    def match_boundary(self, node_x, node_y, node_z=None) -> np.ndarray:
        """Submodel boundary index of each given node (e.g. a dataset's ``node_x``, ``node_y``).

        Nodes match when closer than ``MATCH_TOLERANCE × element_size`` (1e-6 h). Every submodel
        boundary node must be given exactly once.
        """
        cols = [node_x, node_y] + ([] if self.dim == 2 else [node_z])
        if any(c is None for c in cols):
            raise SubmodelError("a 3-D submodel matches nodes by node_x, node_y and node_z: node_z is missing")
        pts = np.column_stack([np.asarray(c, dtype=float) for c in cols])
        tol = self._tol
        from scipy.spatial import cKDTree

        dist, idx = cKDTree(self.boundary_coords).query(pts)
        bad = np.flatnonzero(dist > tol)
        if bad.size:
            i = bad[0]
            raise SubmodelError(
                f"{bad.size} boundary node(s) of the histories match no boundary node of the submodel within "
                f"{tol:.2g} m, first node {i} at ({', '.join(f'{v:.6g}' for v in pts[i])}) m (nearest {dist[i]:.3g} m "
                f"away): "
                f"the histories come from another case or mesh than '{self.case.name}'")
        if np.unique(idx).size != idx.size or idx.size != self.boundary_coords.shape[0]:
            raise SubmodelError(
                f"the histories give {pts.shape[0]} boundary nodes ({np.unique(idx).size} distinct) but the submodel "
                f"has {self.boundary_coords.shape[0]}: every boundary node needs exactly one history")
        return idx

    def _time_grid(self, time_s) -> _TimeGrid:
        t = np.asarray(time_s, dtype=float)
        dt = self.case.time.dt_s
        if t.ndim != 1 or t.size < 2:
            raise SubmodelError(f"time has shape {t.shape}: need at least 2 output times")
        if abs(t[0]) > 1e-9 * dt:
            raise SubmodelError(f"time starts at {t[0]:.6g} s: the histories must start at t = 0 (the zone at rest)")
        step = np.diff(t)
        stride = int(round(step[0] / dt))
        if stride < 1 or not np.allclose(step, stride * dt, rtol=1e-9, atol=1e-6 * dt):
            raise SubmodelError(
                f"time is not a uniform grid of multiples of the case's dt_s={dt:g} s (first spacing {step[0]:.6g} s): "
                "store histories every output_stride steps of the same time step")
        if self.scheme == "central-difference":  # the zone's own step, the stored times among its steps
            spacing = stride * dt
            stride = self._substeps(spacing, self.case.submodel.time_step_fraction * self.stable_time_step_s)
            dt = spacing / stride
        if stride > 1 and t.size < 4:
            raise SubmodelError(f"cubic interpolation in time needs at least 4 output times, got {t.size}")
        return _TimeGrid(stride=stride, n_steps=(t.size - 1) * stride, dt_s=dt)

    def _cubic_spline(self, time_s: np.ndarray, hist: np.ndarray):
        """The not-a-knot cubic B-spline through ``hist`` ``(time, ...)`` at ``time_s`` (as
        ``make_interp_spline(time_s, hist, k=3, axis=0)``): as many coefficients as data (a
        piecewise-polynomial form would hold 4x), each evaluation touching 4 of them. The
        coefficients are linear in the data, ``c = A⁻¹ y`` with ``A`` the time grid's collocation
        matrix; ``A⁻¹`` (the spline of the identity, once per grid) times the block is one BLAS
        product, measured 10x faster than make_interp_spline's banded solve on the (201, 144 x 256)
        block of a chain batch, equal to 1e-15."""
        from scipy.interpolate import BSpline, make_interp_spline

        key = (time_s.size, float(time_s[0]), float(time_s[-1]))
        if self._basis_cache is None or self._basis_cache[0] != key:
            self._basis_cache = (key, make_interp_spline(time_s, np.eye(time_s.size), k=3, axis=0))
        basis = self._basis_cache[1]
        coef = (basis.c @ hist.reshape(hist.shape[0], -1)).reshape(basis.c.shape[0], *hist.shape[1:])
        return BSpline.construct_fast(basis.t, coef, 3, axis=0)

    # --------------------------------------------------------------------------------------------
    def solve(self, u_bc, time_s, *, node_x=None, node_y=None, node_z=None, batch_size: int = 256,
              interpolation: str = "cubic", keep_zone_history: bool = False,
              show_progress: bool = False) -> dict[str, np.ndarray]:
        """Solve the zone for each boundary history; return the QoIs per sample.

        Parameters
        ----------
        u_bc
            ``(n_samples, n_time, n_bc, 2)`` or ``(n_time, n_bc, 2)`` displacement histories [m].
        time_s
            ``(n_time,)`` output times [s]: 0, k dt, 2k dt, ... for a stride k >= 1.
        node_x, node_y, node_z
            Coordinates [m] of the histories' nodes (node_z in 3-D only); if given, nodes are matched by position,
            else the order must be the submodel's (``boundary_coords``).
        batch_size
            Histories solved together (one multi-right-hand-side solve per step).
        interpolation
            ``"cubic"`` (not-a-knot spline through the stored times) or ``"linear"`` between
            stored times when the stride is > 1.
        keep_zone_history
            Also return ``u_zone`` ``(n_samples, n_time, n_zone_nodes, 2)`` at the stored times.

        Returns
        -------
        dict: each QoI name -> ``(n_samples,)``, ``wall_time_s`` -> float, optionally ``u_zone``.
        """
        t0 = time.perf_counter()
        if interpolation not in ("cubic", "linear"):
            raise SubmodelError(f"interpolation={interpolation!r}: must be 'cubic' or 'linear'")
        if batch_size < 1:
            raise SubmodelError(f"batch_size={batch_size}: must be >= 1")
        u = np.asarray(u_bc, dtype=float)
        if u.ndim == 3:
            u = u[None]
        n_bc = self.boundary_coords.shape[0]
        if u.ndim != 4 or u.shape[-1] != self.dim:
            raise SubmodelError(f"u_bc has shape {np.shape(u_bc)}: need (sample, time, node, component={self.dim})")
        grid = self._time_grid(time_s)
        if u.shape[1] != len(time_s):
            raise SubmodelError(f"u_bc has {u.shape[1]} times but time_s has {len(time_s)}")
        if node_x is not None:
            order = np.argsort(self.match_boundary(node_x, node_y, node_z))
            u = u[:, :, order]
        elif u.shape[2] != n_bc:
            raise SubmodelError(f"u_bc has {u.shape[2]} nodes but the submodel boundary has {n_bc}: pass node_x/node_y "
                                "to match them by position")
        if not np.isfinite(u).all():
            raise SubmodelError("u_bc holds NaN or infinite values")
        n = u.shape[0]
        out = {s.name: np.empty(n) for s in QOI_SPECS}
        zone_hist = np.empty((n, u.shape[1], self.zone.space.n_nodes, self.dim)) if keep_zone_history else None
        from tqdm.auto import tqdm

        for start in tqdm(range(0, n, batch_size), desc="submodel batches", disable=not show_progress):
            stop = min(start + batch_size, n)
            res = self._solve_batch(u[start:stop], np.asarray(time_s, dtype=float), grid, interpolation,
                                    keep_zone_history)
            for s in QOI_SPECS:
                out[s.name][start:stop] = res[s.name]
            if zone_hist is not None:
                zone_hist[start:stop] = res["u_zone"]
        out["wall_time_s"] = time.perf_counter() - t0
        if zone_hist is not None:
            out["u_zone"] = zone_hist
        return out

    def _solve_batch(self, u, time_s, grid: _TimeGrid, interpolation: str, keep_zone_history: bool):
        b = u.shape[0]
        # (time, boundary dof, batch) in the integrator's constrained-dof order: node-major, x then y
        # node-major (x, y per node) in boundary order, permuted to the integrator's sorted dofs
        hist = np.ascontiguousarray(u.reshape(b, u.shape[1], -1).transpose(1, 2, 0)[:, self._to_sorted])
        if grid.stride == 1:
            def prescribed(k, t):
                return hist[k]
        elif interpolation == "linear":
            def prescribed(k, t):
                i, r = divmod(k, grid.stride)
                if r == 0:
                    return hist[i]
                w = r / grid.stride
                return (1 - w) * hist[i] + w * hist[i + 1]
        else:
            spline = self._cubic_spline(time_s, hist)

            def prescribed(k, t):
                return hist[k // grid.stride] if k % grid.stride == 0 else spline(t)
        qoi = self.ops.qoi(self._E, stiffness=self.K, batch=b)
        zone_hist = np.empty((u.shape[1], self.n_dofs, b)) if keep_zone_history else None

        integ = self.integrator(b, grid.dt_s)

        def observer(k, t, uu, v, a):
            # an undamped step has just computed K u (self.K, the QoI's stiffness too) when last_Ku is set
            qoi.update(uu, Ku=integ.last_Ku)
            if zone_hist is not None and k % grid.stride == 0:
                zone_hist[k // grid.stride] = uu

        # the QoIs need no velocity: both integrators then skip its updates (Newmark with γ = ½ steps
        # in three-level form)
        integ.run(grid.n_steps, prescribed=prescribed, batch=b, observer=observer, observe_velocity=False)
        res = qoi.result()
        if zone_hist is not None:
            res["u_zone"] = zone_hist.transpose(2, 0, 1).reshape(b, u.shape[1], -1, self.dim)
        return res


def solve_submodel(case: CaseConfig, bcs, *, time_s=None, batch_size: int = 256, interpolation: str = "cubic",
                   show_progress: bool = False):
    """QoIs of the submodel for a batch of boundary histories, as an :class:`xarray.Dataset`.

    Parameters
    ----------
    case
        The case.
    bcs
        An :class:`xarray.Dataset` in the uqgan BC schema (or its ``u_bc`` DataArray) with dims
        ``(sample, time, node, component)`` and coordinates ``time``, ``node_x``, ``node_y``; or a
        numpy array ``(sample, time, node, 2)`` in the submodel's node order with ``time_s``.

    Returns
    -------
    xarray.Dataset with ``qoi_<name>(sample)`` (units, long_name, ``role="qoi"``,
    ``source="submodel"``), the parameters of ``bcs`` when it has them, and attrs with the case.
    """
    import xarray as xr

    from ..config import case_to_toml

    sub = SubModel(case)
    params = {}
    if isinstance(bcs, xr.Dataset):
        params = {v: bcs[v] for v in variables_with_role(bcs, "parameter")}
        bcs = bcs["u_bc"]
    if isinstance(bcs, xr.DataArray):
        if set(bcs.dims) != {"sample", "time", "node", "component"}:
            raise SubmodelError(f"u_bc has dims {bcs.dims}: need (sample, time, node, component)")
        da = bcs.transpose("sample", "time", "node", "component")
        if "component" in da.coords:
            da = da.sel(component=["x", "y", "z"][:sub.dim])
        node_z = da["node_z"].values if "node_z" in da.coords else None
        res = sub.solve(da.values, da["time"].values, node_x=da["node_x"].values, node_y=da["node_y"].values,
                        node_z=node_z,
                        batch_size=batch_size, interpolation=interpolation, show_progress=show_progress)
        sample = da["sample"].values
    else:
        if time_s is None:
            raise SubmodelError("time_s is required with a numpy array of histories")
        res = sub.solve(bcs, time_s, batch_size=batch_size, interpolation=interpolation, show_progress=show_progress)
        sample = np.arange(res[QOI_SPECS[0].name].size)
    data = {f"qoi_{s.name}": ("sample", res[s.name], {"units": s.units, "long_name": s.long_name, "role": "qoi",
                                                        "source": "submodel"})
            for s in qoi_specs(case.geometry.dimension)}
    ds = xr.Dataset(data, coords={"sample": sample})
    for name, var in params.items():
        ds[name] = var
    ds.attrs.update({"case_toml": case_to_toml(case), "submodel_dofs": sub.n_dofs,
                     "submodel_wall_time_s": res["wall_time_s"], "interpolation": interpolation})
    return ds
