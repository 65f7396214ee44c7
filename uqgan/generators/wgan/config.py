"""The settings of the adversarial generators and of their training loop: frozen, validated pydantic
models (no torch import).

:class:`WGANConfig` holds every option of ``wgan-gp`` (networks, training, the kriging mean and the
shared preprocessing options), :class:`WGANClipConfig` those of ``wgan-clip``;
:class:`WGANTrainConfig` is what the :class:`~uqgan.generators.wgan.trainer.Trainer` needs. A bad
value raises :class:`~uqgan.config.ConfigError` (a ``ValueError``) with one line per problem,
``field=value: rule (the fix)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from ...config import ConfigError, error_lines

__all__ = ["ACTIVATIONS", "ARCHITECTURES", "RESIDUALS", "WGANClipConfig", "WGANConfig", "WGANTrainConfig",
           "parse_config"]

ACTIVATIONS = ("leaky_relu", "silu")
ARCHITECTURES = ("mlp", "conv1d")
RESIDUALS = ("deviations", "neighbours", "replicate", "kriging")


def _rule(check: Callable[[Any], bool], rule: str):
    """An ``AfterValidator`` that raises ``rule`` (the allowed range and the fix) when ``check`` fails."""

    def validate(v):
        if not check(v):
            raise ValueError(rule)
        return v

    return AfterValidator(validate)


def _no_bool(v):
    if isinstance(v, bool):
        raise ValueError("must be a number, not a boolean")
    return v


def _one_of(options: tuple[str, ...], why: str = ""):
    return _rule(lambda v: v in options, f"must be one of {', '.join(options)}{why}")


def _real(v) -> bool:
    return math.isfinite(v)


_Int = Annotated[int, BeforeValidator(_no_bool)]
_Real = Annotated[float, BeforeValidator(_no_bool)]
_LR_RULE = "must be > 0 (1e-4 for WGAN-GP, 5e-5 for weight clipping)"


def _betas(v):
    if not (isinstance(v, (tuple, list)) and len(v) == 2
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x < 1 for x in v)):
        raise ValueError("must be two numbers in [0, 1) (Gulrajani et al. use (0, 0.9))")
    return (float(v[0]), float(v[1]))


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class WGANTrainConfig(_Settings):
    """Settings of the WGAN training loop (:class:`~uqgan.generators.wgan.trainer.Trainer`).

    Parameters
    ----------
    steps : generator steps in all (a resumed run continues up to this many; 0 keeps the start)
    batch_size : real and fake samples per critic and generator step
    n_critic : critic steps per generator step (Gulrajani et al.: 5)
    loss : ``"gp"`` (gradient penalty, Adam) or ``"clip"`` (weight clipping, RMSProp)
    gp_lambda : penalty weight λ (Gulrajani et al.: 10)
    clip : weight-clipping bound for ``loss="clip"`` (Arjovsky et al.: 0.01)
    lr_critic, lr_generator : learning rates (equal by default; different = TTUR, Heusel et al. 2017)
    betas : Adam's (β1, β2) (Gulrajani et al.: (0, 0.9))
    checkpoint_every : generator steps between checkpoints (and one at the end)
    log_every : generator steps between rows of ``metrics.csv`` and validations
    keep_checkpoints : checkpoint files kept on disk (the newest; ``None`` keeps all)
    max_rollbacks : divergences survived (by rolling back and halving the learning rates) before
        :class:`~uqgan.generators.wgan.trainer.TrainingDiverged` is raised
    penalty_threshold : a gradient penalty above this counts as a divergence
    mean_penalty : weight μ of the conditional-mean penalty ``μ E_c ‖E[G | c]‖²`` in the generator
        loss (0 turns it off), for real samples with zero conditional mean (residuals). Under the
        gradient penalty the critic's gradient has norm ~1, so the generator's conditional mean
        settles within ~1/(2μ) of zero (per unit of the data)
    """

    steps: Annotated[_Int, _rule(lambda v: v >= 0, "must be an integer >= 0 (generator steps; 2000 is the default, "
                                                   "0 keeps the initial model)")] = 2000
    batch_size: Annotated[_Int, _rule(lambda v: v >= 1, "must be an integer >= 1 (64 is usual)")] = 64
    n_critic: Annotated[_Int, _rule(lambda v: v >= 1, "must be >= 1 (WGAN-GP usually uses 5)")] = 5
    loss: Annotated[str, _rule(lambda v: v in ("gp", "clip"),
                               "must be 'gp' (gradient penalty) or 'clip' (weight clipping)")] = "gp"
    gp_lambda: Annotated[_Real, _rule(lambda v: _real(v) and v >= 0, "must be >= 0 (Gulrajani et al. use 10)")] = 10.0
    clip: Annotated[_Real, _rule(lambda v: _real(v) and v > 0, "must be > 0 (Arjovsky et al. use 0.01)")] = 0.01
    lr_critic: Annotated[_Real, _rule(lambda v: _real(v) and v > 0, _LR_RULE)] = 1e-4
    lr_generator: Annotated[_Real, _rule(lambda v: _real(v) and v > 0, _LR_RULE)] = 1e-4
    betas: Annotated[tuple[float, float], BeforeValidator(_betas)] = (0.0, 0.9)
    checkpoint_every: Annotated[_Int, _rule(lambda v: v >= 1, "must be an integer >= 1 (generator steps between "
                                                              "checkpoints)")] = 500
    log_every: Annotated[_Int, _rule(lambda v: v >= 1, "must be an integer >= 1 (generator steps between metrics "
                                                       "rows)")] = 50
    keep_checkpoints: Annotated[_Int | None, _rule(lambda v: v is None or v >= 1,
                                                   "must be None (keep all) or an integer >= 1")] = 5
    max_rollbacks: Annotated[_Int, _rule(lambda v: v >= 0, "must be an integer >= 0 (0 stops at the first "
                                                           "divergence)")] = 3
    penalty_threshold: Annotated[_Real, _rule(lambda v: _real(v) and v > 0, "must be > 0 (1e4 is the default)")] = 1e4
    mean_penalty: Annotated[_Real, _rule(lambda v: _real(v) and v >= 0,
                                         "must be >= 0 (0 turns the conditional-mean penalty off)")] = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-like values (``betas`` as a list), as stored in the checkpoints."""
        d = self.model_dump()
        d["betas"] = list(self.betas)
        return d


class _AdversarialConfig(_Settings):
    """The options both adversarial generators share (see :class:`WGANConfig`)."""

    generator_name: ClassVar[str]
    loss: ClassVar[str]

    # training (None: the default of the residual mode, see resolved_steps / resolved_lr)
    steps: _Int | None = None
    batch_size: _Int = 64
    n_critic: _Int = 5
    lr_critic: Annotated[_Real | None, _rule(lambda v: v is None or (_real(v) and v > 0), _LR_RULE)] = None
    lr_generator: Annotated[_Real | None, _rule(lambda v: v is None or (_real(v) and v > 0), _LR_RULE)] = None
    mean_penalty: _Real | None = None
    validation_samples: Annotated[_Int, _rule(lambda v: v >= 1, "must be an integer >= 1 (64)")] = 64
    checkpoint_every: _Int = 500
    log_every: _Int = 50
    keep_checkpoints: _Int | None = 5
    max_rollbacks: _Int = 3
    penalty_threshold: _Real = 1e4
    device: Annotated[str, _rule(lambda v: v in ("auto", "cpu") or v.startswith("cuda"),
                                 "must be 'auto', 'cpu' or 'cuda'")] = "auto"
    num_threads: Annotated[_Int | None, _rule(lambda v: v is None or v >= 1, "must be None (torch's setting) or an "
                                                                             "integer >= 1 (1 is the default)")] = 1
    # networks
    hidden: Annotated[_Int, _rule(lambda v: v >= 1, "must be an integer >= 1 (hidden width; 256 is the default)")] = 256
    layers: Annotated[_Int, _rule(lambda v: v >= 1, "must be an integer >= 1 (hidden layers; 3 is the default)")] = 3
    latent_dim: Annotated[_Int, _rule(lambda v: v >= 0, "must be an integer >= 0 (16 is the default)")] = 16
    activation: Annotated[str, _one_of(ACTIVATIONS)] = "leaky_relu"
    base: Annotated[str, _rule(lambda v: v in ("gaussian", "mean"),
                               "must be 'gaussian' (kriging mean + Gaussian residual + correction) or 'mean' "
                               "(kriging mean + adversarial residual)")] = "gaussian"
    critic_conditioning: Annotated[str, _rule(lambda v: v in ("concat", "film"),
                                              "must be 'concat' or 'film'")] = "concat"
    critic_layer_norm: bool = False
    residuals: Annotated[str, _rule(lambda v: v in RESIDUALS,
                                    "must be 'deviations' (every run's deviation from the kriging mean, learnt "
                                    "given c), 'neighbours' (the same, generated from a neighbouring run's "
                                    "deviation), 'replicate' (a correction of the pooled Gaussian, trained on the "
                                    "deviations from each point's replicate mean) or 'kriging' (the same correction "
                                    "trained on z - m(c))")] = "neighbours"
    gan_dims: Annotated[_Int | None, _rule(lambda v: v is None or v >= 1,
                                           "must be None (the whole space) or an integer >= 1 (the leading "
                                           "whitened deviation coefficients the GAN learns)")] = None
    architecture: Annotated[str, _rule(lambda v: v in ARCHITECTURES,
                                       "must be 'mlp' (MLPs on the POD coefficients) or 'conv1d' (1-D convolutions "
                                       "over time on the histories)")] = "mlp"
    conv_channels: Annotated[_Int, _rule(lambda v: v >= 1, "must be an integer >= 1 (hidden channels with "
                                                           "architecture='conv1d'; 32 is the default)")] = 32
    conv_layers: Annotated[_Int, _rule(lambda v: v >= 1, "must be an integer >= 1 (convolution layers with "
                                                         "architecture='conv1d'; 3 is the default)")] = 3
    # the composed kriging-gaussian (checked there)
    k_individual: int = 64
    n_restarts: int = 2
    covariance: Annotated[str, _rule(lambda v: v == "pooled",
                                     "the adversarial generators learn the residual's law themselves on top of the "
                                     "pooled Gaussian: covariance='local' and 'resample' are kriging-gaussian "
                                     "options")] = "pooled"
    local_points: int = 6  # residuals="neighbours": the design points a draw may start from (as kriging-resample)
    # shared by every generator (checked by Generator)
    pod_energy: float = 0.999
    max_modes: int | None = None
    validation_fraction: float = 0.1
    seed: int = 0
    registration: str = "none"
    arrival_fraction: float = 0.05

    @model_validator(mode="after")
    def _consistent(self):
        if self.base == "mean" and self.latent_dim < 1:
            raise ValueError(f"latent_dim={self.latent_dim!r}: must be >= 1 with base='mean' (η is the only noise; "
                             "use at least the number of POD coefficients)")
        whitened = self.residuals in ("deviations", "neighbours")
        if not whitened and self.gan_dims is not None:
            raise ValueError(f"gan_dims={self.gan_dims!r}: only residuals='deviations' or 'neighbours' work in a "
                             "reduced space; leave gan_dims None")
        if self.residuals == "neighbours" and self.base != "gaussian":
            raise ValueError(f"base={self.base!r}: residuals='neighbours' adds the generator's output to a "
                             "neighbouring run's deviation; use base='gaussian'")
        if self.residuals == "neighbours" and (self.mean_penalty or 0) > 0:
            raise ValueError(f"mean_penalty={self.mean_penalty!r}: the deviations' conditional mean is part of their "
                             "law; use mean_penalty 0 (or None) with residuals='neighbours'")
        if whitened and self.architecture == "conv1d":
            raise ValueError("architecture='conv1d': the 1-D convolutions work on histories through the POD "
                             "projection, not on whitened deviations; use residuals='replicate' with it")
        self.train_config()  # the training settings are checked by their own model
        return self

    @property
    def resolved_steps(self) -> int:
        """``steps``, or its default: 3000 when learning the deviations, 2000 for the correction."""
        if self.steps is not None:
            return self.steps
        return 3000 if self.residuals in ("deviations", "neighbours") else 2000

    @property
    def resolved_lr(self) -> float:
        """``lr``, or its default: Gulrajani et al.'s Adam 1e-4, except 5e-4 when learning the deviations
        from a Gaussian start (measured better on held-out data there, docs/generators.md), and 5e-5 for
        weight clipping (Arjovsky et al.)."""
        if self.lr is not None:
            return float(self.lr)
        if self.loss == "clip":
            return 5e-5
        return 5e-4 if self.residuals == "deviations" else 1e-4

    @property
    def resolved_mean_penalty(self) -> float:
        """``mean_penalty``, or its default: 0 when learning the deviations (their conditional mean given
        c is part of their law), 100 for the correction of the pooled Gaussian."""
        if self.mean_penalty is not None:
            return float(self.mean_penalty)
        return 0.0 if self.residuals in ("deviations", "neighbours") else 100.0

    def train_config(self) -> WGANTrainConfig:
        """The training loop's settings (``lr`` fills whichever of ``lr_critic`` / ``lr_generator`` is None)."""
        extra = {"gp_lambda": self.gp_lambda, "betas": self.betas} if self.loss == "gp" else {"clip": self.clip}
        lr = self.resolved_lr
        return WGANTrainConfig(
            steps=self.resolved_steps, batch_size=self.batch_size, n_critic=self.n_critic, loss=self.loss,
            lr_critic=self.lr_critic if self.lr_critic is not None else lr,
            lr_generator=self.lr_generator if self.lr_generator is not None else lr,
            checkpoint_every=self.checkpoint_every, log_every=self.log_every, keep_checkpoints=self.keep_checkpoints,
            max_rollbacks=self.max_rollbacks, penalty_threshold=self.penalty_threshold,
            mean_penalty=self.resolved_mean_penalty, **extra)

    def kriging_options(self) -> dict[str, Any]:
        """The options of the composed :class:`~uqgan.generators.gaussian.KrigingGaussian`."""
        return {"k_individual": self.k_individual, "n_restarts": self.n_restarts, "covariance": self.covariance,
                "local_points": self.local_points, **self.shared_options()}

    def shared_options(self) -> dict[str, Any]:
        """The options every :class:`~uqgan.generators.Generator` takes."""
        return {"pod_energy": self.pod_energy, "max_modes": self.max_modes,
                "validation_fraction": self.validation_fraction, "seed": self.seed,
                "registration": self.registration, "arrival_fraction": self.arrival_fraction}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-like values (the generator's ``config``; ``cls(**config)`` rebuilds it)."""
        d = self.model_dump()
        for key in ("betas",):
            if key in d:
                d[key] = list(d[key])
        return d


class WGANConfig(_AdversarialConfig):
    """Every option of ``wgan-gp``: see :class:`~uqgan.generators.wgan.model.WGANGP` for their meaning.

    The kriging options (``k_individual``, ``n_restarts``; ``covariance`` must stay ``"pooled"``) go
    to the composed :class:`~uqgan.generators.gaussian.KrigingGaussian`, the shared ones
    (``pod_energy``, ``max_modes``, ``validation_fraction``, ``seed``, ``registration``,
    ``arrival_fraction``) to :class:`~uqgan.generators.Generator`, which check them.
    """

    generator_name: ClassVar[str] = "wgan-gp"
    loss: ClassVar[str] = "gp"

    gp_lambda: _Real = 10.0
    lr: Annotated[_Real | None, _rule(lambda v: v is None or (_real(v) and v > 0), _LR_RULE)] = None
    betas: Annotated[tuple[float, float], BeforeValidator(_betas)] = (0.0, 0.9)


class WGANClipConfig(_AdversarialConfig):
    """The options of ``wgan-clip``: :class:`WGANConfig`'s without ``gp_lambda`` and ``betas`` (weight
    clipping has no penalty and trains with RMSProp), with ``clip`` and ``lr`` 5e-5."""

    generator_name: ClassVar[str] = "wgan-clip"
    loss: ClassVar[str] = "clip"

    clip: Annotated[_Real, _rule(lambda v: _real(v) and v > 0, "must be > 0 (Arjovsky et al. use 0.01)")] = 0.01
    lr: Annotated[_Real | None, _rule(lambda v: v is None or (_real(v) and v > 0), _LR_RULE)] = None


_NOT_FOR_CLIP = {"gp_lambda": "there is no gradient penalty", "betas": "it trains with RMSProp"}


def parse_config(cls: type[_AdversarialConfig], options: dict[str, Any]) -> _AdversarialConfig:
    """``cls(**options)``, a :class:`~uqgan.config.ConfigError` (one line per problem, each starting
    ``field=value:``) instead of pydantic's ValidationError."""
    def unknown(loc):
        name = ".".join(str(p) for p in loc)
        why = _NOT_FOR_CLIP.get(name) if cls.loss == "clip" else None
        return (f"{name}={options.get(name)!r}: " + (f"{cls.generator_name} takes no {name} ({why}); use wgan-gp "
                                                     f"for it" if why else
                                                     f"not an option of {cls.generator_name} (check its spelling)"))

    try:
        return cls(**options)
    except ValidationError as err:
        raise ConfigError(error_lines(err, name=lambda loc: ".".join(str(p) for p in loc), unknown=unknown)) from None
