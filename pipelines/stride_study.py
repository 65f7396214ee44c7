"""How much do the submodel's QoIs lose when the boundary history is stored every k-th step?

Runs the default case's full model at stride 1 for a few random samples (parameters and material
fields), then drives the submodel with the history subsampled at strides 1, 2, 3, 6, 12 and
interpolated in time (cubic spline and linear), and prints the QoI errors against the full model.
Writes results/stride_study.json. About 1 minute on 2 cores.

    python pipelines/stride_study.py [--samples 8]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from uqgan.config import default_case
from uqgan.data.campaign import material_field_basis
from uqgan.fem import PlateModel
from uqgan.fem.submodel import SubModel
from uqgan.physics.qoi import QOI_SPECS
from uqgan.physics.random_fields import youngs_modulus_field


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("results/stride_study.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    base = default_case()
    case = base.model_copy(update={"time": base.time.model_copy(update={"output_stride": 1})})
    model, sub = PlateModel(case), SubModel(case, scheme="full-model")  # the interpolation error alone
    psi = material_field_basis(case, model)
    rng = np.random.default_rng(args.seed)
    names = list(case.parameter_names)
    sols = []
    for _ in range(args.samples):
        params = {n: rng.uniform(getattr(case.parameters, n).low, getattr(case.parameters, n).high) for n in names}
        E = youngs_modulus_field(case, psi, rng.standard_normal(psi.shape[1]), model.zone.cells)
        sols.append(model.solve(params, youngs_modulus=E))
    u_bc = np.stack([s.u_bc for s in sols])
    t = sols[0].time_s
    ref = {s.name: np.array([sol.qoi[s.name] for sol in sols]) for s in QOI_SPECS}
    rows = []
    for stride in (1, 2, 3, 6, 12):
        for interp in (("cubic",) if stride == 1 else ("cubic", "linear")):
            idx = np.arange(0, t.size, stride)
            res = sub.solve(u_bc[:, idx], t[idx], interpolation=interp, batch_size=args.samples)
            row = {"stride": stride, "output_every_s": stride * case.time.dt_s, "interpolation": interp}
            for s in QOI_SPECS:
                rel = np.abs(res[s.name] / ref[s.name] - 1)
                row[f"{s.name}_max"], row[f"{s.name}_mean"] = float(rel.max()), float(rel.mean())
            rows.append(row)
    print(f"submodel QoI error against the full model, {args.samples} samples of the default case "
          "(relative; max / mean over samples)")
    print(f"{'stride':>6} {'every':>8} {'interp':>7} " + " ".join(f"{s.name:>24}" for s in QOI_SPECS))
    for r in rows:
        print(f"{r['stride']:6d} {r['output_every_s'] * 1e6:6.1f}us {r['interpolation']:>7} "
              + " ".join(f"{r[f'{s.name}_max']:11.1e} / {r[f'{s.name}_mean']:8.1e}" for s in QOI_SPECS))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"samples": args.samples, "rows": rows}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
