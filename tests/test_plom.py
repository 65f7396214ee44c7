"""PLoM (uqgan.generators.plom) against known answers: the kernel density's force and moments, 2-D
laws a Gaussian cannot fit, samples near a curve, a known conditional law, and the generator
interface (fit, sample, save/load, CLI) on synthetic boundary histories."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from uqgan.generators.plom import PLoM, PLoMConfig, conditional_sample, silverman_bandwidth
from uqgan.stats.metrics import energy_distance

FAST = {"n_check_sets": 2, "n_learned_sets": 8}


def banana(n, rng):
    a = rng.standard_normal(n)
    return np.column_stack([a, a**2 - 1 + 0.15 * rng.standard_normal(n)])


def mixture(n, rng):
    centres = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    return centres[rng.integers(3, size=n)] + 0.4 * rng.standard_normal((n, 2))


def test_force_is_the_gradient_of_the_log_kernel_density():
    rng = np.random.default_rng(0)
    model = PLoM.fit(rng.standard_normal((50, 3)), PLoMConfig(n_basis=4), rng=rng)
    s, sh, eta = model.s, model.s_hat, model.eta
    assert s == pytest.approx((4 / (50 * 5)) ** (1 / 7)) and sh == pytest.approx(s / np.sqrt(s**2 + 49 / 50))

    def log_q(u):
        d2 = ((sh / s * eta - u) ** 2).sum(axis=1)
        return np.log(np.mean(np.exp(-d2 / (2 * sh**2))))

    u = rng.standard_normal((4, 3))
    h = 1e-6
    fd = np.array([[(log_q(ui + h * e) - log_q(ui - h * e)) / (2 * h) for e in np.eye(3)] for ui in u])
    # central differences of a smooth function: error O(h²) plus round-off ~1e-16/h = 1e-10
    np.testing.assert_allclose(model.force(u), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kde_bandwidth_factor", [1.0, 0.5])
def test_full_basis_samples_the_kernel_density_whose_covariance_is_the_datas(kde_bandwidth_factor):
    # with m = N the reduced equation is the full one: its invariant law is the kernel density,
    # whose covariance is exactly the data's (ŝ² + (ŝ/s)² (N-1)/N = 1 in the whitened coordinates,
    # for any s)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((120, 2)) @ np.array([[2.0, 0.0], [1.0, 0.5]])
    model = PLoM.fit(x, PLoMConfig(n_basis=120, n_learned_sets=30, kde_bandwidth_factor=kde_bandwidth_factor),
                     rng=rng)
    learned = model.learn(rng=rng)
    # 3600 draws (correlated within a set through the shared data): the sample covariance's relative
    # error is ~ √(2/3600) ≈ 0.024 per entry for independent draws; 0.1 allows the within-set correlation
    np.testing.assert_allclose(np.cov(learned.T), np.cov(x.T), rtol=0.1, atol=0.1 * np.cov(x.T).max())
    np.testing.assert_allclose(learned.mean(axis=0), x.mean(axis=0), atol=0.1 * np.sqrt(np.cov(x.T).max()))


@pytest.mark.parametrize("law", [banana, mixture])
def test_reproduces_a_banana_and_a_mixture_better_than_a_fitted_gaussian(law):
    rng = np.random.default_rng(0)
    x = law(300, rng)
    truth = law(1500, np.random.default_rng(9))
    learned = PLoM.fit(x, PLoMConfig(**FAST), rng=rng).learn(rng=rng)
    ours = energy_distance(learned[rng.choice(len(learned), 1500, replace=False)], truth)
    gauss = energy_distance(rng.multivariate_normal(x.mean(axis=0), np.cov(x.T), 1500), truth)
    # measured here 0.028 / 0.049 against 0.185 / 0.162 for the Gaussian (docs/generators.md has the
    # default options' numbers); the V-statistic's own bias at these sizes is E|X-X'| (1/1500 +
    # 1/1500) ≈ 0.004: a factor 2 is far beyond the noise and still fails a Gaussian-like learner
    assert ours < 0.5 * gauss, (ours, gauss)


def _curve(t):
    """A closed curve in R^8: (cos kt, sin kt), k = 1..4."""
    return np.column_stack([f(k * t) for k in range(1, 5) for f in (np.cos, np.sin)])


def test_samples_stay_near_the_datas_curve():
    rng = np.random.default_rng(0)
    x = _curve(rng.uniform(0, 2 * np.pi, 200))
    dense = cKDTree(_curve(np.linspace(0, 2 * np.pi, 20000)))
    gauss = rng.multivariate_normal(x.mean(axis=0), np.cov(x.T), 1000)
    d_gauss = dense.query(gauss)[0].mean()
    dist = {}
    for crit in ("covariance", "concentrated"):
        learned = PLoM.fit(x, PLoMConfig(basis_criterion=crit, **FAST), rng=rng).learn(rng=rng)
        dist[crit] = dense.query(learned[rng.choice(len(learned), 1000, replace=False)])[0].mean()
    # measured: Gaussian 1.65, covariance criterion 0.94, m = ν + 1 0.37 (docs/generators.md). The
    # mean distance of 1000 draws has a standard error ~0.01, so 0.75 and 0.4 of the Gaussian's are
    # decided by the laws, not the noise; m = ν + 1 is the papers' concentration on the manifold
    assert dist["covariance"] < 0.75 * d_gauss, (dist, d_gauss)
    assert dist["concentrated"] < 0.4 * d_gauss, (dist, d_gauss)


@pytest.mark.parametrize("conditioning", ["local-linear", "kernel"])
def test_conditional_sampling_recovers_a_known_conditional_law(conditioning):
    # y | c ~ N(2 c², (0.1 + 0.075 (c + 1))²), c ~ U(-1, 1), 20000 exact realizations as the learned set
    rng = np.random.default_rng(0)
    c = rng.uniform(-1, 1, 20000)
    sd = lambda v: 0.1 + 0.075 * (v + 1)  # noqa: E731
    learned = np.column_stack([c, 2 * c**2 + sd(c) * rng.standard_normal(c.size)])
    h = silverman_bandwidth(20000, 1) * c.std(ddof=1)
    for c0 in (-0.5, 0.0, 0.5):
        y = conditional_sample(learned, 1, np.full((2000, 1), c0), rng=rng, conditioning=conditioning)[:, 0]
        # the kernel estimate is biased by ~ ½ f''(c) h² = 2 h² (h = 0.08 here: 0.013) in the mean
        # and by the mean's change over the bandwidth in the spread (4|c| h, up to 0.16 at c = 0.5
        # for "kernel"; the local-linear adjustment removes it); 2000 draws of a ~1100-atom weighted
        # set: standard error ~ 0.2 / √1100 ≈ 0.006
        assert y.mean() == pytest.approx(2 * c0**2, abs=2 * h**2 + 4 * 0.2 / np.sqrt(1100)), (c0, y.mean())
        spread = np.hypot(sd(c0), 4 * abs(c0) * h if conditioning == "kernel" else 0.0)
        assert y.std() == pytest.approx(spread, rel=0.12), (c0, y.std(), spread)


def test_bad_options_name_the_field():
    with pytest.raises(ValueError, match=r"PLoMConfig.f0=-1.0: .*dissipation"):
        PLoMConfig.build(f0=-1.0)
    with pytest.raises(ValueError, match=r"PLoMConfig.step: unknown option"):
        PLoMConfig.build(step=0.1)
    with pytest.raises(ValueError, match="too few"):
        PLoM.fit(np.random.default_rng(0).standard_normal((3, 3)), rng=np.random.default_rng(0))


# ------------------------------------------------------------------------------------------------
# the generator


@pytest.fixture(scope="module")
def small_data():
    from uqgan.data.synthetic import synthetic_bc_dataset

    return synthetic_bc_dataset("gaussian", n_points=24, replicates=5, n_time=24, n_nodes=4, seed=0)


def test_generator_fit_sample_save_load(small_data, tmp_path):
    from uqgan.generators import GeneratorError, load_generator, make_generator

    gen = make_generator("plom", n_coefficients=6, seed=3, **FAST).fit(small_data)
    assert gen.diagnostics["nu"] <= 8 and gen.learned.shape[1] == 2 + 6
    params = {"load_amplitude": [1.0, 2.0], "load_duration": [0.3, 0.6], "load_position": [0.4, 0.7]}
    a = gen.sample(params, 5, rng=np.random.default_rng(1))
    assert a["u_bc"].shape == (10, 24, 4, 2) and np.all(np.isfinite(a["u_bc"].values))
    # the histories scale exactly with the amplitude: same draws at amplitude 1 and 2 differ by 2x
    b = gen.sample({**params, "load_amplitude": [2.0, 4.0]}, 5, rng=np.random.default_rng(1))
    np.testing.assert_allclose(b["u_bc"].values, 2 * a["u_bc"].values, rtol=1e-12)
    gen.save(tmp_path / "m")
    back = load_generator(tmp_path / "m")
    np.testing.assert_array_equal(back.sample(params, 5, rng=np.random.default_rng(1))["u_bc"].values,
                                  a["u_bc"].values)
    with pytest.raises(GeneratorError, match="load_position=1.5"):
        gen.sample({**params, "load_position": [0.4, 1.5]}, 2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_coefficients=0"):
        make_generator("plom", n_coefficients=0)
    with pytest.raises(ValueError, match="PLoMConfig.conditioning"):
        make_generator("plom", conditioning="nearest")


def test_generator_follows_the_synthetic_law_like_kriging_gaussian():
    from uqgan.data.synthetic import synthetic_bc_dataset
    from uqgan.generators import make_generator

    train = synthetic_bc_dataset("gaussian", n_points=40, replicates=6, seed=0)
    rng = np.random.default_rng(5)
    pts = {"load_amplitude": rng.uniform(0.6, 1.9, 3), "load_duration": rng.uniform(0.15, 0.85, 3),
           "load_position": rng.uniform(0.15, 0.85, 3)}
    truth = synthetic_bc_dataset("gaussian", replicates=30, seed=1, points=pts)
    gens = {"plom": make_generator("plom", validation_fraction=0.0, **FAST).fit(train),
            "kriging-gaussian": make_generator("kriging-gaussian", validation_fraction=0.0).fit(train)}
    ed = {}
    for name, g in gens.items():
        vals = []
        for i in range(3):
            sel = truth.isel(sample=truth["point"].values == i)
            p = {k: sel[k].values[:1] for k in pts}
            draws = g.sample(p, 30, rng=np.random.default_rng(i))["u_bc"].values.reshape(30, -1)
            vals.append(energy_distance(draws, sel["u_bc"].values.reshape(30, -1)))
        ed[name] = float(np.mean(vals))
    # the law is a conditional Gaussian with a kriging-friendly mean: kriging-gaussian is the right
    # model and plom's deviations from the same mean should match it: measured here 1.10 against 1.13
    # (plom without the kriging mean: 4.15, which fails); 1.5 allows the 3-point, 30-draw noise
    assert ed["plom"] < 1.5 * ed["kriging-gaussian"], ed


def test_cli_train_plom(small_data, tmp_path):
    from typer.testing import CliRunner

    from uqgan.cli import app

    small_data.to_netcdf(tmp_path / "train.nc", engine="h5netcdf")
    r = CliRunner().invoke(app, ["train", str(tmp_path / "train.nc"), "--out", str(tmp_path / "plom"),
                                 "--generator", "plom", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "plom: trained on" in r.output and (tmp_path / "plom" / "arrays.npz").is_file()
    (tmp_path / "p.csv").write_text("load_amplitude,load_duration,load_position\n1.0,0.5,0.5\n")
    r = CliRunner().invoke(app, ["sample", str(tmp_path / "plom"), "--params", str(tmp_path / "p.csv"), "--n", "3",
                                 "--out", str(tmp_path / "s.nc")])
    assert r.exit_code == 0, r.output
