"""The whole uqgan spine on the default case: campaigns, generators, Monte Carlo, validation.

1. Full-model campaigns (`uqgan generate-data`): a training campaign (points x replicates), a
   held-out campaign with many replicates at a few other points (for `uqgan evaluate`), and an
   independent reference campaign drawn from the parameter ranges (for Monte Carlo validation).
2. Generators (`uqgan train`): pca-gaussian, kriging-gaussian and wgan-gp; `uqgan evaluate` says
   which one is closest to the held-out truth.
3. Monte Carlo (`uqgan montecarlo`) with each generator and the batched submodel, validated against
   the reference runs, with the multi-fidelity and PPI++ estimates that use them.

Every step resumes: rerunning reuses what is on disk. Results and a summary go to results/spine/
(or --out). The demo size takes about 10 minutes on 2 cores; --full runs the study size
(160 x 5 training runs, 8 x 40 held out, 256 reference runs; about an hour).

    python pipelines/spine.py [--full] [--out results/spine] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger("uqgan.spine")

SIZES = {
    "demo": {"train": (40, 4), "held_out": (4, 16), "reference": 64, "mc": 1024, "wgan_steps": 1000},
    "full": {"train": (160, 5), "held_out": (8, 40), "reference": 256, "mc": 4096, "wgan_steps": 3000},
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="the study size (about an hour on 2 cores)")
    ap.add_argument("--out", type=Path, default=None, help="results directory (default results/spine[-full])")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("uqgan").setLevel(logging.INFO)
    for noisy in ("uqgan.campaign.logfile",):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from rich.console import Console
    from rich.table import Table

    from uqgan.campaign import run_campaign
    from uqgan.config import default_case
    from uqgan.dataset import open_dataset
    from uqgan.evaluation import evaluate_generators
    from uqgan.generators import load_generator, make_generator
    from uqgan.montecarlo import combined_estimates, compare_with_reference, paired_cheap_qois, run_montecarlo
    from uqgan.plots import plot_qoi_ecdfs

    size = SIZES["full" if args.full else "demo"]
    out = args.out or Path("results/spine-full" if args.full else "results/spine")
    out.mkdir(parents=True, exist_ok=True)
    console = Console()
    case = default_case()
    t0 = time.perf_counter()

    # 1. campaigns
    (n_pts, reps), (h_pts, h_reps) = size["train"], size["held_out"]
    for name, n, r, seed in (("train", n_pts * reps, reps, 1), ("held_out", h_pts * h_reps, h_reps, 2),
                             ("reference", size["reference"], 1, 3)):
        rep = run_campaign(case, out / name, n_samples=n, replicates=r, seed=seed, workers=args.workers,
                           show_progress=True)
        console.print(rep.summary())
        if rep.failures:
            console.print(f"[red]{name}: {len(rep.failures)} runs failed; rerun to retry them[/red]")
            return 3
    train, held_out, reference = (open_dataset(out / n) for n in ("train", "held_out", "reference"))

    # 2. generators
    models = {}
    for g in ("pca-gaussian", "kriging-gaussian", "wgan-gp"):
        d = out / "models" / g
        if (d / "config.json").is_file():
            models[g] = load_generator(d)
            continue
        opts = {"seed": 0, **({"steps": size["wgan_steps"]} if g == "wgan-gp" else {})}
        gen = make_generator(g, **opts)
        gen.fit(train, **({"directory": d, "show_progress": True} if g == "wgan-gp" else {}))
        gen.save(d)
        models[g] = gen
    report = evaluate_generators(models, held_out)
    table = Table(title=f"generators at {h_pts} held-out points x {h_reps} replicates")
    for col in ("generator", "ED / floor", "peak |bias|", "peak spread", "90 % band"):
        table.add_column(col)
    for s in report.summary:
        table.add_row(s["generator"], f"{s['ed_over_floor']:.2f}", f"{s['peak_abs_bias']:.1%}",
                      f"{s['peak_spread_ratio']:.2f}", f"{s['coverage_90']:.2f}")
    console.print(table)
    console.print(report.verdict)

    # 3. Monte Carlo with the winner and with pca-gaussian, validated against the reference runs
    summary = {"evaluation": report.to_dict()["summary"], "verdict": report.verdict, "montecarlo": {}}
    mc_gens = list(dict.fromkeys((report.winner, "pca-gaussian")))
    for g in mc_gens:
        res = run_montecarlo(case, out / "models" / g, out / "mc" / g, n_samples=size["mc"], batch=256, seed=0,
                             show_progress=True)
        val = compare_with_reference(res.samples, reference)
        paired = paired_cheap_qois(case, out / "models" / g, reference, seed=0)
        comb = combined_estimates(reference, paired, res.samples)
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
    mc_table.add_column("QoI")
    mc_table.add_column("full model")
    for g in mc_gens:
        mc_table.add_column(f"{g} + submodel")
        mc_table.add_column(f"MFMC ({g})")
    for q, first in summary["montecarlo"][mc_gens[0]].items():
        cells = [fmt(first["reference"])]
        for g in mc_gens:
            r = summary["montecarlo"][g][q]
            cells += [f"{fmt(r['monte_carlo'])} ({r['difference_in_se']:+.1f})", fmt(r["mfmc"])]
        mc_table.add_row(q.removeprefix("qoi_"), *cells)
    console.print(mc_table)
    summary["elapsed_s"] = time.perf_counter() - t0
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=lambda o: np.asarray(o).tolist()))
    console.print(f"spine done in {summary['elapsed_s'] / 60:.1f} min; results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
