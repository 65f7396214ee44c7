"""The measure of ``pipelines/inclusions_study.py`` on laws whose Gaussianity is known.

A law's energy distance to its own best Gaussian, in truth-floor units, must sit at the
calibration value (the same procedure on Gaussian data) for a Gaussian, and clearly above it for a
two-mode mixture with the replicates' sample sizes the study uses (16 per point).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[1] / "pipelines" / "inclusions_study.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("inclusions_study", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gaussian_draws_have_the_samples_mean_and_covariance(study):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 30)) @ rng.standard_normal((30, 30)) + 5.0
    g = study.gaussian_draws(x, 200_000, rng=rng)
    # 2e5 draws: the mean's and covariance's Monte Carlo errors are ~ sd / 450 and ~ var * 3 / 450;
    # 2 % of the largest variance bounds them with a wide margin
    scale = np.cov(x, rowvar=False).max()
    assert np.abs(g.mean(axis=0) - x.mean(axis=0)).max() < 0.02 * np.sqrt(scale)
    assert np.abs(np.cov(g, rowvar=False) - np.cov(x, rowvar=False)).max() < 0.02 * scale


def test_the_gauss_over_floor_ratio_of_a_gaussian_sits_at_its_calibration(study):
    rng = np.random.default_rng(1)
    d, n, points = 40, 16, 30
    gauss, calib = [], []
    for _ in range(points):
        a = rng.standard_normal((d, d)) / np.sqrt(d)
        x = rng.standard_normal((n, d)) @ a
        gauss.append(study.gauss_over_floor(x, rng=rng, n_splits=20)[2])
        calib.append(study.gauss_over_floor(study.gaussian_draws(x, n, rng=rng), rng=rng, n_splits=20)[2])
    # the point-to-point sd of a ratio is ~0.05 here, so the mean of 30 has sd ~0.01 (each of
    # the two): a Gaussian stays within 0.06 of the calibration (4 sd of the difference)
    assert abs(np.mean(gauss) - np.mean(calib)) < 0.06, (np.mean(gauss), np.mean(calib))


def test_the_normality_test_holds_its_level_and_finds_two_separated_modes(study):
    rng = np.random.default_rng(2)
    d, n, points = 40, 16, 12
    p_gauss, p_mix = [], []
    for _ in range(points):
        a = rng.standard_normal((d, d)) / np.sqrt(d)
        x = rng.standard_normal((n, d)) @ a
        p_gauss.append(study.normality_test(x, k=2, rng=rng, n_boot=50, n_ref=500)[1])
        y = x.copy()
        y[: n // 2, 0] += 20.0  # two modes 20 sd apart along one direction (a wave arrives or not)
        p_mix.append(study.normality_test(y, k=2, rng=rng, n_boot=50, n_ref=500)[1])
    # level: under the null P(p < 0.05) <= 0.05, so >= 4 rejections of 12 has probability 0.002
    assert np.sum(np.array(p_gauss) < 0.05) <= 3, p_gauss
    # power: measured 0.8 at this separation and size (20 points, 100 draws); 6 of 12 is 2.6
    # binomial sd below it
    assert np.sum(np.array(p_mix) < 0.05) >= 6, p_mix
