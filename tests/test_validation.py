"""Monte Carlo against full-model references, and the estimators that correct a biased cheap chain
(no FEM: QoI samples with known laws)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from uqgan.montecarlo import combined_estimates, compare_with_reference
from uqgan.physics.qoi import QOI_SPECS


def qoi_ds(values_by_qoi):
    n = len(next(iter(values_by_qoi.values())))
    return xr.Dataset({f"qoi_{k}": ("sample", v, {"role": "qoi"}) for k, v in values_by_qoi.items()},
                      coords={"sample": np.arange(n)})


def three(rng, n, shift=0.0, scale=1.0):
    return {s.name: scale * rng.normal(10.0, 2.0, n) + shift for s in QOI_SPECS}


def test_unbiased_estimate_agrees_and_biased_one_is_flagged():
    rng = np.random.default_rng(0)
    ref = qoi_ds(three(rng, 300))
    good = compare_with_reference(qoi_ds(three(rng, 3000)), ref)
    # same law: differences of a few combined SEs at most, intervals overlap, KS does not reject
    assert float(np.abs(good["difference_in_se"].sel(statistic="mean")).max()) < 4
    assert bool(good["overlap"].sel(statistic="mean").all())
    assert float(good["ks_pvalue"].min()) > 0.001
    bad = compare_with_reference(qoi_ds(three(rng, 3000, shift=1.5)), ref)
    # a shift of 0.75 sd with 300 reference samples is ~6 combined SEs: flagged
    assert float(np.abs(bad["difference_in_se"].sel(statistic="mean")).min()) > 4
    assert not bool(bad["overlap"].sel(statistic="mean").any())


def test_combined_estimates_correct_a_biased_cheap_chain():
    rng = np.random.default_rng(1)
    n_full, n_cheap = 60, 4000
    x_full = rng.normal(size=n_full)  # the inputs the full model and the paired cheap runs share
    y = {s.name: 10 + 2 * x_full + rng.normal(0, 0.5, n_full) for s in QOI_SPECS}
    # the cheap chain follows the inputs but is biased by -1.5 and scaled by 0.8
    paired = {s.name: 0.8 * (10 + 2 * x_full) - 1.5 + rng.normal(0, 0.5, n_full) for s in QOI_SPECS}
    x_extra = rng.normal(size=n_cheap)
    extra = {s.name: 0.8 * (10 + 2 * x_extra) - 1.5 + rng.normal(0, 0.5, n_cheap) for s in QOI_SPECS}
    est = combined_estimates(qoi_ds(y), qoi_ds(paired), qoi_ds(extra))["estimate"]
    mean = est.sel(statistic="mean")
    truth = 10.0
    for method in ("full-model only", "mfmc", "ppi++"):
        lo, hi = (float(mean.sel(estimator=method, bound=b).isel(qoi=0)) for b in ("lower", "upper"))
        assert lo <= truth <= hi, method
    cheap_lo, cheap_hi = (float(mean.sel(estimator="cheap only (biased?)", bound=b).isel(qoi=0))
                          for b in ("lower", "upper"))
    assert cheap_hi < truth  # the cheap chain alone is confidently wrong
    width = {m: float((mean.sel(estimator=m, bound="upper") - mean.sel(estimator=m, bound="lower")).isel(qoi=0))
             for m in ("full-model only", "mfmc", "ppi++")}
    # correlation 0.97 between the models: the combined intervals are several times narrower
    assert width["mfmc"] < 0.5 * width["full-model only"] and width["ppi++"] < 0.5 * width["full-model only"]


def test_variance_reduction_is_reported():
    rng = np.random.default_rng(3)
    x = rng.normal(size=80)
    y = {s.name: 10 + 2 * x + rng.normal(0, 0.3, 80) for s in QOI_SPECS}
    cheap = {s.name: 5 + 2 * x + rng.normal(0, 0.3, 80) for s in QOI_SPECS}
    xe = rng.normal(size=3000)
    extra = {s.name: 5 + 2 * xe + rng.normal(0, 0.3, 3000) for s in QOI_SPECS}
    red = combined_estimates(qoi_ds(y), qoi_ds(cheap), qoi_ds(extra))["mfmc_variance_reduction"].values
    # rho ~ 0.99 and M/(N+M) ~ 0.97: Var reduces by 1/(1 - rho^2 M/(N+M)) ~ 20-30x
    assert np.all(red > 10)


def _validation(m_ref, sd_ref, n_ref, m_est, sd_est, n_est):
    """A compare_with_reference-shaped dataset with CLT intervals (z = 1.96) and standard errors
    sd/sqrt(n) from given moments."""
    z = 1.959963984540054
    qois = [f"qoi_{s.name}" for s in QOI_SPECS]

    def block(m, sd, n):
        hw = z * sd / np.sqrt(n)
        arr = np.array([[[m, m - hw, m + hw], [sd, sd, sd]]] * len(qois))
        return (("qoi", "statistic", "bound"), arr)

    def se(sd, n):
        return (("qoi", "statistic"), np.array([[sd / np.sqrt(n), np.nan]] * len(qois)))

    return xr.Dataset({"reference": block(m_ref, sd_ref, n_ref), "estimate": block(m_est, sd_est, n_est),
                       "reference_se": se(sd_ref, n_ref), "estimate_se": se(sd_est, n_est)},
                      coords={"qoi": qois, "statistic": ["mean", "std"], "bound": ["value", "lower", "upper"]},
                      attrs={"confidence_level": 0.95})


def test_equal_accuracy_known_answers():
    """Reference mean 1, sd 0.5 (256 runs); cheap mean 0.9, sd 0.5 (4096 samples); cost ratio 45.
    Bias b = -0.1. Saving at target h: 45 (1 - 0.1/h)²: 0 at h = 0.05 (coarser than the bias only
    from h > 0.1), 45/4 = 11.25 at 0.2, 45 · 0.64 = 28.8 at 0.5. 20x needs 1 - 0.1/h = √(20/45) = 2/3,
    h = 0.3, where a full-model MC needs (1.96 · 0.5 / 0.3)² = 10.67 runs. The bias's standard error:
    √(se_c² + 0.9² se_f²) = √(0.5²/4096 + 0.81 · 0.5²/256) = 0.02919; conservative bound
    0.1 + 1.96 · 0.02919 = 0.1572, 20x at h = 0.4716."""
    from uqgan.montecarlo import equal_accuracy

    out = equal_accuracy(_validation(1.0, 0.5, 256, 0.9, 0.5, 4096), cost_ratio=45.0, targets=(0.05, 0.2, 0.5))
    q = out.sel(qoi="qoi_peak_von_mises")
    np.testing.assert_allclose(q["relative_bias"], -0.1, rtol=1e-12)
    np.testing.assert_allclose(q["saving"], [0.0, 11.25, 28.8], rtol=1e-12)
    np.testing.assert_allclose(q["target_for_speedup"], 0.3, rtol=1e-12)
    np.testing.assert_allclose(q["full_runs_at_that_target"], (1.959963984540054 * 0.5 / 0.3) ** 2, rtol=1e-12)
    np.testing.assert_allclose(q["relative_bias_se"], 0.029190, rtol=1e-4)
    np.testing.assert_allclose(q["bias_bound"], 0.1 + 1.959963984540054 * q["relative_bias_se"], rtol=1e-12)
    np.testing.assert_allclose(q["target_for_speedup_conservative"], 3 * float(q["bias_bound"]), rtol=1e-12)
    assert np.all(q["saving_conservative"] <= q["saving"])
    # an unbiased chain saves the full cost ratio at any target; one that cannot reach 20x says inf
    np.testing.assert_allclose(equal_accuracy(_validation(1, 0.5, 256, 1, 0.5, 10**8), cost_ratio=45.0,
                                              targets=(0.01,))["saving"], 45.0, rtol=1e-12)
    slow = equal_accuracy(_validation(1, 0.5, 256, 0.9, 0.5, 4096), cost_ratio=15.0)
    assert np.all(np.isinf(slow["target_for_speedup"]))


def test_format_target_reports_a_half_width_or_never():
    from uqgan.montecarlo import format_target

    assert format_target(0.0812) == "±8%" and format_target(0.25) == "±25%"
    assert format_target(float("inf")) == "never"


def test_standard_errors_come_from_the_estimators_not_the_interval_widths():
    """qoi_statistics keeps each estimator's own se and compare_with_reference divides by them: with
    20 reference runs the 95 % quantile's interval is open (1 - 0.95^20 < 0.975), so a width-based
    se would be infinite and the difference 0; the Maritz-Jarrett se keeps it finite. The mean's
    se is s/sqrt(n) exactly; a lognormal reference of 20 runs carries a coverage note."""
    from scipy import stats

    from uqgan.montecarlo import qoi_statistics

    rng = np.random.default_rng(5)
    ref_vals = {s.name: rng.lognormal(0.0, 0.5, 20) for s in QOI_SPECS}
    mc_vals = {s.name: rng.lognormal(0.3, 0.5, 2000) for s in QOI_SPECS}
    st = qoi_statistics(qoi_ds(ref_vals))
    q = f"qoi_{QOI_SPECS[0].name}"
    x = ref_vals[QOI_SPECS[0].name]
    np.testing.assert_allclose(st["standard_error"].sel(qoi=q, statistic="mean"), x.std(ddof=1) / np.sqrt(20),
                               rtol=1e-12)
    np.testing.assert_allclose(st["standard_error"].sel(qoi=q, statistic="q95"),
                               stats.mstats.mjci(x, prob=[0.95])[0], rtol=1e-12)
    assert np.isinf(float(st["estimate"].sel(qoi=q, statistic="q95", bound="upper")))
    assert "n=20" in st.attrs[f"coverage_note_{q}"]
    val = compare_with_reference(qoi_ds(mc_vals), qoi_ds(ref_vals))
    d = val["difference_in_se"].sel(statistic="q95")
    assert np.all(np.isfinite(d)) and np.all(np.abs(d) > 0)
    se = np.hypot(val["estimate_se"], val["reference_se"]).sel(statistic="q95")
    diff = (val["estimate"] - val["reference"]).sel(statistic="q95", bound="value")
    np.testing.assert_allclose(d, diff / se, rtol=1e-12)
