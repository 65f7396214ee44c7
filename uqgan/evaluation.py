"""Which generator should a user trust on their data? Conditional checks at held-out points.

For each held-out design point with many replicates (say 40 material fields), the true replicates
are split into two halves: the metric between the halves is the *floor* (what a perfect generator
would score with that many samples); the metric between a generator's samples (as many as a half)
and a true half is the generator's value. Values are reported as multiples of the floor (1 =
indistinguishable from the truth at this sample size), next to QoI-level checks on the peak
displacement that users care about. Paired across points, a sign-flip test says whether the best
generator's lead over each other one is significant.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass

import numpy as np

from .data.dataset import variables_with_role

__all__ = ["EvaluationReport", "evaluate_generators", "zone_qoi_check", "zone_qoi_verdict"]

logger = logging.getLogger(__name__)


@dataclass
class EvaluationReport:
    """Per-point metrics (an xarray Dataset) and the summary table users read."""

    per_point: object  # xarray.Dataset (generator, point)
    summary: list[dict]
    winner: str
    verdict: str

    def to_dict(self) -> dict:
        return {"summary": self.summary, "winner": self.winner, "verdict": self.verdict,
                "per_point": {g: {v: self.per_point[v].sel(generator=g).values.tolist()
                                  for v in self.per_point.data_vars} for g in self.per_point["generator"].values}}


def _flat_per_amplitude(u: np.ndarray, amp: np.ndarray) -> np.ndarray:
    return (u / amp[:, None, None, None]).reshape(u.shape[0], -1)


def _sign_flip_pvalue(d: np.ndarray, rng: np.random.Generator, n: int = 4000) -> float:
    """Two-sided paired sign-flip permutation test of mean(d) = 0 (exact enumeration when small)."""
    d = np.asarray(d, dtype=float)
    m = d.size
    obs = abs(d.mean())
    if m <= 14:
        signs = ((np.arange(2**m)[:, None] >> np.arange(m)) & 1) * 2 - 1
    else:
        signs = rng.choice([-1.0, 1.0], size=(n, m))
    stats = np.abs((signs * d).mean(axis=1))
    return float((1 + np.sum(stats >= obs - 1e-15)) / (1 + stats.size))


def _generator_streams(names, seed: int) -> dict:
    """One random stream per generator, keyed by its name (``SeedSequence([seed, crc32(name)])``): a
    generator's draws, and so its scores, do not depend on which other generators are evaluated
    with it or in what order."""
    return {name: np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(str(name).encode())]))
            for name in names}


def evaluate_generators(generators: dict, truth, *, n_splits: int = 5, seed: int = 0,
                        draws: int = 1) -> EvaluationReport:
    """Compare generators against held-out replicates.

    Parameters
    ----------
    generators
        name -> fitted :class:`uqgan.generators.Generator`.
    truth
        BC dataset with replicates at each design point (``point`` coordinate), e.g. a campaign
        made with ``--replicates 40`` at points no generator was trained on.
    n_splits
        Random half-splits of the truth per point, averaged (floor and values alike).
    seed
        Seeds the splits and the tests and, with each generator's name, its own stream of draws (a
        generator's scores do not depend on the others evaluated with it).
    draws
        Evaluation draws averaged, with seeds ``seed``, ``seed + 1``, …: every per-point metric is
        the mean over the draws (the paired tests and the winner come from those means), except
        ``ed_pvalue``, the first draw's permutation test (a mean of p-values is not a p-value). One
        draw's noise can swap generators that are close (docs/generators.md measures how much).
    """
    import xarray as xr

    if not (isinstance(draws, int) and draws >= 1):
        raise ValueError(f"draws={draws!r}: must be an integer >= 1 (evaluation draws averaged)")
    from .generators._pod import fit_pod

    names = list(generators)
    amp_all = truth["load_amplitude"].values if "load_amplitude" in truth else np.ones(truth.sizes["sample"])
    u_all = truth["u_bc"].transpose("sample", "time", "node", "component").values
    # a common reference basis for the Gaussian-fit distances: POD of the held-out truth itself
    ref_pod = fit_pod(_flat_per_amplitude(u_all, amp_all), energy=0.999)
    runs = [_point_metrics(generators, truth, u_all, amp_all, ref_pod, n_splits=n_splits, seed=seed + r)
            for r in range(draws)]
    points = runs[0][1]
    out = {m: np.mean([run[0][m] for run in runs], axis=0) for m in runs[0][0]}
    out["ed_pvalue"] = runs[0][0]["ed_pvalue"]
    per_point = xr.Dataset({m: (("generator", "point"), v) for m, v in out.items()},
                           coords={"generator": names, "point": points}, attrs={"draws": draws, "seed": seed})
    return _summarise(per_point, names, points, seed)


def _point_metrics(generators: dict, truth, u_all: np.ndarray, amp_all: np.ndarray, ref_pod, *, n_splits: int,
                   seed: int) -> tuple[dict, np.ndarray]:
    """One evaluation draw of :func:`evaluate_generators` (the truth's histories ``u_all``, amplitudes
    ``amp_all`` and reference POD given): ``({metric: (generator, point) array}, points)``."""
    from .stats.metrics import (
        energy_distance,
        energy_permutation_test,
        frechet_distance,
        mmd2_unbiased,
        peak_displacement,
        qoi_comparison,
        quantile_coverage,
    )

    rng = np.random.default_rng(seed)  # the truth's splits (nothing else draws from it in the loop)
    points = np.unique(truth["point"].values)
    params = variables_with_role(truth, "parameter")
    names = list(generators)
    n_fd = min(10, ref_pod.n_modes)  # a Gaussian fit from 20 samples is meaningful in a few dimensions only
    metrics = ("ed", "ed_floor", "ed_pvalue", "mmd2", "mmd2_floor", "fd10", "fd10_floor", "coverage_90",
               "peak_mean_bias", "peak_q05_bias", "peak_q95_bias", "peak_spread_ratio", "peak_ks", "peak_ks_floor")
    out = {m: np.full((len(names), points.size), np.nan) for m in metrics}
    draws = _generator_streams(names, seed)
    for j, p in enumerate(points):
        sel = truth["point"].values == p
        u_t, amp_t = u_all[sel], amp_all[sel]
        n_t = u_t.shape[0]
        half = n_t // 2
        if half < 2:
            raise ValueError(f"held-out point {p} has {n_t} replicates: at least 4 are needed (40 recommended)")
        x_t = _flat_per_amplitude(u_t, amp_t)
        peak_t = peak_displacement(u_t)
        row = {k: float(truth[k].values[sel][0]) for k in params}
        splits = [rng.permutation(n_t) for _ in range(n_splits)]
        ed_floor = np.mean([energy_distance(x_t[s[:half]], x_t[s[half:2 * half]]) for s in splits])
        mmd_floor = np.mean([mmd2_unbiased(ref_pod.encode(x_t[s[:half]]), ref_pod.encode(x_t[s[half:2 * half]]))
                             for s in splits])
        ks_floor = np.mean([qoi_comparison(peak_t[s[:half]], peak_t[s[half:2 * half]])["ks"] for s in splits])
        z_t = ref_pod.encode(x_t)[:, :n_fd]
        fd_floor = np.mean([frechet_distance(z_t[s[:half]], z_t[s[half:2 * half]]) for s in splits])
        for i, name in enumerate(names):
            gen = generators[name]
            g = gen.sample({k: np.array([v]) for k, v in row.items()}, n=half, rng=draws[name])
            u_g = g["u_bc"].transpose("sample", "time", "node", "component").values
            x_g = _flat_per_amplitude(u_g, np.full(half, row.get("load_amplitude", 1.0)))
            out["ed"][i, j] = np.mean([energy_distance(x_g, x_t[s[half:2 * half]]) for s in splits])
            out["mmd2"][i, j] = np.mean([mmd2_unbiased(ref_pod.encode(x_g), ref_pod.encode(x_t[s[half:2 * half]]))
                                         for s in splits])
            out["ed_floor"][i, j], out["mmd2_floor"][i, j], out["peak_ks_floor"][i, j] = ed_floor, mmd_floor, ks_floor
            out["ed_pvalue"][i, j] = energy_permutation_test(x_g, x_t, rng=draws[name])[1]
            z_g = ref_pod.encode(x_g)[:, :n_fd]
            out["fd10"][i, j] = np.mean([frechet_distance(z_g, z_t[s[half:2 * half]]) for s in splits])
            out["fd10_floor"][i, j] = fd_floor
            out["coverage_90"][i, j] = quantile_coverage(u_g, u_t, quantiles=(0.05, 0.95))
            q = qoi_comparison(peak_displacement(u_g), peak_t)
            out["peak_mean_bias"][i, j] = q["mean_bias"]
            out["peak_q05_bias"][i, j] = q["quantile_bias"][0.05]
            out["peak_q95_bias"][i, j] = q["quantile_bias"][0.95]
            out["peak_spread_ratio"][i, j] = q["spread_ratio"]
            out["peak_ks"][i, j] = q["ks"]
        logger.info("evaluated held-out point %s (%d replicates)", p, n_t)
    return out, points


def _summarise(per_point, names: list, points: np.ndarray, seed: int) -> EvaluationReport:
    """The summary table, the winner by ED / floor and the paired tests of :func:`evaluate_generators`."""
    per_point["ed_ratio"] = per_point["ed"] / per_point["ed_floor"]
    summary = []
    for i, name in enumerate(names):
        summary.append({
            "generator": name,
            "ed_over_floor": float(per_point["ed_ratio"][i].mean()),
            "mmd2": float(per_point["mmd2"][i].mean()),
            "mmd2_floor": float(per_point["mmd2_floor"][i].mean()),
            "fd10_over_floor": float((per_point["fd10"][i] / per_point["fd10_floor"][i]).mean()),
            "points_rejected_5pct": int((per_point["ed_pvalue"][i] < 0.05).sum()),
            "coverage_90": float(per_point["coverage_90"][i].mean()),
            "peak_q05_abs_bias": float(np.abs(per_point["peak_q05_bias"][i]).mean()),
            "peak_q95_abs_bias": float(np.abs(per_point["peak_q95_bias"][i]).mean()),
            "peak_abs_bias": float(np.abs(per_point["peak_mean_bias"][i]).mean()),
            "peak_spread_ratio": float(per_point["peak_spread_ratio"][i].mean()),
            "peak_ks": float(per_point["peak_ks"][i].mean()),
            "peak_ks_floor": float(per_point["peak_ks_floor"][i].mean()),
        })
    best = int(np.argmin([s["ed_over_floor"] for s in summary]))
    winner = names[best]
    parts = []
    for i, name in enumerate(names):
        if i == best:
            continue
        d = per_point["ed_ratio"][i].values - per_point["ed_ratio"][best].values
        pval = _sign_flip_pvalue(d, np.random.default_rng(np.random.SeedSequence([seed, 1])))
        summary[i]["p_vs_winner"] = pval
        parts.append(f"{name} by {d.mean():.2f} floor units (paired sign-flip p = {pval:.3f}"
                     f"{', significant' if pval < 0.05 else ', not significant'})")
    draws = per_point.attrs.get("draws", 1)
    verdict = (f"{winner} is closest to the held-out truth (energy distance {summary[best]['ed_over_floor']:.2f} x "
               f"the truth-vs-truth floor over {points.size} points"
               + (f", mean of {draws} evaluation draws" if draws > 1 else "") + "); it leads " + "; ".join(parts))
    return EvaluationReport(per_point=per_point, summary=summary, winner=winner, verdict=verdict)


def zone_qoi_check(generators: dict, truth, case=None, *, seed: int = 0, batch_size: int = 256, draws: int = 1):
    """The check users care about: the zone QoIs of generated histories through the submodel
    against the full model's QoIs at held-out points.

    At each held-out point, each generator draws as many histories as the truth has replicates;
    the submodel (:class:`uqgan.fem.submodel.SubModel`, needs dolfinx) turns them into zone QoIs,
    which are compared with the full model's ``qoi_*`` stored in ``truth``. History-level metrics
    can look fine while a QoI that depends on space-time gradients (stress, strain energy) is off:
    this check shows it.

    The submodel steps with the full model's own scheme and step (``scheme="full-model"``,
    exact on the full model's own history), whatever the case's ``[submodel]`` says: the check
    judges the generators, so the fast chain's scheme error (docs/schemes.md, "The chain's
    submodel") is not charged to them; the Monte Carlo validation measures the whole chain.

    Parameters
    ----------
    generators : name -> fitted generator
    truth : held-out BC dataset with replicates per ``point`` and the full model's ``qoi_*``
    case : the :class:`~uqgan.config.CaseConfig` the truth was made with (zone, material, time step);
        by default the one the campaign recorded (its ``case_toml`` attribute)
    seed : seeds the truth's half-splits for the KS floor and, with each generator's name, its own
        stream of draws (a generator's result does not depend on the others evaluated with it)
    draws : evaluation draws averaged, with seeds ``seed``, ``seed + 1``, …: per point, ``mean_bias``
        is that of all the draws' QoIs together, ``q95_bias``, ``spread_ratio``, ``ks`` and ``ks_floor``
        are means over the draws (each draw as many QoIs as the truth, so the KS stays comparable to
        its floor); ``pooled_mean_bias`` and its standard error use all the draws' QoIs together

    Returns
    -------
    xarray.Dataset over (generator, qoi, point): ``mean_bias`` and ``q95_bias`` (relative),
    ``spread_ratio``, ``ks`` and ``ks_floor`` (truth half against truth half); and over
    (generator, qoi): ``pooled_mean_bias`` (Σ generated means / Σ true means − 1) with its standard
    error ``pooled_mean_bias_se`` from the sample variances of both sides.
    """
    import xarray as xr
    from scipy.stats import ks_2samp

    from .fem.submodel import SubModel
    from .montecarlo.chain import CheapChain

    if case is None:
        from .config import case_from_toml
        from .data.dataset import DatasetError

        if "case_toml" not in truth.attrs:
            raise DatasetError("the held-out data holds no case (attribute case_toml), so the submodel cannot be "
                               "built; use a campaign written by `uqgan generate-data`")
        case = case_from_toml(truth.attrs["case_toml"])

    qois = variables_with_role(truth, "qoi")
    if not qois:
        raise ValueError("the held-out data has no qoi_* variables: it must be a full-model campaign "
                         "(`uqgan generate-data`) to compare zone QoIs")
    if not (isinstance(draws, int) and draws >= 1):
        raise ValueError(f"draws={draws!r}: must be an integer >= 1 (evaluation draws averaged)")
    points = np.unique(truth["point"].values)
    params = variables_with_role(truth, "parameter")
    sub = SubModel(case, scheme="full-model")  # one exact submodel for every generator's chain
    chains = {name: CheapChain(case, gen, submodel=sub) for name, gen in generators.items()}
    names = list(generators)
    t_q = {q: [truth[q].values[truth["point"].values == p] for p in points] for q in qois}
    rows = {k: np.array([truth[k].values[truth["point"].values == p][0] for p in points]) for k in params}
    n_per = [t_q[qois[0]][j].size for j in range(points.size)]
    shape = (len(names), len(qois), points.size)
    out = {m: np.full(shape, np.nan) for m in ("mean_bias", "q95_bias", "spread_ratio", "ks", "ks_floor")}
    rngs = [np.random.default_rng(seed + r) for r in range(draws)]  # the truth's splits, one stream per draw
    for a, q in enumerate(qois):  # the truth's own floor, the same for every generator
        for j in range(points.size):
            y, h = t_q[q][j], t_q[q][j].size // 2
            stats = []
            for rng in rngs:
                s = rng.permutation(y.size)
                stats.append(ks_2samp(y[s[:h]], y[s[h:2 * h]]).statistic)
            out["ks_floor"][:, a, j] = np.mean(stats)
    pooled, pooled_se = np.full(shape[:2], np.nan), np.full(shape[:2], np.nan)
    streams = [_generator_streams(names, seed + r) for r in range(draws)]
    for i, name in enumerate(names):
        gen_q = {q: [[] for _ in range(points.size)] for q in qois}  # [point][draw] -> QoIs
        for j in range(points.size):
            for st in streams:
                res = chains[name].qois({k: v[j:j + 1] for k, v in rows.items()}, n=n_per[j], rng=st[name],
                                        batch_size=batch_size)
                for q in qois:
                    gen_q[q][j].append(res[q.removeprefix("qoi_")])
        for a, q in enumerate(qois):
            num = den = var_num = var_den = 0.0
            for j in range(points.size):
                xs, y = gen_q[q][j], t_q[q][j]
                x = np.concatenate(xs)
                out["mean_bias"][i, a, j] = x.mean() / y.mean() - 1
                out["q95_bias"][i, a, j] = np.mean([np.quantile(d, 0.95) for d in xs]) / np.quantile(y, 0.95) - 1
                out["spread_ratio"][i, a, j] = np.mean([d.std(ddof=1) for d in xs]) / y.std(ddof=1)
                out["ks"][i, a, j] = np.mean([ks_2samp(d, y).statistic for d in xs])
                num, den = num + x.mean(), den + y.mean()
                var_num, var_den = var_num + x.var(ddof=1) / x.size, var_den + y.var(ddof=1) / y.size
            ratio = num / den  # delta method: Var(N/D) ≈ (Var N + R² Var D) / D²
            pooled[i, a] = ratio - 1
            pooled_se[i, a] = np.sqrt(var_num + ratio**2 * var_den) / den
        logger.info("zone QoIs of %s at %d held-out points", name, points.size)
    ds = xr.Dataset({m: (("generator", "qoi", "point"), v) for m, v in out.items()},
                    coords={"generator": names, "qoi": qois, "point": points})
    ds["pooled_mean_bias"] = (("generator", "qoi"), pooled)
    ds["pooled_mean_bias_se"] = (("generator", "qoi"), pooled_se)
    ds.attrs["description"] = ("zone QoIs of generated histories through the submodel against the full model's, "
                               "at held-out points; biases are relative (0.1 = 10 % high)")
    ds.attrs.update(draws=draws, seed=seed)
    return ds


def zone_qoi_verdict(zone) -> str:
    """One sentence from :func:`zone_qoi_check`: the generator whose worst pooled zone-QoI bias
    (largest ``|pooled_mean_bias|`` over the QoIs) is smallest, that bias in standard errors, and
    whether every QoI of it is within 2 standard errors of the full model's (indistinguishable at
    this sample size) or not."""
    bias, se = zone["pooled_mean_bias"], zone["pooled_mean_bias_se"]
    worst = abs(bias).max("qoi")
    order = [str(g) for g in worst.sortby(worst)["generator"].values]
    best = order[0]
    b = bias.sel(generator=best)
    q_worst = str(abs(b).idxmax("qoi").values)
    z = abs(b / se.sel(generator=best))
    within = bool((z <= 2).all())
    others = ", ".join(f"{g} {float(worst.sel(generator=g)):.1%}" for g in order[1:])
    return (f"in the zone QoIs, {best} is closest to the full model: its largest bias is "
            f"{float(b.sel(qoi=q_worst)):+.1%} ({q_worst.removeprefix('qoi_')}, {float(z.sel(qoi=q_worst)):.1f} SE)"
            + ("; every QoI within 2 standard errors" if within else "; NOT within 2 standard errors on "
               + ", ".join(str(q).removeprefix("qoi_") for q in z["qoi"].values[(z > 2).values]))
            + (f". Largest bias of the others: {others}" if others else ""))
