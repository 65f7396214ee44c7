"""The replicate variance split against known answers (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from uqgan.data.analysis import variance_summary_line, within_group_variance_fraction


def test_exact_split_of_a_balanced_design():
    """Two points, two replicates each: values (0, 2) and (10, 12). Within-group variance is 2 for
    both groups (ddof 1); the total variance of (0, 2, 10, 12) is 104/3."""
    f = within_group_variance_fraction([0.0, 2.0, 10.0, 12.0], [0, 0, 1, 1])
    assert f == pytest.approx(2.0 / (104.0 / 3.0), rel=1e-12)


def test_random_effects_model():
    """X = mu_g + eps with Var mu = 3, Var eps = 1: the within share tends to 1 / (3 + 1) = 0.25.
    With 400 groups of 8, its standard error is about 0.015 (delta method); 4 SE = 0.06."""
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(400), 8)
    x = rng.normal(0, np.sqrt(3), 400)[g] + rng.normal(0, 1, g.size)
    assert within_group_variance_fraction(x, g) == pytest.approx(0.25, abs=0.06)


def test_histories_are_summed_over_trailing_dims():
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(50), 4)
    x = rng.normal(size=(200, 3, 5))
    per_element = [within_group_variance_fraction(x[:, i, j], g) for i in range(3) for j in range(5)]
    total = within_group_variance_fraction(x, g)
    # pure noise: every share is ~1 (no between-group signal), and the summed one too
    assert total == pytest.approx(1.0, abs=0.15) and np.allclose(per_element, 1.0, atol=0.35)


def test_degenerate_inputs():
    assert np.isnan(within_group_variance_fraction([1.0, 2.0, 3.0], [0, 1, 2]))  # no replicates
    assert np.isnan(within_group_variance_fraction([1.0, 1.0], [0, 0]))  # no variance
    with pytest.raises(ValueError, match="groups"):
        within_group_variance_fraction([1.0, 2.0], [0])


def test_summary_line():
    line = variance_summary_line({"u_bc": 0.69, "u_bc_per_amplitude": 0.67, "qoi_peak_displacement": 0.19,
                                  "qoi_peak_displacement_per_amplitude": 0.34})
    assert line == ("variance within replicates (what the parameters do not explain): u_bc 69 % "
                    "(67 % per unit amplitude), peak displacement 19 % (34 % per unit amplitude)")
