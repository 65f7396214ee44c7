"""Arrival-time registration: known shifts and arrival times, exact round trips, and what it buys a
Gaussian generator on a random-arrival law."""

import numpy as np
import pytest

from uqgan.data.synthetic import synthetic_bc_dataset, synthetic_histories
from uqgan.generators import Generator, make_generator
from uqgan.generators._registration import arrival_times, shift_histories


def _pulses(t, centres, width=4.0):
    """Smooth (Gaussian) pulses ``(n, T, 2)`` of standard deviation ``width`` steps."""
    s = (t[None, :] - np.asarray(centres)[:, None]) / width
    return np.exp(-0.5 * s**2)[:, :, None] * np.array([1.0, -0.5])


def test_whole_step_shifts_are_exact_with_zeros_before_and_held_values_after():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 20, 2))
    y = shift_histories(x, np.array([0.0, 3.0, -2.0]), pad_before=4, n_out=26)
    np.testing.assert_array_equal(y[0, 4:24], x[0])  # y[j] = x[j - 4]
    np.testing.assert_array_equal(y[0, :4], 0.0)  # at rest before t = 0
    np.testing.assert_array_equal(y[1, 1:21], x[1])  # y[j] = x[j - 4 + 3]
    np.testing.assert_array_equal(y[1, 21:], np.broadcast_to(x[1, -1], (5, 2)))  # held after the last time
    np.testing.assert_array_equal(y[2, 6:26], x[2])  # y[j] = x[j - 6]


def test_fractional_round_trip_of_smooth_pulses():
    """4-point Lagrange interpolation is 4th order: a Gaussian pulse of standard deviation 4 steps
    (the default case's pulses span 10-20 stored steps) comes back to 1e-3 of its peak after a shift
    by a fraction of a step and back (measured 5e-4); whole-step shifts are exact."""
    t = np.arange(120.0)
    x = _pulses(t, [40.0, 52.3, 61.7])
    d = np.array([0.0, 7.25, 15.6])
    v = shift_histories(x, d, pad_before=20)
    back = shift_histories(v, 20 - d, n_out=t.size)
    assert np.abs(back - x).max() < 1e-3
    np.testing.assert_allclose(back[0], x[0], atol=1e-15)


def test_arrival_time_known_answers():
    t = np.linspace(0.0, 1.0, 11)
    ramp = np.clip((t - 0.2) / 0.5, 0, 1)  # norm 0 until 0.2, then linear to 1 at 0.7
    x = np.stack([ramp, 2 * ramp, np.zeros_like(t)])[:, :, None]
    ta = arrival_times(x, t, fraction=0.3)
    np.testing.assert_allclose(ta[:2], 0.2 + 0.3 * 0.5, rtol=1e-12)  # scale-free
    assert ta[2] == 0.0  # all zero: arrives at the first time
    with pytest.raises(ValueError, match="fraction"):
        arrival_times(x, t, fraction=1.5)


def test_registered_preprocessor_round_trips_and_saves(tmp_path):
    ds = synthetic_bc_dataset("arrival", n_points=12, replicates=4, seed=0)
    gen = make_generator("kriging-gaussian", registration="arrival", pod_energy=1.0, validation_fraction=0).fit(ds)
    prep = gen.prep
    assert prep.shift is not None and prep.n_coefficients == prep.pod.n_modes + 1
    z = prep.coefficients(ds)
    assert abs(z[:, 0].mean()) < 1e-9 and z[:, 0].std(ddof=1) == pytest.approx(1.0, rel=1e-9)  # whitened shift
    u = ds["u_bc"].transpose("sample", "time", "node", "component").values
    back = prep.decode(z, ds["load_amplitude"].values)
    # all modes kept: only the interpolation of the fractional shifts (pulses ~7 steps wide) is left
    assert np.abs(back - u).max() < 2e-2 * np.abs(u).max()
    gen.save(tmp_path / "m")
    again = Generator.load(tmp_path / "m")
    params = {k: ds[k].values[:3] for k in ("load_amplitude", "load_duration", "load_position")}
    np.testing.assert_array_equal(again.sample(params, n=4, rng=np.random.default_rng(1))["u_bc"].values,
                                  gen.sample(params, n=4, rng=np.random.default_rng(1))["u_bc"].values)


def test_registration_lets_a_gaussian_keep_the_peaks_of_random_arrivals():
    """``arrival``: a pulse shifted by a random time. Unregistered, the Gaussian of the POD
    coefficients smears the shifted pulses into a lower, wider one; registered, the shift is one
    Gaussian coordinate and the pulse keeps its height. Measured at 6 held-out points (200 draws
    each): mean peak |u| 0.1 % low registered (tolerance 2 %), 10 % low unregistered (must be > 5 %)."""
    ds = synthetic_bc_dataset("arrival", n_points=60, replicates=6, seed=0)
    rng = np.random.default_rng(7)
    pts = {"load_amplitude": np.ones(6), "load_duration": rng.uniform(0, 1, 6), "load_position": rng.uniform(0, 1, 6)}
    truth = synthetic_histories("arrival", {k: np.repeat(v, 200) for k, v in pts.items()}, rng=rng)
    peak_truth = np.abs(truth).max(axis=(1, 2, 3)).mean()
    peaks = {}
    for reg in ("none", "arrival"):
        gen = make_generator("kriging-gaussian", registration=reg).fit(ds)
        u = gen.sample(pts, n=200, rng=np.random.default_rng(3))["u_bc"].values
        peaks[reg] = np.abs(u).max(axis=(1, 2, 3)).mean() / peak_truth - 1
    assert abs(peaks["arrival"]) < 0.02, peaks
    assert peaks["none"] < -0.05, peaks


def test_bad_registration_names_the_option():
    with pytest.raises(ValueError, match="registration='x'.*none, arrival"):
        make_generator("pca-gaussian", registration="x")
    with pytest.raises(ValueError, match="arrival_fraction"):
        make_generator("pca-gaussian", arrival_fraction=0)
