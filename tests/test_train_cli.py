"""`uqgan train`, `uqgan sample`, `uqgan evaluate` on synthetic data (no FEM, no torch needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from uqgan.cli import app
from uqgan.data.synthetic import synthetic_bc_dataset


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("syn")
    train = synthetic_bc_dataset("gaussian", n_points=40, replicates=6, seed=0)
    train.to_netcdf(d / "train.nc", engine="h5netcdf")
    rng = np.random.default_rng(5)
    pts = {"load_amplitude": rng.uniform(0.6, 1.9, 4), "load_duration": rng.uniform(0.15, 0.85, 4),
           "load_position": rng.uniform(0.15, 0.85, 4)}
    truth = synthetic_bc_dataset("gaussian", replicates=24, seed=1, points=pts)
    truth.to_netcdf(d / "truth.nc", engine="h5netcdf")
    (d / "params.csv").write_text("load_amplitude,load_duration,load_position\n1.0,0.5,0.5\n2.0,0.2,0.7\n")
    return d


def test_train_sample_evaluate(files):
    d = files
    for gen in ("kriging-gaussian", "pca-gaussian"):
        r = invoke("train", d / "train.nc", "--out", d / gen, "--generator", gen, "--no-progress")
        assert r.exit_code == 0, r.output
        assert "POD" in r.output and (d / gen / "config.json").is_file()
    r = invoke("sample", d / "kriging-gaussian", "--params", d / "params.csv", "--n", 3, "--out", d / "s.nc",
               "--seed", 1)
    assert r.exit_code == 0, r.output
    s = xr.open_dataset(d / "s.nc", engine="h5netcdf")
    assert s["u_bc"].dims == ("sample", "time", "node", "component") and s.sizes["sample"] == 6
    assert s["u_bc"].attrs["units"] == "m"
    np.testing.assert_array_equal(s["load_amplitude"].values, [1.0] * 3 + [2.0] * 3)
    # same seed, same draws
    invoke("sample", d / "kriging-gaussian", "--params", d / "params.csv", "--n", 3, "--out", d / "s2.nc", "--seed", 1)
    xr.testing.assert_identical(xr.open_dataset(d / "s2.nc", engine="h5netcdf"), s)
    r = invoke("evaluate", d / "kriging-gaussian", d / "pca-gaussian", "--data", d / "truth.nc", "--out",
               d / "eval.json")
    assert r.exit_code == 0, r.output
    report = json.loads((d / "eval.json").read_text())
    # the synthetic mean is nonlinear in the parameters: kriging must win over the linear map
    assert report["winner"] == "kriging-gaussian"
    assert "closest to the held-out truth" in r.output
    by = {s["generator"]: s for s in report["summary"]}
    assert by["kriging-gaussian"]["ed_over_floor"] < by["pca-gaussian"]["ed_over_floor"]


def test_bad_arguments_are_one_line(files):
    d = files
    cases = [
        (["train", d / "train.nc", "--out", d / "x", "--generator", "gan"], "--generator"),
        (["train", d / "train.nc", "--out", d / "x", "--device", "tpu"], "--device"),
        (["train", d / "train.nc", "--out", d / "x", "--registration", "dtw"], "--registration"),
        (["train", d / "train.nc", "--out", d / "x", "--pod-energy", "1.5"], "--pod-energy"),
        (["train", d / "train.nc", "--out", d / "x", "--covariance", "local", "--generator", "pca-gaussian"],
         "--covariance"),
        (["train", d / "train.nc", "--out", d / "x", "--residuals", "replicate"], "--residuals"),
        (["train", d / "train.nc", "--out", d / "x", "--residuals", "deviations", "--generator", "plom"],
         "--residuals"),
        (["train", d / "nothing.nc", "--out", d / "x", "--generator", "pca-gaussian"], "nothing.nc"),
        (["sample", d / "nomodel", "--params", d / "params.csv", "--n", 2, "--out", d / "o.nc"], "nomodel"),
    ]
    # data a generator cannot serve: one line too (GeneratorError), not a traceback
    synthetic_bc_dataset("gaussian", n_points=2, replicates=2, seed=0).to_netcdf(d / "two.nc", engine="h5netcdf")
    synthetic_bc_dataset("gaussian", n_points=6, replicates=1, seed=0).to_netcdf(d / "norep.nc", engine="h5netcdf")
    cases += [
        (["train", d / "two.nc", "--out", d / "x", "--generator", "kriging-gaussian"], "too few to keep 1"),
        (["train", d / "norep.nc", "--out", d / "x", "--generator", "kriging-gaussian", "--covariance", "local"],
         "two or more replicates"),
    ]
    for args, word in cases:
        r = invoke(*args)
        assert r.exit_code == 2, (args, r.output)
        assert "Traceback" not in r.output and word in r.output
    invoke("train", d / "train.nc", "--out", d / "m", "--generator", "pca-gaussian", "--no-progress")
    r = invoke("train", d / "train.nc", "--out", d / "m", "--generator", "pca-gaussian")
    assert r.exit_code == 2 and "already holds a model" in r.output
    (d / "far.csv").write_text("load_amplitude,load_duration,load_position\n1.0,0.5,0.5\n5.0,0.5,1.5\n")
    r = invoke("sample", d / "m", "--params", d / "far.csv", "--n", 2, "--out", d / "o.nc")
    assert r.exit_code == 2 and "load_position=1.5 (row 1)" in r.output and "[0, 1]" in r.output, r.output
    assert "--extrapolate" in r.output and "Traceback" not in r.output
    r = invoke("sample", d / "m", "--params", d / "far.csv", "--n", 2, "--out", d / "o.nc", "--extrapolate")
    assert r.exit_code == 0, r.output  # amplitude 5 is outside the data too, but it is an exact scale
    (d / "bad.csv").write_text("load_amplitude,load_duration\n1.0,0.5\n")
    r = invoke("sample", d / "m", "--params", d / "bad.csv", "--n", 2, "--out", d / "o.nc")
    assert r.exit_code == 2 and "load_position" in r.output and "Traceback" not in r.output


def test_read_parameters_csv_netcdf_and_errors(tmp_path):
    from uqgan.data.dataset import DatasetError, read_parameters

    (tmp_path / "p.csv").write_text("load_duration,load_position\n2e-05,0.5\n3e-05,0.25\n")
    p = read_parameters(tmp_path / "p.csv")
    np.testing.assert_array_equal(p["load_position"], [0.5, 0.25])
    xr.Dataset({k: ("row", v) for k, v in p.items()}).to_netcdf(tmp_path / "p.nc", engine="h5netcdf")
    q = read_parameters(tmp_path / "p.nc")
    assert set(q) == set(p) and np.array_equal(q["load_duration"], p["load_duration"])
    (tmp_path / "b.csv").write_text("load_duration,load_position\n2e-05,\n")
    with pytest.raises(DatasetError, match="column 'load_position' holds non-numbers or blanks"):
        read_parameters(tmp_path / "b.csv")
    with pytest.raises(DatasetError, match="does not exist"):
        read_parameters(tmp_path / "none.csv")


def test_train_wgan_residuals_option(files):
    """--residuals reaches the generator: the saved model records it (default neighbours)."""
    pytest.importorskip("torch")
    d = files
    for residuals in (None, "deviations"):
        out = d / f"wgan-{residuals}"
        extra = [] if residuals is None else ["--residuals", residuals]
        r = invoke("train", d / "train.nc", "--out", out, "--steps", 2, "--device", "cpu", "--no-progress", *extra)
        assert r.exit_code == 0, r.output
        assert json.loads((out / "config.json").read_text())["config"]["residuals"] == (residuals or "neighbours")
