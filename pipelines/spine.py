"""The whole uqgan spine on the default case: campaigns, generators, Monte Carlo, validation.

1. Full-model campaigns (`uqgan generate-data`): a training campaign (points x replicates), an
   enrichment campaign over the load positions above the zone (`--range`), a held-out campaign
   with many replicates at a few other points (for `uqgan evaluate`), and an independent reference
   campaign drawn from the parameter ranges (for Monte Carlo validation).
2. Generators (`uqgan train --registration arrival`, on the training and enrichment campaigns):
   pca-gaussian, kriging-gaussian, kriging-resample, plom and wgan-gp; `uqgan evaluate` says which one is
   closest to the held-out truth, in the histories and in the zone QoIs through the submodel
   (`--zone-qois`).
3. Monte Carlo (`uqgan montecarlo`) with each generator and the batched submodel, validated against
   the reference runs, with the multi-fidelity and PPI++ estimates that use them, and the saving at
   equal accuracy of the mean (`uqgan.montecarlo.equal_accuracy`).

Every step resumes: rerunning reuses what is on disk. Results and a summary go to results/spine/
(or --out). The demo size takes about 10 minutes on 2 cores; ``--size study`` (64 x 5 training
runs, 32 x 5 enrichment runs, 6 x 32 held out, 256 reference runs, 2048 Monte Carlo samples) is
the size of issue 16's side-by-side tables (docs/generators.md); ``--full`` (``--size full``: 160 x 5,
160 x 5, 8 x 40, 256) about an hour and a half. ``--case`` runs another case file, e.g.
simulations/plate_inclusions/case.toml.

    python pipelines/spine.py [--size demo|study|full] [--case CASE.toml] [--out results/spine] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger("uqgan.spine")

SIZES = {
    "demo": {"train": (40, 4), "enrich": (20, 4), "held_out": (4, 16), "reference": 64, "mc": 1024,
             "wgan_steps": 1000, "eval_draws": 1},
    "study": {"train": (64, 5), "enrich": (32, 5), "held_out": (6, 32), "reference": 256, "mc": 2048,
              "wgan_steps": 3000, "eval_draws": 3},
    "full": {"train": (160, 5), "enrich": (160, 5), "held_out": (8, 40), "reference": 256, "mc": 4096,
             "wgan_steps": 3000, "eval_draws": 3},
}

#: the enrichment campaign's load positions: the zone's x-range widened by this much on each side,
#: where the footprint's waves reach the zone directly and the histories change fastest with the
#: position (docs/generators.md, "Enrichment")
ENRICH_MARGIN_M = 0.1

#: the generators trained (all registered), compared, and run through Monte Carlo
GENERATORS = ("pca-gaussian", "kriging-gaussian", "kriging-resample", "plom", "wgan-gp")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="the full size (same as --size full; about 1.5 h on 2 cores)")
    ap.add_argument("--size", choices=sorted(SIZES), default=None, help="campaign and Monte Carlo sizes (default demo)")
    ap.add_argument("--case", type=Path, default=None, help="a case file (default: the built-in default case)")
    ap.add_argument("--out", type=Path, default=None, help="results directory (default results/spine[-full])")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("uqgan").setLevel(logging.INFO)
    for noisy in ("uqgan.data.campaign.logfile",):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from rich.console import Console
    from rich.table import Table

    from uqgan.config import MonteCarloConfig, default_case, load_case, restrict_ranges
    from uqgan.data.campaign import full_model_seconds, run_campaign
    from uqgan.data.dataset import open_dataset, open_datasets
    from uqgan.evaluation import evaluate_generators, zone_qoi_check, zone_qoi_verdict
    from uqgan.generators import generator_class, load_generator, make_generator
    from uqgan.montecarlo import (
        CheapChain,
        equal_accuracy,
        format_target,
        run_montecarlo,
        validate_against_reference,
    )
    from uqgan.plots import plot_qoi_ecdfs

    if args.full and args.size not in (None, "full"):
        ap.error(f"--full and --size {args.size}: give one of them")
    size_name = "full" if args.full else (args.size or "demo")
    size = SIZES[size_name]
    case = load_case(args.case) if args.case else default_case()
    out = args.out or Path("results/spine" + ("" if size_name == "demo" else f"-{size_name}")
                           + ("" if args.case is None else f"-{case.name}"))
    out.mkdir(parents=True, exist_ok=True)
    console = Console()
    t0 = time.perf_counter()

    # 1. campaigns: training over the full ranges, enrichment over the positions above the zone,
    # held-out points with many replicates, and an independent reference
    (n_pts, reps), (e_pts, e_reps), (h_pts, h_reps) = size["train"], size["enrich"], size["held_out"]
    pos = case.parameters.load_position
    zone = case.geometry.zone
    near = restrict_ranges(case, {"load_position": (max(pos.low, zone.x_min_m - ENRICH_MARGIN_M),
                                                    min(pos.high, zone.x_max_m + ENRICH_MARGIN_M))})
    for name, c, n, r, seed in (("train", case, n_pts * reps, reps, 1), ("enrich", near, e_pts * e_reps, e_reps, 4),
                                ("held_out", case, h_pts * h_reps, h_reps, 2),
                                ("reference", case, size["reference"], 1, 3)):
        rep = run_campaign(c, out / name, n_samples=n, replicates=r, seed=seed, workers=args.workers,
                           show_progress=True)
        console.print(rep.summary())
        if rep.failures:
            console.print(f"[red]{name}: {len(rep.failures)} runs failed; rerun to retry them[/red]")
            return 3
    train = open_datasets([out / "train", out / "enrich"])
    held_out, reference = (open_dataset(out / n) for n in ("held_out", "reference"))

    # 2. generators
    # The default case's wavefronts arrive at random times (the material field sets the wave speed):
    # registering them keeps the stress peaks (docs/generators.md, "Registration of arrival times").
    models = {}
    for g in GENERATORS:
        d = out / "models" / g
        opts = {"seed": 0, "registration": "arrival",
                **({"steps": size["wgan_steps"]} if generator_class(g).adversarial else {})}
        if (d / "config.json").is_file():
            saved = load_generator(d)
            seen = sorted(saved.split.get("train_points", []) + saved.split.get("validation_points", []))
            same_data = seen == np.unique(train["point"].values).tolist()
            if same_data and all(saved.config.get(k) == v for k, v in opts.items()):
                models[g] = saved
                continue
            console.print(f"{d} was trained with other " + ("options" if same_data else "data")
                          + ": training it again")
            shutil.rmtree(d)  # this pipeline's own model directory (old checkpoints would block a new run)
            shutil.rmtree(out / "mc" / g, ignore_errors=True)  # and its Monte Carlo, drawn from the old model
        gen = make_generator(g, **opts)
        gen.fit(train, **({"directory": d, "show_progress": True} if generator_class(g).adversarial else {}))
        gen.save(d)
        models[g] = gen
    # one evaluation draw can swap close generators: the larger sizes average a few (uqgan evaluate --draws)
    report = evaluate_generators(models, held_out, draws=size["eval_draws"])
    table = Table(title=f"generators at {h_pts} held-out points x {h_reps} replicates")
    for col in ("generator", "ED / floor", "peak |bias|", "peak spread", "90 % band"):
        table.add_column(col)
    for s in report.summary:
        table.add_row(s["generator"], f"{s['ed_over_floor']:.2f}", f"{s['peak_abs_bias']:.1%}",
                      f"{s['peak_spread_ratio']:.2f}", f"{s['coverage_90']:.2f}")
    console.print(table)
    console.print(report.verdict)
    zone = zone_qoi_check(models, held_out, case, seed=0, draws=size["eval_draws"])
    ztable = Table(title="zone QoIs through the submodel vs the full model at the held-out points: bias of the mean "
                         "(pooled over points) ± standard error, spread ratio, KS (its truth-vs-truth floor)")
    ztable.add_column("generator")
    for q in zone["qoi"].values:
        ztable.add_column(str(q).removeprefix("qoi_"))
    for g in zone["generator"].values:
        z = zone.sel(generator=g)
        ztable.add_row(str(g), *[f"{float(z.pooled_mean_bias.sel(qoi=q)):+.1%} ± "
                                 f"{float(z.pooled_mean_bias_se.sel(qoi=q)):.1%}, "
                                 f"{float(z.spread_ratio.sel(qoi=q).mean()):.2f}, "
                                 f"KS {float(z.ks.sel(qoi=q).mean()):.2f} ({float(z.ks_floor.sel(qoi=q).mean()):.2f})"
                                 for q in zone["qoi"].values])
    console.print(ztable)
    console.print(zone_qoi_verdict(zone))

    # 3. Monte Carlo with every generator, validated against the reference runs
    summary = {"evaluation": report.to_dict()["summary"], "verdict": report.verdict, "montecarlo": {},
               "zone_qoi_bias": {str(g): {str(q): float(zone["pooled_mean_bias"].sel(generator=g, qoi=q))
                                          for q in zone["qoi"].values} for g in zone["generator"].values},
               "zone_qoi": {str(g): {str(q): {m: float(zone[m].sel(generator=g, qoi=q).mean())
                                              for m in ("pooled_mean_bias", "pooled_mean_bias_se", "spread_ratio",
                                                        "ks", "ks_floor")}
                                     for q in zone["qoi"].values} for g in zone["generator"].values},
               "case": case.name, "size": size_name,
               "equal_accuracy": {}}
    mc_gens = list(dict.fromkeys((report.winner, *GENERATORS)))
    full_s = full_model_seconds(case)  # a full-model sample's cost, to put the cheap chain's against
    for g in mc_gens:
        chain = CheapChain(case, models[g])
        res = run_montecarlo(chain, out / "mc" / g, MonteCarloConfig(n_samples=size["mc"], batch=256, seed=0),
                             show_progress=True)
        validation = validate_against_reference(chain, res.samples, reference, seed=0)
        val, comb = validation.comparison, validation.combined
        val.to_netcdf(out / f"mc_{g}_validation.nc", engine="h5netcdf")
        if np.isfinite(res.seconds_per_sample):  # the chunks record their cost, also when read from disk
            acc = equal_accuracy(val, cost_ratio=full_s / res.seconds_per_sample)
            summary["equal_accuracy"][g] = {
                str(q): {"relative_bias": float(acc["relative_bias"].sel(qoi=q)),
                         "relative_bias_se": float(acc["relative_bias_se"].sel(qoi=q)),
                         "target_for_20x": float(acc["target_for_speedup"].sel(qoi=q)),
                         "target_for_20x_conservative": float(acc["target_for_speedup_conservative"].sel(qoi=q)),
                         "cost_ratio": acc.attrs["cost_ratio"]} for q in acc["qoi"].values}
        else:
            console.print(f"{g}: its Monte Carlo chunks predate cost records: equal-accuracy saving not measured")
        plot_qoi_ecdfs(res.samples, reference, out / f"mc_{g}_vs_full.png", labels=(f"{g} + submodel", "full model"))
        summary["montecarlo"][g] = {
            str(q): {"reference": val["reference"].sel(qoi=q, statistic="mean").values.tolist(),
                     "monte_carlo": val["estimate"].sel(qoi=q, statistic="mean").values.tolist(),
                     "difference_in_se": float(val["difference_in_se"].sel(qoi=q, statistic="mean")),
                     "mfmc": comb["estimate"].sel(qoi=q, statistic="mean", estimator="mfmc").values.tolist(),
                     "ppi++": comb["estimate"].sel(qoi=q, statistic="mean", estimator="ppi++").values.tolist()}
            for q in val["qoi"].values}

    def fmt(v):
        return f"{v[0]:.4g} [{v[1]:.3g}, {v[2]:.3g}]"

    mc_table = Table(title=f"mean of each QoI [95 % CI]: full model ({reference.sizes['sample']} runs), Monte Carlo "
                           f"({size['mc']} samples; difference in combined SEs) and MFMC with the full-model runs")
    for col in ("generator", "QoI", "full model", "generator + submodel (diff / SE)", "MFMC"):
        mc_table.add_column(col)
    for g in mc_gens:
        for q, r in summary["montecarlo"][g].items():
            mc_table.add_row(g, q.removeprefix("qoi_"), fmt(r["reference"]),
                             f"{fmt(r['monte_carlo'])} ({r['difference_in_se']:+.1f})", fmt(r["mfmc"]))
    console.print(mc_table)
    if summary["equal_accuracy"]:
        acc_table = Table(title=f"equal accuracy of the mean: the cheap chain's bias against the reference, and the "
                                f"finest CI half-width (relative) at which it is 20x cheaper than the full model "
                                f"(point / with the bias's upper 95 % bound); full model {full_s:.2f} s/sample")
        acc_table.add_column("generator")
        acc_table.add_column("cost ratio")
        for q in summary["montecarlo"][mc_gens[0]]:
            acc_table.add_column(q.removeprefix("qoi_"))
        for g, rows in summary["equal_accuracy"].items():
            first = next(iter(rows.values()))
            acc_table.add_row(g, f"{first['cost_ratio']:.0f}x", *[
                f"{r['relative_bias']:+.1%} ± {r['relative_bias_se']:.1%}; 20x from "
                f"{format_target(r['target_for_20x'])} / {format_target(r['target_for_20x_conservative'])}"
                for r in rows.values()])
        console.print(acc_table)
    summary["elapsed_s"] = time.perf_counter() - t0
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=lambda o: np.asarray(o).tolist()))
    console.print(f"spine done in {summary['elapsed_s'] / 60:.1f} min; results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
