"""The ``uqgan`` command line: smoke tests on tiny cases, and bad input -> exit code 2, one line
naming the field, never a traceback."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from uqgan.cli import app
from uqgan.config import default_case, load_case

runner = CliRunner()

#: a tiny case: 20 x 5 P1 cells, 20 steps (a second or two with a warm JIT cache)
TINY_CASE = """\
name = "tiny"
[geometry]
length_m = 1.0
height_m = 0.25
element_size_m = 0.05
degree = 1
[geometry.zone]
x_min_m = 0.5
x_max_m = 0.6
y_min_m = 0.05
y_max_m = 0.15
[time]
n_steps = 20
output_stride = 2
"""


def _invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _assert_clean_failure(result, *, field: str | None = None) -> str:
    """Exit code 2, no traceback, and (if given) one error line naming ``field``."""
    out = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 2, out
    assert "Traceback" not in out
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), out
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if field is not None:
        assert len(lines) == 1, lines
        assert field in lines[0], lines
    return result.stderr


@pytest.fixture(autouse=True)
def _restore_logging():
    """The CLI configures the root logger (as a program does); undo it for the other tests."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    noisy = {name: logging.getLogger(name).level for name in ("ffcx", "UFL", "UFL_LEGACY", "ufl")}
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
    for name, lvl in noisy.items():
        logging.getLogger(name).setLevel(lvl)


@pytest.fixture
def case_file(tmp_path) -> Path:
    path = tmp_path / "case.toml"
    path.write_text(TINY_CASE)
    return path


# ------------------------------------------------------------------------------------------------
# help, entry point


def test_help_lists_the_commands():
    result = _invoke("--help")
    assert result.exit_code == 0
    for command in ("init", "check", "solve"):
        assert command in result.output


@pytest.mark.parametrize("command", ["init", "check", "solve"])
def test_command_help(command):
    result = _invoke(command, "--help")
    assert result.exit_code == 0, result.output


def test_solve_help_gives_units():
    text = _invoke("solve", "--help").output
    for unit in ("[Pa]", "[s]", "[m]"):
        assert unit in text


def test_console_script_entry_point():
    script = shutil.which("uqgan") or str(Path(sys.executable).parent / "uqgan")
    if not Path(script).exists():
        pytest.skip("the uqgan console script is not installed (pip install -e .)")
    proc = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "init" in proc.stdout and "solve" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "uqgan.cli", "--version"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout.startswith("uqgan "), proc.stderr


# ------------------------------------------------------------------------------------------------
# init


def test_init_writes_the_default_case(tmp_path):
    target = tmp_path / "new" / "dir"
    result = _invoke("init", target)
    assert result.exit_code == 0, result.output
    path = target / "case.toml"
    assert str(path) in result.stdout
    assert load_case(path) == default_case()


def test_init_refuses_to_overwrite_without_force(tmp_path):
    path = tmp_path / "case.toml"
    path.write_text("# mine\n")
    stderr = _assert_clean_failure(_invoke("init", tmp_path), field="--force")
    assert str(path) in stderr
    assert path.read_text() == "# mine\n"
    result = _invoke("init", tmp_path, "--force")
    assert result.exit_code == 0, result.output
    assert load_case(path) == default_case()


# ------------------------------------------------------------------------------------------------
# check


def test_check_summarises_the_case(case_file):
    result = _invoke("check", case_file)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "zone area fraction" in out
    assert "4.00" in out  # zone 0.1 x 0.1 m in a 1 x 0.25 m plate
    assert "20 x 5" in out
    for word in ("load_amplitude", "Pa", "S-wave", "m/s", "shear pulse"):
        assert word in out


def test_check_default_case_via_init(tmp_path):
    assert _invoke("init", tmp_path).exit_code == 0
    result = _invoke("check", tmp_path / "case.toml")
    assert result.exit_code == 0, result.output
    assert "3.20" in result.stdout  # 0.1 x 0.08 m zone in a 1 x 0.25 m plate: 3.2 %


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda t: t.replace("degree = 1", "degree = 1\nfoo_m = 2.0"), "geometry.foo_m"),
        (lambda t: t.replace("n_steps = 20", 'n_steps = "many"'), "time.n_steps"),
        (lambda t: t.replace("n_steps = 20", "n_steps = 20\ndt_s = -1.0"), "time.dt_s"),
        (lambda t: t.replace("degree = 1", "degree = 7"), "geometry.degree"),
        (lambda t: t.replace("x_max_m = 0.6", "x_max_m = 0.62"), "zone.x_max_m"),
        (lambda t: t.replace("[geometry.zone]", "[geometry.zone"), "not valid TOML"),
        (lambda t: t + "[material]\npoisson_ratio = 0.5\n", "material.poisson_ratio"),
    ],
    ids=[
        "unknown-key",
        "wrong-type",
        "negative-dt",
        "degree",
        "zone-off-grid",
        "bad-toml",
        "poisson",
    ],
)
@pytest.mark.parametrize("command", ["check", "solve"])
def test_bad_case_file_gives_one_line_and_exit_2(tmp_path, edit, field, command):
    path = tmp_path / "case.toml"
    path.write_text(edit(TINY_CASE))
    stderr = _assert_clean_failure(_invoke(command, path), field=field)
    assert str(path) in stderr


@pytest.mark.parametrize("command", ["check", "solve"])
def test_missing_case_file(tmp_path, command):
    stderr = _assert_clean_failure(_invoke(command, tmp_path / "nope.toml"), field="nope.toml")
    assert "uqgan init" in stderr


# ------------------------------------------------------------------------------------------------
# solve --set: validated before any finite-element work


@pytest.mark.parametrize(
    ("assignment", "words"),
    [
        ("load_amplitude=5e7", ["parameters.load_amplitude", "[500000.0, 2000000.0] Pa"]),
        ("load_position=0.95", ["parameters.load_position", "[0.1, 0.9] m"]),
        ("load_duration=abc", ["parameters.load_duration", "not a number", "[1.5e-05, 3e-05] s"]),
        ("load_duration=nan", ["parameters.load_duration", "[1.5e-05, 3e-05] s"]),
        ("speed=3", ["'speed' is unknown", "load_amplitude"]),
        ("load_amplitude", ["NAME=VALUE", "load_amplitude"]),
        ("=1", ["NAME=VALUE"]),
    ],
)
def test_bad_set_gives_one_line_naming_the_parameter(case_file, assignment, words):
    with mock.patch.dict(
        sys.modules, {"uqgan.fem": None}
    ):  # reaching the model would exit 1, not 2
        stderr = _assert_clean_failure(
            _invoke("solve", case_file, "--set", assignment), field=words[0]
        )
    for word in words:
        assert word in stderr


_NAMES = ["load_amplitude", "load_duration", "load_position"]
_RANGES = {
    "load_amplitude": (0.5e6, 2.0e6),
    "load_duration": (15e-6, 30e-6),
    "load_position": (0.1, 0.9),
}


def _is_valid_assignment(text: str) -> bool:
    name, sep, value = text.partition("=")
    try:
        v = float(value)
    except ValueError:
        return False
    lo, hi = _RANGES.get(name.strip(), (1.0, 0.0))
    return bool(sep) and lo <= v <= hi


_ASSIGNMENTS = st.one_of(
    st.text(max_size=30),
    st.builds(lambda n, v: f"{n}={v}", st.sampled_from(_NAMES), st.text(max_size=12)),
    st.builds(lambda n, v: f"{n}={v!r}", st.sampled_from(_NAMES), st.floats()),
    st.builds(
        lambda n, v: f"{n}={v}", st.text(min_size=1, max_size=12), st.floats(allow_nan=False)
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(assignments=st.lists(_ASSIGNMENTS, min_size=1, max_size=3))
def test_random_malformed_set_exits_2_without_traceback(tmp_path_factory, assignments):
    assume(not all(_is_valid_assignment(a) for a in assignments))
    path = tmp_path_factory.mktemp("case") / "case.toml"
    path.write_text(TINY_CASE)
    args = ["solve", str(path)]
    for a in assignments:
        args.append(f"--set={a}")
    with mock.patch.dict(
        sys.modules, {"uqgan.fem": None}
    ):  # reaching the model would exit 1, not 2
        result = runner.invoke(app, args)
    stderr = _assert_clean_failure(result)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= len(assignments) + len(_NAMES)
    assert all(line.startswith("error: ") for line in lines)


# ------------------------------------------------------------------------------------------------
# one real solve


@pytest.mark.fenicsx
def test_solve_tiny_case_writes_json_and_xdmf(case_file, tmp_path):
    pytest.importorskip("dolfinx")
    out, xdmf = tmp_path / "out" / "run.json", tmp_path / "out" / "run.xdmf"
    result = _invoke(
        "-q",
        "solve",
        case_file,
        "--set",
        "load_position=0.5",
        "-s",
        "load_amplitude=2e6",
        "--out",
        out,
        "--xdmf",
        xdmf,
    )
    assert result.exit_code == 0, result.output
    for word in ("dofs", "peak_von_mises", "Pa", "max |u_bc|"):
        assert word in result.stdout
    record = json.loads(out.read_text())
    assert record["parameters"] == {
        "load_amplitude": 2e6,
        "load_duration": 20e-6,
        "load_position": 0.5,
    }
    assert set(record["qoi"]) == {"peak_von_mises", "peak_displacement", "peak_strain_energy"}
    assert all(v > 0 for v in record["qoi"].values())
    assert record["wall_time_s"] > 0
    assert record["case"]["geometry"]["element_size_m"] == 0.05
    assert xdmf.is_file() and xdmf.with_suffix(".h5").is_file()
    assert xdmf.with_suffix(".h5").stat().st_size > 0
