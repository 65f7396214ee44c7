"""POD of histories against known answers."""

from __future__ import annotations

import numpy as np
import pytest

from uqgan.generators._pod import POD, fit_pod


def rank_r_data(n, d, r, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, r)) @ rng.normal(size=(r, d)) + rng.normal(size=d)


@pytest.mark.parametrize("d", [30, 500])  # the SVD path (d < 2n) and the Gram path (d > 2n)
def test_exact_rank(d):
    x = rank_r_data(100, d, 7)
    pod = fit_pod(x, energy=1.0)
    # a rank-7 centred matrix has 7 non-zero singular values; round-off leaves ~1e-13
    assert pod.n_modes == 7
    assert pod.reconstruction_error < 1e-12
    np.testing.assert_allclose(pod.decode(pod.encode(x)), x, atol=1e-10 * np.abs(x).max())
    # whitened coefficients: unit variance, uncorrelated on the training data
    z = pod.encode(x)
    np.testing.assert_allclose(np.cov(z, rowvar=False), np.eye(7), atol=1e-10)
    # orthonormal modes
    np.testing.assert_allclose(pod.modes @ pod.modes.T, np.eye(7), atol=1e-10)


def test_energy_fraction_is_the_fewest_modes():
    rng = np.random.default_rng(1)
    scales = np.array([10.0, 5.0, 2.0, 1.0, 0.5, 0.1])
    x = rng.normal(size=(2000, 6)) * scales
    var = scales**2 / (scales**2).sum()
    for energy in (0.5, 0.9, 0.99):
        pod = fit_pod(x, energy=energy)
        # sample variances differ from the population ones by ~sqrt(2/2000) = 3 % relative
        k_expected = int(np.searchsorted(np.cumsum(var), energy) + 1)
        assert pod.n_modes == k_expected
        assert pod.energy_kept >= energy


def test_gram_and_svd_paths_agree():
    x = rank_r_data(40, 70, 10, seed=2)  # d < 2n: SVD
    a = fit_pod(x, energy=0.99)
    b = fit_pod(np.hstack([x, np.zeros((40, 200))]), energy=0.99)  # d > 2n: Gram, padded with zeros
    assert a.n_modes == b.n_modes
    np.testing.assert_allclose(np.abs(a.modes), np.abs(b.modes[:, :70]), atol=1e-8)


def test_round_trip_arrays():
    pod = fit_pod(rank_r_data(50, 20, 5), energy=0.999)
    again = POD.from_arrays(pod.to_arrays())
    x = rank_r_data(10, 20, 5, seed=9)
    np.testing.assert_array_equal(again.encode(x), pod.encode(x))


def test_bad_input():
    with pytest.raises(ValueError, match="energy"):
        fit_pod(np.ones((5, 3)) + np.arange(3), energy=0.0)
    with pytest.raises(ValueError, match="shape"):
        fit_pod(np.ones(5))
    with pytest.raises(ValueError, match="no variance"):
        fit_pod(np.ones((5, 3)))
