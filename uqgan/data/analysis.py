"""Analyses of a BC dataset that tell a user what their data holds (numpy/xarray only).

The main one is the variance split: with replicates (several material fields at one parameter
point), the law of total variance ``Var X = E[Var(X | point)] + Var(E[X | point])`` says how much
of the variability the parameters do not explain. If the within-point share is small, a regression
on the parameters is enough and a generative model buys little.
"""

from __future__ import annotations

import numpy as np

from .dataset import variables_with_role

__all__ = ["replicate_variance_report", "variance_summary_line", "within_group_variance_fraction"]


def within_group_variance_fraction(values, groups) -> float:
    """Share of the total variance that lies within groups (replicates of one design point).

    Parameters
    ----------
    values : (n_samples, ...) array; trailing dims (time, node, component) are summed over, so a
        history's fraction is that of its total (Frobenius) variance.
    groups : (n_samples,) group label of each sample (the design point).

    Returns
    -------
    float in [0, ~1]: ``mean_g Var(X | g) / Var(X)``, both unbiased (ddof = 1), over groups with at
    least two members; NaN when no group has two members or the total variance is zero.
    """
    x = np.asarray(values, dtype=float).reshape(len(values), -1)
    g = np.asarray(groups)
    if x.shape[0] != g.shape[0]:
        raise ValueError(f"values has {x.shape[0]} samples but groups has {g.shape[0]}")
    total = x.var(axis=0, ddof=1).sum() if x.shape[0] > 1 else 0.0
    labels, counts = np.unique(g, return_counts=True)
    within = [x[g == lab].var(axis=0, ddof=1).sum() for lab, c in zip(labels, counts, strict=True) if c >= 2]
    if not within or total == 0:
        return float("nan")
    return float(np.mean(within) / total)


def replicate_variance_report(ds) -> dict[str, float]:
    """Within-point variance shares of a dataset's histories and QoIs.

    Keys: ``u_bc`` (raw), ``u_bc_per_amplitude`` (divided by ``load_amplitude``, as the generators
    see it: the model is linear in the load, so the amplitude is an exact, known scale),
    ``qoi_<name>`` for each QoI variable and, for the uqgan QoIs, ``qoi_<name>_per_amplitude``
    (divided by ``load_amplitude ** amplitude_power``). NaN without replicates.
    """
    from ..physics.qoi import QOI_SPECS

    powers = {f"qoi_{s.name}": s.amplitude_power for s in QOI_SPECS}
    groups = ds["point"].values
    amp = ds["load_amplitude"].values if "load_amplitude" in ds else None
    out = {"u_bc": within_group_variance_fraction(ds["u_bc"].values, groups)}
    if amp is not None:
        out["u_bc_per_amplitude"] = within_group_variance_fraction(ds["u_bc"].values / amp.reshape(-1, 1, 1, 1),
                                                                   groups)
    for v in variables_with_role(ds, "qoi"):
        out[v] = within_group_variance_fraction(ds[v].values, groups)
        if amp is not None and v in powers:
            out[f"{v}_per_amplitude"] = within_group_variance_fraction(ds[v].values / amp ** powers[v], groups)
    return out


def variance_summary_line(split: dict[str, float]) -> str:
    """One line of :func:`uqgan.data.analysis.replicate_variance_report`'s shares, in %; entries the
    dataset lacks (a QoI, the load amplitude) are left out."""

    def pct(key: str) -> str:
        return f"{100 * split[key]:.0f} %"

    head = f"u_bc {pct('u_bc')}"
    if "u_bc_per_amplitude" in split:
        head += f" ({pct('u_bc_per_amplitude')} per unit amplitude)"
    parts = [head]
    for key, label in (("qoi_peak_displacement", "peak displacement"), ("qoi_peak_von_mises", "peak von Mises")):
        if key in split:
            per = f" ({pct(key + '_per_amplitude')} per unit amplitude)" if key + "_per_amplitude" in split else ""
            parts.append(f"{label} {pct(key)}{per}")
    return "variance within replicates (what the parameters do not explain): " + ", ".join(parts)
