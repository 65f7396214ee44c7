"""``wgan-gp`` with ``residuals="neighbours"``: the instance-conditioned GAN (Casanova et al. 2021) of
the runs' deviations, ``d = d_j + A G([w_j, c_j − c, η], c_j − c)`` with ``j`` a neighbouring
training run, and the neighbour rule it shares with ``kriging-resample``.

Known answers: the rule picks runs of the k nearest design points (brute force), uniformly over
their runs, and, for training, never a run of the point itself; the untrained model is
kriging-resample's law draw for draw (the zero-initialised output adds exactly 0); a trained one
draws distinct histories (a continuous law); save/load keeps the draws.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _wgan_helpers import TINY as _TINY  # noqa: E402
from _wgan_helpers import params as _params  # noqa: E402

from uqgan.config import ConfigError  # noqa: E402
from uqgan.data.synthetic import synthetic_bc_dataset  # noqa: E402
from uqgan.generators import Generator, make_generator  # noqa: E402
from uqgan.generators._neighbours import NeighbourRule  # noqa: E402

TINY = dict(_TINY, residuals="neighbours")


@pytest.fixture(scope="module")
def ds():
    return synthetic_bc_dataset("arrival", n_points=40, replicates=3, n_time=16, n_nodes=3, seed=1)


@pytest.fixture(scope="module")
def untrained(ds):
    return make_generator("wgan-gp", steps=0, validation_fraction=0.3, **TINY).fit(ds)


def _rule(rng):
    cond = rng.uniform(-1, 1, (12, 2))
    sizes = rng.integers(1, 5, 12)
    return NeighbourRule(cond, np.concatenate([[0], np.cumsum(sizes)]), np.array([0.5, 2.0]), 3), cond, sizes


def test_rule_draws_runs_of_the_nearest_points_uniformly():
    """Every drawn run belongs to one of the 3 nearest points in c / ℓ (brute force); over 40 000 draws
    at one c each of the N candidate runs comes up with frequency 1/N within 5 binomial SE."""
    rng = np.random.default_rng(0)
    rule, cond, sizes = _rule(rng)
    c = rng.uniform(-1, 1, (200, 2))
    rows = rule.draw(c, rng)
    point = np.searchsorted(rule.offsets, rows, side="right") - 1
    dist = np.linalg.norm((c[:, None, :] - cond[None]) / rule.ell, axis=2)
    nearest = np.argsort(dist, axis=1)[:, :3]
    assert all(point[i] in nearest[i] for i in range(c.shape[0]))
    one = np.repeat(c[:1], 40_000, axis=0)
    rows = rule.draw(one, rng)
    cand = np.concatenate([np.arange(rule.offsets[j], rule.offsets[j + 1]) for j in nearest[0]])
    freq = np.array([np.mean(rows == r) for r in cand])
    assert np.isin(rows, cand).all()
    p = 1 / cand.size
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / one.shape[0]))


def test_rule_for_training_leaves_the_point_itself_out():
    """draw_others: never a run of the point itself, always one of its 3 nearest other points."""
    rng = np.random.default_rng(1)
    rule, cond, _ = _rule(rng)
    point = np.repeat(np.arange(12), 50)
    rows = rule.draw_others(point, rng)
    got = np.searchsorted(rule.offsets, rows, side="right") - 1
    dist = np.linalg.norm((cond[:, None, :] - cond[None]) / rule.ell, axis=2)
    np.fill_diagonal(dist, np.inf)
    nearest = np.argsort(dist, axis=1)[:, :3]
    assert np.all(got != point)
    assert all(got[i] in nearest[point[i]] for i in range(point.size))


def test_untrained_model_is_kriging_resample_draw_for_draw(ds, untrained):
    """With G's last layer at zero the draw is m(c) + d_j, d_j a neighbour run's deviation: the same
    as kriging-resample fitted on the same runs with the same rng (same kriging mean, same rule), to
    the round-off of whitening and unwhitening (1e-9 of the largest coefficient)."""
    resample = make_generator("kriging-resample", k_individual=2, n_restarts=0, seed=3,
                              validation_fraction=0.3).fit(ds)
    c = np.repeat(untrained.prep.condition(_params(ds, [2, 7])), 25, axis=0)
    got = untrained._sample(c, np.random.default_rng(4))
    want = resample._sample(c, np.random.default_rng(4))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9 * np.abs(want).max())
    test = untrained.training_summary["start_test"]
    assert untrained.beats_start is False and "kriging-resample's law" in test["message"]


def test_trained_model_draws_a_continuous_law_and_survives_save_load(ds, tmp_path):
    """After a few steps η moves every draw: among 60 draws at one c no two are equal (kriging-resample
    repeats its 9 atoms), and a saved model draws the same histories with the same rng."""
    gen = make_generator("wgan-gp", steps=5, lr=1e-3, validation_fraction=0.0, **TINY).fit(ds)
    c = np.repeat(gen.prep.condition(_params(ds, [3])), 60, axis=0)
    z = gen._sample(c, np.random.default_rng(2))
    assert np.unique(np.round(z, 12), axis=0).shape[0] == 60
    gen.save(tmp_path / "m")
    back = Generator.load(tmp_path / "m")
    p = _params(ds, [0, 3])
    np.testing.assert_array_equal(back.sample(p, n=6, rng=np.random.default_rng(1))["u_bc"].values,
                                  gen.sample(p, n=6, rng=np.random.default_rng(1))["u_bc"].values)


@pytest.mark.parametrize("bad, field", [({"base": "mean"}, "base="), ({"mean_penalty": 10.0}, "mean_penalty="),
                                        ({"architecture": "conv1d"}, "architecture=")])
def test_bad_options_name_the_field(bad, field):
    with pytest.raises(ConfigError, match=field):
        make_generator("wgan-gp", **{**TINY, **bad})
