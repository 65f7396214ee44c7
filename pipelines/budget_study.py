"""What do the cheap samples buy for a fixed budget of full-model runs?

Takes a large full-model reference campaign (drawn from the parameter ranges) as the truth, splits
it into disjoint subsets of n_full runs (the budget), and for each subset computes the 95 % CI of
each QoI's mean from the full runs alone, and with the multi-fidelity control variate and PPI++
that add the generator + submodel chain (paired at the subset's parameters, plus the Monte Carlo
samples). Prints the mean CI width of each and how often the CI covers the reference mean.
Writes results/budget_study.json.

    python pipelines/budget_study.py --case CASE.toml --model MODEL_DIR --reference DATA_DIR --mc STATS_samples.nc
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", type=Path, default=Path("simulations/plate_impact/case.toml"))
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--reference", type=Path, required=True, help="full-model campaign (the truth)")
    ap.add_argument("--mc", type=Path, required=True, help="per-sample QoIs of a Monte Carlo run with --model")
    ap.add_argument("--budgets", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--out", type=Path, default=Path("results/budget_study.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import xarray as xr

    from uqgan.config import load_case
    from uqgan.data.dataset import open_dataset
    from uqgan.generators import load_generator
    from uqgan.montecarlo import CheapChain, validate_against_reference
    from uqgan.physics.qoi import QOI_SPECS
    from uqgan.stats.estimators import mean_ci, mfmc_mean, ppi_mean

    case = load_case(args.case)
    ref = open_dataset(args.reference)
    extra = xr.open_dataset(args.mc, engine="h5netcdf")
    paired = validate_against_reference(CheapChain(case, load_generator(args.model)), extra, ref, seed=0).paired
    n_ref = ref.sizes["sample"]
    rows = []
    for spec in QOI_SPECS:
        q = f"qoi_{spec.name}"
        y_all, yl_all, ye = ref[q].values, paired[q].values, extra[q].values
        truth = y_all.mean()
        for n in args.budgets:
            k = n_ref // n
            res = {"full only": [], "mfmc": [], "ppi++": []}
            for j in range(k):
                s = slice(j * n, (j + 1) * n)
                y, yl = y_all[s], yl_all[s]
                res["full only"].append(mean_ci(y))
                res["mfmc"].append(mfmc_mean(y, yl, ye))
                res["ppi++"].append(ppi_mean(y, yl, ye))
            row = {"qoi": spec.name, "n_full": n, "subsets": k, "n_cheap": int(ye.size), "truth": float(truth),
                   "truth_runs": n_ref}
            for m, ests in res.items():
                row[f"{m} width"] = float(np.mean([e.upper - e.lower for e in ests]) / abs(truth))
                row[f"{m} covers"] = float(np.mean([e.lower <= truth <= e.upper for e in ests]))
            rows.append(row)
    print(f"95 % CI of the mean, relative width (and fraction of disjoint subsets covering the mean of all "
          f"{n_ref} full runs); cheap samples: {extra.sizes['sample']} + the paired ones")
    print(f"{'QoI':>20} {'n_full':>6} {'subsets':>7} {'full only':>16} {'MFMC':>16} {'PPI++':>16}")
    for r in rows:
        cells = " ".join(f"{r[m + ' width']:8.3f} ({r[m + ' covers']:.2f})" for m in ("full only", "mfmc", "ppi++"))
        print(f"{r['qoi']:>20} {r['n_full']:6d} {r['subsets']:7d} {cells}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
