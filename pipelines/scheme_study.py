"""Explicit central differences against Newmark, and both against a finer reference.

Runs the default plate at the nominal parameters with Newmark (consistent mass) and central
differences (HRZ-lumped mass) on the 1 cm mesh and on a 5 mm mesh, each at its own resolved step
(explicit: 81 % of the mesh's stability limit), and a reference (5 mm, Newmark, dt 0.125 µs);
prints each run's boundary history (relative L2) and zone QoIs against the reference and the two
schemes against each other. Writes results/scheme_study.json. About 3 minutes on 2 cores; the
numbers are in docs/schemes.md.

    python pipelines/scheme_study.py
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from uqgan.config import default_case
from uqgan.data.io import write_atomic
from uqgan.fem import PlateModel
from uqgan.physics.qoi import QOI_SPECS


def _variant(scheme: str, dt_s: float, n_steps: int, stride: int, element_size_m: float = 0.01):
    c = default_case()
    g = c.geometry.model_copy(update={"element_size_m": element_size_m})
    t = c.time.model_copy(update={"scheme": scheme, "dt_s": dt_s, "n_steps": n_steps, "output_stride": stride})
    return c.model_copy(update={"geometry": g, "time": t})


def history_difference(sol_a, coords_a: np.ndarray, sol_b, coords_b: np.ndarray) -> dict:
    """Run ``b`` against run ``a`` (solutions with ``u_bc`` and ``qoi``, boundary-node coordinates):
    the boundary history's relative L2 difference ``‖u_b − u_a‖ / ‖u_a‖`` at the same output times,
    ``b``'s nodes matched among ``a``'s (a subset: a finer mesh holds a coarser one's nodes), and
    each zone QoI's relative difference."""
    idx = cKDTree(coords_a).query(coords_b)[1]
    ua, ub = sol_a.u_bc[:, idx], sol_b.u_bc
    out = {"history_rel_l2": float(np.linalg.norm(ub - ua) / np.linalg.norm(ua))}
    out.update({s.name: float(sol_b.qoi[s.name] / sol_a.qoi[s.name] - 1) for s in QOI_SPECS})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("results/scheme_study.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    runs = {  # every run stores the same output times: every 1.5 µs up to 300 µs
        "newmark_h10": _variant("newmark", 0.5e-6, 600, 3),
        "explicit_h10": _variant("central-difference", 0.375e-6, 800, 4),
        "newmark_h5": _variant("newmark", 0.25e-6, 1200, 6, 0.005),
        "explicit_h5": _variant("central-difference", 0.1875e-6, 1600, 8, 0.005),
        "reference": _variant("newmark", 0.125e-6, 2400, 12, 0.005),
    }
    sols, coords, record = {}, {}, {"runs": {}}
    for name, case in runs.items():
        model = PlateModel(case)
        t0 = time.perf_counter()
        sols[name] = model.solve()
        coords[name] = model.zone.boundary_coords
        record["runs"][name] = {"dofs": model.n_dofs, "dt_s": case.time.dt_s, "seconds": time.perf_counter() - t0,
                                "stable_dt_s": getattr(model, "stable_time_step_s", None)}
        print(f"{name}: {model.n_dofs} dofs, dt {case.time.dt_s:.4g} s, {record['runs'][name]['seconds']:.1f} s")

    def compare(a: str, b: str) -> dict:
        out = history_difference(sols[a], coords[a], sols[b], coords[b])
        print(f"{b} vs {a}: history {out['history_rel_l2']:.2%}, "
              + ", ".join(f"{s.name} {out[s.name]:+.2%}" for s in QOI_SPECS))
        return out

    record["vs_reference"] = {k: compare("reference", k) for k in runs if k != "reference"}
    record["explicit_vs_newmark"] = {h: compare(f"newmark_{h}", f"explicit_{h}") for h in ("h10", "h5")}
    write_atomic(args.out, lambda tmp: tmp.write_text(json.dumps(record, indent=2)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
