"""Every table and verdict line that the CLI and the pipelines print (rich tables, plain strings).

Presentation only: each function takes the library's results and formats them; none computes a
number that is not already in its input, except the rounding of a display.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from rich.table import Table

    from .config import CaseConfig

__all__ = ["case_summary", "case_table", "coverage_notes", "evaluation_table", "exceedance_lines",
           "montecarlo_table", "solve_table", "validation_table", "zone_qoi_table"]

#: the statistics of a Monte Carlo table, in order
_MC_STATISTICS = ("mean", "std", "q05", "q50", "q95", "q99")


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _table(title: str, columns) -> Table:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title))
    for col in columns:
        table.add_column(col)
    return table


def _interval(e) -> str:
    """``value [lower, upper]`` of an estimate with a ``bound`` dimension."""
    return f"{float(e.sel(bound='value')):.4g} [{float(e.sel(bound='lower')):.3g}, {float(e.sel(bound='upper')):.3g}]"


# ------------------------------------------------------------------------------------------------
# cases and single runs


def case_summary(case: CaseConfig) -> list[tuple[str, str, str]]:
    """Rows ``(quantity, value, unit)`` describing a case."""
    from rich.markup import escape

    from .config import PARAMETER_UNITS

    g, z, t = case.geometry, case.geometry.zone, case.time
    res = case.resolution()
    if g.is_mesh_file:  # a mesh case: the mesh's rows (it is read and checked again; no FEniCSx needed)
        from .fem._mesh import mesh_summary

        geometry_rows = [(q, escape(v), u) for q, v, u in mesh_summary(case)]
        geometry_rows[1:1] = [("dimension", f"{g.dimension}-D", ""), ("degree", f"P{g.degree}", "")]
    else:
        geometry_rows = [
            ("plate (length x height)", f"{_fmt(g.length_m)} x {_fmt(g.height_m)}", "m"),
            ("element size", _fmt(g.element_size_m), "m"),
            ("degree", f"P{g.degree}", ""),
            ("cells nx x ny", f"{g.nx} x {g.ny}", ""),
            ("zone x", f"[{_fmt(z.x_min_m)}, {_fmt(z.x_max_m)}]", "m"),
            ("zone y", f"[{_fmt(z.y_min_m)}, {_fmt(z.y_max_m)}]", "m"),
            ("zone area fraction", f"{100 * g.zone_area_fraction:.2f}", "%"),
            ("hole radius", _fmt(z.hole_radius_m), "m"),
        ]
    rows = [
        ("case", escape(case.name), ""),
        *geometry_rows,
        ("dt", _fmt(t.dt_s), "s"),
        ("n_steps", str(t.n_steps), ""),
        ("end time", _fmt(t.end_time_s), "s"),
        ("output stride", str(t.output_stride), "steps"),
        ("scheme", t.scheme if t.scheme == "newmark" else f"{t.scheme} (rho_inf={t.spectral_radius})", ""),
    ]
    for name in case.parameter_names:
        r = getattr(case.parameters, name)
        rows.append((f"{name} range (nominal)", f"[{_fmt(r.low)}, {_fmt(r.high)}] ({_fmt(r.nominal_value)})",
                     PARAMETER_UNITS[name]))
    rows += [
        ("P-wave speed c_p", _fmt(res["c_p_m_per_s"]), "m/s"),
        ("S-wave speed c_s", _fmt(res["c_s_m_per_s"]), "m/s"),
        # degree * c_s * tau_min / h: nodes across the shortest shear pulse (docs/resolution.md)
        ("nodes per shortest shear pulse", _fmt(res["nodes_per_shear_pulse"]), ""),
        ("time steps per shortest pulse", _fmt(res["steps_per_pulse"]), ""),
    ]
    inc = case.random_inclusions
    if inc.count:
        rows.append(("random inclusions (radius, E ratio)",
                     f"{inc.count} x [{_fmt(inc.radius_range_m[0])}, {_fmt(inc.radius_range_m[1])}] m, "
                     f"{_fmt(inc.stiffness_ratio)}", ""))
    return rows


def case_table(case: CaseConfig, title: str) -> Table:
    """``uqgan check``'s table: :func:`case_summary` under ``title``."""
    table = _table(title, ("quantity", "value", "unit"))
    for row in case_summary(case):
        table.add_row(*row)
    return table


def solve_table(case: CaseConfig, params: dict[str, float], model, solution) -> Table:
    """``uqgan solve``'s table: the parameters, the model's size, the wall time and the zone QoIs."""
    import numpy as np

    from .config import PARAMETER_UNITS
    from .physics.qoi import qoi_specs

    table = _table(f"{case.name}: full model", ("quantity", "value", "unit"))
    for name, value in params.items():
        table.add_row(name, f"{value:.4g}", PARAMETER_UNITS[name])
    table.add_row("dofs", str(model.n_dofs), "")
    table.add_row("zone dofs", str(model.zone.space.n_dofs), "")
    table.add_row("zone boundary nodes", str(model.zone.boundary_nodes.size), "")
    table.add_row("time steps", str(case.time.n_steps), "")
    table.add_row("wall time", f"{solution.wall_time_s:.3g}", "s")
    for spec in qoi_specs(case.geometry.dimension):
        table.add_row(spec.name, f"{solution.qoi[spec.name]:.4g}", spec.units)
    table.add_row("max |u_bc|", f"{float(np.linalg.norm(solution.u_bc, axis=-1).max()):.4g}", "m")
    return table


# ------------------------------------------------------------------------------------------------
# generators


def evaluation_table(report) -> Table:
    """``uqgan evaluate``'s history-level table (:func:`uqgan.evaluation.evaluate_generators`)."""
    n_points = report.per_point.sizes["point"]
    table = _table("generators at held-out points; floor = truth vs truth at the same sample size",
                   ("generator", "ED / floor", f"ED test p<0.05 (of {n_points})", "FD10 / floor", "MMD² (floor)",
                    "90% band", "peak |bias| mean/q05/q95", "peak spread", "peak KS (floor)"))
    for s in report.summary:
        table.add_row(s["generator"], f"{s['ed_over_floor']:.2f}", str(s["points_rejected_5pct"]),
                      f"{s['fd10_over_floor']:.2f}", f"{s['mmd2']:.3g} ({s['mmd2_floor']:.2g})",
                      f"{s['coverage_90']:.2f}",
                      f"{s['peak_abs_bias']:.0%}/{s['peak_q05_abs_bias']:.0%}/{s['peak_q95_abs_bias']:.0%}",
                      f"{s['peak_spread_ratio']:.2f}", f"{s['peak_ks']:.2f} ({s['peak_ks_floor']:.2f})")
    return table


def zone_qoi_table(zone) -> Table:
    """``uqgan evaluate --zone-qois``'s table (:func:`uqgan.evaluation.zone_qoi_check`)."""
    table = _table("zone QoIs through the submodel vs the full model at the held-out points (relative bias of the "
                   "mean ± standard error, pooled over points; mean |bias| per point; spread ratio; KS (truth floor))",
                   ("generator", "QoI", "bias of mean", "mean |bias| per point", "q95 bias", "spread", "KS (floor)"))
    for g in zone["generator"].values:
        for q in zone["qoi"].values:
            z = zone.sel(generator=g, qoi=q)
            table.add_row(str(g), str(q).removeprefix("qoi_"),
                          f"{float(z.pooled_mean_bias):+.1%} ± {float(z.pooled_mean_bias_se):.1%}",
                          f"{float(abs(z.mean_bias).mean()):.1%}", f"{float(z.q95_bias.mean()):+.1%}",
                          f"{float(z.spread_ratio.mean()):.2f}",
                          f"{float(z.ks.mean()):.2f} ({float(z.ks_floor.mean()):.2f})")
    return table


# ------------------------------------------------------------------------------------------------
# Monte Carlo


def montecarlo_table(result) -> Table:
    """``uqgan montecarlo``'s table: each QoI's statistics with their 95 % intervals."""
    from .physics.qoi import QOI_SPECS

    n = result.samples.sizes["sample"]
    table = _table(f"Monte Carlo, {n} samples ({result.statistics.attrs['generator']} + submodel): value [95 % CI]",
                   ("QoI", "unit", *_MC_STATISTICS))
    for spec in QOI_SPECS:
        q = f"qoi_{spec.name}"
        e = result.statistics["estimate"].sel(qoi=q)
        units = result.statistics.attrs.get(f"units_{q}", spec.units)
        table.add_row(spec.name, units, *[_interval(e.sel(statistic=stat)) for stat in _MC_STATISTICS])
    return table


def exceedance_lines(statistics) -> list[str]:
    """One line per finite threshold: ``P(QoI > t unit) = p [lower, upper]``."""
    import numpy as np

    from .physics.qoi import QOI_SPECS

    lines = []
    est = statistics["estimate"]
    for spec in QOI_SPECS:
        q = f"qoi_{spec.name}"
        for j, thr in enumerate(statistics["threshold"].sel(qoi=q).values):
            if np.isfinite(thr):
                e = est.sel(qoi=q, statistic=f"p_exceed_{j}")
                units = statistics.attrs.get(f"units_{q}", spec.units)
                lines.append(f"P({spec.name} > {thr:.4g} {units}) = {float(e.sel(bound='value')):.4f} "
                             f"[{float(e.sel(bound='lower')):.4f}, {float(e.sel(bound='upper')):.4f}]")
    return lines


def coverage_notes(*datasets) -> list[str]:
    """The ``coverage_note_*`` attributes of statistics or validation datasets that are not empty: where a
    sample is too small or too skewed for an interval's nominal level (docs/coverage.md)."""
    lines = []
    for ds in datasets:
        for key, note in ds.attrs.items():
            if key.startswith("coverage_note_") and note:
                lines.append(f"note ({key.removeprefix('coverage_note_')}): {note}")
    return lines


def validation_table(validation) -> Table:
    """``uqgan montecarlo --reference``'s table (:class:`uqgan.montecarlo.Validation`): each QoI's mean
    against the full model's, in combined standard errors, with the multi-fidelity estimates."""
    from .physics.qoi import QOI_SPECS

    comparison, combined = validation.comparison, validation.combined
    table = _table(f"against the full-model reference ({comparison.attrs['n_reference']} runs): mean, difference "
                   "in combined standard errors, intervals overlap",
                   ("QoI", "reference mean [95 % CI]", "Monte Carlo mean [95 % CI]", "diff / SE", "overlap", "KS p",
                    "MFMC mean [CI] (variance reduction)", "PPI++ mean [CI]"))
    for spec in QOI_SPECS:
        q = f"qoi_{spec.name}"
        c = combined["estimate"].sel(qoi=q, statistic="mean")
        table.add_row(spec.name, _interval(comparison["reference"].sel(qoi=q, statistic="mean")),
                      _interval(comparison["estimate"].sel(qoi=q, statistic="mean")),
                      f"{float(comparison['difference_in_se'].sel(qoi=q, statistic='mean')):+.1f}",
                      "yes" if bool(comparison["overlap"].sel(qoi=q, statistic="mean")) else "NO",
                      f"{float(comparison['ks_pvalue'].sel(qoi=q)):.2g}",
                      f"{_interval(c.sel(estimator='mfmc'))} "
                      f"({float(combined['mfmc_variance_reduction'].sel(qoi=q)):.1f}x)",
                      _interval(c.sel(estimator="ppi++")))
    return table
