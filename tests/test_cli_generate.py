"""`uqgan generate-data` from the command line: bad arguments and a real tiny campaign."""

from __future__ import annotations

import subprocess
import sys

import pytest
from _cases import TINY  # noqa: E402
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from uqgan.cli import app
from uqgan.config import CaseConfig, write_case


@pytest.fixture(scope="module")
def case_file(tmp_path_factory):
    return write_case(CaseConfig.model_validate(TINY), tmp_path_factory.mktemp("case") / "case.toml")


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_line_error(result, field):
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) >= 1 and all(ln.startswith("error: ") for ln in lines), result.output
    assert field in result.output


def _invalid(samples, replicates, workers, save_fields, seed, design):
    return (samples < 1 or replicates < 1 or (replicates >= 1 and samples >= 1 and samples % replicates)
            or workers < 1 or save_fields < 0 or seed < 0 or design not in ("sobol", "lhs", "mc"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(samples=st.integers(-5, 40), replicates=st.integers(-2, 9), workers=st.integers(-2, 3),
       save_fields=st.integers(-3, 3), seed=st.integers(-3, 5),
       design=st.sampled_from(["sobol", "lhs", "mc", "halton", "", "SOBOL"]))
def test_malformed_numeric_arguments_are_one_line(case_file, tmp_path_factory, samples, replicates, workers,
                                                  save_fields, seed, design):
    assume(_invalid(samples, replicates, workers, save_fields, seed, design))
    out = tmp_path_factory.mktemp("out")
    r = invoke("generate-data", case_file, "--out", out, "--samples", samples, "--replicates", replicates,
               "--workers", workers, "--save-fields", save_fields, "--seed", seed, "--design", design)
    assert_one_line_error(r, "--")
    assert not (out / "shards").exists()  # nothing ran


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1,
               max_size=12).filter(lambda s: not s.strip().lstrip("+-").isdigit()))
def test_non_integer_samples_is_one_line(case_file, tmp_path_factory, text):
    assume(not text.startswith("-"))  # "-x" reads as an option
    r = subprocess.run([sys.executable, "-m", "uqgan.cli", "generate-data", str(case_file), "--out",
                        str(tmp_path_factory.mktemp("o")), "--samples", text], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.startswith("error: ") and "--samples" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_missing_case_and_missing_option(tmp_path):
    assert_one_line_error(invoke("generate-data", tmp_path / "nope.toml", "--out", tmp_path, "--samples", 2),
                          "nope.toml")


@pytest.mark.fenicsx
def test_tiny_campaign_from_the_command_line(case_file, tmp_path):
    pytest.importorskip("dolfinx")
    out = tmp_path / "data"
    r = invoke("generate-data", case_file, "--out", out, "--samples", 8, "--replicates", 2, "--seed", 1,
               "--save-fields", 1, "--no-progress")
    assert r.exit_code == 0, r.output
    assert "8/8 samples complete" in r.output
    assert "variance within replicates" in r.output
    assert (out / "fields" / "sample_000000.xdmf").is_file() and (out / "fields" / "sample_000000.h5").is_file()
    assert not (out / "fields" / "sample_000001.xdmf").exists()
    # rerun: nothing to do
    r = invoke("generate-data", case_file, "--out", out, "--samples", 8, "--replicates", 2, "--seed", 1,
               "--no-progress")
    assert r.exit_code == 0 and "(0 computed now" in r.output
    # another seed in the same directory is refused in one line
    assert_one_line_error(invoke("generate-data", case_file, "--out", out, "--samples", 8, "--replicates", 2,
                                 "--seed", 2), "seed")
