"""Enrichment campaigns: a sub-range of the case's parameters (`generate-data --range`), combined
with the full campaign for training (`combine_datasets`, `uqgan train FULL ENRICH`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _cases import TINY
from typer.testing import CliRunner

from uqgan.cli import app
from uqgan.config import CaseConfig, ConfigError, case_to_toml, restrict_ranges, write_case
from uqgan.data.dataset import DatasetError, combine_datasets
from uqgan.data.synthetic import synthetic_bc_dataset

CASE = CaseConfig.model_validate(TINY)


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_restrict_ranges_narrows_and_checks():
    sub = restrict_ranges(CASE, {"load_position": (0.15, 0.2), "load_duration": (2.2e-5, 2.5e-5)})
    assert (sub.parameters.load_position.low, sub.parameters.load_position.high) == (0.15, 0.2)
    assert sub.parameters.load_duration.nominal_value == pytest.approx(2.35e-5)  # the old nominal left the range
    assert sub.parameters.load_amplitude == CASE.parameters.load_amplitude
    assert sub.model_dump(exclude={"parameters"}) == CASE.model_dump(exclude={"parameters"})
    with pytest.raises(ConfigError) as err:
        restrict_ranges(CASE, {"load_position": (0.05, 0.2), "load_speed": (0, 1), "load_duration": (3e-5, 2e-5)})
    text = str(err.value)
    assert "parameters.load_position: range [0.05, 0.2] leaves the case's [0.1, 0.3]" in text
    assert "parameters.load_speed: unknown parameter" in text
    assert "parameters.load_duration: range [3e-05, 2e-05] must be finite with low <= high" in text


def _campaign(case, *, seed, n_points=6, replicates=3):
    ds = synthetic_bc_dataset("gaussian", n_points=n_points, replicates=replicates, n_time=12, n_nodes=3, seed=seed)
    return ds.assign_attrs(case_toml=case_to_toml(case), seed=seed)


def test_combined_datasets_keep_points_apart_and_say_where_runs_came_from():
    full, enrich = _campaign(CASE, seed=0), _campaign(restrict_ranges(CASE, {"load_position": (0.2, 0.3)}), seed=1)
    ds = combine_datasets([full, enrich], sources=["full", "enrich"])
    assert ds.sizes["sample"] == 36 and np.array_equal(ds["sample"].values, np.arange(36))
    assert np.unique(ds["point"].values).size == 12  # 6 + 6: the second campaign's point ids moved past the first's
    assert np.array_equal(ds["campaign"].values, np.repeat([0, 1], 18))
    for p in np.unique(ds["point"].values):  # replicates stay together with one parameter row
        sel = ds["point"].values == p
        assert sel.sum() == 3 and np.unique(ds["load_position"].values[sel]).size == 1
    np.testing.assert_array_equal(ds["u_bc"].values[18:], enrich["u_bc"].values)
    assert ds.attrs["case_toml"] == full.attrs["case_toml"]  # the widest ranges map the parameters
    assert [s["source"] for s in json.loads(ds.attrs["sources_json"])] == ["full", "enrich"]


def test_combine_refuses_what_is_not_one_case():
    full = _campaign(CASE, seed=0)
    enrich = _campaign(restrict_ranges(CASE, {"load_position": (0.2, 0.3)}), seed=1)
    narrow_first = r"full covers load_position over \[0.1, 0.3\], beyond enrich.s \[0.2, 0.3\]: list the campaign"
    with pytest.raises(DatasetError, match=narrow_first):
        combine_datasets([enrich, full], sources=["enrich", "full"])  # the narrow one first
    other = _campaign(CaseConfig.model_validate({**TINY, "time": {**TINY["time"], "dt_s": 1e-6}}), seed=1)
    with pytest.raises(DatasetError, match=r"other comes from another case than full: \[time\] differ"):
        combine_datasets([full, other], sources=["full", "other"])
    shifted = enrich.assign_coords(time=enrich["time"].values * 1.01)
    with pytest.raises(DatasetError, match="shifted's time differs from full's"):
        combine_datasets([full, shifted], sources=["full", "shifted"])


def test_range_option_errors_are_one_line(tmp_path):
    case_file = write_case(CASE, tmp_path / "case.toml")
    for arg, field in (("load_position", "--range='load_position'"),
                       ("load_position=0.2", "expected NAME=LOW:HIGH"),
                       ("load_position=0.05:0.2", "parameters.load_position")):
        r = invoke("generate-data", case_file, "--out", tmp_path / "d", "--samples", 2, "--range", arg)
        assert r.exit_code == 2 and "Traceback" not in r.output, r.output
        assert all(ln.startswith("error: ") for ln in r.output.splitlines() if ln.strip()), r.output
        assert field in r.output, r.output
    assert not (tmp_path / "d").exists()


@pytest.mark.fenicsx
def test_enrichment_campaign_trains_with_the_full_one(tmp_path):
    pytest.importorskip("dolfinx")
    from uqgan.config import case_from_toml
    from uqgan.data.dataset import open_dataset

    case_file = write_case(CASE, tmp_path / "case.toml")
    full, enrich = tmp_path / "full", tmp_path / "enrich"
    r = invoke("generate-data", case_file, "--out", full, "--samples", 8, "--replicates", 2, "--no-progress")
    assert r.exit_code == 0, r.output
    r = invoke("generate-data", case_file, "--out", enrich, "--samples", 8, "--replicates", 2, "--seed", 1,
               "--range", "load_position=0.18:0.22", "--no-progress")
    assert r.exit_code == 0, r.output
    ds = open_dataset(enrich)
    assert case_from_toml(ds.attrs["case_toml"]).parameters.load_position.high == 0.22
    assert ds["load_position"].values.min() >= 0.18 and ds["load_position"].values.max() <= 0.22
    r = invoke("train", full, enrich, "--generator", "pca-gaussian", "--out", tmp_path / "m", "--no-progress")
    assert r.exit_code == 0, r.output
    assert "trained on" in r.output
    r = invoke("train", enrich, full, "--generator", "pca-gaussian", "--out", tmp_path / "m2", "--no-progress")
    assert r.exit_code == 2 and "list the campaign over the widest ranges first" in r.output, r.output
