"""Case configuration: TOML round trip, frozen models, and errors that name the field."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from uqgan.config import (
    CaseConfig,
    ConfigError,
    case_from_dict,
    case_from_toml,
    case_to_toml,
    default_case,
    load_case,
    write_case,
)

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _with(data: dict, dotted: str, value) -> dict:
    """A deep copy of ``data`` with the dotted key set to ``value``."""
    out = copy.deepcopy(data)
    *head, last = dotted.split(".")
    node = out
    for key in head:
        node = node[key]
    node[last] = value
    return out


def _errors(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        case_from_dict(data)
    lines = str(info.value).splitlines()
    assert lines == info.value.problems
    return lines


# ------------------------------------------------------------------------------------------------
# round trip and immutability


def test_default_case_round_trips_through_toml():
    case = default_case()
    assert case_from_toml(case_to_toml(case)) == case
    assert case_from_toml(case_to_toml(case, comments=False)) == case


def test_non_default_case_round_trips(tmp_path):
    case = case_from_dict(
        _with(
            _with(default_case().model_dump(), "time.scheme", "generalized-alpha"),
            "name",
            'a "quoted" name',
        )
    )
    path = write_case(case, tmp_path / "case.toml")
    assert load_case(path) == case
    assert not list(tmp_path.glob(".*.tmp")), "write_case leaves no temporary file behind"


def test_write_load_case_round_trip(tmp_path):
    case = default_case()
    path = write_case(case, tmp_path / "case.toml")
    assert path == tmp_path / "case.toml"
    assert load_case(path) == case
    text = path.read_text()
    assert "# " in text and "[geometry.zone]" in text  # commented, nested tables


def test_missing_case_file_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="uqgan init"):
        load_case(tmp_path / "nope.toml")


def test_case_is_frozen():
    case = default_case()
    with pytest.raises(ValidationError):
        case.time.dt_s = 1.0
    with pytest.raises(ValidationError):
        case.geometry = case.geometry


def test_nominal_parameters_are_the_declared_ones():
    assert default_case().parameters.nominal() == {
        "load_amplitude": 1.0e6,
        "load_duration": 20e-6,
        "load_position": 0.3,
    }


# ------------------------------------------------------------------------------------------------
# errors: one line per problem, each naming the dotted field


@pytest.mark.parametrize(
    ("dotted", "value", "field", "words"),
    [
        ("geometry.zone.foo", 1.0, "geometry.zone.foo", "unknown key"),
        ("bogus", 1.0, "bogus", "unknown key"),
        ("time.dt_s", "fast", "time.dt_s", "valid number"),
        ("geometry.degree", 2.5, "geometry.degree", "integer"),
        ("material", 3.0, "material", "dictionary"),
        ("time.dt_s", -1.0, "time.dt_s", "greater than 0"),
        ("time.dt_s", math.nan, "time.dt_s", "finite"),
        ("time.n_steps", 0, "time.n_steps", "greater than or equal to 1"),
        ("geometry.degree", 7, "geometry.degree", "less than or equal to 3"),
        ("material.poisson_ratio", 0.5, "material.poisson_ratio", "less than 0.5"),
        ("time.scheme", "rk4", "time.scheme", "newmark"),
        ("name", "", "name", "at least 1"),
        ("geometry.zone.x_max_m", 0.5, "geometry.zone", "x_max_m=0.5 must be > x_min_m"),
        ("geometry.zone.x_max_m", 1.2, "geometry", "strictly inside"),
        ("geometry.zone.x_min_m", 0.555, "geometry", "zone.x_min_m=0.555 is not on the mesh grid"),
        ("geometry.element_size_m", 0.03, "geometry", "multiple of element_size_m"),
        ("geometry.element_size_m", 5e-324, "geometry", "multiple of element_size_m"),
        ("geometry.zone.hole_radius_m", 0.04, "geometry.zone", "hole_radius_m=0.04 must be <"),
        ("parameters.load_position.low", 0.01, "<case>", "parameters.load_position"),
        ("load.footprint_width_m", 0.5, "<case>", "footprint off the top edge"),
        (
            "parameters.load_amplitude.nominal",
            9e9,
            "parameters.load_amplitude",
            "nominal=9000000000.0",
        ),
        ("parameters.load_duration.low", -1.0, "parameters.load_duration", "low=-1.0 must be > 0"),
        ("parameters.load_position.high", 0.0, "parameters.load_position", "must be >= low"),
    ],
)
def test_bad_value_gives_one_line_naming_the_field(dotted, value, field, words):
    lines = _errors(_with(default_case().model_dump(), dotted, value))
    assert len(lines) == 1, lines
    assert lines[0].startswith(field), lines
    assert words in lines[0]
    assert len(lines[0]) < 400, "no dump of whole tables in the message"


def test_several_problems_give_several_lines():
    data = _with(
        _with(default_case().model_dump(), "time.dt_s", -1.0), "material.density_kg_m3", "x"
    )
    data["geometry"]["zone"]["typo_m"] = 0.1
    lines = _errors(data)
    assert len(lines) == 3
    assert {line.split("=")[0].split(":")[0] for line in lines} == {
        "time.dt_s",
        "material.density_kg_m3",
        "geometry.zone.typo_m",
    }


def test_source_is_prefixed_to_every_line(tmp_path):
    path = tmp_path / "case.toml"
    path.write_text("[time]\ndt_s = -1.0\nn_steps = 0\n")
    with pytest.raises(ConfigError) as info:
        load_case(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{path}: time.") for line in lines)


def test_invalid_toml_is_a_config_error():
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        case_from_toml("[geometry\nlength_m = 1", source="x.toml")
    assert len(str(info.value).splitlines()) == 1


# ------------------------------------------------------------------------------------------------
# hypothesis: any single bad leaf validates or raises ConfigError naming an existing field


def _leaf_paths(data: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        out += _leaf_paths(value, f"{path}.") if isinstance(value, dict) else [path]
    return out


def _is_table_key(data, dotted: str) -> bool:
    """Whether ``dotted`` names an existing key whose parent is a table (a dict), not a list."""
    parent, _, key = dotted.rpartition(".")
    node = data
    for part in re.findall(r"[^.\[\]]+", parent):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    return isinstance(node, dict) and key in node


def _has_path(data, dotted: str) -> bool:
    """Whether ``a.b[0]`` (the format of ConfigError's locations) names an existing key or list item."""
    node = data
    for key in re.findall(r"[^.\[\]]+", dotted):
        if isinstance(node, (list, tuple)) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            return False
    return True


_DEFAULT = default_case().model_dump()
_LEAVES = _leaf_paths(_DEFAULT)
_TABLES = ["", *sorted({p.rsplit(".", 1)[0] for p in _LEAVES if "." in p})]
_BAD_VALUES = st.one_of(
    st.text(max_size=8),
    st.sampled_from(
        [-1, -1.0, 0, 0.0, math.nan, math.inf, -math.inf, 1e308, 10**30, 5e-324, True, None]
    ),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    leaf=st.sampled_from(_LEAVES),
    value=_BAD_VALUES,
    extra=st.one_of(
        st.none(),
        st.tuples(st.sampled_from(_TABLES), st.from_regex(r"[a-z][a-z_]{0,9}", fullmatch=True)),
    ),
)
def test_random_bad_leaf_raises_only_config_error_naming_a_field(leaf, value, extra):
    data = _with(_DEFAULT, leaf, value)
    bad_key = None
    if extra is not None:
        table, key = extra
        bad_key = f"{table}.{key}" if table else key
        if not _has_path(data, bad_key):
            node = data
            for part in table.split(".") if table else []:
                node = node[part]
            node[key] = 1.0
        else:
            bad_key = None
    try:
        case = case_from_dict(data)
    except ConfigError as err:
        lines = str(err).splitlines()
        assert lines, "an error has at least one line"
        for line in lines:
            loc = re.match(r"[^=:]+", line).group(0)
            # list items are written a[0], not a.0 (a table's own key may be digits: tags."0")
            assert not re.search(r"\.\d", loc) or _is_table_key(data, loc), f"list items as a.0: {line}"
            if loc == "<case>":  # a cross-table check: the message names the dotted fields
                assert any(_has_path(data, p) for p in _DOTTED.findall(line)), line
            else:
                # a missing item of a fixed-length field given too short a list is named as the
                # default case has it (random_inclusions.radius_range_m[0] for radius_range_m = [])
                assert _has_path(data, loc) or _has_path(_DEFAULT, loc) or loc == bad_key, line
    else:
        assert isinstance(case, CaseConfig)
        assert bad_key is None, f"unknown key {bad_key} was accepted"


# ------------------------------------------------------------------------------------------------
# parameter points


def test_check_parameters_accepts_the_nominal_point():
    case = default_case()
    assert case.check_parameters(case.parameters.nominal()) == case.parameters.nominal()


def test_check_parameters_unknown_and_missing():
    case = default_case()
    values = {"load_amplitude": 1e6, "load_duration": 2e-5, "load_pos": 0.3}
    with pytest.raises(ConfigError) as info:
        case.check_parameters(values)
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert "'load_pos' is unknown" in lines[0]
    assert "'load_position' is missing" in lines[1]


@pytest.mark.parametrize(
    ("name", "value", "expect"),
    [
        (
            "load_amplitude",
            3e6,
            "parameters.load_amplitude=3000000.0: must lie in [500000.0, 2000000.0] Pa",
        ),
        ("load_duration", -1.0, "parameters.load_duration=-1.0: must lie in [1.5e-05, 3e-05] s"),
        ("load_position", math.nan, "parameters.load_position=nan: must lie in [0.1, 0.9] m"),
        (
            "load_position",
            "left",
            "parameters.load_position='left': not a number; must lie in [0.1, 0.9] m",
        ),
    ],
)
def test_check_parameters_out_of_range(name, value, expect):
    case = default_case()
    with pytest.raises(ConfigError) as info:
        case.check_parameters({**case.parameters.nominal(), name: value})
    assert str(info.value) == expect


# ------------------------------------------------------------------------------------------------
# the reference documentation cannot go stale


def _field_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, info in model.model_fields.items():
        sub = info.annotation if isinstance(info.annotation, type) else None
        if sub is not None and issubclass(sub, BaseModel):
            out += _field_paths(sub, f"{prefix}{name}.")
        else:
            out.append(f"{prefix}{name}")
    return out


def test_case_reference_documents_every_key():
    text = (DOCS / "case_reference.md").read_text()
    missing = [p for p in _field_paths(CaseConfig) if f"`{p}`" not in text]
    assert not missing, f"docs/case_reference.md lacks {missing}"


def test_resolution_report_of_the_default_case():
    """The default case meets the thresholds of docs/resolution.md; halving the pulse or tripling
    dt is flagged with a message that names the field and the value to use."""
    from uqgan.physics.material import wave_speeds

    case = default_case()
    res = case.resolution()
    c_p, c_s = wave_speeds(210e9, 0.3, 7850.0)
    assert res["c_s_m_per_s"] == pytest.approx(float(c_s))
    # 2 (P2) * 3208 m/s * 15 us / 1 cm = 9.6 nodes; 15 us / 0.5 us = 30 steps
    assert res["nodes_per_shear_pulse"] == pytest.approx(2 * float(c_s) * 15e-6 / 0.01)
    assert res["steps_per_pulse"] == pytest.approx(30.0)
    assert res["warnings"] == []
    coarse = case.model_copy(update={"time": case.time.model_copy(update={"dt_s": 1.5e-6})})
    (msg,) = coarse.resolution()["warnings"]
    assert msg.startswith("time.dt_s=1.5e-06") and "5e-07" in msg
    short = CaseConfig.model_validate({"parameters": {"load_duration": {"low": 5e-6, "high": 30e-6}}})
    msgs = short.resolution()["warnings"]
    assert len(msgs) == 2 and msgs[0].startswith("geometry.element_size_m=0.01")


def test_shipped_default_case_file_is_the_default_case():
    """simulations/plate_impact/case.toml is what `uqgan init` writes: regenerate it with
    `python -c "from uqgan.config import *; write_case(default_case(), 'simulations/plate_impact/case.toml')"`."""
    path = Path(__file__).resolve().parents[1] / "simulations" / "plate_impact" / "case.toml"
    assert load_case(path) == default_case()
    assert path.read_text() == case_to_toml(default_case())


def test_submodel_section():
    """[submodel]: the chain's scheme, central differences by default; a bad value is one line
    naming the key, the value and the allowed ones; the section round-trips through TOML."""
    assert default_case().submodel.scheme == "central-difference"
    assert default_case().submodel.time_step_fraction == 0.9
    for text, expected in (('[submodel]\nscheme = "newmark"',
                            "submodel.scheme='newmark': Input should be 'central-difference' or 'full-model'"),
                           ("[submodel]\ntime_step_fraction = 1.5",
                            "submodel.time_step_fraction=1.5: Input should be less than or equal to 1"),
                           ("[submodel]\ntime_step_fraction = 0", "submodel.time_step_fraction=0: Input should be "
                                                                    "greater than 0")):
        with pytest.raises(ConfigError) as info:
            case_from_toml(text)
        assert str(info.value).strip() == expected
    exact = case_from_toml('[submodel]\nscheme = "full-model"')
    assert exact.submodel.scheme == "full-model" and case_from_toml(case_to_toml(exact)) == exact
