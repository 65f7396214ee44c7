"""Helpers shared by the adversarial-generator tests (need torch only through the modules passed in)."""

from __future__ import annotations

import numpy as np

from uqgan.stats.metrics import energy_distance

#: tiny networks and training for the adversarial generators' tests: each fit takes about a second on
#: one busy core (each test file adds its ``residuals`` and, where it needs them, validation settings)
TINY = dict(hidden=16, layers=2, latent_dim=3, batch_size=16, n_critic=2, k_individual=2, n_restarts=0,
            validation_samples=16, device="cpu", seed=3)


def params(ds, rows):
    """The parameters of dataset rows, as ``Generator.sample`` takes them."""
    return {k: ds[k].values[rows] for k in ("load_amplitude", "load_duration", "load_position")}


def weights(module) -> dict[str, np.ndarray]:
    """A torch module's weights as numpy copies."""
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def assert_same_weights(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# ------------------------------------------------------------------------------------------------
# held-out truth of the synthetic laws (the slow known-answer tests)
def held_out_truth(kind: str, *, m: int, n: int, seed: int, **options):
    """``m`` new parameter points (amplitude 1) and ``n`` fresh truth histories at each, flattened;
    ``options`` go to :func:`synthetic_histories`."""
    from uqgan.data.synthetic import RANGES, synthetic_histories

    rng = np.random.default_rng(seed)
    pts = {k: rng.uniform(lo, hi, m) for k, (lo, hi) in RANGES.items()}
    pts["load_amplitude"] = np.ones(m)

    def draw(r):
        return [synthetic_histories(kind, {k: np.full(n, v[j]) for k, v in pts.items()}, rng=r, **options)
                .reshape(n, -1) for j in range(m)]

    return pts, draw, rng


def generated(gen, pts, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    m = len(pts["load_amplitude"])
    return [gen.sample({k: v[j:j + 1] for k, v in pts.items()}, n=n, rng=rng)["u_bc"].values.reshape(n, -1)
            for j in range(m)]


def mean_ed(samples: list[np.ndarray], truth: list[np.ndarray]) -> float:
    return float(np.mean([energy_distance(s, t) for s, t in zip(samples, truth, strict=True)]))


def paired_permutation_pvalue(a: list[np.ndarray], b: list[np.ndarray], truth: list[np.ndarray], *,
                               n_perm: int, rng: np.random.Generator) -> float:
    """One-sided permutation test of H0 "a and b have the same law at every point" against "a is closer
    to the truth": statistic mean_j [ED(b_j, T_j) − ED(a_j, T_j)]; under H0 the a/b labels of the pooled
    draws at each point are exchangeable, so they are re-drawn at random within each point."""
    from scipy.spatial.distance import cdist

    pre = []
    for aj, bj, tj in zip(a, b, truth, strict=True):
        z = np.vstack([aj, bj])
        pre.append((cdist(z, tj).mean(1), cdist(z, z), aj.shape[0]))

    def ed_part(u, d, i) -> float:  # 2 E|X − T| − E|X − X'| (the truth-truth term cancels in the difference)
        return 2 * u[i].mean() - d[np.ix_(i, i)].sum() / (len(i) * (len(i) - 1))

    def stat(perms) -> float:
        out = 0.0
        for (u, d, na), idx in zip(pre, perms, strict=True):
            out += ed_part(u, d, idx[na:]) - ed_part(u, d, idx[:na])
        return out / len(pre)

    observed = stat([np.arange(len(u)) for u, _, _ in pre])
    null = np.array([stat([rng.permutation(len(u)) for u, _, _ in pre]) for _ in range(n_perm)])
    return float((1 + np.sum(null >= observed)) / (1 + n_perm))
