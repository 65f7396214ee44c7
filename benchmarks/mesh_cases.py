"""Full model vs. batched submodel per sample, for the 2-D default plate and the 3-D example case.

    python benchmarks/mesh_cases.py [--large] [--batch 64] [--out benchmarks/results/mesh_cases.json]

One row per case: dofs of the full model and of the zone, the full model's seconds per sample as
a campaign pays it (a new material field: stiffness assembly, factorisation, every step, the zone
QoIs; median of 2 after a warm-up, :func:`uqgan.data.campaign.full_model_seconds`), the submodel's
seconds per sample in a batch of ``--batch`` histories (one factorisation, one multi-right-hand-side
solve per step), and their ratio. The 3-D rows: the demo case (2 cm mesh), the same plate on a
1 cm mesh, and with ``--large`` the full case (twice the length and width, the same zone, 1 cm),
meshed here with simulations/plate3d_hole/make_mesh.py: the point of the method is that the
ratio grows with the structure while the zone stays small.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CASE_DIR = ROOT / "simulations" / "plate3d_hole"


def row(label: str, case, batch: int) -> dict:
    from uqgan.data.campaign import full_model_seconds
    from uqgan.fem import PlateModel
    from uqgan.fem.submodel import SubModel

    full_s = full_model_seconds(case, repeats=2)
    model = PlateModel(case)
    sol = model.solve()
    sub = SubModel(case)
    u = np.repeat(sol.u_bc[None], batch, axis=0)
    sub.solve(u[:2], sol.time_s)  # warm-up
    t0 = time.perf_counter()
    sub.solve(u, sol.time_s, batch_size=batch)
    sub_s = (time.perf_counter() - t0) / batch
    return {"case": label, "dofs": model.n_dofs, "zone_dofs": sub.n_dofs, "boundary_nodes": int(sol.u_bc.shape[1]),
            "steps": case.time.n_steps, "full_s_per_sample": full_s, "sub_s_per_sample": sub_s,
            "ratio": full_s / sub_s, "batch": batch}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--large", action="store_true", help="add the full 3-D case (113k dofs, ~1 min per sample)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "mesh_cases.json")
    args = ap.parse_args()
    from uqgan.config import default_case, load_case

    tmp = tempfile.TemporaryDirectory()
    demo = load_case(CASE_DIR / "case.toml")

    def meshed(name: str, case, *sizes: str):
        msh = Path(tmp.name) / f"{name}.msh"
        subprocess.run([sys.executable, str(CASE_DIR / "make_mesh.py"), *sizes, "--out", str(msh)], check=True,
                       capture_output=True)
        return case.model_copy(update={"name": name, "geometry": case.geometry.model_copy(
            update={"mesh": str(msh), "element_size_m": 0.01})})

    cases = [("2-D plate (default)", default_case()),
             ("3-D plate, demo (2 cm)", demo),
             ("3-D plate, 1 cm", meshed("plate3d_hole_1cm", demo, "--h", "0.01"))]
    if args.large:
        full = load_case(CASE_DIR / "case_full.toml", check_mesh=False)
        cases.append(("3-D full: 0.6 x 0.3 m, 1 cm", meshed("plate3d_hole_full", full, "--h", "0.01", "--length",
                                                            "0.6", "--width", "0.3")))
    rows = []
    print(f"{'case':30s} {'dofs':>8s} {'zone':>6s} {'full s':>8s} {'sub s':>8s} {'ratio':>6s}")
    for label, case in cases:
        r = row(label, case, args.batch)
        rows.append(r)
        print(f"{label:30s} {r['dofs']:8d} {r['zone_dofs']:6d} {r['full_s_per_sample']:8.2f} "
              f"{r['sub_s_per_sample']:8.3f} {r['ratio']:6.1f}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"batch": args.batch, "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
