"""How far from Gaussian is each parameter point's law of boundary histories? Inclusions vs none.

Runs two full-model campaigns with the same seed, hence the same design points and the same
material fields (``xi``): the default case (``simulations/plate_impact``) and the inclusions case
(``simulations/plate_inclusions``: the same plate with 3 near-void circles per run). For each
design point with ``n`` replicates, in two spaces,

* ``raw``: the histories divided by the load amplitude, flattened [m/Pa];
* ``registered``: the whitened coefficients generators work in (arrival registration + POD of the
  whole campaign, :class:`uqgan.generators._preprocess.Preprocessor`, shift as the first column),

it computes the energy distance (:func:`uqgan.stats.metrics.energy_distance`) between

* ``gauss``: ``n // 2`` draws from the point's own best Gaussian (the replicates' mean and sample
  covariance, sampled in the span of the centred replicates) and a random half of the replicates;
* ``floor``: the other half of the replicates and that half (truth vs truth);

averaged over random splits, and reports ``gauss / floor``. The Gaussian is fitted on all ``n``
replicates (it has seen the half it is compared with: the ratio is if anything kind to it). To
say what ratio a Gaussian law itself gets under this procedure, the same is done with the truth
replaced by ``n`` draws from the fitted Gaussian (``calib``): a law is non-Gaussian by as much as
its ratio exceeds ``calib``. With 16 replicates this ratio has little power (a two-mode mixture
8 sd apart in 40 dimensions reads 0.84 against a Gaussian's 0.83, tests/test_inclusions_study.py),
so each point also gets the energy test of multivariate normality on its leading ``--pcs``
whitened principal coordinates, with a parametric-bootstrap p-value (:func:`normality_test`).

Writes results/inclusions_study.json and prints a table. With the default 4 points x 16
replicates: 128 full-model runs (~4 min on 2 cores at the shipped resolution, 2 workers).

    python pipelines/inclusions_study.py [--points 4] [--replicates 16] [--workers 2] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from uqgan.config import load_case
from uqgan.data.campaign import run_campaign
from uqgan.data.dataset import open_dataset
from uqgan.stats.metrics import energy_distance

ROOT = Path(__file__).resolve().parents[1]
CASES = {"default": ROOT / "simulations" / "plate_impact" / "case.toml",
         "inclusions": ROOT / "simulations" / "plate_inclusions" / "case.toml"}


def gaussian_draws(x: np.ndarray, m: int, *, rng: np.random.Generator) -> np.ndarray:
    """``m`` draws from N(mean(x), cov(x)) (sample covariance, ``ddof=1``), ``(m, d)``: through the
    SVD of the centred rows, ``mean + eta diag(s / sqrt(n - 1)) V^T`` with ``eta ~ N(0, I)``."""
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    eta = rng.standard_normal((m, s.size))
    return mean + (eta * (s / np.sqrt(x.shape[0] - 1))) @ vt


def gauss_over_floor(x: np.ndarray, *, rng: np.random.Generator, n_splits: int) -> tuple[float, float, float]:
    """(mean ED(Gaussian draws, truth half), mean ED(truth half, truth half), their ratio) over ``n_splits``."""
    n = x.shape[0]
    half = n // 2
    g_vals, f_vals = [], []
    for _ in range(n_splits):
        s = rng.permutation(n)
        a, b = x[s[:half]], x[s[half:2 * half]]
        f_vals.append(energy_distance(a, b))
        g_vals.append(energy_distance(gaussian_draws(x, half, rng=rng), b))
    g, f = float(np.mean(g_vals)), float(np.mean(f_vals))
    return g, f, g / f


def leading_whitened(x: np.ndarray, k: int) -> np.ndarray:
    """The rows' coordinates on the leading ``k`` principal directions of the centred rows, each
    divided by its sample standard deviation, ``(n, k)`` (sample mean 0, sample covariance I)."""
    xc = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    k = min(k, x.shape[0] - 1)
    return (xc @ vt[:k].T) / (s[:k] / np.sqrt(x.shape[0] - 1))


def normality_test(x: np.ndarray, *, k: int, rng: np.random.Generator, n_boot: int = 200,
                   n_ref: int = 2000) -> tuple[float, float]:
    """Energy test of multivariate normality (Székely & Rizzo, J. Multivariate Anal. 93:58, 2005) on
    the leading ``k`` whitened principal coordinates: ``T = energy_distance(y, Z)`` with ``y`` =
    :func:`leading_whitened` and ``Z`` ``n_ref`` draws of N(0, I_k). Its null law is a parametric
    bootstrap of the whole procedure (``n`` draws of the rows' best Gaussian in the full space, their
    own leading directions, whitening, ``T``), so choosing the directions from the data is
    accounted for. Returns ``(T, p)`` with ``p = (1 + #{T_b >= T}) / (1 + n_boot)``."""
    n = x.shape[0]
    z = rng.standard_normal((n_ref, min(k, n - 1)))
    t = energy_distance(leading_whitened(x, k), z)
    t_boot = [energy_distance(leading_whitened(gaussian_draws(x, n, rng=rng), k), z) for _ in range(n_boot)]
    return float(t), float((1 + np.sum(np.asarray(t_boot) >= t)) / (1 + n_boot))


def point_spaces(ds) -> dict[str, np.ndarray]:
    """Per-sample rows in the two spaces: ``raw`` (histories / amplitude) and ``registered``."""
    from uqgan.generators._preprocess import Preprocessor

    u = ds["u_bc"].transpose("sample", "time", "node", "component").values
    raw = (u / ds["load_amplitude"].values[:, None, None, None]).reshape(u.shape[0], -1)
    _, z = Preprocessor.fit_transform(ds, registration="arrival", pod_energy=0.999)
    return {"raw": raw, "registered": z}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=4)
    ap.add_argument("--replicates", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--splits", type=int, default=50, help="random half-splits averaged per point")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--pcs", type=int, default=2, help="leading principal coordinates of the normality test")
    ap.add_argument("--boot", type=int, default=200, help="parametric bootstrap draws of the normality test")
    ap.add_argument("--work", type=Path, default=Path("results/inclusions_study"),
                    help="campaign directories (resumable)")
    ap.add_argument("--out", type=Path, default=Path("results/inclusions_study.json"))
    ap.add_argument("--inclusions-case", type=Path, default=CASES["inclusions"],
                    help="a variant of the inclusions case to measure instead of the shipped one")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    n = args.points * args.replicates
    rng = np.random.default_rng(args.seed)
    result = {"points": args.points, "replicates": args.replicates, "seed": args.seed, "splits": args.splits,
              "pcs": args.pcs, "boot": args.boot, "cases": {}}
    for name, path in {**CASES, "inclusions": args.inclusions_case.resolve()}.items():
        case = load_case(path)
        d = args.work / name
        rep = run_campaign(case, d, n_samples=n, replicates=args.replicates, seed=args.seed,
                           workers=args.workers, show_progress=False)
        if rep.failures:
            raise SystemExit(f"{name}: {len(rep.failures)} runs failed: see {d}/failures")
        ds = open_dataset(d)
        spaces = point_spaces(ds)
        rows = []
        for p in np.unique(ds["point"].values):
            sel = ds["point"].values == p
            row = {"point": int(p), **{k: float(ds[k].values[sel][0])
                                       for k in ("load_amplitude", "load_duration", "load_position")}}
            for space, x in spaces.items():
                xp = x[sel]
                g, f, ratio = gauss_over_floor(xp, rng=rng, n_splits=args.splits)
                calib = gauss_over_floor(gaussian_draws(xp, xp.shape[0], rng=rng), rng=rng, n_splits=args.splits)[2]
                t, pval = normality_test(xp, k=args.pcs, rng=rng, n_boot=args.boot)
                row[space] = {"ed_gauss": g, "ed_floor": f, "gauss_over_floor": ratio, "calib": calib,
                              "normality_T": t, "normality_p": pval}
            rows.append(row)
        result["cases"][name] = {"case_file": str(path), "rows": rows}

    print(f"energy distance of each point's {args.replicates} replicates to their own best Gaussian, in truth-floor "
          f"units (mean over {args.splits} half-splits); calib = the same for a Gaussian truth")
    print(f"and the energy test of normality's p on the leading {args.pcs} whitened principal coordinates")
    print(f"{'case':<11}{'point':>6}{'x0 [m]':>8}{'tau [us]':>9}   {'raw':>6}{'calib':>7}{'p':>7}   "
          f"{'regist.':>8}{'calib':>7}{'p':>7}")
    for name, res in result["cases"].items():
        for r in res["rows"]:
            print(f"{name:<11}{r['point']:>6}{r['load_position']:>8.3f}{1e6 * r['load_duration']:>9.1f}   "
                  f"{r['raw']['gauss_over_floor']:>6.2f}{r['raw']['calib']:>7.2f}{r['raw']['normality_p']:>7.3f}   "
                  f"{r['registered']['gauss_over_floor']:>8.2f}{r['registered']['calib']:>7.2f}"
                  f"{r['registered']['normality_p']:>7.3f}")
        for space in ("raw", "registered"):
            ratios = [r[space]["gauss_over_floor"] for r in res["rows"]]
            calib = [r[space]["calib"] for r in res["rows"]]
            res[f"{space}_mean"] = float(np.mean(ratios))
            res[f"{space}_calib_mean"] = float(np.mean(calib))
            res[f"{space}_rejected_5pct"] = int(sum(r[space]["normality_p"] < 0.05 for r in res["rows"]))
        print(f"{name:<11}{'mean':>6}{'':>17}   {res['raw_mean']:>6.2f}{res['raw_calib_mean']:>7.2f}"
              f"{res['raw_rejected_5pct']:>5}/{len(res['rows'])}   {res['registered_mean']:>8.2f}"
              f"{res['registered_calib_mean']:>7.2f}{res['registered_rejected_5pct']:>5}/{len(res['rows'])}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
