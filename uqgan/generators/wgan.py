"""Conditional Wasserstein GANs of the POD coefficients, built on the kriging-Gaussian model.

``wgan-gp`` models ``z | c`` as::

    z = m(c) + L ε + G(ε, η, c),    ε ~ N(0, I_k),  η ~ N(0, I_latent)

with ``m`` the kriging mean and ``L`` the Cholesky factor of the replicate-pooled residual
covariance (both from :class:`~uqgan.generators.gaussian.KrigingGaussian`), and ``G`` an MLP whose
last layer starts at zero: before training the generator *is* kriging-gaussian, and adversarial
training (Gulrajani et al. 2017) corrects the law of the residual where it is not Gaussian. A
penalty on the correction's conditional mean (``mean_penalty``) keeps the kriging mean the model's
mean: the residuals the critic sees have zero mean at every ``c``.
``base="mean"`` drops ``L ε`` (``z = m(c) + G(η, c)``): a purely adversarial residual around the
kriging mean.

The critic ``D(r, c)`` sees residuals, i.e. what the generator models: by default each training
sample minus its design point's replicate mean (rescaled to keep the covariance; the quantity the
pooled ``Σ`` comes from), or ``z − m(c)`` with ``residuals="kriging"``. Both
networks are MLPs; the generator's hidden layers are conditioned on ``c`` by FiLM (Perez et al.
2018): ``h ← γ(c) ⊙ h + β(c)``, with ``γ = 1`` and ``β = 0`` at the start. The critic takes ``c`` by
concatenation (default) or FiLM, and has no batch norm (the gradient penalty is per sample).

``architecture="conv1d"`` replaces both MLPs by 1-D convolutional networks over time on raw
histories (per unit amplitude). The generator's correction is a history ``Δh`` of ``C = 2·N``
channels (node × component) and ``T`` samples, upsampled from a coarse map by convolutions, mapped to
the coefficients by the fixed POD projection ``Δz = (s·Δh_flat @ Φᵀ) / σ`` (``Φ`` the ``(k, d)``
modes, ``σ`` the coefficient standard deviations, ``s`` a fixed scale that keeps ``Δh`` of order 1;
``Δh_flat`` flattens ``(time, node, component)`` time-major, as the preprocessor does). The critic
sees the residual lifted back to a history, ``Δh = ((r σ) @ Φ) / s``, through strided convolutions;
the gradient penalty stays on ``r``. The projections are fixed buffers rebuilt from the preprocessor,
never trained or saved.

``wgan-clip`` is the same model trained with the original weight-clipping WGAN (Arjovsky et al.
2017). The training loop is :func:`uqgan.training.wgan.train_wgan`.

References
----------
I. Gulrajani et al., "Improved training of Wasserstein GANs", NeurIPS 2017.
M. Arjovsky, S. Chintala, L. Bottou, "Wasserstein GAN", ICML 2017.
E. Perez, F. Strub, H. de Vries, V. Dumoulin, A. Courville, "FiLM: visual reasoning with a general
conditioning layer", AAAI 2018.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from .._lazy import require
from .gaussian import KrigingGaussian

torch = require("torch", purpose="the wgan-gp and wgan-clip generators")
nn = torch.nn

__all__ = ["ConvCritic", "ConvCorrection", "Critic", "FiLMMLP", "ResidualGenerator", "WGANClip", "WGANGP"]

logger = logging.getLogger(__name__)

ACTIVATIONS = ("leaky_relu", "silu")
ARCHITECTURES = ("mlp", "conv1d")
SAMPLE_CHUNK = 65536  # rows per forward pass when sampling
CONV_SAMPLE_ELEMENTS = 2**24  # activations per forward pass when sampling with architecture="conv1d" (~64 MB)
CONV_KERNEL = 5


def _activation(name: str) -> nn.Module:
    return nn.LeakyReLU(0.2) if name == "leaky_relu" else nn.SiLU()


def _linear(n_in: int, n_out: int, *, generator: torch.Generator, zero: bool = False) -> nn.Linear:
    """``nn.Linear`` with PyTorch's default init, U(±1/√n_in), drawn from ``generator`` (the global RNG is
    never used), or all zeros."""
    layer = nn.utils.skip_init(nn.Linear, n_in, n_out)
    with torch.no_grad():
        if zero or n_in == 0:
            layer.weight.zero_()
            layer.bias.zero_()
        else:
            bound = 1 / math.sqrt(n_in)
            nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return layer


def _conv1d(n_in: int, n_out: int, *, stride: int = 1, generator: torch.Generator, zero: bool = False) -> nn.Conv1d:
    """``nn.Conv1d`` (kernel 5, padding 2: the length is kept at stride 1 and halved, rounded up, at
    stride 2) with PyTorch's default init, U(±1/√(n_in·5)), drawn from ``generator``, or all zeros."""
    layer = nn.utils.skip_init(nn.Conv1d, n_in, n_out, CONV_KERNEL, stride=stride, padding=CONV_KERNEL // 2)
    with torch.no_grad():
        if zero:
            layer.weight.zero_()
            layer.bias.zero_()
        else:
            bound = 1 / math.sqrt(n_in * CONV_KERNEL)
            nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return layer


class _FiLM(nn.Module):
    """``(γ, β)`` per hidden layer from a small MLP on ``c`` (Perez et al. 2018); the output layer
    starts at zero, so ``γ = 1`` and ``β = 0`` before training."""

    def __init__(self, cond_dim: int, hidden: int, layers: int, *, width: int, activation: str,
                 generator: torch.Generator):
        super().__init__()
        self.hidden, self.layers = hidden, layers
        self.net = nn.Sequential(_linear(cond_dim, width, generator=generator), _activation(activation),
                                 _linear(width, 2 * hidden * layers, generator=generator, zero=True))

    def forward(self, c):
        out = self.net(c).view(c.shape[0], 2, self.layers, self.hidden)
        return 1 + out[:, 0], out[:, 1]


class FiLMMLP(nn.Module):
    """MLP ``f(x, c)``: ``layers`` hidden layers ``Linear → [LayerNorm] → FiLM(c) → activation``, linear
    output.

    Parameters
    ----------
    in_dim, cond_dim, out_dim : widths of ``x``, ``c`` and the output
    hidden, layers : hidden width and number of hidden layers
    activation : ``"leaky_relu"`` (slope 0.2) or ``"silu"``
    conditioning : ``"film"`` (γ, β on every hidden layer) or ``"concat"`` (``[x, c]`` as input)
    layer_norm : LayerNorm after each hidden linear layer (no batch norm: it would couple the
        samples of a batch, which the per-sample gradient penalty forbids)
    zero_last : the output layer starts at zero (the network outputs 0 before training)
    film_width : hidden width of the FiLM network on ``c``
    generator : torch.Generator for the initial weights (keyword-only)
    """

    def __init__(self, in_dim: int, cond_dim: int, out_dim: int, *, hidden: int, layers: int,
                 activation: str = "leaky_relu", conditioning: str = "film", layer_norm: bool = False,
                 zero_last: bool = False, film_width: int = 64, generator: torch.Generator):
        super().__init__()
        self.concat = conditioning == "concat"
        first = in_dim + (cond_dim if self.concat else 0)
        self.linears = nn.ModuleList([_linear(first if i == 0 else hidden, hidden, generator=generator)
                                      for i in range(layers)])
        self.norms = nn.ModuleList([nn.LayerNorm(hidden) for _ in range(layers)]) if layer_norm else None
        self.film = (_FiLM(cond_dim, hidden, layers, width=film_width, activation=activation, generator=generator)
                     if conditioning == "film" and cond_dim > 0 else None)
        self.act = _activation(activation)
        self.out = _linear(hidden, out_dim, generator=generator, zero=zero_last)

    def forward(self, x, c):
        h = torch.cat([x, c], dim=1) if self.concat else x
        gamma, beta = self.film(c) if self.film is not None else (None, None)
        for i, lin in enumerate(self.linears):
            h = lin(h)
            if self.norms is not None:
                h = self.norms[i](h)
            if gamma is not None:
                h = gamma[:, i] * h + beta[:, i]
            h = self.act(h)
        return self.out(h)


class _PODMap(nn.Module):
    """The fixed linear maps between histories and whitened POD coefficients (no trainable weights).

    ``encode(h)``: ``(B, C, T)`` history (channel ``n·2 + component``, in units of ``scale``) ->
    ``(B, k)`` coefficients, ``((scale · h_flat) @ modesᵀ) / std`` with ``h_flat[t·C + n·2 + comp]``,
    the preprocessor's time-major flattening of ``(time, node, component)``: the change of
    ``Preprocessor.pod.encode`` for a history change ``scale · h`` (the POD mean cancels).
    ``decode(r)``: ``(B, k)`` -> ``(B, C, T)``, ``((r · std) @ modes) / scale``, its right inverse.

    ``scale = √(Σ std² / d)`` is the RMS per entry of the history a unit-variance coefficient vector
    decodes to, so ``h`` is of order 1 whatever the data's units. The matrices are non-persistent
    buffers: they follow ``.to(device)`` but stay out of ``state_dict`` (the owner rebuilds them from
    its preprocessor).
    """

    def __init__(self, modes: np.ndarray, std: np.ndarray, history_shape: tuple[int, int, int]):
        super().__init__()
        modes, std = np.asarray(modes, dtype=float), np.asarray(std, dtype=float)
        t, n, comp = history_shape
        self.time, self.channels = int(t), int(n * comp)
        if modes.shape[1] != self.time * self.channels:
            raise ValueError(f"POD modes of width {modes.shape[1]} do not match histories of shape {history_shape}")
        ms = float(np.sqrt(np.sum(std**2) / modes.shape[1]))
        self.scale = ms if ms > 0 and math.isfinite(ms) else 1.0
        self.register_buffer("to_coefficients", torch.as_tensor(self.scale * modes.T / std, dtype=torch.float32),
                             persistent=False)
        self.register_buffer("to_history", torch.as_tensor(std[:, None] * modes / self.scale, dtype=torch.float32),
                             persistent=False)

    def encode(self, h):
        return h.transpose(1, 2).reshape(h.shape[0], -1) @ self.to_coefficients

    def decode(self, r):
        return (r @ self.to_history).view(r.shape[0], self.time, self.channels).transpose(1, 2)


class ConvCorrection(nn.Module):
    """The correction ``G([ε, η], c)`` as a history: a 1-D convolutional network over time, mapped to the
    coefficients by the fixed POD projection (``architecture="conv1d"``).

    ``[ε, η]`` -> linear -> ``(channels, ⌈T / 2^(layers−1)⌉)`` -> ``layers − 1`` times (nearest
    upsampling ×2 -> Conv1d k5) -> Conv1d k5 to ``C = 2·N`` channels -> crop to ``T`` -> ``encode``.
    The hidden maps are FiLM-conditioned on ``c`` per channel (Perez et al. 2018). ``forward`` returns
    ``(B, k)``; ``history`` the ``(B, C, T)`` correction in units of ``pod_map.scale``.

    Parameters
    ----------
    noise_dim, p : widths of the noise and of ``c``
    pod_map : the fixed projections (:class:`_PODMap`)
    channels, layers : hidden channels and convolution layers (>= 1)
    zero_last : the last convolution starts at zero (the correction is 0 before training)
    generator : torch.Generator for the initial weights (keyword-only)
    """

    def __init__(self, noise_dim: int, p: int, *, pod_map: _PODMap, channels: int, layers: int, activation: str,
                 zero_last: bool, film_width: int = 64, generator: torch.Generator):
        super().__init__()
        self.pod_map, self.channels = pod_map, channels
        self.coarse = -(-pod_map.time // 2 ** (layers - 1))
        self.head = _linear(noise_dim, channels * self.coarse, generator=generator)
        self.convs = nn.ModuleList([_conv1d(channels, channels, generator=generator) for _ in range(layers - 1)])
        self.film = (_FiLM(p, channels, layers, width=film_width, activation=activation, generator=generator)
                     if p > 0 else None)
        self.act = _activation(activation)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.out = _conv1d(channels, pod_map.channels, generator=generator, zero=zero_last)

    def history(self, noise, c):
        gamma, beta = self.film(c) if self.film is not None else (None, None)
        h = self.head(noise).view(noise.shape[0], self.channels, self.coarse)
        for i in range(len(self.convs) + 1):
            if i > 0:
                h = self.convs[i - 1](self.up(h))
            if gamma is not None:
                h = gamma[:, i, :, None] * h + beta[:, i, :, None]
            h = self.act(h)
        return self.out(h)[:, :, : self.pod_map.time]

    def forward(self, noise, c):
        return self.pod_map.encode(self.history(noise, c))


class ResidualGenerator(nn.Module):
    """The residual ``r = L ε + G([ε, η], c)`` (``base="gaussian"``) or ``G(η, c)`` (``base="mean"``).

    ``forward(noise, c)`` takes ``noise = [ε, η]`` ``(B, noise_dim)`` and ``c`` ``(B, p)`` and returns
    ``(B, k)``; ``correction(noise, c)`` is ``G`` alone. ``L`` is a non-persistent buffer set by
    :meth:`set_cholesky` (the generator stores it with the kriging-Gaussian state).

    ``G`` is a :class:`FiLMMLP` on the coefficients (``pod_map=None``) or, given the fixed POD maps,
    a :class:`ConvCorrection` with ``conv_channels`` channels and ``conv_layers`` convolutions.
    """

    def __init__(self, *, k: int, p: int, latent_dim: int, base: str, hidden: int, layers: int,
                 activation: str, generator: torch.Generator, pod_map: _PODMap | None = None,
                 conv_channels: int = 32, conv_layers: int = 3):
        super().__init__()
        self.k, self.p, self.latent_dim, self.base = k, p, latent_dim, base
        self.noise_dim = (k if base == "gaussian" else 0) + latent_dim
        if pod_map is None:
            self.net = FiLMMLP(self.noise_dim, p, k, hidden=hidden, layers=layers, activation=activation,
                               conditioning="film", zero_last=base == "gaussian", generator=generator)
        else:
            self.net = ConvCorrection(self.noise_dim, p, pod_map=pod_map, channels=conv_channels, layers=conv_layers,
                                      activation=activation, zero_last=base == "gaussian", generator=generator)
        self.register_buffer("cholesky", torch.zeros(k, k), persistent=False)

    def set_cholesky(self, chol: np.ndarray) -> None:
        self.cholesky = torch.as_tensor(np.asarray(chol), dtype=torch.float32, device=self.cholesky.device)

    def correction(self, noise, c):
        return self.net(noise, c)

    def forward(self, noise, c):
        out = self.correction(noise, c)
        if self.base == "gaussian":
            out = out + noise[:, : self.k] @ self.cholesky.T
        return out


class Critic(nn.Module):
    """``D(r, c) -> (B,)``: an MLP on the residual with ``c`` by concatenation or FiLM, linear output."""

    def __init__(self, *, k: int, p: int, hidden: int, layers: int, activation: str, conditioning: str,
                 layer_norm: bool, generator: torch.Generator):
        super().__init__()
        self.net = FiLMMLP(k, p, 1, hidden=hidden, layers=layers, activation=activation, conditioning=conditioning,
                           layer_norm=layer_norm, generator=generator)

    def forward(self, r, c):
        return self.net(r, c).squeeze(-1)


class ConvCritic(nn.Module):
    """``D(r, c) -> (B,)`` on the residual as a history: ``r`` lifted by the fixed ``pod_map.decode`` to
    ``(B, C, T)``, ``layers`` Conv1d k5 stride 2 -> [GroupNorm(1)] -> [FiLM(c)] -> LeakyReLU, flattened,
    ``[features, c]`` (concatenation) -> Linear(hidden) -> activation -> Linear(1). No batch norm
    (the gradient penalty is per sample); the penalty's gradient is taken with respect to ``r``.
    """

    def __init__(self, *, p: int, pod_map: _PODMap, channels: int, layers: int, hidden: int, activation: str,
                 conditioning: str, layer_norm: bool, film_width: int = 64, generator: torch.Generator):
        super().__init__()
        self.pod_map = pod_map
        self.concat = conditioning == "concat"
        self.convs = nn.ModuleList([_conv1d(pod_map.channels if i == 0 else channels, channels, stride=2,
                                            generator=generator) for i in range(layers)])
        self.norms = nn.ModuleList([nn.GroupNorm(1, channels) for _ in range(layers)]) if layer_norm else None
        self.film = (_FiLM(p, channels, layers, width=film_width, activation=activation, generator=generator)
                     if conditioning == "film" and p > 0 else None)
        length = pod_map.time
        for _ in range(layers):
            length = -(-length // 2)
        self.act = nn.LeakyReLU(0.2)
        self.head = nn.Sequential(_linear(channels * length + (p if self.concat else 0), hidden, generator=generator),
                                  _activation(activation), _linear(hidden, 1, generator=generator))

    def forward(self, r, c):
        h = self.pod_map.decode(r)
        gamma, beta = self.film(c) if self.film is not None else (None, None)
        for i, conv in enumerate(self.convs):
            h = conv(h)
            if self.norms is not None:
                h = self.norms[i](h)
            if gamma is not None:
                h = gamma[:, i, :, None] * h + beta[:, i, :, None]
            h = self.act(h)
        h = h.flatten(1)
        if self.concat:
            h = torch.cat([h, c], dim=1)
        return self.head(h).squeeze(-1)


def _resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}: torch sees no CUDA device (torch.cuda.is_available() is False); "
                         "use device='cpu' or 'auto'")
    return device


def _seed63(ss: np.random.SeedSequence) -> int:
    """A 63-bit torch seed from a numpy SeedSequence."""
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


class WGANGP(KrigingGaussian):
    """Kriging mean + Gaussian residual + a conditional WGAN-GP correction of the residual's law.

    Parameters
    ----------
    steps : generator steps (default 2000)
    batch_size : minibatch size (64)
    n_critic : critic steps per generator step (5)
    gp_lambda : gradient-penalty weight λ (10)
    lr : learning rate of both networks (1e-4); ``lr_critic`` / ``lr_generator`` override it for
        one of them (the two time-scale update rule, Heusel et al. 2017)
    mean_penalty : weight μ of ``μ E_c ‖E[G(ε, η, c) | c]‖²`` in the generator loss (100; 0 is the
        plain WGAN-GP), estimated without bias from two noise draws per condition
        (:func:`uqgan.training.wgan.conditional_mean_penalty`). The real residuals have zero mean at
        every ``c`` (deviations from the replicate mean), so the correction should too, but the
        adversarial game does not hold it there: the critic's gradient pushes the correction's mean
        around and it oscillates. With the critic's gradient norm ~1 the two gradients balance at a
        mean of about 1/(2μ) = 0.005 (whitened coefficients). With ``residuals="kriging"`` the
        penalty also keeps the correction from learning the kriging error at the training points.
        Measured on the synthetic ``gaussian`` data (200 points x 24 replicates, ``width_scale=3``,
        ``pod_energy=0.99999``, 1000 steps at lr 1e-4; held-out truth floor 0.000 ± 0.002): with μ = 0
        the correction's conditional mean at held-out points drifted by 0.09-2.3 (history norm, every
        100 steps; the residual's RMS norm is 0.46) and the raw energy distance to fresh truth ranged
        over 0.02-3.4 (0.10 at the last step); with μ = 100 the drift stayed below 0.013 and the
        distance at kriging-gaussian's (+0.0002 at the last step, paired over 20 sampling seeds). On
        40 points x 8 replicates, where the kriging mean's error dominates: 1.85 at μ = 0 against
        kriging-gaussian's 1.16, and 1.14 at μ = 100
    betas : Adam's (β1, β2) ((0, 0.9))
    hidden, layers : width and number of hidden layers of both MLPs (256, 3); with
        ``architecture="conv1d"``, ``hidden`` is the width of the conv critic's output MLP
    architecture : ``"mlp"`` (default: MLPs on the POD coefficients) or ``"conv1d"`` (1-D
        convolutions over time on the histories, mapped to and from the coefficients by the fixed
        POD projection; see the module docstring)
    conv_channels, conv_layers : hidden channels and convolution layers of both networks with
        ``architecture="conv1d"`` (32, 3): the generator upsamples ×2 ``conv_layers − 1`` times from
        ``T / 2^(conv_layers−1)`` samples, the critic downsamples ×2 ``conv_layers`` times
    latent_dim : extra noise η fed to the generator (16; with ``base="mean"`` η is all the noise, so
        make it at least the number of POD coefficients)
    activation : ``"leaky_relu"`` or ``"silu"``
    base : ``"gaussian"`` (``z = m + L ε + G``, G zero at the start) or ``"mean"`` (``z = m + G(η, c)``)
    critic_conditioning : ``"concat"`` or ``"film"``; ``critic_layer_norm`` : LayerNorm in the critic
    validation_samples : generated samples per validation point for the validation energy distance
    checkpoint_every, log_every : generator steps between checkpoints / metrics rows (500, 50)
    keep_checkpoints : checkpoint files kept (5; None keeps all)
    max_rollbacks, penalty_threshold : the divergence guard (see :func:`uqgan.training.wgan.train_wgan`)
    residuals : the real residuals the critic sees. ``"replicate"`` (default): each sample minus its
        design point's replicate mean, times ``√(n_p / (n_p − 1))`` (so a Gaussian residual keeps its
        covariance): the within-point variability the pooled ``Σ`` is estimated from, with no trace
        of the kriging error, so the correction cannot learn the noise of the training points'
        means as a spurious shift. Points with one replicate are left out. ``"kriging"``:
        ``z − m(c)`` (which also holds the kriging mean's error at the training points).
    device : ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``
    num_threads : torch CPU threads while training on the CPU (1; None leaves torch's setting): these
        networks are small and overhead-bound, and one thread was ~10x faster than two on a busy
        2-core machine (the setting is restored after training)
    **base_options : :class:`KrigingGaussian`'s (``k_individual``, ``n_restarts``) and the shared
        ones (``pod_energy``, ``max_modes``, ``validation_fraction``, ``seed``)

    ``fit(ds, directory=None, resume=False, show_progress=False)``: ``directory`` receives
    ``checkpoints/``, ``metrics.csv`` and ``training.png``; ``resume`` continues from its newest
    checkpoint. The generator kept is the one with the lowest validation energy distance (the
    untrained one, i.e. kriging-gaussian, competes as step 0).
    """

    name = "wgan-gp"
    adversarial = True
    _loss = "gp"

    def __init__(self, *, steps: int = 2000, batch_size: int = 64, n_critic: int = 5, gp_lambda: float = 10.0,
                 lr: float = 1e-4, betas: tuple[float, float] = (0.0, 0.9), lr_critic: float | None = None,
                 lr_generator: float | None = None, hidden: int = 256, layers: int = 3, latent_dim: int = 16,
                 activation: str = "leaky_relu", base: str = "gaussian", critic_conditioning: str = "concat",
                 critic_layer_norm: bool = False, validation_samples: int = 64, checkpoint_every: int = 500,
                 log_every: int = 50, keep_checkpoints: int | None = 5, max_rollbacks: int = 3,
                 penalty_threshold: float = 1e4, residuals: str = "replicate", device: str = "auto",
                 num_threads: int | None = 1, architecture: str = "mlp", conv_channels: int = 32,
                 conv_layers: int = 3, mean_penalty: float = 100.0, **base_options):
        from ..training.wgan import WGANTrainConfig

        super().__init__(**base_options)

        def need(ok: bool, name: str, value, rule: str):
            if not ok:
                raise ValueError(f"{name}={value!r}: {rule}")

        need(self.config["covariance"] == "pooled", "covariance", self.config["covariance"],
             f"{self.name} learns the residual's law itself on top of the pooled Gaussian: covariance='local' "
             "and 'resample' are kriging-gaussian options")

        def pos_int(v) -> bool:
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1

        need(pos_int(hidden), "hidden", hidden, "must be an integer >= 1 (hidden width; 256 is the default)")
        need(pos_int(layers), "layers", layers, "must be an integer >= 1 (hidden layers; 3 is the default)")
        need(isinstance(latent_dim, (int, np.integer)) and not isinstance(latent_dim, bool) and latent_dim >= 0,
             "latent_dim", latent_dim, "must be an integer >= 0 (16 is the default)")
        need(architecture in ARCHITECTURES, "architecture", architecture,
             "must be 'mlp' (MLPs on the POD coefficients) or 'conv1d' (1-D convolutions over time on the histories)")
        need(pos_int(conv_channels), "conv_channels", conv_channels,
             "must be an integer >= 1 (hidden channels with architecture='conv1d'; 32 is the default)")
        need(pos_int(conv_layers), "conv_layers", conv_layers,
             "must be an integer >= 1 (convolution layers with architecture='conv1d'; 3 is the default)")
        need(activation in ACTIVATIONS, "activation", activation, f"must be one of {', '.join(ACTIVATIONS)}")
        need(base in ("gaussian", "mean"), "base", base, "must be 'gaussian' (kriging mean + Gaussian residual + "
             "correction) or 'mean' (kriging mean + adversarial residual)")
        need(base == "gaussian" or latent_dim >= 1, "latent_dim", latent_dim,
             "must be >= 1 with base='mean' (η is the only noise; use at least the number of POD coefficients)")
        need(critic_conditioning in ("concat", "film"), "critic_conditioning", critic_conditioning,
             "must be 'concat' or 'film'")
        need(isinstance(critic_layer_norm, bool), "critic_layer_norm", critic_layer_norm, "must be True or False")
        need(residuals in ("replicate", "kriging"), "residuals", residuals,
             "must be 'replicate' (deviations from each point's replicate mean) or 'kriging' (z - m(c))")
        need(pos_int(validation_samples), "validation_samples", validation_samples, "must be an integer >= 1 (64)")
        need(isinstance(device, str) and (device in ("auto", "cpu") or device.startswith("cuda")), "device", device,
             "must be 'auto', 'cpu' or 'cuda'")
        need(num_threads is None or pos_int(num_threads), "num_threads", num_threads,
             "must be None (torch's setting) or an integer >= 1 (1 is the default)")
        for name, v in (("lr", lr), ("lr_critic", lr_critic), ("lr_generator", lr_generator)):
            if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0):
                raise ValueError(f"{name}={v!r}: must be > 0 (1e-4 for WGAN-GP, 5e-5 for weight clipping)")
        self.train_config = WGANTrainConfig(
            steps=steps, batch_size=batch_size, n_critic=n_critic, loss=self._loss, gp_lambda=gp_lambda,
            clip=getattr(self, "_clip", 0.01), lr_critic=lr_critic if lr_critic is not None else lr,
            lr_generator=lr_generator if lr_generator is not None else lr, betas=tuple(betas) if isinstance(
                betas, (list, tuple)) else betas, checkpoint_every=checkpoint_every, log_every=log_every,
            keep_checkpoints=keep_checkpoints, max_rollbacks=max_rollbacks, penalty_threshold=penalty_threshold,
            mean_penalty=mean_penalty)
        self.config.update({
            "steps": steps, "batch_size": batch_size, "n_critic": n_critic, "gp_lambda": gp_lambda, "lr": lr,
            "betas": list(self.train_config.betas), "lr_critic": lr_critic, "lr_generator": lr_generator,
            "hidden": hidden, "layers": layers, "latent_dim": latent_dim, "activation": activation, "base": base,
            "critic_conditioning": critic_conditioning, "critic_layer_norm": critic_layer_norm,
            "validation_samples": validation_samples, "checkpoint_every": checkpoint_every, "log_every": log_every,
            "keep_checkpoints": keep_checkpoints, "max_rollbacks": max_rollbacks,
            "penalty_threshold": penalty_threshold, "residuals": residuals, "device": device,
            "num_threads": num_threads, "architecture": architecture, "conv_channels": conv_channels,
            "conv_layers": conv_layers, "mean_penalty": mean_penalty})
        self.network: ResidualGenerator | None = None
        self.training_summary: dict = {}

    # --------------------------------------------------------------------------------------------
    def _pod_map(self) -> _PODMap | None:
        """The fixed history <-> coefficient maps from the preprocessor (``architecture="conv1d"``), else None."""
        if self.config["architecture"] != "conv1d":
            return None
        if self.prep.shift is not None:
            raise ValueError("architecture='conv1d' works on the histories themselves and cannot take "
                             "registration='arrival': use architecture='mlp' or registration='none'")
        return _PODMap(self.prep.pod.modes, self.prep.pod.std, self.prep.history_shape)

    def _build_network(self, k: int, p: int, *, generator: torch.Generator) -> ResidualGenerator:
        cfg = self.config
        net = ResidualGenerator(k=k, p=p, latent_dim=cfg["latent_dim"], base=cfg["base"], hidden=cfg["hidden"],
                                layers=cfg["layers"], activation=cfg["activation"], generator=generator,
                                pod_map=self._pod_map(), conv_channels=cfg["conv_channels"],
                                conv_layers=cfg["conv_layers"])
        net.set_cholesky(self.residual_cholesky)
        return net

    def _build_critic(self, k: int, p: int, *, generator: torch.Generator) -> nn.Module:
        cfg = self.config
        if cfg["architecture"] == "conv1d":
            return ConvCritic(p=p, pod_map=self._pod_map(), channels=cfg["conv_channels"], layers=cfg["conv_layers"],
                              hidden=cfg["hidden"], activation=cfg["activation"],
                              conditioning=cfg["critic_conditioning"], layer_norm=cfg["critic_layer_norm"],
                              generator=generator)
        return Critic(k=k, p=p, hidden=cfg["hidden"], layers=cfg["layers"], activation=cfg["activation"],
                      conditioning=cfg["critic_conditioning"], layer_norm=cfg["critic_layer_norm"], generator=generator)

    def _fit(self, z, c, points, *, validation=None, directory=None, resume: bool = False,
             show_progress: bool = False) -> None:
        from ..training.wgan import EnergyValidator, train_wgan

        super()._fit(z, c, points, validation=validation)
        cfg = self.config
        device = _resolve_device(cfg["device"])
        k, p = z.shape[1], c.shape[1]
        s_init, s_noise, s_data, s_val = np.random.SeedSequence(cfg["seed"], spawn_key=(23,)).spawn(4)
        g_init = torch.Generator().manual_seed(_seed63(s_init))
        self.network = self._build_network(k, p, generator=g_init)
        critic = self._build_critic(k, p, generator=g_init)
        residual, c_train = self._training_residuals(z, c, points)
        validate = None
        if validation is not None and validation.sizes.get("sample", 0) > 0:
            zv = self.prep.coefficients(validation)
            cv = self.prep.condition({n: validation[n].values for n in self.prep.parameter_names})
            groups = validation["point"].values if "point" in validation.coords else np.arange(zv.shape[0])
            validate = EnergyValidator(zv - self.mean_coefficients(cv), cv, groups, noise_dim=self.network.noise_dim,
                                       n_fake=cfg["validation_samples"],
                                       generator=torch.Generator().manual_seed(_seed63(s_val)))
        logger.info("%s: training on %d samples (%d coefficients, %d parameters) on %s", self.name, z.shape[0], k, p,
                    device)
        result = train_wgan(self.network, critic, residual, c_train, self.train_config,
                            torch_generator=torch.Generator().manual_seed(_seed63(s_noise)),
                            rng=np.random.default_rng(s_data), validate=validate, directory=directory, resume=resume,
                            device=device, seed=cfg["seed"], model_config={"generator": self.name, **cfg},
                            show_progress=show_progress,
                            num_threads=cfg["num_threads"] if device == "cpu" else None)
        self.network.eval()
        self.training_summary = {**result.to_dict(), "device": device,
                                 "directory": str(directory) if directory is not None else None}

    def _training_residuals(self, z: np.ndarray, c: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The real residuals and their conditioning (see the ``residuals`` option)."""
        if self.config["residuals"] == "replicate":
            _, inverse, counts = np.unique(points, return_inverse=True, return_counts=True)
            keep = counts[inverse] >= 2
            if keep.any():
                zbar = np.zeros((counts.size, z.shape[1]))
                np.add.at(zbar, inverse, z)
                zbar /= counts[:, None]
                scale = np.sqrt(counts / np.maximum(counts - 1, 1))[inverse][:, None]
                return ((z - zbar[inverse]) * scale)[keep], c[keep]
            logger.warning("%s: no design point has two or more replicates, so the critic sees the residuals of the "
                           "kriging mean (residuals='kriging'); generate replicates for a clean residual", self.name)
        return z - self.mean_coefficients(c), c

    def _sample(self, c: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.network is None or self.residual_cholesky is None:
            raise RuntimeError(f"{self.name} is not fitted: call fit(dataset) or load a saved model")
        c = np.asarray(c, dtype=float)
        mean = self.mean_coefficients(c)
        if self.network.base == "gaussian":  # the kriging-gaussian draw, from the same rng in the same order
            eps = rng.standard_normal(mean.shape)
            z = mean + eps @ self.residual_cholesky.T
        else:
            eps, z = None, mean.copy()
        tg = torch.Generator().manual_seed(int(rng.integers(2**63)))
        device = next(self.network.parameters()).device
        chunk = SAMPLE_CHUNK
        if isinstance(self.network.net, ConvCorrection):  # the hidden maps are (rows, channels, ~T) each
            pm = self.network.net.pod_map
            chunk = max(1, min(chunk, CONV_SAMPLE_ELEMENTS // (max(self.network.net.channels, pm.channels) * pm.time)))
        with torch.no_grad():
            for lo in range(0, z.shape[0], chunk):
                hi = min(lo + chunk, z.shape[0])
                eta = torch.randn(hi - lo, self.network.latent_dim, generator=tg)
                noise = torch.cat([torch.from_numpy(eps[lo:hi]).float(), eta], dim=1) if eps is not None else eta
                cc = torch.from_numpy(c[lo:hi]).float()
                corr = self.network.correction(noise.to(device), cc.to(device))
                z[lo:hi] += corr.double().cpu().numpy()
        return z

    # --------------------------------------------------------------------------------------------
    def _network_meta(self) -> dict:
        net = self.network
        return {"k": net.k, "p": net.p, "latent_dim": net.latent_dim, "base": net.base,
                "hidden": self.config["hidden"], "layers": self.config["layers"],
                "activation": self.config["activation"], "noise_dim": net.noise_dim,
                "architecture": self.config["architecture"]}

    def _state(self) -> dict[str, np.ndarray]:
        if self.network is None:
            raise RuntimeError(f"{self.name} is not fitted: nothing to save")
        return {**super()._state(),
                **{f"wgan.{k}": v.detach().cpu().numpy() for k, v in self.network.state_dict().items()}}

    def _meta(self) -> dict:
        return {**super()._meta(), "wgan": {"network": self._network_meta(), "training": self.training_summary}}

    def _restore(self, arrays: dict[str, np.ndarray], meta: dict, *, directory: Path) -> None:
        super()._restore({k: v for k, v in arrays.items() if not k.startswith("wgan.")}, meta, directory=directory)
        info = meta["wgan"]["network"]
        self.network = self._build_network(int(info["k"]), int(info["p"]), generator=torch.Generator())
        state = {k.removeprefix("wgan."): torch.from_numpy(np.ascontiguousarray(v))
                 for k, v in arrays.items() if k.startswith("wgan.")}
        self.network.load_state_dict(state)
        device = self.config["device"]
        if device.startswith("cuda") and not torch.cuda.is_available():
            logger.warning("%s was configured for device=%r but torch sees no CUDA device: sampling on the CPU",
                           self.name, device)
            device = "cpu"
        self.network.to(_resolve_device(device))
        self.network.eval()
        self.training_summary = meta["wgan"].get("training", {})


class WGANClip(WGANGP):
    """The same model trained with the original weight-clipping WGAN (Arjovsky et al. 2017): every
    critic weight clipped to [−clip, clip] after each critic step, RMSProp with lr 5e-5, no penalty.

    Parameters
    ----------
    clip : the clipping bound (0.01)
    lr : learning rate (5e-5)
    **options : as :class:`WGANGP`, without ``gp_lambda`` and ``betas``
    """

    name = "wgan-clip"
    _loss = "clip"

    def __init__(self, *, clip: float = 0.01, lr: float = 5e-5, **options):
        for bad, why in (("gp_lambda", "there is no gradient penalty"), ("betas", "it trains with RMSProp")):
            if bad in options:
                raise ValueError(f"{bad}={options[bad]!r}: wgan-clip takes no {bad} ({why}); use wgan-gp for it")
        self._clip = clip
        super().__init__(lr=lr, **options)
        for key in ("gp_lambda", "betas"):
            self.config.pop(key)
        self.config["clip"] = clip
