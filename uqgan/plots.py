"""Figures of a BC dataset: what a campaign holds, at a glance (matplotlib, imported lazily).

Every ``plot_*`` function takes an :class:`xarray.Dataset` in the schema of :mod:`uqgan.data.dataset`
and a file path, writes the figure atomically (the format follows the suffix, PNG by default) and
returns the path. Figures are built with :class:`matplotlib.figure.Figure` directly, never through
pyplot: no backend is selected, no global figure registry is touched (a notebook's figures and
backend are left alone), and nothing stays open after saving, so the functions run headless and in
worker processes.

Examples
--------
>>> from uqgan.data.dataset import open_dataset
>>> from uqgan.plots import plot_data
>>> paths = plot_data(open_dataset("data/campaign"), "data/campaign/plots")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .data.analysis import replicate_variance_report
from .data.dataset import variables_with_role
from .data.io import write_atomic

__all__ = [
    "bc_quantiles",
    "has_replicates",
    "plot_bc_quantiles",
    "plot_data",
    "plot_design",
    "plot_qoi_histograms",
    "plot_variance_split",
]

logger = logging.getLogger(__name__)

#: file names written by :func:`plot_data`
FILE_NAMES = {
    "bc_quantiles": "bc_quantiles.png",
    "design": "design.png",
    "qoi_histograms": "qoi_histograms.png",
    "variance_split": "variance_split.png",
}

_SI_PREFIXES = {-9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M", 9: "G"}
#: units that take an SI prefix on their first symbol ("J/m" -> "mJ/m")
_PREFIXABLE = ("m", "s", "Pa", "J", "N", "W")
_DPI = 120


# ------------------------------------------------------------------------------------------------
# pure helpers (no matplotlib)


def bc_quantiles(ds, quantiles: Sequence[float] = (0.05, 0.5, 0.95)):
    """Quantiles of the boundary histories over all samples.

    Parameters
    ----------
    ds : xarray.Dataset
        With ``u_bc`` of dims ``(sample, time, node, component)`` [m].
    quantiles : sequence of float
        Probabilities in [0, 1], strictly increasing.

    Returns
    -------
    xarray.DataArray
        Dims ``(quantile, time, node, component)``, float64 [m]; the empirical quantiles over
        ``sample`` with numpy's default (linear, Hyndman & Fan type 7) interpolation. Attributes of
        ``u_bc`` (units, long_name) are kept.

    Raises
    ------
    ValueError
        If ``quantiles`` is empty, not increasing or leaves [0, 1].
    """
    q = _check_quantiles(quantiles)
    return ds["u_bc"].quantile(q, dim="sample", keep_attrs=True)


def has_replicates(ds) -> bool:
    """Whether some design point (coordinate ``point``) holds two or more samples."""
    if "point" not in ds.coords and "point" not in ds:
        return False
    _, counts = np.unique(np.asarray(ds["point"].values), return_counts=True)
    return bool(counts.size and counts.max() >= 2)


def _check_quantiles(quantiles: Sequence[float]) -> list[float]:
    q = [float(x) for x in np.atleast_1d(np.asarray(quantiles, dtype=float))]
    if not q:
        raise ValueError("quantiles=(): give at least one probability in [0, 1], e.g. (0.05, 0.5, 0.95)")
    if not all(0.0 <= x <= 1.0 for x in q) or any(b <= a for a, b in zip(q, q[1:], strict=False)):
        raise ValueError(f"quantiles={tuple(q)}: must be strictly increasing probabilities in [0, 1], "
                         "e.g. (0.05, 0.5, 0.95)")
    return q


def _si_scale(values, units: str) -> tuple[float, str]:
    """Factor and unit label that bring ``values`` [``units``] into [1, 1000) with an SI prefix.

    Units other than plain SI symbols (``"1"``, ``"m/s"``...) and all-zero data are left as they are.
    """
    head = next((u for u in sorted(_PREFIXABLE, key=len, reverse=True) if units.startswith(u)), None)
    rest = units[len(head):] if head else ""
    if head is None or (rest and not rest.startswith("/")):
        return 1.0, units
    a = np.abs(np.asarray(values, dtype=float))
    a = a[np.isfinite(a)]
    peak = float(a.max()) if a.size else 0.0
    if peak == 0.0:
        return 1.0, units
    exp = int(min(max(3 * math.floor(math.log10(peak) / 3), -9), 9))
    return 10.0 ** -exp, f"{_SI_PREFIXES[exp]}{units}"


def _label(da, *, units: str | None = None, width: int = 40) -> str:
    """``long_name [units]``, wrapped to ``width`` characters."""
    name = str(da.attrs.get("long_name", da.name))
    return textwrap.fill(f"{name} [{units if units is not None else da.attrs.get('units', '?')}]", width)


def _short(name: str) -> str:
    return name.removeprefix("qoi_")


# ------------------------------------------------------------------------------------------------
# matplotlib


def _figure(**kwargs):
    """A pyplot-free Figure (see the module docstring); ``constrained`` layout."""
    from ._lazy import require

    mfig = require("matplotlib.figure", purpose="plotting (uqgan plot-data)")
    return mfig.Figure(layout="constrained", **kwargs)


def _integer_locator():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    try:
        write_atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=_DPI))
    finally:
        fig.clear()  # a Figure outside pyplot is freed with its last reference; drop the artists now
    logger.info("wrote %s", path)
    return path


def plot_bc_quantiles(ds, path: str | Path, *, nodes: Sequence[int] | None = None,
                      quantiles: Sequence[float] = (0.05, 0.5, 0.95)) -> Path:
    """Quantile bands of the boundary histories over all samples at a few nodes.

    One column per node, one row per component; the outermost pair of ``quantiles`` is shaded
    (inner pairs darker), and a middle quantile, if their number is odd, is drawn as a line.

    Parameters
    ----------
    ds : xarray.Dataset
        BC dataset (``u_bc`` [m], coords ``time`` [s], ``node_x``/``node_y`` [m]).
    path : str or Path
        Output file.
    nodes : sequence of int, optional
        Positions along the ``node`` dim; default 4 spread along the boundary.
    quantiles : sequence of float
        Strictly increasing probabilities, default 5, 50 and 95 %.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        On a node out of range or bad quantiles.
    """
    n_node = ds.sizes["node"]
    if nodes is None:
        nodes = sorted(set(np.linspace(0, n_node - 1, min(4, n_node)).round().astype(int).tolist()))
    nodes = [int(n) for n in nodes]
    bad = [n for n in nodes if not 0 <= n < n_node]
    if bad or not nodes:
        raise ValueError(f"nodes={nodes}: need at least one position in [0, {n_node - 1}] along the node dim")
    qs = _check_quantiles(quantiles)
    band = bc_quantiles(ds.isel(node=nodes), qs)  # (quantile, time, node, component)

    t_us = np.asarray(ds["time"].values, dtype=float) * 1e6
    u_fac, u_units = _si_scale(band.values, str(ds["u_bc"].attrs.get("units", "m")))
    xy = np.stack([ds["node_x"].values[nodes], ds["node_y"].values[nodes]], axis=-1)
    c_fac, c_units = _si_scale(xy, str(ds["node_x"].attrs.get("units", "m")))
    components = [str(c) for c in ds["component"].values]

    fig = _figure(figsize=(3.2 * len(nodes) + 0.6, 2.6 * len(components) + 0.6))
    axes = fig.subplots(len(components), len(nodes), sharex=True, sharey="row", squeeze=False)
    pairs = [(i, len(qs) - 1 - i) for i in range(len(qs) // 2)]
    for j, node in enumerate(nodes):
        for i, comp in enumerate(components):
            ax = axes[i, j]
            vals = band.isel(node=j, component=i).values * u_fac
            for k, (lo, hi) in enumerate(pairs):
                ax.fill_between(t_us, vals[lo], vals[hi], color="C0", alpha=0.25 + 0.2 * k, linewidth=0,
                                label=f"{100 * qs[lo]:g}–{100 * qs[hi]:g} %")
            if len(qs) % 2:
                mid = len(qs) // 2
                ax.plot(t_us, vals[mid], color="C0", lw=1.5,
                        label="median" if qs[mid] == 0.5 else f"{100 * qs[mid]:g} %")
            ax.axhline(0.0, color="0.6", lw=0.6)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(f"node {int(ds['node'].values[node])} at\n"
                             f"({xy[j, 0] * c_fac:.4g}, {xy[j, 1] * c_fac:.4g}) {c_units}", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"u_{comp} [{u_units}]")
            if i == len(components) - 1:
                ax.set_xlabel("time [µs]")
    axes[0, 0].legend(fontsize=8, loc="best")
    fig.suptitle(f"boundary displacement over {ds.sizes['sample']} samples", fontsize=11)
    return _save(fig, path)


def plot_design(ds, path: str | Path) -> Path:
    """Pairwise scatter of the parameters (``attrs role == "parameter"``), histograms on the diagonal.

    Replicates share their parameters, so their markers coincide; marker area grows with the number
    of samples at a point.

    Parameters
    ----------
    ds : xarray.Dataset
        BC dataset.
    path : str or Path
        Output file.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If no variable has ``role == "parameter"``.
    """
    names = variables_with_role(ds, "parameter")
    if not names:
        raise ValueError("the dataset has no variable with attrs role='parameter': nothing to plot")
    scales = [_si_scale(ds[v].values, str(ds[v].attrs.get("units", "1"))) for v in names]
    cols = np.stack([np.asarray(ds[v].values, dtype=float) * f for v, (f, _) in zip(names, scales, strict=True)],
                    axis=1)
    points, counts = np.unique(cols, axis=0, return_counts=True)
    sizes = 14.0 * counts

    k = len(names)
    fig = _figure(figsize=(2.6 * k + 0.8, 2.6 * k + 0.6))
    axes = fig.subplots(k, k, sharex="col", squeeze=False)
    for i in range(k):
        for j in range(k):
            ax = axes[i, j]
            if j > i:
                ax.set_axis_off()
                continue
            if i == j:
                ax.hist(points[:, i], bins=max(5, min(30, int(np.sqrt(len(points))) + 1)), color="C0", alpha=0.7)
                ax.yaxis.set_major_locator(_integer_locator())
                ax.set_ylabel("points" if j == 0 else "")
            else:
                ax.scatter(points[:, j], points[:, i], s=sizes, color="C0", alpha=0.7, edgecolors="none")
                if j == 0:
                    ax.set_ylabel(textwrap.fill(f"{names[i]} [{scales[i][1]}]", 22))
            if i == k - 1:
                ax.set_xlabel(textwrap.fill(f"{names[j]} [{scales[j][1]}]", 22))
            ax.grid(alpha=0.3)
    reps = f"; marker area ∝ samples per point (up to {counts.max()})" if counts.max() > 1 else ""
    fig.suptitle(f"design: {len(points)} parameter points, {ds.sizes['sample']} samples{reps}", fontsize=10)
    return _save(fig, path)


def plot_qoi_histograms(ds, path: str | Path) -> Path:
    """One histogram per quantity of interest (``attrs role == "qoi"``) over all samples.

    Parameters
    ----------
    ds : xarray.Dataset
        BC dataset.
    path : str or Path
        Output file.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If no variable has ``role == "qoi"``.
    """
    names = variables_with_role(ds, "qoi")
    if not names:
        raise ValueError("the dataset has no variable with attrs role='qoi': nothing to plot")
    n = ds.sizes["sample"]
    bins = max(5, min(50, int(np.ceil(np.sqrt(n)))))
    fig = _figure(figsize=(3.8 * len(names) + 0.4, 3.4))
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, v in zip(axes, names, strict=True):
        fac, units = _si_scale(ds[v].values, str(ds[v].attrs.get("units", "1")))
        ax.hist(np.asarray(ds[v].values, dtype=float) * fac, bins=bins, color="C1", alpha=0.8)
        ax.set_xlabel(_label(ds[v], units=units, width=34), fontsize=9)
        ax.set_title(_short(v), fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("samples")
    for ax in axes:
        ax.yaxis.set_major_locator(_integer_locator())
    fig.suptitle(f"quantities of interest over {n} samples", fontsize=11)
    return _save(fig, path)


def plot_variance_split(ds, path: str | Path, *, guide_percent: float = 10.0) -> Path:
    """Bar chart of the share of variance within replicates (law of total variance).

    ``Var X = E[Var(X | point)] + Var(E[X | point])``: the bars give the first term as a share of
    the total, in %, for ``u_bc``, ``u_bc`` per unit load amplitude and each QoI (see
    :func:`uqgan.data.analysis.replicate_variance_report`). Below the guide line the parameters explain
    almost all the variability and a regression on them would do; above it the material field
    matters and a generative model earns its keep.

    Parameters
    ----------
    ds : xarray.Dataset
        BC dataset with replicates (some ``point`` value occurring twice).
    path : str or Path
        Output file.
    guide_percent : float
        Height of the horizontal guide line [%].

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If the dataset has no replicates.
    """
    if not has_replicates(ds):
        raise ValueError("plot_variance_split needs replicates (two or more samples at one design point): "
                         "generate the data with --replicates >= 2")
    split = replicate_variance_report(ds)
    labels = {"u_bc": "u_bc", "u_bc_per_amplitude": "u_bc per unit\namplitude"}
    keys = list(split)
    pct = np.array([100.0 * split[k] for k in keys])

    fig = _figure(figsize=(1.5 * len(keys) + 2.0, 3.8))
    ax = fig.subplots()
    x = np.arange(len(keys))
    colors = ["C0" if k.startswith("u_bc") else "C1" for k in keys]
    ax.bar(x, np.nan_to_num(pct), color=colors, alpha=0.85)
    for xi, p in zip(x, pct, strict=True):
        ax.annotate("n/a" if np.isnan(p) else f"{p:.0f} %", (xi, 0 if np.isnan(p) else p),
                    xytext=(0, 3), textcoords="offset points", ha="center", fontsize=9)
    ax.axhline(guide_percent, color="k", ls="--", lw=1, label=f"{guide_percent:g} %: below, the parameters "
                                                                 "explain almost all")
    ax.set_xticks(x, [labels.get(k, _short(k)) for k in keys], fontsize=9)
    ax.set_ylabel("variance within replicates [%]")
    top = np.nanmax(np.append(pct, guide_percent))
    ax.set_ylim(0, max(100.0, 1.15 * top) if top > 60 else 1.25 * top + 5)
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    n_pts = len(np.unique(ds["point"].values))
    ax.set_title(f"what the parameters do not explain ({n_pts} points, {ds.sizes['sample']} samples)", fontsize=10)
    return _save(fig, path)


def plot_data(ds, out_dir: str | Path) -> list[Path]:
    """Write all figures of a BC dataset into ``out_dir`` (created).

    Files: ``bc_quantiles.png``, ``design.png``, ``qoi_histograms.png`` (when the dataset has QoIs)
    and ``variance_split.png`` (when it has replicates).

    Parameters
    ----------
    ds : xarray.Dataset
        BC dataset.
    out_dir : str or Path
        Output directory.

    Returns
    -------
    list of Path
        The files written, in the order above.
    """
    out_dir = Path(out_dir)
    paths = [
        plot_bc_quantiles(ds, out_dir / FILE_NAMES["bc_quantiles"]),
        plot_design(ds, out_dir / FILE_NAMES["design"]),
    ]
    if variables_with_role(ds, "qoi"):
        paths.append(plot_qoi_histograms(ds, out_dir / FILE_NAMES["qoi_histograms"]))
    else:
        logger.info("no QoI variables: %s skipped", FILE_NAMES["qoi_histograms"])
    if has_replicates(ds):
        paths.append(plot_variance_split(ds, out_dir / FILE_NAMES["variance_split"]))
    else:
        logger.info("no replicates: %s skipped (needs --replicates >= 2)", FILE_NAMES["variance_split"])
    return paths


def plot_qoi_ecdfs(samples, reference, path: str | Path, *, labels=("Monte Carlo", "full-model reference")) -> Path:
    """Empirical CDFs of each QoI: a Monte Carlo run against a full-model reference campaign.

    Parameters
    ----------
    samples, reference : xarray.Datasets with ``qoi_<name>(sample)`` variables
    path : output PNG
    """
    from .physics.qoi import QOI_SPECS

    names = [f"qoi_{s.name}" for s in QOI_SPECS if f"qoi_{s.name}" in samples and f"qoi_{s.name}" in reference]
    if not names:
        raise ValueError("no QoI common to both datasets: nothing to plot")
    units = {v: str(reference[v].attrs.get("units", samples[v].attrs.get("units", "1"))) for v in names}
    fig = _figure(figsize=(3.9 * len(names) + 0.4, 3.4))
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, v in zip(axes, names, strict=True):
        fac, u = _si_scale(np.concatenate([samples[v].values, reference[v].values]), units[v])
        for ds, label, color in ((samples, labels[0], "C0"), (reference, labels[1], "C3")):
            x = np.sort(np.asarray(ds[v].values, dtype=float)) * fac
            ax.step(x, np.arange(1, x.size + 1) / x.size, where="post", color=color,
                    label=f"{label} ({x.size})")
        ax.set_xlabel(f"{_short(v)} [{u}]", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("empirical CDF")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle("QoI distributions: Monte Carlo vs full model", fontsize=11)
    return _save(fig, path)


def plot_convergence(convergence, path: str | Path) -> Path:
    """Running Monte Carlo estimate of each QoI's mean with its 95 % CI band against the number of
    samples (log scale), from :class:`uqgan.montecarlo.MonteCarloResult.convergence`."""
    qois = [str(q) for q in convergence["qoi"].values]
    fig = _figure(figsize=(3.9 * len(qois) + 0.4, 3.3))
    axes = fig.subplots(1, len(qois), squeeze=False)[0]
    n = convergence["n"].values
    for ax, q in zip(axes, qois, strict=True):
        m = convergence["running_mean"].sel(qoi=q).values
        h = convergence["halfwidth"].sel(qoi=q).values
        ax.fill_between(n, m - h, m + h, color="C0", alpha=0.25, label="95 % CI")
        ax.plot(n, m, color="C0", label="running mean")
        ax.set_xscale("log")
        ax.set_xlabel("samples")
        ax.set_title(_short(q), fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Monte Carlo convergence of the means", fontsize=11)
    return _save(fig, path)
