"""Mesh and time-step study of the default case: how far are the zone QoIs and the boundary
history from converged at a given resolution?

For each pulse duration, runs the default case on a grid of (element size, time step) and compares
every run with the finest one (5 mm P2, dt = 0.125 us): relative L2 difference of the boundary
history u_bc and relative differences of the zone QoIs. Prints a table and writes
results/resolution_study.json. About 4 minutes on 2 cores (--quick: 1 minute).

    python pipelines/resolution_study.py [--quick]

The numbers and the choice of the default resolution are discussed in docs/resolution.md.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from uqgan.config import default_case
from uqgan.fem import PlateModel
from uqgan.physics.material import wave_speeds
from uqgan.physics.qoi import QOI_SPECS

END_TIME_S = 300e-6
OUTPUT_EVERY_S = 3e-6


def case_at(base, element_size_m, dt_s):
    n_steps = round(END_TIME_S / dt_s)
    stride = round(OUTPUT_EVERY_S / dt_s)
    return base.model_copy(update={
        "geometry": base.geometry.model_copy(update={"element_size_m": element_size_m}),
        "time": base.time.model_copy(update={"dt_s": dt_s, "n_steps": n_steps, "output_stride": stride}),
    })


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one pulse duration, reference dt = 0.25 us")
    ap.add_argument("--out", type=Path, default=Path("results/resolution_study.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    base = default_case()
    mat = base.material
    c_p, c_s = wave_speeds(mat.youngs_modulus_pa, mat.poisson_ratio, mat.density_kg_m3)
    durations = [10e-6] if args.quick else [10e-6, 15e-6, 20e-6]
    ref_res = (0.005, 0.25e-6) if args.quick else (0.005, 0.125e-6)
    grid = [(0.01, 1.5e-6), (0.01, 0.75e-6), (0.01, 0.5e-6), (0.01, 0.25e-6), (0.005, 0.5e-6), (0.005, 0.25e-6)]
    grid = [g for g in grid if g != ref_res] + [ref_res]
    rows = []
    for duration in durations:
        params = {**base.parameters.nominal(), "load_duration": duration}
        ref_model = PlateModel(case_at(base, *ref_res))
        ref = ref_model.solve(params)
        for h, dt in grid:
            model = PlateModel(case_at(base, h, dt))
            sol = ref if (h, dt) == ref_res else model.solve(params)
            # compare on this run's boundary nodes, which are all nodes of the finer reference
            idx = [int(np.argmin(np.hypot(*(ref_model.zone.boundary_coords - c).T)))
                   for c in model.zone.boundary_coords]
            ref_bc = ref.u_bc[:, idx]
            row = {"load_duration_s": duration, "element_size_m": h, "dt_s": dt, "dofs": model.n_dofs,
                   "n_steps": model.case.time.n_steps, "wall_time_s": sol.wall_time_s,
                   "u_bc_rel_diff": float(np.linalg.norm(sol.u_bc - ref_bc) / np.linalg.norm(ref_bc)),
                   "elements_per_shear_pulse_length": c_s * duration / h,
                   "steps_per_pulse": duration / dt, "courant_p": c_p * dt / (h / model.case.geometry.degree)}
            for s in QOI_SPECS:
                row[f"qoi_{s.name}"] = sol.qoi[s.name]
                row[f"qoi_{s.name}_rel_diff"] = sol.qoi[s.name] / ref.qoi[s.name] - 1
            rows.append(row)
            logging.getLogger("resolution").warning("tau %.0f us h %.1f mm dt %.3f us done",
                                                    duration * 1e6, h * 1e3, dt * 1e6)
    head = (f"{'tau[us]':>7} {'h[mm]':>6} {'dt[us]':>7} {'dofs':>6} {'steps':>5} {'c_s*tau/h':>9} {'C_p':>5} "
            f"{'u_bc':>9} " + " ".join(f"{s.name:>18}" for s in QOI_SPECS) + f" {'time[s]':>7}")
    print(f"differences relative to h = {ref_res[0] * 1e3:.1f} mm, dt = {ref_res[1] * 1e6:.3f} us")
    print(head)
    for r in rows:
        print(f"{r['load_duration_s'] * 1e6:7.0f} {r['element_size_m'] * 1e3:6.1f} {r['dt_s'] * 1e6:7.3f} "
              f"{r['dofs']:6d} "
              f"{r['n_steps']:5d} {r['elements_per_shear_pulse_length']:9.1f} {r['courant_p']:5.2f} "
              f"{r['u_bc_rel_diff']:9.2e} " + " ".join(f"{r[f'qoi_{s.name}_rel_diff']:+18.2e}" for s in QOI_SPECS)
              + f" {r['wall_time_s']:7.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"reference": {"element_size_m": ref_res[0], "dt_s": ref_res[1]}, "rows": rows},
                                   indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
