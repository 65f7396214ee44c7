"""The explicit scheme of a case: lumped mass, the mesh's stable time step, and the integrator.

Shared by the full model (:class:`~uqgan.fem.model.PlateModel`) and the submodel; numpy/scipy
only (the MPI model applies the same rules to PETSc objects in :mod:`uqgan.fem._dolfinx`).
"""

from __future__ import annotations

import logging

import numpy as np

from ..config import CaseConfig, ConfigError
from ..physics.explicit import CentralDifferenceIntegrator, critical_time_step, lumped_mass, max_eigenvalue

__all__ = ["case_lumped_mass", "check_time_step", "energy_balance", "explicit_integrator", "field_stiffness_factor",
           "space_element", "stable_time_step", "time_step_error"]

logger = logging.getLogger(__name__)

#: the time step suggested when the case's is refused, as a fraction of the stability limit
SUGGESTED_FRACTION = 0.9

#: a random field's stiffest value considered in the campaign advice, in standard deviations of
#: the underlying Gaussian: on the default case 99.9 % of fields stay below it (measured over 4000
#: draws: their largest E/E0 has its 99.9 % quantile at 4.9; +3.5 sigma gives 4.7)
FIELD_SIGMAS = 3.5


def field_stiffness_factor(case: CaseConfig) -> float:
    """``E / E₀`` of the case's lognormal field at ``FIELD_SIGMAS`` standard deviations,
    ``exp(z s − s²/2)`` with ``s² = ln(1 + CoV²)`` (:func:`uqgan.physics.random_fields.lognormal_field`)."""
    cov = case.random_field.coefficient_of_variation
    s = np.sqrt(np.log1p(cov * cov))
    return float(np.exp(FIELD_SIGMAS * s - 0.5 * s * s))


def space_element(case: CaseConfig, *, lumping: str | None = None) -> str:
    """The displacement space's element of a model of the case: ``"cjrt"`` (P2 plus bubble,
    :mod:`uqgan.fem._cjrt`) for the lumping ``"cjrt"``, else ``"lagrange"`` (P_degree). ``lumping``:
    the model's resolved lumping (the chain's submodel passes its own, ``submodel.mass_lumping``
    resolved on the mesh); None: the full model's, ``time.mass_lumping`` when ``time.scheme`` is
    central differences. The zone of a model takes the element of the model's space, so zone and
    full model share one space.
    """
    if lumping is None:
        lumping = case.time.mass_lumping if case.time.scheme == "central-difference" else "hrz"
    return "cjrt" if lumping == "cjrt" else "lagrange"


def case_lumped_mass(case: CaseConfig, M, lumping: str | None = None) -> np.ndarray:
    """The lumped mass of the case's consistent mass ``M`` (its degree and ``lumping``, by default
    the full model's ``time.mass_lumping``)."""
    return lumped_mass(M, case.geometry.degree, case.time.mass_lumping if lumping is None else lumping)


def _rayleigh(case: CaseConfig) -> tuple[float, float]:
    mat = case.material
    return mat.rayleigh_mass_1_per_s, mat.rayleigh_stiffness_s


def stable_time_step(case: CaseConfig, M, K, *, constrained_dofs, mass_diagonal=None) -> float:
    """Central-difference stability limit [s] of a mesh: ``2/ω_max`` (less with stiffness damping).

    ``ω_max² = λ_max(M_L⁻¹ K)`` on the unconstrained dofs, by Lanczos iteration
    (:func:`uqgan.physics.explicit.max_eigenvalue`, to 1e-6 relative), with ``M_L`` the lumped mass of
    the case's degree and lumping (:func:`case_lumped_mass`). Deterministic: the start vector's
    seed is fixed, so a case gets the same limit on every run.
    """
    m = case_lumped_mass(case, M) if mass_diagonal is None else mass_diagonal
    free = np.setdiff1d(np.arange(m.size), np.asarray(constrained_dofs, dtype=np.int64))
    lam = max_eigenvalue(lambda x: K @ x, m, free=free, rng=np.random.default_rng(0))
    return critical_time_step(np.sqrt(lam), rayleigh=_rayleigh(case))


def time_step_error(case: CaseConfig, limit_s: float, where: str = "this mesh") -> ConfigError:
    """The one-line refusal of a ``dt_s`` above ``limit_s``."""
    dt, suggested = case.time.dt_s, SUGGESTED_FRACTION * limit_s
    n_steps = int(np.ceil(case.time.end_time_s / suggested))
    return ConfigError([
        f"time.dt_s={dt:g}: above the central-difference stability limit {limit_s:.4g} s of {where} "
        f"(2/omega_max, omega_max^2 = largest eigenvalue of M_lumped^-1 K); use time.dt_s <= {suggested:.3g} "
        f"(with n_steps >= {n_steps} for the same end time) or an implicit scheme (newmark, generalized-alpha)"])


def check_time_step(case: CaseConfig, M, K, *, constrained_dofs) -> float:
    """The mesh's stable time step [s] (nominal material); raises :class:`ConfigError` if the
    case's ``time.dt_s`` is above it."""
    limit = stable_time_step(case, M, K, constrained_dofs=constrained_dofs)
    logger.info("central differences: stable time step %.4g s, case dt_s %.4g s (%.0f %% of it)", limit,
                case.time.dt_s, 100 * case.time.dt_s / limit)
    if case.time.dt_s > limit:
        raise time_step_error(case, limit)
    factor = field_stiffness_factor(case)
    field_limit = limit / np.sqrt(factor)
    if case.random_field.coefficient_of_variation > 0 and case.time.dt_s > field_limit:
        logger.warning(
            "time.dt_s=%g is stable for the nominal material (limit %.4g s) but not for a random field whose E "
            "reaches %.2f E0 (+%.1f sigma at coefficient_of_variation=%g; limit %.4g s): such samples are refused "
            "(a campaign records them as failed); for campaigns use time.dt_s <= %.3g", case.time.dt_s, limit,
            factor, FIELD_SIGMAS, case.random_field.coefficient_of_variation, field_limit,
            SUGGESTED_FRACTION * field_limit)
    return limit


def explicit_integrator(case: CaseConfig, M, K, *, constrained_dofs, stable_time_step_s: float,
                        youngs_modulus_pa=None) -> CentralDifferenceIntegrator:
    """The central-difference integrator for stiffness ``K`` (assembled with ``youngs_modulus_pa``).

    A stiffer field raises ``ω_max``: ``K(E) ≤ (max E / E₀) K(E₀)`` element by element, so the
    nominal limit times ``√(E₀ / max E)`` is safe for the field. Only when ``dt_s`` is above that
    bound is the field's own limit computed, and ``dt_s`` refused if above it.
    """
    m = case_lumped_mass(case, M)
    if youngs_modulus_pa is not None:
        e_max = float(np.max(youngs_modulus_pa))
        bound = stable_time_step_s * np.sqrt(min(1.0, case.material.youngs_modulus_pa / e_max))
        if case.time.dt_s > bound:
            limit = stable_time_step(case, M, K, constrained_dofs=constrained_dofs, mass_diagonal=m)
            if case.time.dt_s > limit:
                raise time_step_error(case, limit, f"this Young's-modulus field (max {e_max:.4g} Pa)")
    return CentralDifferenceIntegrator(m, K, dt=case.time.dt_s, constrained_dofs=constrained_dofs,
                                       rayleigh=_rayleigh(case))


def energy_balance(model) -> float:
    """``max_n |E_kin + E_strain − W_ext|_n / max_n W_ext`` over a run of ``model`` (a
    :class:`~uqgan.fem.model.PlateModel`) at its case's nominal parameters, undamped reading:
    ``E_kin = ½ vᵀ M v`` and ``E_strain = ½ uᵀ K u`` with the integrator's own ``M`` (lumped for
    central differences) and ``K``, and ``W_ext = Σ ½ (f_n + f_{n−1}) · (u_n − u_{n−1})`` (the
    trapezoidal external work). Central differences conserve a modified energy, so this balance holds
    to ``O((ω dt)²)`` of the excited modes; docs/schemes.md records the measured values."""
    from ..physics.material import half_sine_pulse

    case = model.case
    integ = model.integrator()
    params = case.parameters.nominal()
    unit = model.unit_load(params["load_position"])
    amp, dur = params["load_amplitude"], params["load_duration"]

    def force(t):
        return unit * float(half_sine_pulse(t, amp, dur))

    state = {"u": np.zeros(model.n_dofs), "f": force(0.0), "work": 0.0}
    balance, work = [], []

    def observer(k, t, u, v, a):
        f = force(t)
        state["work"] += 0.5 * (f + state["f"]) @ (u - state["u"])
        state["u"], state["f"] = u.copy(), f
        balance.append(0.5 * v @ (integ.M @ v) + 0.5 * u @ (integ.K @ u) - state["work"])
        work.append(state["work"])

    integ.run(case.time.n_steps, force=force, observer=observer)
    return float(np.abs(balance).max() / max(work))
