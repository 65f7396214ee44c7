"""Campaign designs: unit-cube designs, extensibility, replicates, per-sample streams, round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from scipy.stats import qmc

from uqgan.config import default_case
from uqgan.data.design import (
    DESIGN_METHODS,
    CampaignDesign,
    design_from_case,
    is_extensible,
    scale_to_ranges,
    unit_design,
)

NAMES = ("a", "b", "c")
RANGES = ((0.5e6, 2.0e6), (15e-6, 30e-6), (0.1, 0.9))


def _design(**kw) -> CampaignDesign:
    args = dict(n_samples=12, replicates=3, method="sobol", seed=5, parameter_names=NAMES, ranges=RANGES)
    args.update(kw)
    return CampaignDesign(**args)


# ------------------------------------------------------------------------------------------------
# 1. shapes, unit cube, scaling


@pytest.mark.parametrize("method", DESIGN_METHODS)
@pytest.mark.parametrize("n", [1, 7, 64])
def test_unit_design_shape_and_range(method, n):
    u = unit_design(n, 3, method=method, seed=11)
    assert u.shape == (n, 3)
    assert u.dtype == np.float64
    assert ((u >= 0.0) & (u < 1.0)).all()


@pytest.mark.parametrize("method", DESIGN_METHODS)
def test_unit_design_is_reproducible_and_seed_dependent(method):
    a = unit_design(32, 2, method=method, seed=1)
    assert np.array_equal(a, unit_design(32, 2, method=method, seed=1))
    assert not np.array_equal(a, unit_design(32, 2, method=method, seed=2))


def test_sobol_non_power_of_two_does_not_warn():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unit_design(10, 2, method="sobol", seed=0)


def test_scale_to_ranges_is_exact_at_the_ends():
    u = np.array([[0.0, 0.0, 0.0], [0.5, 0.25, 1.0], [1.0, 1.0, 0.5]])
    out = scale_to_ranges(u, dict(zip(NAMES, RANGES, strict=True)))
    assert list(out) == list(NAMES)  # column order = dict order
    for j, (name, (low, high)) in enumerate(zip(NAMES, RANGES, strict=True)):
        assert out[name].shape == (3,)
        assert out[name][0] == low  # u = 0 -> low, exactly: low + 0 * (high - low)
        np.testing.assert_allclose(out[name], low + u[:, j] * (high - low), rtol=0, atol=0)
    # u = 1 -> high up to one rounding of low + (high - low)
    assert out["c"][1] == pytest.approx(0.9, rel=1e-15)
    assert out["b"][1] == pytest.approx(15e-6 + 0.25 * 15e-6, rel=1e-15)


def test_scale_to_ranges_degenerate_range_is_constant():
    u = unit_design(16, 2, method="mc", seed=0)
    out = scale_to_ranges(u, {"x": (3.0, 3.0), "y": (-1.0, 1.0)})
    assert (out["x"] == 3.0).all()
    assert ((out["y"] >= -1.0) & (out["y"] < 1.0)).all()


def test_scale_to_ranges_rejects_bad_input():
    with pytest.raises(ValueError, match="one column per entry"):
        scale_to_ranges(np.zeros((4, 2)), {"x": (0.0, 1.0)})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        scale_to_ranges(np.full((2, 1), 1.5), {"x": (0.0, 1.0)})
    with pytest.raises(ValueError, match=r"ranges\['x'\].*high must be >= low"):
        scale_to_ranges(np.zeros((2, 1)), {"x": (1.0, 0.0)})


# ------------------------------------------------------------------------------------------------
# 2. extensibility


@pytest.mark.parametrize("method", ["sobol", "mc"])
@pytest.mark.parametrize(("n1", "n2"), [(1, 2), (3, 10), (64, 128), (100, 1000)])
def test_sobol_and_mc_designs_are_prefixes_bit_for_bit(method, n1, n2):
    small = unit_design(n1, 3, method=method, seed=42)
    big = unit_design(n2, 3, method=method, seed=42)
    assert np.array_equal(big[:n1], small)  # exact: no tolerance, the draws must be identical


def test_is_extensible():
    assert is_extensible("sobol") and is_extensible("mc")
    assert not is_extensible("lhs")
    # and LHS really is not: the strata change with n
    assert not np.array_equal(unit_design(8, 2, method="lhs", seed=0)[:4], unit_design(4, 2, method="lhs", seed=0))
    with pytest.raises(ValueError, match="must be one of"):
        is_extensible("halton")


def test_campaign_design_parameters_extend_bit_for_bit():
    small, big = _design(n_samples=12), _design(n_samples=30)
    assert big.extends(small)
    ps, pb = small.parameters(), big.parameters()
    for name in NAMES:
        assert np.array_equal(pb[name][:12], ps[name])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, True),  # equal designs: trivially an extension
        ({"n_samples": 300}, True),
        ({"n_samples": 6}, False),  # fewer samples
        ({"n_samples": 300, "seed": 6}, False),
        ({"n_samples": 300, "method": "mc"}, False),
        ({"n_samples": 300, "replicates": 2}, False),
        ({"n_samples": 300, "ranges": ((0.5e6, 2.0e6), (15e-6, 30e-6), (0.1, 0.8))}, False),
        ({"n_samples": 300, "parameter_names": ("a", "c", "b")}, False),
    ],
)
def test_extends(change, expected):
    assert _design(**change).extends(_design()) is expected


def test_lhs_designs_never_extend():
    lhs = _design(method="lhs")
    assert not _design(method="lhs", n_samples=24).extends(lhs)
    assert not lhs.extends(lhs)


# ------------------------------------------------------------------------------------------------
# 3.-5. properties of the designs


@pytest.mark.parametrize("n", [7, 50])
def test_lhs_has_one_point_per_bin(n):
    # Latin hypercube (McKay et al. 1979): each of the n bins [k/n, (k+1)/n) of every dimension holds
    # exactly one point -- a property of the construction, so it holds exactly, for any seed
    u = unit_design(n, 4, method="lhs", seed=3)
    bins = np.floor(u * n).astype(int)
    for j in range(4):
        assert np.array_equal(np.sort(bins[:, j]), np.arange(n))


def test_sobol_discrepancy_is_below_monte_carlo():
    # scrambled Sobol' has discrepancy O((log n)^d / n), MC O(n^-1/2) (Niederreiter 1992; Owen 1997):
    # at n = 256, d = 3 the Sobol' centred L2 discrepancy (~4e-5 at seed 0) is ~80x below the
    # mean of 20 MC designs (~3e-3), so the comparison holds with a wide margin
    n, d = 256, 3
    sobol = qmc.discrepancy(unit_design(n, d, method="sobol", seed=0))
    mc = np.mean([qmc.discrepancy(unit_design(n, d, method="mc", seed=s)) for s in range(20)])
    assert sobol < mc


def test_sobol_marginals_are_uniform():
    # a valid uniform design must not be rejected by a KS test against U(0, 1); p > 0.01 is a loose
    # threshold (a scrambled Sobol' marginal is far more even than random, its KS statistic ~ 1/n)
    u = unit_design(1024, 3, method="sobol", seed=7)
    for j in range(3):
        assert stats.kstest(u[:, j], "uniform").pvalue > 0.01


# ------------------------------------------------------------------------------------------------
# 6. replicates


def test_parameters_repeat_each_point_for_its_replicates():
    d = _design(n_samples=15, replicates=3)
    assert d.n_points == 5
    pts, params = d.points(), d.parameters()
    for name in NAMES:
        assert pts[name].shape == (5,) and params[name].shape == (15,)
        blocks = params[name].reshape(5, 3)  # replicates of a point are consecutive
        assert (blocks == pts[name][:, None]).all()
        # distinct points (a scrambled Sobol' design has no ties)
        assert len(np.unique(pts[name])) == 5


def test_point_and_replicate_invert_sample_index():
    d = _design(n_samples=20, replicates=4)
    s = np.arange(20)
    p, r = d.point_of(s), d.replicate_of(s)
    assert np.array_equal(p * 4 + r, s)
    assert ((0 <= r) & (r < 4)).all() and ((0 <= p) & (p < 5)).all()
    assert d.point_of(13) == 3 and d.replicate_of(13) == 1
    assert isinstance(d.point_of(13), int) and isinstance(d.replicate_of(np.int64(13)), int)
    with pytest.raises(ValueError, match="n_samples"):
        d.point_of(20)
    with pytest.raises(ValueError, match="n_samples"):
        d.replicate_of(np.array([-1, 0]))


# ------------------------------------------------------------------------------------------------
# 7. per-sample streams


def test_xi_rng_depends_only_on_seed_and_sample():
    d = _design(n_samples=30)
    forward = {s: d.xi_rng(s).standard_normal(5) for s in range(30)}
    backward = {s: d.xi_rng(s).standard_normal(5) for s in reversed(range(30))}
    for s in range(30):
        assert np.array_equal(forward[s], backward[s])  # call order does not matter
    assert not np.array_equal(forward[0], forward[1])
    assert len({v.tobytes() for v in forward.values()}) == 30  # every sample its own stream
    # same (seed, sample) in another design object (e.g. on another worker, or grown) -> same numbers
    assert np.array_equal(_design(n_samples=300).xi_rng(7).standard_normal(5), forward[7])
    assert not np.array_equal(_design(n_samples=30, seed=6).xi_rng(7).standard_normal(5), forward[7])


def test_xi_rng_is_not_the_design_stream():
    d = _design()
    assert not np.array_equal(d.xi_rng(0).random(3), np.random.default_rng(d.seed).random(3))


def test_xi_rng_rejects_out_of_range_sample():
    with pytest.raises(ValueError, match="n_samples"):
        _design(n_samples=12).xi_rng(12)


# ------------------------------------------------------------------------------------------------
# 8. bad input


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"n_samples": 0}, r"n_samples=0: must be >= 1"),
        ({"replicates": 0}, r"replicates=0: must be >= 1"),
        ({"seed": -1}, r"seed=-1: must be >= 0"),
        ({"n_samples": 10, "replicates": 4}, r"n_samples=10 is not a multiple of replicates=4: use 8 or 12"),
        ({"n_samples": 3, "replicates": 4}, r"n_samples=3 is not a multiple of replicates=4: use 4"),
        ({"method": "halton"}, r"method='halton'.*must be one of \('sobol', 'lhs', 'mc'\)"),
        ({"parameter_names": ("a", "a", "c")}, r"parameter_names.*unique"),
        ({"parameter_names": ()}, r"parameter_names"),
        ({"ranges": RANGES[:2]}, r"ranges has 2 entries"),
        ({"ranges": ((1.0, 0.0), *RANGES[1:])}, r"ranges\['a'\].*high must be >= low"),
    ],
)
def test_invalid_design_names_the_field(change, pattern):
    with pytest.raises(ValueError, match=pattern):
        _design(**change)


def test_multiple_message_mentions_multiple():
    with pytest.raises(ValueError) as info:
        _design(n_samples=10, replicates=4)
    msg = str(info.value)
    assert "multiple" in msg and "8" in msg and "12" in msg


@pytest.mark.parametrize("method", ["", "Sobol", "qmc"])
def test_unit_design_unknown_method_lists_allowed(method):
    with pytest.raises(ValueError, match="sobol.*lhs.*mc"):
        unit_design(4, 2, method=method, seed=0)


def test_design_is_frozen():
    d = _design()
    with pytest.raises(AttributeError):
        d.n_samples = 3  # type: ignore[misc]


# ------------------------------------------------------------------------------------------------
# 9. serialisation and the case


@pytest.mark.parametrize("method", DESIGN_METHODS)
def test_to_dict_round_trips_through_json(method):
    d = _design(method=method, ranges=((0.1, 0.7), (1 / 3, 2 / 3), (1e-300, 1e300)))
    back = CampaignDesign.from_dict(json.loads(json.dumps(d.to_dict())))
    assert back == d
    assert back.ranges == d.ranges  # floats exactly, not approximately
    for name in NAMES:
        assert np.array_equal(back.parameters()[name], d.parameters()[name])


def test_from_dict_rejects_unknown_and_missing_keys():
    data = _design().to_dict()
    with pytest.raises(ValueError, match="unknown keys \\['extra'\\]"):
        CampaignDesign.from_dict({**data, "extra": 1})
    del data["seed"]
    with pytest.raises(ValueError, match="missing keys \\['seed'\\]"):
        CampaignDesign.from_dict(data)


def test_design_from_case_uses_the_case_ranges():
    case = default_case()
    d = design_from_case(case, n_samples=64, replicates=2, seed=0)
    assert d.parameter_names == ("load_amplitude", "load_duration", "load_position")
    assert d.method == "sobol" and d.n_points == 32
    params = d.parameters()
    for name in d.parameter_names:
        r = getattr(case.parameters, name)
        assert params[name].shape == (64,)
        assert ((params[name] >= r.low) & (params[name] <= r.high)).all()
        # every point is a valid case parameter point
    for s in range(0, 64, 7):
        case.check_parameters({name: params[name][s] for name in d.parameter_names})
