"""``architecture="conv1d"``: 1-D convolutional generator correction and critic over time on histories.

Known answers: the fixed POD projection of a history change equals the change of the preprocessor's
encoding (so the time-major flattening is right), before training the model *is* kriging-gaussian
bit for bit (zero last convolution), and training, seeding and save/load behave as with the MLPs.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _wgan_helpers import assert_same_weights as _assert_same_weights  # noqa: E402
from _wgan_helpers import params as _params  # noqa: E402
from _wgan_helpers import weights as _weights  # noqa: E402

from uqgan.data.synthetic import synthetic_bc_dataset  # noqa: E402
from uqgan.generators import Generator, make_generator  # noqa: E402
from uqgan.generators.wgan.model import WGANGP  # noqa: E402
from uqgan.generators.wgan.networks import ConvCorrection, ConvCritic, _PODMap  # noqa: E402

# tiny networks and data: each fit below takes well under a second on one busy core
TINY = dict(architecture="conv1d", conv_channels=8, conv_layers=3, hidden=16, latent_dim=3, batch_size=16,
            n_critic=2, k_individual=2, n_restarts=0, validation_fraction=0.25, validation_samples=16, device="cpu",
            seed=3, residuals="replicate")
KG = {k: TINY[k] for k in ("k_individual", "n_restarts", "validation_fraction", "seed")}


@pytest.fixture(scope="module")
def ds():
    return synthetic_bc_dataset("arrival", n_points=12, replicates=4, n_time=32, n_nodes=4, seed=1)


@pytest.fixture(scope="module")
def untrained(ds):
    return make_generator("wgan-gp", steps=0, **TINY).fit(ds)


# ------------------------------------------------------------------------------------------------
def test_projection_is_the_preprocessors_encoding_of_a_history_change(ds, untrained):
    """encode(x + Δ) − encode(x) = ((Δ_flat @ Φᵀ) / σ) exactly in exact arithmetic (the mean cancels),
    with Δ_flat the time-major flattening of (time, node, component); the conv network's history
    ``h`` of shape (C = 2N, T), channel n·2 + comp, stands for Δ = scale·h. A node/component or
    time/channel mix-up would change the answer by O(1). Tolerance: the map is float32, so 1e-4 of
    the largest coefficient change."""
    prep = untrained.prep
    pm = untrained.network.net.pod_map
    t, n, _ = prep.history_shape
    rng = np.random.default_rng(0)
    x = prep.pod.decode(rng.standard_normal((5, prep.pod.n_modes)))  # (5, d) histories per unit amplitude
    delta = rng.standard_normal((5, t, n, 2)) * pm.scale  # a history change of the data's size
    want = prep.pod.encode(x + delta.reshape(5, -1)) - prep.pod.encode(x)
    h = torch.from_numpy(delta.reshape(5, t, 2 * n).transpose(0, 2, 1) / pm.scale).float()  # (5, C, T)
    got = pm.encode(h).double().numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * np.abs(want).max())
    # the test tells the right order from the likely mistakes: flattening (C, T) channel-major, or
    # channels ordered component-major (comp·N + n)
    naive = (h.reshape(5, -1) @ pm.to_coefficients).double().numpy()
    swapped = torch.from_numpy(delta.transpose(0, 1, 3, 2).reshape(5, t, 2 * n).transpose(0, 2, 1) / pm.scale)
    for bad in (naive, pm.encode(swapped.float()).double().numpy()):
        assert np.abs(bad - want).max() > 0.1 * np.abs(want).max()
    # decode is the lift the critic sees: (r σ) @ Φ = pod.decode(r) − mean, reshaped to (C, T)
    r = rng.standard_normal((3, prep.pod.n_modes))
    lifted = pm.decode(torch.from_numpy(r).float()).double().numpy() * pm.scale
    expect = (prep.pod.decode(r) - prep.pod.mean).reshape(3, t, 2 * n).transpose(0, 2, 1)
    np.testing.assert_allclose(lifted, expect, rtol=0, atol=1e-5 * np.abs(expect).max())
    # and encode undoes decode on the coefficients (orthonormal modes): same float32 tolerance
    np.testing.assert_allclose(pm.encode(pm.decode(torch.from_numpy(r).float())).double().numpy(), r, atol=1e-4)


def test_networks_handle_any_length_and_crop_to_it():
    """T = 30 is not a multiple of 2^(layers − 1) = 4: the generator crops its 32 samples to 30, and the
    critic's strided convolutions (lengths 15, 8, 4) feed a head of the right width."""
    t, n, k = 30, 3, 5
    q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((t * n * 2, k)))
    pm = _PODMap(q.T, np.linspace(1.0, 0.5, k), (t, n, 2))
    g = torch.Generator().manual_seed(0)
    gen = ConvCorrection(7, 2, pod_map=pm, channels=4, layers=3, activation="silu", zero_last=False, generator=g)
    noise, c = torch.randn(6, 7, generator=g), torch.rand(6, 2, generator=g)
    assert gen.history(noise, c).shape == (6, 2 * n, t)
    assert gen(noise, c).shape == (6, k)
    for conditioning in ("concat", "film"):
        critic = ConvCritic(p=2, pod_map=pm, channels=4, layers=3, hidden=8, activation="leaky_relu",
                            conditioning=conditioning, layer_norm=True, generator=g)
        assert critic(torch.randn(6, k, generator=g), c).shape == (6,)


@pytest.mark.parametrize("name", ["wgan-gp", "wgan-clip"])
def test_untrained_conv_wgan_is_kriging_gaussian_bit_for_bit(ds, name):
    """The last convolution starts at zero, so the correction is exactly 0 and the samples are
    kriging-gaussian's for the same rng, bit for bit."""
    wgan = make_generator(name, steps=0, **TINY).fit(ds)
    kg = make_generator("kriging-gaussian", **KG).fit(ds)
    params = _params(ds, [1, 5, 9])
    a = wgan.sample(params, n=7, rng=np.random.default_rng(11))["u_bc"].values
    b = kg.sample(params, n=7, rng=np.random.default_rng(11))["u_bc"].values
    np.testing.assert_array_equal(a, b)


def test_training_steps_change_the_weights_and_the_samples(ds, untrained):
    # no validation points: the final generator is kept (with them, the untrained one may win)
    opts = {**TINY, "validation_fraction": 0.0}
    before = make_generator("wgan-gp", steps=0, **opts).fit(ds)
    after = make_generator("wgan-gp", steps=3, log_every=3, lr=1e-3, **opts).fit(ds)
    assert after.training_summary["best_step"] == 3
    wb, wa = _weights(before.network), _weights(after.network)
    assert wb.keys() == wa.keys()
    assert not np.any(wb["net.out.weight"]) and np.any(wa["net.out.weight"])  # the zero layer has moved
    assert all(not np.array_equal(wb[k], wa[k]) for k in ("net.head.weight", "net.convs.0.weight"))
    params = _params(ds, [1])
    a = before.sample(params, n=4, rng=np.random.default_rng(2))["u_bc"].values
    b = after.sample(params, n=4, rng=np.random.default_rng(2))["u_bc"].values
    assert np.isfinite(b).all() and not np.array_equal(a, b)


def test_same_seed_same_weights_and_different_seed_differs(ds):
    a = make_generator("wgan-gp", steps=3, log_every=3, **TINY).fit(ds)
    b = make_generator("wgan-gp", steps=3, log_every=3, **TINY).fit(ds)
    _assert_same_weights(_weights(a.network), _weights(b.network))
    c = make_generator("wgan-gp", steps=3, log_every=3, **{**TINY, "seed": 4}).fit(ds)
    assert not np.array_equal(_weights(a.network)["net.head.weight"], _weights(c.network)["net.head.weight"])


def test_save_load_round_trip_samples_bit_for_bit_without_the_fixed_maps(ds, tmp_path):
    gen = make_generator("wgan-gp", steps=3, log_every=3, **TINY).fit(ds)
    gen.save(tmp_path / "model")
    back = Generator.load(tmp_path / "model")
    assert type(back) is WGANGP and back.config == gen.config and back.config["architecture"] == "conv1d"
    assert isinstance(back.network.net, ConvCorrection)
    params = _params(ds, [2, 3])
    a = gen.sample(params, n=6, rng=np.random.default_rng(5))["u_bc"].values
    b = back.sample(params, n=6, rng=np.random.default_rng(5))["u_bc"].values
    np.testing.assert_array_equal(a, b)
    # the trainable weights are saved once; the (d, k) projections are rebuilt from the POD, not stored
    with np.load(tmp_path / "model" / "arrays.npz", allow_pickle=False) as f:
        wgan_keys = {k.removeprefix("model_wgan.") for k in f.files if k.startswith("model_wgan.")}
        shapes = {k: f[k].shape for k in f.files}
    assert wgan_keys == set(gen.network.state_dict())
    assert not any("to_coefficients" in k or "to_history" in k for k in wgan_keys)
    k, d = shapes["pod_modes"]
    assert [name for name, s in shapes.items() if s in ((k, d), (d, k))] == ["pod_modes"]
    torch.testing.assert_close(back.network.net.pod_map.to_coefficients, gen.network.net.pod_map.to_coefficients,
                               rtol=0, atol=0)


def test_conv_critic_options_and_weight_clipping_train(ds, tmp_path):
    opts = {**TINY, "critic_conditioning": "film", "critic_layer_norm": True}
    gen = make_generator("wgan-clip", steps=2, log_every=2, clip=0.02, **opts).fit(ds, directory=tmp_path / "c")
    from uqgan.generators.wgan.checkpoint import latest_checkpoint

    ck = torch.load(latest_checkpoint(tmp_path / "c"), weights_only=True)
    assert max(float(v.abs().max()) for v in ck["critic"].values()) <= 0.02
    assert not any("to_history" in k for k in ck["critic"])  # fixed buffers stay out of checkpoints
    mean = make_generator("wgan-gp", steps=2, log_every=2, base="mean", **TINY).fit(ds)
    for g in (gen, mean):
        assert np.isfinite(g.sample(_params(ds, [0]), n=3, rng=np.random.default_rng(0))["u_bc"].values).all()


@pytest.mark.parametrize(("options", "field"), [
    ({"architecture": "conv2d"}, "architecture"),
    ({"architecture": "conv1d", "conv_channels": 0}, "conv_channels"),
    ({"architecture": "conv1d", "conv_layers": 0}, "conv_layers"),
])
def test_bad_architecture_options_name_the_option(options, field):
    with pytest.raises(ValueError, match=rf"^{field}=") as err:
        make_generator("wgan-gp", **options)
    if field == "architecture":
        assert "'conv2d'" in str(err.value) and "'mlp'" in str(err.value) and "'conv1d'" in str(err.value)
