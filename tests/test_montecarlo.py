"""The Monte Carlo driver: generator -> submodel -> QoI statistics, resumable and seeded."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dolfinx")

import xarray as xr  # noqa: E402

from uqgan.config import CaseConfig, MonteCarloConfig  # noqa: E402
from uqgan.data.campaign import run_campaign  # noqa: E402
from uqgan.data.dataset import open_dataset  # noqa: E402
from uqgan.generators import load_generator, make_generator  # noqa: E402
from uqgan.montecarlo import CheapChain, MonteCarloError, qoi_statistics, run_montecarlo  # noqa: E402

pytestmark = pytest.mark.fenicsx

from _cases import TINY as _TINY  # noqa: E402

TINY = {**_TINY, "time": {**_TINY["time"], "output_stride": 2}}


def mc(case, model_dir, directory, *, thresholds=None, **config):
    """``run_montecarlo`` of the saved model in ``model_dir`` through the case's submodel."""
    return run_montecarlo(CheapChain(case, load_generator(model_dir)), directory, MonteCarloConfig(**config),
                          thresholds=thresholds)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    case = CaseConfig.model_validate(TINY)
    d = tmp_path_factory.mktemp("mc")
    run_campaign(case, d / "data", n_samples=24, replicates=2, seed=0)
    make_generator("pca-gaussian", seed=0).fit(open_dataset(d / "data")).save(d / "model")
    return case, d


def test_run_statistics_and_resume(setup):
    case, d = setup
    r = mc(case, d / "model", d / "run", n_samples=20, batch=8, seed=1,
           thresholds={"peak_displacement": [1e-8]})
    assert r.n_computed == 20 and r.samples.sizes["sample"] == 20
    est = r.statistics["estimate"]
    assert est.dims == ("qoi", "statistic", "bound")
    assert set(est["statistic"].values) >= {"mean", "std", "q05", "q50", "q95", "q99", "p_exceed_0"}
    for q in est["qoi"].values:
        v = est.sel(qoi=q)
        assert ((v.sel(bound="lower") <= v.sel(bound="value")) | v.isnull().sel(bound="value")).all()
    mean = est.sel(qoi="qoi_peak_von_mises", statistic="mean")
    x = r.samples["qoi_peak_von_mises"].values
    assert float(mean.sel(bound="value")) == pytest.approx(x.mean())
    # parameters were drawn from the case's ranges
    r_pos = case.parameters.load_position
    assert (r.samples["load_position"] >= r_pos.low).all() and (r.samples["load_position"] <= r_pos.high).all()
    assert r.convergence["halfwidth"].dims == ("qoi", "n")
    # resume: a lost chunk is recomputed identically, finished ones are reused
    (d / "run" / "chunks" / "chunk_000001.nc").unlink()
    again = mc(case, d / "model", d / "run", n_samples=20, batch=8, seed=1)
    assert again.n_computed == 8
    xr.testing.assert_allclose(again.samples, r.samples, rtol=0, atol=0)
    # the chunks record their cost: a run read wholly from disk still knows its cost per sample
    read = mc(case, d / "model", d / "run", n_samples=20, batch=8, seed=1)
    assert read.n_computed == 0 and 0 < read.seconds_per_sample < r.elapsed_s
    assert 0 < r.seconds_per_sample <= r.elapsed_s / 20
    with pytest.raises(MonteCarloError, match="another case, seed or batch"):
        mc(case, d / "model", d / "run", n_samples=20, batch=8, seed=2)


def test_target_halfwidth_stops_early(setup):
    case, d = setup
    r = mc(case, d / "model", d / "early", n_samples=64, batch=8, seed=3, target_halfwidth=0.5)
    # a 50 % relative half-width is reached long before 64 samples: after 3 batches (24 samples) with
    # the mean's default interval (Hall's skewness-corrected t, wider than the plain t on these
    # skewed QoIs, which reached it after 2 batches)
    assert r.samples.sizes["sample"] == 24


def test_qoi_statistics_known_answer():
    rng = np.random.default_rng(0)
    ds = xr.Dataset({"qoi_a": ("sample", rng.normal(10.0, 2.0, 4000), {"role": "qoi"})})
    st = qoi_statistics(ds, thresholds={"a": [12.0]})["estimate"].sel(qoi="qoi_a")
    # 4000 normal samples: the CIs hold the true mean 10, std 2, median 10 and P(X > 12) = 0.1587
    # and their half-widths are the asymptotic ones, z·SE: mean z σ/√n, std z σ/√(2n) (normal data),
    # median z √(1/4n) / f(median) with f = 1/(σ√(2π)), probability z √(p(1−p)/n); within 15 % (the
    # sample's own σ and the finite-n corrections move them by a few %: an infinite or a degenerate
    # interval fails)
    z, n = 1.959964, 4000
    asymptotic = {"mean": z * 2.0 / np.sqrt(n), "std": z * 2.0 / np.sqrt(2 * n),
                  "q50": z * np.sqrt(0.25 / n) * 2.0 * np.sqrt(2 * np.pi),
                  "p_exceed_0": z * np.sqrt(0.158655 * (1 - 0.158655) / n)}
    for stat, truth in (("mean", 10.0), ("std", 2.0), ("q50", 10.0), ("p_exceed_0", 0.158655)):
        lo, hi = float(st.sel(statistic=stat, bound="lower")), float(st.sel(statistic=stat, bound="upper"))
        assert lo <= truth <= hi
        assert (hi - lo) / 2 == pytest.approx(asymptotic[stat], rel=0.15), stat


def test_cli_montecarlo(setup, tmp_path):
    from typer.testing import CliRunner

    from uqgan.cli import app
    from uqgan.config import write_case

    case, d = setup
    case_file = write_case(case, tmp_path / "case.toml")
    out = tmp_path / "stats.nc"
    r = CliRunner().invoke(app, ["montecarlo", str(case_file), "--model", str(d / "model"), "--samples", "12",
                                 "--batch", "6", "--out", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    stats = xr.open_dataset(out, engine="h5netcdf")
    assert stats["estimate"].attrs["confidence_level"] == 0.95 and "running_mean" in stats
    assert xr.open_dataset(tmp_path / "stats_samples.nc", engine="h5netcdf").sizes["sample"] == 12
    # the case's thresholds give exceedance probabilities, printed with their intervals
    assert "P(peak_von_mises > 2.5e+05 Pa)" in r.output
    assert "p_exceed_1" in stats["statistic"].values
    assert (tmp_path / "stats_convergence.png").read_bytes()[:4] == b"\x89PNG"
    # with a full-model reference: validation report, combined estimates and the ECDF figure
    r = CliRunner().invoke(app, ["montecarlo", str(case_file), "--model", str(d / "model"), "--samples", "12",
                                 "--batch", "6", "--out", str(out), "--reference", str(d / "data"), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "against the full-model reference" in r.output
    v = xr.open_dataset(tmp_path / "stats_validation.nc", engine="h5netcdf")
    assert {"difference_in_se", "overlap", "ks_pvalue", "combined_estimate"} <= set(v.data_vars)
    assert (tmp_path / "stats_validation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = CliRunner().invoke(app, ["montecarlo", str(case_file), "--model", str(d / "model"), "--samples", "1",
                                 "--out", str(out)])
    assert r.exit_code == 2 and "--samples=1" in r.output and "Traceback" not in r.output


class _Replay:
    """A stand-in generator that returns the held-out truth's own histories at each point, times
    ``factor``: its zone QoIs are the full model's up to the submodel's time interpolation."""

    def __init__(self, truth, factor: float):
        self.truth, self.factor = truth, factor

    def sample(self, params, n, *, rng):
        sel = np.ones(self.truth.sizes["sample"], dtype=bool)
        for k, v in params.items():
            sel &= np.isclose(self.truth[k].values, v[0])
        out = self.truth.isel(sample=np.flatnonzero(sel)[:n])
        return out.assign(u_bc=out["u_bc"] * self.factor)


def test_zone_qoi_check_known_answers(setup):
    """Replaying the truth gives zero bias up to the stride-2 cubic interpolation in time (measured
    < 1 %; tolerance 3 %); histories scaled by 1.1 give displacement and stress 10 % higher and
    strain energy 21 % higher than the replay (the zone is linear), to 1e-9."""
    from uqgan.evaluation import zone_qoi_check

    case, d = setup
    truth = open_dataset(d / "data").load()
    z = zone_qoi_check({"replay": _Replay(truth, 1.0), "scaled": _Replay(truth, 1.1)}, truth, case, seed=0)
    assert set(z["mean_bias"].dims) == {"generator", "qoi", "point"}
    replay = z.sel(generator="replay")
    assert float(abs(replay["pooled_mean_bias"]).max()) < 0.03
    for q, factor in (("qoi_peak_displacement", 1.1), ("qoi_peak_von_mises", 1.1), ("qoi_peak_strain_energy", 1.21)):
        ratio = (1 + z["mean_bias"].sel(generator="scaled", qoi=q)) / (1 + replay["mean_bias"].sel(qoi=q))
        np.testing.assert_allclose(ratio.values, factor, rtol=1e-9)
    assert ((z["ks"] >= 0) & (z["ks"] <= 1)).all() and ((z["ks_floor"] >= 0) & (z["ks_floor"] <= 1)).all()
    # two draws: the replay ignores its stream, so its biases and KS are the one draw's; the floor is the
    # mean of the floors of seeds 0 and 1
    z2 = zone_qoi_check({"replay": _Replay(truth, 1.0)}, truth, case, seed=0, draws=2)
    z1 = zone_qoi_check({"replay": _Replay(truth, 1.0)}, truth, case, seed=1)
    for m in ("mean_bias", "ks", "spread_ratio", "pooled_mean_bias"):
        np.testing.assert_allclose(z2[m].values, z[m].sel(generator=["replay"]).values, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(z2["ks_floor"].values, (z["ks_floor"].sel(generator=["replay"]).values
                                                       + z1["ks_floor"].values) / 2, rtol=1e-12)
    assert z2.attrs["draws"] == 2
    with pytest.raises(ValueError, match="qoi_"):
        zone_qoi_check({"replay": _Replay(truth, 1.0)}, truth.drop_vars([v for v in truth.data_vars
                                                                       if v.startswith("qoi_")]), case)


def test_cli_evaluate_zone_qois(setup, tmp_path):
    import json

    from typer.testing import CliRunner

    from uqgan.cli import app

    case, d = setup
    run_campaign(case, tmp_path / "held", n_samples=12, replicates=4, seed=9)
    r = CliRunner().invoke(app, ["evaluate", str(d / "model"), "--data", str(tmp_path / "held"), "--zone-qois",
                                 "--out", str(tmp_path / "e.json")])
    assert r.exit_code == 0, r.output
    assert "zone QoIs through the submodel" in r.output
    zone = json.loads((tmp_path / "e.json").read_text())["zone_qois"]["pca-gaussian"]
    assert set(zone) == {"qoi_peak_displacement", "qoi_peak_von_mises", "qoi_peak_strain_energy"}
    assert np.isfinite(zone["qoi_peak_von_mises"]["pooled_mean_bias"])


def test_resume_refuses_chunks_of_a_retrained_model(setup, tmp_path):
    case, d = setup
    model = tmp_path / "model"
    make_generator("pca-gaussian", seed=0).fit(open_dataset(d / "data")).save(model)
    mc(case, model, tmp_path / "mc", n_samples=8, batch=4, seed=0)
    make_generator("pca-gaussian", seed=1).fit(open_dataset(d / "data")).save(model)  # another split
    with pytest.raises(MonteCarloError, match="retrained"):
        mc(case, model, tmp_path / "mc", n_samples=8, batch=4, seed=0)


def test_refuses_a_case_wider_than_the_training_ranges(setup, tmp_path):
    case, d = setup
    wide = CaseConfig.model_validate({**TINY, "parameters": {"load_position": {"low": 0.05, "high": 0.3}}})
    with pytest.raises(MonteCarloError, match=r"parameters.load_position: the case samples \[0.05, 0.3\]"):
        mc(wide, d / "model", tmp_path / "mc", n_samples=8, batch=4, seed=0)
