"""`make demo`: the main job on the built-in default case, as far as uqgan goes today.

1. Full-model solves of the default case (a steel plate struck on its top edge, plane strain, P2,
   Newmark) at the nominal parameters and at the ends of the pulse-duration range: a summary table.
2. A small full-model campaign (`uqgan generate-data`: 4 design points x 4 material fields, 2
   workers) into results/demo/data, with its variance split and plot-data's figures.
3. The submodel driven by the campaign's stored boundary histories: its QoIs against the full
   model's, and its cost per sample.

Writes to results/demo/:

- ``summary.json``: parameters, QoIs, dofs, wall times (SI units)
- ``u_bc.png``: displacement history on the zone boundary at a few nodes
- ``full_nominal.xdmf`` (+ ``.h5``): the nominal run's displacement for ParaView
- ``data-<case hash>/``: the campaign (shards, manifest, log) and its ``plots/*.png``

    python pipelines/demo.py [--out results/demo] [--no-xdmf] [--samples 16] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger("uqgan.demo")


def plot_boundary_history(path: Path, runs: list[tuple[str, object]], coords: np.ndarray) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = np.linspace(0, coords.shape[0] - 1, 4, endpoint=False).astype(int)
    fig, axes = plt.subplots(2, len(picks), figsize=(3.2 * len(picks), 5), sharex=True, constrained_layout=True)
    for j, node in enumerate(picks):
        for comp, name in enumerate(("x", "y")):
            ax = axes[comp, j]
            for label, sol in runs:
                ax.plot(sol.time_s * 1e6, sol.u_bc[:, node, comp] * 1e9, label=label)
            if comp == 0:
                ax.set_title(f"node {node} at ({coords[node, 0]:.3f}, {coords[node, 1]:.3f}) m", fontsize=9)
            if comp == 1:
                ax.set_xlabel("time [us]")
            if j == 0:
                ax.set_ylabel(f"u_{name} [nm]")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Full model: displacement history on the submodel zone's boundary")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("results/demo"))
    ap.add_argument("--no-xdmf", action="store_true", help="skip the ParaView output")
    ap.add_argument("--samples", type=int, default=16, help="campaign size (4 replicates per point)")
    ap.add_argument("--workers", type=int, default=2, help="campaign worker processes")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("root", "ffcx", "UFL", "compilers", "distutils", "setuptools"):
        logging.getLogger(noisy if noisy != "root" else None).setLevel(logging.WARNING)
    logging.getLogger("uqgan").setLevel(logging.INFO)

    from rich.console import Console
    from rich.table import Table

    from uqgan import __version__
    from uqgan.config import PARAMETER_UNITS, default_case
    from uqgan.fem import PlateModel
    from uqgan.physics.qoi import QOI_SPECS

    args.out.mkdir(parents=True, exist_ok=True)
    case = default_case()
    t0 = time.perf_counter()
    model = PlateModel(case)
    build_s = time.perf_counter() - t0
    nominal = case.parameters.nominal()
    d = case.parameters.load_duration
    settings = [("nominal", nominal), ("shortest pulse", {**nominal, "load_duration": d.low}),
                ("longest pulse", {**nominal, "load_duration": d.high})]
    runs = []
    for label, params in settings:
        logger.info("full model, %s: %s", label, params)
        runs.append((label, model.solve(params, keep_full_history=(label == "nominal" and not args.no_xdmf))))

    table = Table(title=f"uqgan {__version__} demo: full model of the default case '{case.name}'")
    table.add_column("quantity")
    table.add_column("unit")
    for label, _ in runs:
        table.add_column(label, justify="right")
    for name in PARAMETER_UNITS:
        table.add_row(name, PARAMETER_UNITS[name], *(f"{sol.parameters[name]:.4g}" for _, sol in runs))
    for spec in QOI_SPECS:
        table.add_row(spec.name, spec.units, *(f"{sol.qoi[spec.name]:.4g}" for _, sol in runs))
    table.add_row("max |u_bc|", "m", *(f"{np.linalg.norm(sol.u_bc, axis=-1).max():.4g}" for _, sol in runs))
    table.add_row("wall time", "s", *(f"{sol.wall_time_s:.2f}" for _, sol in runs))
    console = Console()
    console.print(table)
    g, z = case.geometry, model.zone
    console.print(f"mesh: {g.nx} x {g.ny} cells P{g.degree}, {model.n_dofs} dofs; zone: {z.space.n_dofs} dofs "
                  f"({100 * z.area_fraction:.1f} % of the area), {z.boundary_nodes.size} boundary nodes; "
                  f"{case.time.n_steps} steps of {case.time.dt_s * 1e6:.3g} us; model built in {build_s:.2f} s")

    summary = {
        "uqgan_version": __version__, "case": case.model_dump(mode="json"), "dofs": model.n_dofs,
        "zone_dofs": z.space.n_dofs, "zone_boundary_nodes": int(z.boundary_nodes.size),
        "zone_area_fraction": z.area_fraction, "build_s": build_s,
        "runs": [{"label": label, "parameters": sol.parameters, "qoi": sol.qoi, "wall_time_s": sol.wall_time_s}
                 for label, sol in runs],
        "units": {**PARAMETER_UNITS, **{s.name: s.units for s in QOI_SPECS}, "wall_time_s": "s"},
    }
    tmp = args.out / ".summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(args.out / "summary.json")
    png = plot_boundary_history(args.out / "u_bc.png", runs, z.boundary_coords)
    written = [args.out / "summary.json", png]
    if not args.no_xdmf:
        written.append(model.write_xdmf(args.out / "full_nominal.xdmf", runs[0][1]))
    console.print("wrote " + ", ".join(str(p) for p in written))

    # 2. a small campaign, resumable: rerunning the demo reuses what is there
    import hashlib

    from uqgan.config import case_to_toml
    from uqgan.data.analysis import replicate_variance_report, variance_summary_line
    from uqgan.data.campaign import run_campaign
    from uqgan.data.dataset import open_dataset
    from uqgan.plots import plot_data

    # one directory per case version: a changed default case never meets an old campaign
    data_dir = args.out / f"data-{hashlib.sha256(case_to_toml(case).encode()).hexdigest()[:8]}"
    report = run_campaign(case, data_dir, n_samples=args.samples, replicates=4, seed=0, workers=args.workers,
                          show_progress=True)
    console.print(report.summary())
    ds = open_dataset(data_dir)
    console.print(variance_summary_line(replicate_variance_report(ds)))
    console.print("wrote " + ", ".join(str(p) for p in plot_data(ds, data_dir / "plots")))

    # 3. the submodel on the campaign's own histories
    from uqgan.fem.submodel import solve_submodel

    qois = solve_submodel(case, ds, batch_size=args.samples)
    table = Table(title=f"submodel ({qois.attrs['submodel_dofs']} dofs) vs full model, {ds.sizes['sample']} samples")
    for col in ("QoI", "unit", "full model mean", "submodel mean", "max |rel. diff|"):
        table.add_column(col, justify="right" if "mean" in col or "diff" in col else "left")
    for spec in QOI_SPECS:
        full, subm = ds[f"qoi_{spec.name}"].values, qois[f"qoi_{spec.name}"].values
        table.add_row(spec.name, spec.units, f"{full.mean():.4g}", f"{subm.mean():.4g}",
                      f"{np.abs(subm / full - 1).max():.1e}")
    console.print(table)
    per_sample = qois.attrs["submodel_wall_time_s"] / ds.sizes["sample"]
    full_cost = float(np.mean([sol.wall_time_s for _, sol in runs]))
    console.print(f"submodel: {1e3 * per_sample:.1f} ms per sample in a batch of {ds.sizes['sample']}, against "
                  f"{full_cost:.2f} s for the full model ({full_cost / per_sample:.0f}x cheaper); the differences are "
                  f"the time interpolation of the stored histories (docs/submodel.md)")
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
