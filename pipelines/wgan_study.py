"""Held-out comparison of generators on a synthetic law: the numbers of docs/generators.md,
"wgan-gp on the runs' deviations".

    python pipelines/wgan_study.py bimodal 3000 '[["kriging-resample", {}], ["wgan-gp", {"lr": 5e-4}]]'

Data: ``synthetic_bc_dataset(KIND, n_points=120, replicates=5, width_scale=3)``; every model gets
``seed=0`` unless its options say otherwise, adversarial ones also ``steps=STEPS``, ``device="cpu"``
and ``validation_fraction=0.2`` (the others keep 0.1: the adversarial ones need 12 points to test
the step they keep). Score: the energy distance (:func:`uqgan.stats.metrics.energy_distance`)
of 100 draws to 100 fresh truth histories at 8 held-out points (amplitude 1), mean over 2 sampling
seeds, in units of the truth-vs-truth floor (mean over 5 pairs of fresh truth sets).
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np

from uqgan.data.synthetic import RANGES, synthetic_bc_dataset, synthetic_histories
from uqgan.generators import generator_class, make_generator
from uqgan.stats.metrics import energy_distance


def main(kind: str, steps: int, configs: list, *, n_points: int = 120, replicates: int = 5,
         width_scale: float = 3.0) -> None:
    ds = synthetic_bc_dataset(kind, n_points=n_points, replicates=replicates, seed=0, width_scale=width_scale)
    rng = np.random.default_rng(123)
    m, n = 8, 100
    pts = {k: rng.uniform(lo, hi, m) for k, (lo, hi) in RANGES.items()}
    pts["load_amplitude"] = np.ones(m)

    def draw(r):
        return [synthetic_histories(kind, {k: np.full(n, v[j]) for k, v in pts.items()}, rng=r,
                                    width_scale=width_scale).reshape(n, -1) for j in range(m)]

    truth = draw(rng)
    floor = np.mean([np.mean([energy_distance(a, b) for a, b in zip(draw(rng), draw(rng), strict=True)])
                     for _ in range(5)])

    def score(gen, seed):
        r = np.random.default_rng(seed)
        g = [gen.sample({k: v[j:j + 1] for k, v in pts.items()}, n=n, rng=r)["u_bc"].values.reshape(n, -1)
             for j in range(m)]
        return np.array([energy_distance(a, b) for a, b in zip(g, truth, strict=True)])

    print(f"{kind} {n_points}x{replicates}, width_scale {width_scale}: floor {floor:.4g}")
    for name, opts in configs:
        t = time.perf_counter()
        adversarial = generator_class(name).adversarial
        base = {"seed": 0} | ({"steps": steps, "device": "cpu", "validation_fraction": 0.2} if adversarial else {})
        gen = make_generator(name, **(base | opts)).fit(ds)
        s = np.mean([score(gen, sd) for sd in (1, 2)], axis=0)
        extra = ""
        if adversarial:
            ts = gen.training_summary
            test = ts.get("start_test", {})
            extra = (f" kept step {ts['best_step']}, gan_dims {ts.get('gan_dims')}, paired test p = "
                     f"{test.get('p_value')}, beats its start: {test.get('beats_start')}")
        print(f"{name:18s} {json.dumps(opts):45s} ED/floor {s.mean() / floor:7.3f}  per point "
              f"{np.round(s / floor, 2).tolist()} ({time.perf_counter() - t:.0f} s){extra}", flush=True)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kind", help="synthetic law: gaussian, arrival or bimodal (uqgan.data.synthetic)")
    ap.add_argument("steps", type=int, help="generator steps of the adversarial models")
    ap.add_argument("configs", type=json.loads,
                    help='JSON list of [generator name, options], e.g. \'[["kriging-resample", {}]]\'')
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    main(args.kind, args.steps, args.configs)
