"""Pieces of the generator evaluation against known answers."""

from __future__ import annotations

import numpy as np

from uqgan.evaluation import _sign_flip_pvalue
from uqgan.stats.metrics import energy_distance, energy_permutation_test


def test_ed_permutation_statistic_and_power():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 50)), rng.normal(size=(20, 50))
    stat, p = energy_permutation_test(x, y, rng=rng, n_permutations=300)
    # the statistic is the V-statistic energy distance of uqgan.stats.metrics (same pooled distances)
    assert np.isclose(stat, energy_distance(x, y), rtol=1e-10)
    assert p > 0.01  # same law: a valid test rejects at 1 % only 1 % of the time
    _, p_shift = energy_permutation_test(x, y + 1.0, rng=rng, n_permutations=300)
    assert p_shift == 1 / 301  # a shift of 1 sd in 50 dims is seen by every permutation


def test_ed_permutation_pvalues_are_calibrated():
    rng = np.random.default_rng(1)
    ps = [energy_permutation_test(rng.normal(size=(10, 3)), rng.normal(size=(10, 3)), rng=rng, n_permutations=99)[1]
          for _ in range(80)]
    # under H0, P(p <= 0.1) = 0.1; 80 repetitions: binomial sd 0.034, 4 sd band
    assert abs(np.mean(np.array(ps) <= 0.1) - 0.1) < 0.14


def test_sign_flip_exact():
    rng = np.random.default_rng(2)
    # all 8 differences positive: the exact two-sided p over 2^8 sign patterns is 2/256, plus one
    assert _sign_flip_pvalue(np.ones(8), rng) == (1 + 2) / (1 + 256)
    assert _sign_flip_pvalue(np.array([1.0, -1.0, 1.0, -1.0]), rng) == 1.0


def test_zone_qoi_verdict_names_the_generator_with_the_smallest_worst_bias():
    import xarray as xr

    from uqgan.evaluation import zone_qoi_verdict

    qois = ["qoi_peak_von_mises", "qoi_peak_displacement"]
    bias = [[-0.20, 0.01], [0.03, -0.05], [0.30, 0.0]]  # worst: 0.20, 0.05, 0.30
    se = [[0.02, 0.02], [0.02, 0.02], [0.05, 0.05]]
    dims = ("generator", "qoi")
    zone = xr.Dataset({"pooled_mean_bias": (dims, bias), "pooled_mean_bias_se": (dims, se)},
                      coords={"generator": ["a", "b", "c"], "qoi": qois})
    text = zone_qoi_verdict(zone)
    assert text.startswith("in the zone QoIs, b is closest to the full model: its largest bias is -5.0% "
                           "(peak_displacement, 2.5 SE); NOT within 2 standard errors on peak_displacement")
    assert text.endswith("Largest bias of the others: a 20.0%, c 30.0%")
    zone["pooled_mean_bias_se"][:] = 0.1
    assert "every QoI within 2 standard errors" in zone_qoi_verdict(zone)


def test_a_generators_scores_do_not_depend_on_the_others_evaluated_with_it():
    """Each generator draws from its own stream (seed and name): kriging-gaussian's per-point energy
    distances are the same evaluated alone or after pca-gaussian, to the last bit."""
    from uqgan.data.synthetic import synthetic_bc_dataset
    from uqgan.evaluation import evaluate_generators
    from uqgan.generators import make_generator

    ds = synthetic_bc_dataset("gaussian", n_points=30, replicates=3, n_time=16, n_nodes=3, seed=0)
    held = synthetic_bc_dataset("gaussian", n_points=2, replicates=8, n_time=16, n_nodes=3, seed=5)
    kg = make_generator("kriging-gaussian", k_individual=2, n_restarts=0, seed=0).fit(ds)
    pca = make_generator("pca-gaussian", seed=0).fit(ds)
    alone = evaluate_generators({"kriging-gaussian": kg}, held).per_point
    both = evaluate_generators({"pca-gaussian": pca, "kriging-gaussian": kg}, held).per_point
    np.testing.assert_array_equal(alone["ed"].sel(generator="kriging-gaussian").values,
                                  both["ed"].sel(generator="kriging-gaussian").values)


def test_draws_average_the_per_point_metrics_of_single_draws():
    """``draws=3`` is the mean of the evaluations with seeds 0, 1, 2, per point and metric (to
    round-off), except ``ed_pvalue``, the first draw's; the winner and the tests use those means."""
    import pytest

    from uqgan.data.synthetic import synthetic_bc_dataset
    from uqgan.evaluation import evaluate_generators
    from uqgan.generators import make_generator

    ds = synthetic_bc_dataset("gaussian", n_points=30, replicates=3, n_time=16, n_nodes=3, seed=0)
    held = synthetic_bc_dataset("gaussian", n_points=3, replicates=8, n_time=16, n_nodes=3, seed=5)
    gens = {"kriging-gaussian": make_generator("kriging-gaussian", k_individual=2, n_restarts=0, seed=0).fit(ds),
            "pca-gaussian": make_generator("pca-gaussian", seed=0).fit(ds)}
    single = [evaluate_generators(gens, held, seed=s).per_point for s in range(3)]
    three = evaluate_generators(gens, held, seed=0, draws=3)
    for m in ("ed", "ed_floor", "mmd2", "fd10", "coverage_90", "peak_ks", "peak_mean_bias"):
        np.testing.assert_allclose(three.per_point[m].values, np.mean([p[m].values for p in single], axis=0),
                                   rtol=1e-12)
    np.testing.assert_array_equal(three.per_point["ed_pvalue"].values, single[0]["ed_pvalue"].values)
    assert three.per_point.attrs["draws"] == 3 and "mean of 3 evaluation draws" in three.verdict
    best = min(three.summary, key=lambda s: s["ed_over_floor"])["generator"]
    assert three.winner == best
    with pytest.raises(ValueError, match=r"^draws=0: must be an integer >= 1"):
        evaluate_generators(gens, held, draws=0)
