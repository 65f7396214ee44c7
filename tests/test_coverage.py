"""A small version of ``pipelines/coverage_study.py``: uqgan's intervals on skewed laws.

Each check runs a few hundred seeded repetitions of one cell through the study's own code (the
public estimators on ``(reps, n)`` draws) and compares the observed coverage with a binomial
tolerance: with ``R`` repetitions an interval of true coverage ``p`` has observed-coverage standard
deviation ``sqrt(p (1 - p) / R)`` (0.0126 for p = 0.95, R = 300), and the bands below are 3.5 of
those around the value measured by the full study (docs/coverage.md), so an honest interval fails
about once in 2000 seeds while a wrong variance (e.g. normal theory on a lognormal, 0.72) fails
by 15 sigmas.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "pipelines" / "coverage_study.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("coverage_study", _PATH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["coverage_study"] = mod  # dataclasses look their module up there
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop("coverage_study", None)


def _sigma(p: float, reps: int) -> float:
    return math.sqrt(p * (1 - p) / reps)


def _by_interval(cells):
    return {(c.interval, c.law, c.n, c.rho): c for c in cells}


def test_true_values_of_the_laws(study):
    """The mixture's mean, std and quantiles against closed forms / a direct CDF evaluation."""
    mix = study.LAWS["mixture 90/10"]
    m1 = 0.9 * math.exp(0.25**2 / 2) + 0.1 * math.exp(1 + 0.25**2 / 2)
    m2 = 0.9 * math.exp(2 * 0.25**2) + 0.1 * math.exp(2 + 2 * 0.25**2)
    assert mix.mean() == pytest.approx(m1, rel=1e-12)
    assert mix.std() == pytest.approx(math.sqrt(m2 - m1**2), rel=1e-12)
    for q in (0.05, 0.5, 0.95, 0.99):
        assert mix.cdf(mix.ppf(q)) == pytest.approx(q, abs=1e-12)


def test_single_fidelity_intervals_cover_on_a_lognormal(study):
    """Lognormal sigma = 0.5, n = 256, 300 repetitions. Full-study values (2000 reps): mean, Hall's
    skewness-corrected t 0.957 and plain t 0.952, std: the default, Bonett, 0.934, and its unpublished
    variant with the t quantile and a median-centred kurtosis 0.957; median 0.96-0.985 (order
    statistics are conservative by construction), P(X > q90) Wilson 0.95; the chi-square std
    interval 0.718, which the study must expose."""
    reps = 300
    cells = _by_interval(study.single_fidelity(reps=reps, reps_bootstrap=0, seed=11, laws=["lognormal(0.5)"],
                                               ns=(256,), bootstrap=False))
    law = "lognormal(0.5)"
    for interval, measured in (("mean, hall-t", 0.957), ("mean, student-t", 0.952), ("std, bonett-t", 0.957),
                               ("std, bonett", 0.934),
                               ("P(X > q90), wilson", 0.95)):
        c = cells[(interval, law, 256, None)]
        assert abs(c.coverage - measured) <= 3.5 * _sigma(measured, reps), (interval, c.coverage)
    assert cells[("q50, order-statistic", law, 256, None)].coverage >= 0.95 - 3.5 * _sigma(0.95, reps)
    chi2 = cells[("std, chi2", law, 256, None)].coverage
    assert chi2 <= 0.718 + 3.5 * _sigma(0.718, reps) and chi2 < 0.85, chi2


def test_mean_covers_on_the_mixture(study):
    """The mean's default interval (Hall's skewness-corrected t) on the 90/10 lognormal mixture at
    n = 64, 300 repetitions: the full study measured 0.964 (plain t 0.924, below the band). The
    tolerance is 3.5 binomial sigmas (0.0108) around 0.964, i.e. [0.926, 1]: it checks that the
    default holds the issue's 0.93 here; the uncorrected t (0.924) sits at its edge, so this guards
    the correction only loosely (an interval that forgot it would fail about half the seeds)."""
    reps = 300
    cells = _by_interval(study.single_fidelity(reps=reps, reps_bootstrap=0, seed=13, laws=["mixture 90/10"],
                                               ns=(64,), bootstrap=False))
    c = cells[("mean, hall-t", "mixture 90/10", 64, None)]
    assert abs(c.coverage - 0.964) <= 3.5 * _sigma(0.964, reps), c.coverage


def test_multi_fidelity_means_cover_on_the_mixture(study):
    """The hardest law for the means: the 90/10 lognormal mixture at n_full = 64, rho = 0.7, cheap
    model biased -20 %, N_cheap = 2048, 300 repetitions. The jackknife standard error brings PPI++
    to 0.941 (the plug-in gave 0.905), and with Hall's skewness correction MFMC to 0.967 (the full
    study's values); the PPI median is conservative (>= 0.95). Bands of 3.5 binomial sigmas."""
    reps = 300
    cells = _by_interval(study.multi_fidelity(reps=reps, seed=12, laws=["mixture 90/10"], ns=(64,), rhos=(0.7,),
                                              quantiles=(0.5,)))
    for interval, expected in (("mean, mfmc", 0.967), ("mean, ppi++", 0.941)):
        c = cells[(interval, "mixture 90/10", 64, 0.7)]
        assert abs(c.coverage - expected) <= 3.5 * _sigma(expected, reps), (interval, c.coverage)
    assert cells[("q50, ppi", "mixture 90/10", 64, 0.7)].coverage >= 0.95 - 3.5 * _sigma(0.95, reps)


def test_pipeline_writes_table_json_and_figure(study, tmp_path, capsys):
    """The script at a tiny size: every cell present in the JSON, a figure, and a printed table."""
    assert study.main(["--reps", "20", "--reps-bootstrap", "20", "--reps-mf", "20", "--out", str(tmp_path)]) == 0
    out = json.loads((tmp_path / "coverage.json").read_text())
    n_single = len(study.LAWS) * len(study.N_SINGLE) * (7 + len(study.QUANTILES) + len(study.EXCEED))
    n_multi = len(study.LAWS) * len(study.N_FULL) * len(study.RHOS) * (3 + len(study.MF_QUANTILES))
    assert len(out["cells"]) == n_single + n_multi
    assert (tmp_path / "coverage.png").stat().st_size > 10_000
    assert "| std, bonett | lognormal(0.5) | 32 |" in capsys.readouterr().out
