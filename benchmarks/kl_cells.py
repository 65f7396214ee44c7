"""Memory and time of the material field's KL basis on a large mesh (issue 14: 10^6 cells).

Usage: ``python benchmarks/kl_cells.py [--cells 1000000]``. Prints one line and a JSON record:
the basis (Nyström on a <= 2500-point grid of the bounding box) and its evaluation at random
cell midpoints of a 3-D box; peak resident memory from ``resource.getrusage``. No dense
``n_cells x n_cells`` matrix is ever built.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np

from uqgan.physics.random_fields import kl_basis_box


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--correlation-length", type=float, default=0.1)
    args = parser.parse_args()
    lower, upper = np.zeros(3), np.array([0.6, 0.2, 0.05])
    t0 = time.perf_counter()
    basis = kl_basis_box(lower_m=lower, upper_m=upper, kernel="squared-exponential",
                         correlation_length_m=args.correlation_length, energy_fraction=0.99, max_modes=100)
    t_basis = time.perf_counter() - t0
    midpoints = lower + np.random.default_rng(0).uniform(size=(args.cells, 3)) * (upper - lower)
    t0 = time.perf_counter()
    psi = basis.evaluate(midpoints)
    t_eval = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = {"cells": args.cells, "quadrature_points": int(basis.points.shape[0]), "modes": basis.n_modes,
           "energy_fraction": basis.energy_fraction, "basis_s": t_basis, "evaluate_s": t_eval,
           "psi_mib": psi.nbytes / 2**20, "peak_rss_mib": peak_mib}
    print(f"{args.cells} cells: {row['quadrature_points']} grid points, {basis.n_modes} modes, basis {t_basis:.2f} s, "
          f"evaluate {t_eval:.1f} s, Psi {row['psi_mib']:.0f} MiB, peak RSS {peak_mib:.0f} MiB")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
