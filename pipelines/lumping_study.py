"""Mass lumping of the explicit scheme: HRZ on P2 against the CJRT element (P2 plus bubble).

Runs the default plate (1 cm P2) at the nominal parameters with Newmark (consistent mass) at
0.5, 0.125 and 0.0625 µs, and central differences with the HRZ-lumped P2 mass and with the
mass-lumped CJRT element (``time.mass_lumping = "cjrt"``), each at 81 % of its own stability limit
and at half that step; optionally a reference (5 mm, Newmark, 0.125 µs). Every run stores the same
output times (every 1.5 µs up to 300 µs). Prints, for each explicit run, the boundary history
(relative L2) and the zone QoIs against each Newmark run, the energy balance
``max |E_kin + E_strain − W_ext| / W_ext``, and the cost per step and per sample; then the chain's
explicit submodel with either lumping (``submodel.mass_lumping``: "hrz", and "cjrt", what its
default "auto" resolves to on this plate), fed the default Newmark run's stride-3 history (QoIs
against that full model, and its cost per sample in batches of 256). Writes results/lumping_study.json;
the numbers are in docs/schemes.md ("Mass lumping: HRZ or CJRT"). About 5 minutes on 2 cores
(8 with --reference).

    python pipelines/lumping_study.py [--reference]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
from scheme_study import history_difference  # pipelines/ is the script's directory

from uqgan.config import CaseConfig, default_case
from uqgan.data.io import write_atomic
from uqgan.fem import PlateModel
from uqgan.fem.explicit import energy_balance
from uqgan.fem.submodel import SubModel
from uqgan.physics.material import half_sine_pulse
from uqgan.physics.qoi import QOI_SPECS

#: output spacing of every run [s]
SPACING_S = 1.5e-6
END_TIME_S = 300e-6


def _variant(scheme: str, dt_s: float, *, lumping: str = "hrz", element_size_m: float = 0.01) -> CaseConfig:
    stride = round(SPACING_S / dt_s)
    c = default_case().model_dump()
    c["geometry"]["element_size_m"] = element_size_m
    c["time"].update(scheme=scheme, dt_s=dt_s, n_steps=round(END_TIME_S / dt_s), output_stride=stride,
                     mass_lumping=lumping)
    return CaseConfig.model_validate(c)


def step_cost_ms(model: PlateModel, n_steps: int = 300) -> float:
    """Wall time of one loaded step of the integrator alone (no observer) [ms], best of 3."""
    F = model.unit_load(model.case.parameters.nominal()["load_position"])
    integ = model.integrator()
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        integ.run(n_steps, force=lambda t: F * float(half_sine_pulse(t, 1e6, 2e-5)))
        best = min(best, time.perf_counter() - t0)
    return 1e3 * best / n_steps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("results/lumping_study.json"))
    ap.add_argument("--reference", action="store_true", help="also a 5 mm Newmark reference at 0.125 µs")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    newmark = {"newmark_0.5": _variant("newmark", 0.5e-6), "newmark_0.125": _variant("newmark", 0.125e-6),
               "newmark_0.0625": _variant("newmark", 0.0625e-6)}
    # 81 % of each limit (HRZ 0.464 µs, CJRT 0.369 µs) with the output spacing a whole number of steps
    explicit = {"hrz_0.375": _variant("central-difference", 0.375e-6),
                "hrz_0.1875": _variant("central-difference", 0.1875e-6),
                "cjrt_0.3": _variant("central-difference", 0.3e-6, lumping="cjrt"),
                "cjrt_0.15": _variant("central-difference", 0.15e-6, lumping="cjrt")}
    if args.reference:
        newmark["reference_h5"] = _variant("newmark", 0.125e-6, element_size_m=0.005)
    sols, coords, record = {}, {}, {"runs": {}}
    for name, case in {**newmark, **explicit}.items():
        model = PlateModel(case)
        sols[name] = model.solve()
        coords[name] = model.zone.boundary_coords
        rec = {"dofs": model.n_dofs, "dt_s": case.time.dt_s, "n_steps": case.time.n_steps,
               "solve_s": sols[name].wall_time_s, "stable_dt_s": getattr(model, "stable_time_step_s", None)}
        if name in ("hrz_0.375", "cjrt_0.3"):
            rec["energy_balance"] = energy_balance(model)
            rec["ms_per_step"] = step_cost_ms(model)
        record["runs"][name] = rec
        print(f"{name}: {model.n_dofs} dofs, dt {case.time.dt_s:.4g} s"
              + (f" ({case.time.dt_s / rec['stable_dt_s']:.0%} of {rec['stable_dt_s']:.4g} s)" if rec["stable_dt_s"]
                 else "")
              + f", solve {rec['solve_s']:.1f} s"
              + (f", {rec['ms_per_step']:.2f} ms/step, energy balance {rec['energy_balance']:.1e}"
                 if "ms_per_step" in rec else ""))

    def compare(a: str, b: str) -> dict:
        out = history_difference(sols[a], coords[a], sols[b], coords[b])
        print(f"  {b} vs {a}: history {out['history_rel_l2']:.2%}, "
              + ", ".join(f"{s.name} {out[s.name]:+.2%}" for s in QOI_SPECS))
        return out

    record["explicit_vs_newmark"] = {b: {a: compare(a, b) for a in newmark} for b in explicit}
    record["newmark_vs_reference"] = {a: compare("reference_h5", a) for a in newmark
                                      if args.reference and a != "reference_h5"}

    # the chain's explicit submodel with either lumping, fed the default Newmark run's history
    ref = sols["newmark_0.5"]
    rng = np.random.default_rng(0)
    block = ref.u_bc[None] * rng.uniform(0.5, 2.0, size=(256, 1, 1, 1))  # the response is linear in the amplitude
    record["chain"] = {}
    for lumping in ("hrz", "cjrt"):
        c = default_case().model_dump()
        c["submodel"]["mass_lumping"] = lumping
        sub = SubModel(CaseConfig.model_validate(c))
        one = sub.solve(ref.u_bc, ref.time_s, node_x=coords["newmark_0.5"][:, 0], node_y=coords["newmark_0.5"][:, 1])
        sub.solve(block[:8], ref.time_s)  # warm-up (compiled kernels, spline basis)
        t0 = time.perf_counter()
        sub.solve(block, ref.time_s, batch_size=256)
        per_sample = (time.perf_counter() - t0) / block.shape[0]
        dt = sub.time_step(ref.time_s[1] - ref.time_s[0])
        rec = {"zone_dofs": sub.n_dofs, "stable_dt_s": sub.stable_time_step_s, "dt_s": dt,
               "ms_per_sample": 1e3 * per_sample,
               **{s.name: float(one[s.name][0] / ref.qoi[s.name] - 1) for s in QOI_SPECS}}
        record["chain"][lumping] = rec
        print(f"chain submodel {lumping}: {sub.n_dofs} zone dofs, stable {sub.stable_time_step_s:.4g} s, "
              f"step {dt:.4g} s, {rec['ms_per_sample']:.2f} ms/sample (batch 256); QoIs vs the Newmark full model: "
              + ", ".join(f"{s.name} {rec[s.name]:+.2%}" for s in QOI_SPECS))
    write_atomic(args.out, lambda tmp: tmp.write_text(json.dumps(record, indent=2)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
