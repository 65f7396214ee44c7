"""The networks of the conditional WGANs: FiLM-conditioned MLPs on the whitened POD coefficients and
1-D convolutional networks over time on histories (through the fixed POD projection).

The generator's hidden layers are conditioned on ``c`` by FiLM (Perez et al. 2018):
``h ← γ(c) ⊙ h + β(c)``, with ``γ = 1`` and ``β = 0`` at the start. The critic takes ``c`` by
concatenation (default) or FiLM and has no batch norm (the gradient penalty is per sample).

``ConvCorrection`` / ``ConvCritic`` (``architecture="conv1d"``): the generator's correction is a
history ``Δh`` of ``C = 2·N`` channels (node × component) and ``T`` samples, upsampled from a coarse
map by convolutions, mapped to the coefficients by the fixed POD projection ``Δz = (s·Δh_flat @ Φᵀ) / σ``
(``Φ`` the ``(k, d)`` modes, ``σ`` the coefficient standard deviations, ``s`` a fixed scale that
keeps ``Δh`` of order 1; ``Δh_flat`` flattens ``(time, node, component)`` time-major, as the
preprocessor does). The critic sees the residual lifted back to a history, ``Δh = ((r σ) @ Φ) / s``,
through strided convolutions; the gradient penalty stays on ``r``. The projections are fixed
buffers rebuilt from the preprocessor, never trained or saved.

Every initial weight is drawn from a ``torch.Generator`` passed in (the global RNG is never used).

References
----------
E. Perez, F. Strub, H. de Vries, V. Dumoulin, A. Courville, "FiLM: visual reasoning with a general
conditioning layer", AAAI 2018.
"""

from __future__ import annotations

import math

import numpy as np

from ..._lazy import require

torch = require("torch", purpose="the wgan-gp and wgan-clip generators")
nn = torch.nn

__all__ = ["ConvCorrection", "ConvCritic", "Critic", "FiLMMLP", "ResidualGenerator"]

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
    ``(B, k)``; ``correction(noise, c)`` is ``G`` alone. With ``instance_dim`` > 0 (``base="gaussian"``)
    the noise is ``[ε, h, η]``: ``h`` ``(B, instance_dim)`` is more input for ``G`` that the output does
    not add (the instance conditioning of ``residuals="neighbours"``: ``ε`` a neighbour's whitened
    deviation, ``h`` how far its parameters lie from ``c``). ``L`` is a non-persistent buffer set by
    :meth:`set_cholesky` (the generator stores it with the kriging-Gaussian state).

    ``G`` is a :class:`FiLMMLP` on the coefficients (``pod_map=None``) or, given the fixed POD maps,
    a :class:`ConvCorrection` with ``conv_channels`` channels and ``conv_layers`` convolutions.
    """

    def __init__(self, *, k: int, p: int, latent_dim: int, base: str, hidden: int, layers: int,
                 activation: str, generator: torch.Generator, pod_map: _PODMap | None = None,
                 conv_channels: int = 32, conv_layers: int = 3, instance_dim: int = 0):
        super().__init__()
        self.k, self.p, self.latent_dim, self.base = k, p, latent_dim, base
        self.instance_dim = instance_dim
        self.noise_dim = (k + instance_dim if base == "gaussian" else 0) + latent_dim
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
        if self.instance_dim:  # G sees the neighbour and how far it is carried, not where: c_j − c for c
            c = noise[:, self.k:self.k + self.instance_dim]
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


