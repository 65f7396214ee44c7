"""A campaign with random inclusions, from the command line: they are stored, they change the
histories, and a resumed campaign is bit-identical; the shipped inclusions case validates."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from _cases import TINY
from typer.testing import CliRunner

from uqgan.cli import app
from uqgan.config import CaseConfig, load_case, write_case

ROOT = Path(__file__).resolve().parents[1]

#: TINY at 1 cm elements (a 2 cm circle then covers ~10 cell midpoints: the inclusion is resolved
#: enough to scatter), two near-voids of 1-2 cm radius
TINY_INCLUSIONS = {**TINY, "name": "tiny-inclusions",
                   "geometry": {**TINY["geometry"], "element_size_m": 0.01},
                   "random_inclusions": {"count": 2, "radius_range_m": [0.01, 0.02], "stiffness_ratio": 1e-3,
                                         "margin_m": 0.005}}


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_shipped_inclusions_case_checks():
    case_file = ROOT / "simulations" / "plate_inclusions" / "case.toml"
    case = load_case(case_file)
    assert case.random_inclusions.count == 3 and case.random_inclusions.stiffness_ratio == 1e-3
    assert case.random_field.coefficient_of_variation == 0.1
    assert case.model_dump(exclude={"name", "random_inclusions", "random_field"}) == CaseConfig().model_dump(
        exclude={"name", "random_inclusions", "random_field"})  # the default plate: defects, a milder field
    r = invoke("check", case_file)
    assert r.exit_code == 0, r.output
    assert "random inclusions" in r.output


def test_shipped_void_case_is_the_inclusions_case_with_one_void_beside_the_zone():
    void = load_case(ROOT / "simulations" / "plate_void" / "case.toml")
    inc = load_case(ROOT / "simulations" / "plate_inclusions" / "case.toml")
    assert void.random_inclusions.count == 1 and void.random_inclusions.region_m == (0.35, 0.85, 0.0, 0.25)
    assert void.model_dump(exclude={"name", "random_inclusions"}) == inc.model_dump(exclude={"name",
                                                                                            "random_inclusions"})
    r = invoke("check", ROOT / "simulations" / "plate_void" / "case.toml")
    assert r.exit_code == 0, r.output


@pytest.mark.fenicsx
def test_inclusions_campaign_changes_histories_and_resumes_bit_identical(tmp_path):
    pytest.importorskip("dolfinx")
    import xarray as xr

    from uqgan.data.dataset import open_dataset, shard_path
    from uqgan.data.design import design_from_case
    from uqgan.physics.inclusions import plate_inclusions

    with_inc = write_case(CaseConfig.model_validate(TINY_INCLUSIONS), tmp_path / "inc.toml")
    without = write_case(CaseConfig.model_validate({**TINY_INCLUSIONS, "random_inclusions": {"count": 0}}),
                         tmp_path / "plain.toml")
    args = ("--samples", 4, "--replicates", 2, "--seed", 2, "--no-progress")
    for case_file, out in ((with_inc, tmp_path / "a"), (without, tmp_path / "b")):
        r = invoke("generate-data", case_file, "--out", out, *args)
        assert r.exit_code == 0, r.output
    a, b = open_dataset(tmp_path / "a"), open_dataset(tmp_path / "b")
    assert "inclusions" not in b  # a case without inclusions has no such variable
    inc = a["inclusions"]
    assert inc.dims == ("sample", "inclusion", "inclusion_field") and inc.attrs["role"] == "latent_truth"
    case = load_case(with_inc)
    design = design_from_case(case, n_samples=4, replicates=2, method="sobol", seed=2)
    for s in range(4):
        assert np.array_equal(inc.values[s], plate_inclusions(case, rng=design.inclusion_rng(s)))
    # same parameters and material fields, only the defects differ
    np.testing.assert_array_equal(a["xi"].values, b["xi"].values)
    np.testing.assert_array_equal(a["load_position"].values, b["load_position"].values)
    diff = np.abs(a["u_bc"].values - b["u_bc"].values).max(axis=(1, 2, 3))
    scale = np.abs(b["u_bc"].values).max(axis=(1, 2, 3))
    # near-voids of >= 1 cm within 0.4 m of the zone change the histories by far more than round-off;
    # 1e-3 of the peak is a floor well above solver tolerance (1e-10 relative) and below the effect
    assert np.all(diff > 1e-3 * scale), diff / scale
    # resume: lose two shards, rerun, the dataset is the same bit for bit
    c = tmp_path / "c"
    shutil.copytree(tmp_path / "a", c)
    for s in (1, 2):
        shard_path(c, s).unlink()
    r = invoke("generate-data", with_inc, "--out", c, *args)
    assert r.exit_code == 0, r.output
    xr.testing.assert_identical(open_dataset(c), a)
