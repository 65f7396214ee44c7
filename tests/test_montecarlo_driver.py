"""The Monte Carlo driver against a closed-form answer (no FEniCSx: an analytic chain stands in for
generator + submodel)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from uqgan.config import MonteCarloConfig, default_case
from uqgan.montecarlo import MonteCarloError, run_montecarlo


class _AnalyticChain:
    """QoIs with a known law given the parameters: peak stress = a (1 + 0.2 Z), displacement =
    1e-12 a · x_p, strain energy = (1e-6 a)², with a the load amplitude, x_p the load position and
    Z ~ N(0, 1) from the driver's random stream."""

    def __init__(self, case, *, fingerprint: str = "analytic"):
        self.case = case
        names = list(case.parameter_names)
        ranges = case.parameters.ranges()
        prep = SimpleNamespace(parameter_names=[n for n in names if n != "load_amplitude"],
                               low=np.array([ranges[n][0] for n in names if n != "load_amplitude"]),
                               high=np.array([ranges[n][1] for n in names if n != "load_amplitude"]))
        self.generator = SimpleNamespace(name="analytic", prep=prep, fingerprint=lambda: fingerprint, source=None)

    def qois(self, params, *, n=1, rng, batch_size=256):
        a = np.repeat(params["load_amplitude"], n)
        x = np.repeat(params["load_position"], n)
        return {"peak_von_mises": a * (1 + 0.2 * rng.standard_normal(a.size)), "peak_displacement": 1e-12 * a * x,
                "peak_strain_energy": (1e-6 * a) ** 2}


def test_run_montecarlo_mean_against_closed_form(tmp_path):
    """With a ~ U(a0, a1) and x ~ U(x0, x1) independent: E[stress] = (a0 + a1)/2,
    E[displacement] = 1e-12 (a0 + a1)/2 (x0 + x1)/2, E[energy] = 1e-12 (a0² + a0 a1 + a1²)/3. Each
    Monte Carlo mean lies within 4 of its own standard errors of the truth (a false alarm has
    probability 6e-5 per QoI under the CLT; seed fixed, so the test is deterministic)."""
    case = default_case()
    (a0, a1), (x0, x1) = case.parameters.ranges()["load_amplitude"], case.parameters.ranges()["load_position"]
    truth = {"qoi_peak_von_mises": (a0 + a1) / 2, "qoi_peak_displacement": 1e-12 * (a0 + a1) / 2 * (x0 + x1) / 2,
             "qoi_peak_strain_energy": 1e-12 * (a0**2 + a0 * a1 + a1**2) / 3}
    res = run_montecarlo(_AnalyticChain(case), tmp_path / "mc", MonteCarloConfig(n_samples=3000, batch=500, seed=4),
                         show_progress=False)
    assert res.samples.sizes["sample"] == 3000 and res.n_computed == 3000
    for q, mu in truth.items():
        x = res.samples[q].values
        se = x.std(ddof=1) / np.sqrt(x.size)
        assert abs(x.mean() - mu) < 4 * se, q
        est = res.statistics["estimate"].sel(qoi=q, statistic="mean")
        assert float(est.sel(bound="value")) == pytest.approx(x.mean(), rel=1e-12)
        # the reported interval is the t interval: half-width t_{0.975, n-1} · SE (1.9608 at n = 3000)
        half = (float(est.sel(bound="upper")) - float(est.sel(bound="lower"))) / 2
        assert half == pytest.approx(1.9608 * se, rel=1e-3)


def test_resume_is_bit_equal_and_refuses_another_model(tmp_path):
    case = default_case()
    config = MonteCarloConfig(n_samples=40, batch=16, seed=1)
    first = run_montecarlo(_AnalyticChain(case), tmp_path / "mc", config, show_progress=False)
    (tmp_path / "mc" / "chunks" / "chunk_000001.nc").unlink()
    again = run_montecarlo(_AnalyticChain(case), tmp_path / "mc", config, show_progress=False)
    assert again.n_computed == 16
    np.testing.assert_array_equal(again.samples["qoi_peak_von_mises"].values,
                                  first.samples["qoi_peak_von_mises"].values)
    with pytest.raises(MonteCarloError, match="another model"):
        run_montecarlo(_AnalyticChain(case, fingerprint="retrained"), tmp_path / "mc", config, show_progress=False)


def test_resumes_a_run_started_by_uqgan_0_1_0(tmp_path):
    """uqgan 0.1.0 recorded the model as its directory and a hash of its files: such a run resumes
    (and gets the fingerprint added) when that directory still holds the same files, and is refused
    when the model there was retrained."""
    import hashlib
    import json

    case = default_case()
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    chain = _AnalyticChain(case)
    chain.generator.source = str(model)
    config = MonteCarloConfig(n_samples=32, batch=16, seed=0)
    first = run_montecarlo(chain, tmp_path / "mc", config, show_progress=False)
    manifest = json.loads((tmp_path / "mc" / "manifest.json").read_text())
    legacy = {k: v for k, v in manifest.items() if k not in ("model_fingerprint", "model_source", "generator")}
    h = hashlib.sha256(b"config.json" + b"{}").hexdigest()
    (tmp_path / "mc" / "manifest.json").write_text(json.dumps({**legacy, "model_dir": str(model), "model_sha256": h}))
    again = run_montecarlo(chain, tmp_path / "mc", config, show_progress=False)
    assert again.n_computed == 0
    np.testing.assert_array_equal(again.samples["qoi_peak_von_mises"].values,
                                  first.samples["qoi_peak_von_mises"].values)
    assert json.loads((tmp_path / "mc" / "manifest.json").read_text())["model_fingerprint"] == "analytic"
    (tmp_path / "mc" / "manifest.json").write_text(json.dumps({**legacy, "model_dir": str(model),
                                                              "model_sha256": "0" * 64}))
    with pytest.raises(MonteCarloError, match="not this one"):
        run_montecarlo(chain, tmp_path / "mc", config, show_progress=False)


def test_a_run_of_another_submodel_scheme_is_not_resumed(tmp_path):
    """The submodel's scheme changes the QoIs: chunks of one scheme are not mixed with another's. A
    manifest written before the case had a [submodel] table (the chain then stepped with the full
    model's scheme) resumes only with scheme = "full-model"."""
    import json

    case = default_case()
    exact = case.model_copy(update={"submodel": case.submodel.model_copy(update={"scheme": "full-model"})})
    config = MonteCarloConfig(n_samples=32, batch=16, seed=0)
    run_montecarlo(_AnalyticChain(exact), tmp_path / "mc", config, show_progress=False)
    with pytest.raises(MonteCarloError, match='scheme = "full-model".*set the case\'s \\[submodel\\]'):
        run_montecarlo(_AnalyticChain(case), tmp_path / "mc", config, show_progress=False)
    path = tmp_path / "mc" / "manifest.json"
    manifest = json.loads(path.read_text())
    toml = manifest["case_toml"]
    start = toml.index("[submodel]")
    manifest["case_toml"] = toml[:start] + toml[toml.index("\n\n", start) + 2:]  # as uqgan wrote it before
    assert "[submodel]" not in manifest["case_toml"]
    path.write_text(json.dumps(manifest))
    with pytest.raises(MonteCarloError, match='scheme = "full-model"'):
        run_montecarlo(_AnalyticChain(case), tmp_path / "mc", config, show_progress=False)
    assert run_montecarlo(_AnalyticChain(exact), tmp_path / "mc", config, show_progress=False).n_computed == 0
