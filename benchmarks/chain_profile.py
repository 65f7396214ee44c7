"""Where a Monte Carlo chain sample's time goes, on the default case (the table in docs/schemes.md).

    python benchmarks/chain_profile.py [--samples 512] [--scheme SCHEME]

Runs ``run_montecarlo`` (kriging-gaussian with arrival registration, fitted to synthetic histories
on the default case's boundary nodes and time grid, as ``benchmarks/run.py --only schemes``) under
cProfile and splits the wall time into the chain's parts by the cumulative time of the functions
that do them: the generator's draw (``Generator.sample``: parameters → decoded histories), the
prescribed boundary values (the cubic spline in time: its fit and its evaluations), the zone
QoIs (``ZoneQoI.update``), the submodel's time stepping (the integrator's ``run`` less the two
before), and the rest (statistics, chunk I/O, set-up). ``--scheme`` sets the case's
``submodel.scheme`` (default: the case's own). cProfile adds a little to every Python call: read
the shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _cumulative(stats: pstats.Stats, file_suffix: str, name: str) -> float:
    """Cumulative seconds of every function ``name`` defined in a file ending with ``file_suffix``
    (recursive calls counted once, as pstats does)."""
    return sum(v[3] for (f, _, n), v in stats.stats.items() if n == name and f.endswith(file_suffix))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=512, help="Monte Carlo samples (batches of 256)")
    ap.add_argument("--scheme", choices=["full-model", "central-difference"], default=None,
                    help="the chain's submodel scheme (case.submodel.scheme); default: the default case's")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from run import _synthetic_training_data

    from uqgan.config import MonteCarloConfig, default_case
    from uqgan.fem.submodel import SubModel
    from uqgan.generators import make_generator
    from uqgan.montecarlo import CheapChain, run_montecarlo

    case = default_case()
    if args.scheme is not None and hasattr(case, "submodel"):
        case = case.model_copy(update={"submodel": case.submodel.model_copy(update={"scheme": args.scheme})})
    sub = SubModel(case)
    gen = make_generator("kriging-gaussian", seed=0, registration="arrival").fit(_synthetic_training_data(case, sub))
    chain = CheapChain(case, gen, submodel=sub)
    with tempfile.TemporaryDirectory() as tmp:  # warm-up: first-call costs are no sample's
        run_montecarlo(chain, f"{tmp}/warm", MonteCarloConfig(n_samples=256, batch=256, seed=1), show_progress=False)
    prof = cProfile.Profile()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        prof.enable()
        run_montecarlo(chain, f"{tmp}/mc", MonteCarloConfig(n_samples=args.samples, batch=256, seed=0),
                       show_progress=False)
        prof.disable()
        wall = time.perf_counter() - t0
    st = pstats.Stats(prof)
    total = max(v[3] for v in st.stats.values())  # run_montecarlo's cumulative time
    generator = _cumulative(st, "chain.py", "histories")
    evaluation = _cumulative(st, "submodel.py", "prescribed")
    boundary = evaluation + _cumulative(st, "submodel.py", "_cubic_spline")  # evaluation + fit
    qoi = _cumulative(st, "qoi.py", "update")
    run = _cumulative(st, "explicit.py", "run") + _cumulative(st, "timestepping.py", "run")
    stepping = run - evaluation - qoi
    parts = {"submodel time stepping": stepping, "zone QoIs every step": qoi,
             "boundary values (spline fit and evaluation)": boundary, "generator draw and decoding": generator,
             "rest (statistics, chunk I/O)": total - stepping - qoi - boundary - generator}
    print(f"chain: submodel scheme {getattr(getattr(case, 'submodel', None), 'scheme', case.time.scheme)}, "
          f"{args.samples} samples, {1e3 * wall / args.samples:.1f} ms per sample "
          f"({1e3 * total / args.samples:.1f} under cProfile); load average {os.getloadavg()[0]:.2f}")
    for name, s in parts.items():
        print(f"{name:>45} {100 * s / total:5.1f} %  {1e3 * s / args.samples:6.2f} ms/sample")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
