"""The spine on the 3-D example case (simulations/plate3d_hole), driven by the command line only.

A steel plate with a hole in its zone, meshed in gmsh and tagged (docs/mesh.md): `uqgan check`,
a training campaign and an independent reference campaign (`uqgan generate-data`), one generator
(`uqgan train`, kriging-gaussian with arrival registration), Monte Carlo through the batched 3-D
submodel validated against the reference (`uqgan montecarlo --reference`), and one full-model run
written for ParaView, the structure and the zone (`uqgan solve --xdmf`: results/spine-3d/paraview/
run.xdmf and run_zone.xdmf; open them in ParaView and play the time steps to see the wave).

Demo size (`make demo`): the 0.3 x 0.15 m plate on the 2 cm mesh (8k dofs, ~1.5 s per full run),
12 x 2 training runs, 16 reference runs, 512 Monte Carlo samples: 134 s measured on 2 shared cores.
--full: the plate at twice the length and width with the same zone on a 1 cm mesh (113k dofs,
~60 s per full run, meshed here with make_mesh.py if missing; the submodel is ~90x cheaper per
sample), 40 x 2 training runs, 32 reference runs, 2048 samples (about an hour on 2 cores).
Every step resumes: rerunning reuses what is on disk.

    python pipelines/spine_3d.py [--full] [--out results/spine-3d] [--workers 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {"demo": ROOT / "simulations" / "plate3d_hole" / "case.toml",
         "full": ROOT / "simulations" / "plate3d_hole" / "case_full.toml"}
SIZES = {"demo": {"train": (12, 2), "reference": 16, "mc": 512},
         "full": {"train": (40, 2), "reference": 32, "mc": 2048}}
GENERATOR = "kriging-gaussian"


def uqgan(*args) -> None:
    cmd = [sys.executable, "-m", "uqgan.cli", *map(str, args)]
    print("$ uqgan " + " ".join(map(str, args)), flush=True)
    subprocess.run(cmd, check=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="the larger plate on a 1 cm mesh (about an hour)")
    ap.add_argument("--out", type=Path, default=None, help="results directory (default results/spine-3d[-full])")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    kind = "full" if args.full else "demo"
    case, size = CASES[kind], SIZES[kind]
    out = args.out or ROOT / ("results/spine-3d-full" if args.full else "results/spine-3d")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        full_mesh = case.parent / "plate_full.msh"
        if args.full and not full_mesh.is_file():
            subprocess.run([sys.executable, str(case.parent / "make_mesh.py"), "--h", "0.01", "--length", "0.6",
                            "--width", "0.3", "--out", str(full_mesh)], check=True)
        uqgan("check", case)
        n_pts, reps = size["train"]
        uqgan("generate-data", case, "--out", out / "train", "--samples", n_pts * reps, "--replicates", reps,
              "--seed", 1, "--workers", args.workers, "--no-progress")
        uqgan("generate-data", case, "--out", out / "reference", "--samples", size["reference"], "--seed", 3,
              "--workers", args.workers, "--no-progress")
        model = out / "models" / GENERATOR
        if not (model / "config.json").is_file():
            uqgan("train", out / "train", "--out", model, "--generator", GENERATOR, "--registration", "arrival",
                  "--no-progress")
        uqgan("montecarlo", case, "--model", model, "-n", size["mc"], "--out", out / "mc" / "stats.nc",
              "--reference", out / "reference", "--no-progress")
        uqgan("solve", case, "--xdmf", out / "paraview" / "run.xdmf", "--out", out / "paraview" / "run.json")
    except subprocess.CalledProcessError as err:
        print(f"spine-3d: step failed with exit code {err.returncode}; rerun to resume", file=sys.stderr)
        return err.returncode
    print(f"spine-3d ({kind}) done in {time.perf_counter() - t0:.0f} s; results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
