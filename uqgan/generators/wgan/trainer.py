"""The Wasserstein GAN training loop: a :class:`Trainer` with ``step()`` and ``validate()``, the
divergence guard, validation by energy distance and the best generator.

The trainer trains a *generator* module ``G(noise, c) -> x`` against a *critic* ``D(x, c) -> (B,)``
on real pairs ``(x, c)``; it knows nothing about POD or kriging (the caller,
:class:`uqgan.generators.wgan.model.WGANGP`, hands it residuals of the POD coefficients). It owns no
plot: :func:`uqgan.plots.plot_training` draws ``metrics.csv``.

Losses (Arjovsky et al. 2017; Gulrajani et al. 2017, Algorithm 1)::

    critic:     L_D = E[D(x̃, c)] − E[D(x, c)] + λ E[(‖∇_x̂ D(x̂, c)‖₂ − 1)²],  x̂ = t x + (1 − t) x̃, t ~ U(0, 1)
    generator:  L_G = −E[D(x̃, c)] + μ E_c ‖E[G(noise, c) | c]‖²,  x̃ = G(noise, c)

The second generator term (``mean_penalty`` μ; not in the papers) is for real samples with zero
conditional mean, such as residuals around a fitted mean: the adversarial game alone does not hold
the generator's conditional mean at zero, the penalty pins it there. It is estimated without bias
from two noise draws per condition (:func:`conditional_mean_penalty`), on ``generator.correction``
when the module has one (then the rest of the output must have zero mean by construction), else on
the whole output.

``n_critic`` critic steps per generator step, Adam(lr 1e-4, betas (0, 0.9)); with ``loss="clip"``
the penalty is replaced by clipping every critic weight to [−clip, clip] after each critic step,
with RMSProp (lr 5e-5). Separate ``lr_critic`` / ``lr_generator`` give the two time-scale update
rule (Heusel et al. 2017).

Reproducibility: every random draw comes from the ``torch_generator`` (noise, interpolation
weights; drawn on the CPU, then moved to the device, so the draws do not depend on the device) or
the numpy ``rng`` (minibatch indices). A checkpoint (:mod:`.checkpoint`) stores both generators'
states with the models and optimisers, so a resumed run follows the uninterrupted trajectory.

References
----------
M. Arjovsky, S. Chintala, L. Bottou, "Wasserstein GAN", ICML 2017.
I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville, "Improved training of Wasserstein
GANs", NeurIPS 2017.
M. Heusel et al., "GANs trained by a two time-scale update rule converge to a local Nash
equilibrium", NeurIPS 2017.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ... import __version__
from ...stats.metrics import energy_distance
from .checkpoint import CHECKPOINT_FORMAT, MetricsLog, latest_checkpoint, load_checkpoint, save_checkpoint, to_cpu
from .config import WGANTrainConfig

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["EnergyValidator", "Trainer", "TrainingDiverged", "TrainingResult", "conditional_mean_penalty",
           "gradient_penalty", "train_wgan"]

logger = logging.getLogger(__name__)

# settings that change the trajectory: a resumed run must use the checkpoint's values
_TRAJECTORY_KEYS = ("batch_size", "n_critic", "loss", "gp_lambda", "clip", "lr_critic", "lr_generator", "betas",
                    "mean_penalty")


class TrainingDiverged(RuntimeError):
    """The divergence guard rolled back ``max_rollbacks`` times and the losses still blew up."""


@dataclass
class TrainingResult:
    """What a training run did.

    ``history`` holds ``(step, validation energy distance)`` pairs; ``best_step`` is the step whose
    generator the trainer left in the module (the final step when there is no validation).
    """

    steps: int
    best_step: int
    best_validation: float | None
    final_validation: float | None
    rollbacks: int
    wall_time_s: float
    lr_critic: float
    lr_generator: float
    history: list[tuple[int, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["history"] = [list(h) for h in self.history]
        return d


# ------------------------------------------------------------------------------------------------
def gradient_penalty(critic, real, fake, cond, *, t):
    """WGAN-GP penalty ``E[(‖∇_x̂ D(x̂, c)‖₂ − 1)²]`` (Gulrajani et al. 2017, eq. 3).

    Parameters
    ----------
    critic : module ``D(x, c)`` returning ``(B,)`` or ``(B, 1)``
    real, fake : ``(B, ...)`` tensors; the norm is taken over all non-batch dims
    cond : ``(B, p)`` conditioning (no gradient is taken with respect to it)
    t : ``(B, 1, ...)`` interpolation weights in [0, 1] (broadcast over the non-batch dims),
        ``x̂ = t·real + (1 − t)·fake``

    Returns
    -------
    scalar tensor, differentiable with respect to the critic's parameters
    """
    import torch

    x_hat = (t * real + (1 - t) * fake).detach().requires_grad_(True)
    out = critic(x_hat, cond)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norm = torch.linalg.vector_norm(grad.reshape(grad.shape[0], -1), dim=1)
    return ((norm - 1) ** 2).mean()


def conditional_mean_penalty(part, cond, *, noise, noise2):
    """Unbiased estimate of ``E_c ‖E[G(n, c) | c]‖²``: ``mean_i <G(n_i, c_i), G(n'_i, c_i)>``.

    Two independent noise draws per condition: their outputs are independent given ``c_i``, so the
    expected inner product is the squared norm of the conditional mean, whatever the spread of ``G``
    (the square of one draw would also penalise the variance, and of a mean over ``K`` draws its
    ``1/K``-th). A single term can be negative; its expectation and gradient are those of
    ``E_c ‖E[G | c]‖²``.

    Parameters
    ----------
    part : module ``G(noise (B, q), c (B, p)) -> (B, d)``
    cond : ``(B, p)`` conditioning
    noise, noise2 : ``(B, q)`` independent noise draws (keyword-only)

    Returns
    -------
    scalar tensor, differentiable with respect to ``part``'s parameters
    """
    return (part(noise, cond) * part(noise2, cond)).flatten(1).sum(1).mean()


class EnergyValidator:
    """Validation metric of a conditional generator, by :func:`uqgan.stats.metrics.energy_distance`.

    With two or more true samples at every validation design point: the mean over the points of the
    energy distance between the true samples at a point and ``n_fake`` generated ones at the same
    ``c``. Otherwise (a point holds one run): the energy distance between the joint samples
    ``(c_j, x_j)`` and ``(c_j, G(noise, c_j))``, ``n_fake`` per point; two joint laws with the same
    ``c``-marginal are equal iff the conditional laws are, so this still scores the conditioning.

    The generated side uses the same noise at every call (common random numbers), so differences
    between steps measure the generator, not the draws.

    Parameters
    ----------
    real : ``(n, d)`` true samples (what the generator models, e.g. residuals of the POD coefficients)
    cond : ``(n, p)`` their conditioning
    groups : ``(n,)`` design-point id of each sample (replicates share one)
    noise_dim : the generator's noise width
    n_fake : generated samples per point
    generator : torch.Generator for the fixed noise (keyword-only)
    noise : ``noise(cond) -> (m, noise_dim)`` tensor for the generated rows' conditions ``(m, p)``, in
        place of standard normal noise (keyword-only; e.g. a neighbour's deviation and fresh η)
    """

    def __init__(self, real: np.ndarray, cond: np.ndarray, groups: np.ndarray, *, noise_dim: int, n_fake: int = 64,
                 generator: torch.Generator, noise: Callable[[np.ndarray], Any] | None = None):
        import torch

        real, cond, groups = np.asarray(real, dtype=float), np.asarray(cond, dtype=float), np.asarray(groups)
        ids, first = np.unique(groups, return_index=True)
        self.real = [real[groups == g] for g in ids]
        self.n_fake = int(n_fake)
        self.point_cond = cond[first]
        self.cond = torch.as_tensor(np.repeat(self.point_cond, self.n_fake, axis=0), dtype=torch.float32)
        self.noise = (torch.randn(ids.size * self.n_fake, noise_dim, generator=generator) if noise is None
                      else noise(np.repeat(self.point_cond, self.n_fake, axis=0)))
        self.per_point = min(len(r) for r in self.real) >= 2
        self.joint_real = np.concatenate([np.column_stack([cond[groups == g], real[groups == g]]) for g in ids])

    def point_distances(self, module) -> np.ndarray:
        """``(points,)`` energy distances of ``module``'s fixed draws at each validation point (NaN when
        it outputs NaN/inf); needs two or more true samples at every point."""
        fake = self._fake(module)
        if fake is None:
            return np.full(len(self.real), np.nan)
        parts = np.split(fake, len(self.real))
        return np.array([energy_distance(r, f) for r, f in zip(self.real, parts, strict=True)])

    def _fake(self, module) -> np.ndarray | None:
        import torch

        device = _module_device(module)
        with torch.no_grad():
            fake = module(self.noise.to(device), self.cond.to(device)).double().cpu().numpy()
        return fake if np.all(np.isfinite(fake)) else None

    def __call__(self, module) -> float:
        if self.per_point:
            return float(np.mean(self.point_distances(module)))
        fake = self._fake(module)
        if fake is None:
            return float("nan")
        return energy_distance(self.joint_real, np.column_stack([self.cond.double().numpy(), fake]))


def _module_device(module):
    import torch

    for t in (*module.parameters(), *module.buffers()):
        return t.device
    return torch.device("cpu")


# ------------------------------------------------------------------------------------------------
@dataclass
class _State:
    step: int = 0
    history: list = field(default_factory=list)  # [step, value]
    best_step: int | None = None
    best_value: float = math.inf
    best_generator: dict | None = None
    rollbacks: int = 0
    lr_scale: float = 1.0
    wall_time_s: float = 0.0
    acc: dict = field(default_factory=lambda: {"critic": 0.0, "generator": 0.0, "penalty": 0.0, "n_critic": 0,
                                               "n_generator": 0})

    @classmethod
    def from_checkpoint(cls, ck) -> _State:
        return cls(step=int(ck["step"]), history=[list(h) for h in ck["validation_history"]],
                   best_step=ck["best_step"], best_value=float(ck["best_value"]),
                   best_generator=to_cpu(ck["best_generator"]), rollbacks=int(ck["rollbacks"]),
                   lr_scale=float(ck["lr_scale"]), wall_time_s=float(ck["wall_time_s"]),
                   acc=dict(ck["accumulators"]))


def _check_resume_config(saved: dict, config: WGANTrainConfig) -> None:
    now = config.to_dict()
    saved = {"mean_penalty": 0.0, **saved}  # checkpoints from before the option trained without the penalty
    diff = [k for k in _TRAJECTORY_KEYS if saved.get(k) != now.get(k)]
    if diff:
        pairs = ", ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {now.get(k)!r}" for k in diff)
        raise ValueError(f"cannot resume: the settings differ from the checkpoint's ({pairs}); resume with the "
                         "checkpoint's settings or start in a new directory")


class Trainer:
    """WGAN-GP / weight-clipping WGAN training of ``generator`` against ``critic`` on ``(real, cond)``.

    Parameters
    ----------
    generator : torch module ``G(noise (B, generator.noise_dim), c (B, p)) -> (B, d)``
    critic : torch module ``D(x (B, d), c (B, p)) -> (B,)``
    real : ``(n, d)`` training samples; ``cond`` : ``(n, p)`` their conditioning (a minibatch draws
        rows with replacement; the fakes use the same ``c``)
    config : the settings (:class:`~uqgan.generators.wgan.config.WGANTrainConfig`)
    torch_generator : the noise and interpolation weights (keyword-only; its state is checkpointed)
    rng : the minibatch indices (keyword-only; its state is checkpointed)
    validate : ``validate(generator) -> float``, lower is better (e.g. :class:`EnergyValidator`),
        called every ``log_every`` steps; the generator with the lowest value is the one left in the
        module at the end of :meth:`run`
    directory : where ``checkpoints/step_XXXXXXX.pt`` and ``metrics.csv`` go (None: nothing is
        written; the divergence guard still rolls back in memory)
    resume : continue from the newest checkpoint in ``directory`` along the same trajectory
    device : torch device for the models and data (the random draws stay on the CPU)
    seed : recorded in the checkpoints
    model_config : the models' settings (plain JSON-like values), recorded in the checkpoints
    noise : ``noise(idx, rng, torch_generator) -> (B, noise_dim)`` CPU tensor, the generator's input
        for the fakes that face the real rows ``idx`` (drawn from the same two random streams, so
        checkpoints keep the trajectory); None: standard normal noise

    Raises
    ------
    FileExistsError
        when ``directory`` already holds checkpoints and ``resume`` is False.
    """

    def __init__(self, generator, critic, real: np.ndarray, cond: np.ndarray, config: WGANTrainConfig, *,
                 torch_generator: torch.Generator, rng: np.random.Generator,
                 validate: Callable[[Any], float] | None = None, directory: str | Path | None = None,
                 resume: bool = False, device: str = "cpu", seed: int | None = None,
                 model_config: dict[str, Any] | None = None,
                 noise: Callable[[np.ndarray, np.random.Generator, Any], Any] | None = None):
        import torch

        if resume and directory is None:
            raise ValueError("resume=True needs the directory that holds the checkpoints")
        real = np.asarray(real, dtype=np.float32)
        cond = np.asarray(cond, dtype=np.float32)
        if real.ndim != 2 or cond.ndim != 2 or real.shape[0] != cond.shape[0] or real.shape[0] == 0:
            raise ValueError(f"train_wgan: real {real.shape} and cond {cond.shape} must be (n, d) and (n, p), n >= 1")
        self.generator, self.critic, self.config = generator, critic, config
        self.torch_generator, self.rng, self.validator = torch_generator, rng, validate
        self.seed, self.model_config = seed, model_config
        self.noise_fn = noise
        self.device = torch.device(device)
        self.real = torch.from_numpy(real).to(self.device)
        self.cond = torch.from_numpy(cond).to(self.device)
        generator.to(self.device)
        critic.to(self.device)
        if config.loss == "gp":
            self.opt_c = torch.optim.Adam(critic.parameters(), lr=config.lr_critic, betas=config.betas)
            self.opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_generator, betas=config.betas)
        else:  # Arjovsky et al. 2017: RMSProp, no momentum
            self.opt_c = torch.optim.RMSprop(critic.parameters(), lr=config.lr_critic)
            self.opt_g = torch.optim.RMSprop(generator.parameters(), lr=config.lr_generator)
        self.directory = Path(directory) if directory is not None else None
        self.metrics = MetricsLog(self.directory / "metrics.csv" if self.directory is not None else None)
        self.state = _State()
        if self.directory is not None:
            last = latest_checkpoint(self.directory)
            if resume and last is not None:
                ck = load_checkpoint(last)
                _check_resume_config(ck["config"], config)
                self._restore(ck)
                torch_generator.set_state(ck["torch_rng"])
                rng.bit_generator.state = json.loads(ck["numpy_rng"])
                self.state = _State.from_checkpoint(ck)
                self.metrics.truncate(self.state.step)
                logger.info("resumed from %s (step %d of %d)", last, self.state.step, config.steps)
            elif last is not None:
                raise FileExistsError(f"{self.directory} already holds checkpoints (newest {last.name}): pass "
                                      "resume=True to continue that run, or train into a new directory")
            else:
                if resume:
                    logger.info("resume: no checkpoint in %s, starting at step 0", self.directory)
                self.directory.mkdir(parents=True, exist_ok=True)
                self.metrics.start()
        self._noise_dim = int(generator.noise_dim)
        self._mean_part = getattr(generator, "correction", generator)  # the part whose conditional mean is penalised
        self._good = self._capture()
        self._t_start = time.perf_counter() - self.state.wall_time_s
        self._pbar = None

    # --------------------------------------------------------------------------------------------
    def _batch(self):
        import torch

        rows = self.rng.integers(0, self.real.shape[0], size=self.config.batch_size)
        if self.noise_fn is None:
            noise = torch.randn(self.config.batch_size, self._noise_dim, generator=self.torch_generator)
        else:
            noise = self.noise_fn(rows, self.rng, self.torch_generator)
        return torch.from_numpy(rows).to(self.device), noise.to(self.device)

    def _critic_step(self, j: int) -> str | None:
        """One critic update; a divergence cause or None."""
        import torch

        cfg, s, critic = self.config, self.state, self.critic
        idx, noise = self._batch()
        x, c = self.real[idx], self.cond[idx]
        with torch.no_grad():
            fake = self.generator(noise, c)
        w_neg = critic(fake, c).mean() - critic(x, c).mean()
        if cfg.loss == "gp":
            t = torch.rand(cfg.batch_size, *([1] * (x.dim() - 1)), generator=self.torch_generator).to(self.device)
            pen = gradient_penalty(critic, x, fake, c, t=t)
            loss = w_neg + cfg.gp_lambda * pen
        else:
            pen = torch.zeros((), device=self.device)
            loss = w_neg
        lv, pv = float(loss.detach()), float(pen.detach())
        where = f"step {s.step + 1} (critic iteration {j + 1} of {cfg.n_critic})"
        if not math.isfinite(lv):
            return f"{where}: critic loss is {lv}"
        if not math.isfinite(pv):
            return f"{where}: gradient penalty is {pv}"
        if pv > cfg.penalty_threshold:
            return f"{where}: gradient penalty {pv:.4g} exceeds penalty_threshold={cfg.penalty_threshold:g}"
        self.opt_c.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_c.step()
        if cfg.loss != "gp":
            with torch.no_grad():
                for p in critic.parameters():
                    p.clamp_(-cfg.clip, cfg.clip)
        s.acc["critic"] += float(w_neg.detach())
        s.acc["penalty"] += pv
        s.acc["n_critic"] += 1
        return None

    def _generator_step(self) -> str | None:
        """One generator update; a divergence cause or None."""
        import torch

        cfg, s = self.config, self.state
        idx, noise = self._batch()
        c = self.cond[idx]
        loss_g = -self.critic(self.generator(noise, c), c).mean()
        gv = float(loss_g.detach())
        if cfg.mean_penalty > 0:
            noise2 = torch.randn(cfg.batch_size, self._noise_dim, generator=self.torch_generator).to(self.device)
            loss_g = loss_g + cfg.mean_penalty * conditional_mean_penalty(self._mean_part, c, noise=noise,
                                                                          noise2=noise2)
        lg = float(loss_g.detach())
        if not math.isfinite(lg):
            return f"step {s.step + 1} (generator update): generator loss is {lg}"
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        s.acc["generator"] += gv
        s.acc["n_generator"] += 1
        return None

    def step(self) -> str | None:
        """``n_critic`` critic updates and one generator update (one training step).

        Returns None and advances :attr:`state` ``.step`` on success; on a divergence (a NaN/inf
        loss, a penalty NaN/inf or above ``penalty_threshold``) returns its cause and changes no
        counter (the caller rolls back: :meth:`run` does).
        """
        self.critic.requires_grad_(True)
        for j in range(self.config.n_critic):
            cause = self._critic_step(j)
            if cause is not None:
                return cause
        self.critic.requires_grad_(False)
        cause = self._generator_step()
        self.critic.requires_grad_(True)
        if cause is None:
            self.state.step += 1
            self.state.wall_time_s = time.perf_counter() - self._t_start
        return cause

    def validate(self) -> float:
        """The validation metric of the generator as it is now (NaN without a validator)."""
        if self.validator is None:
            return float("nan")
        return float(self.validator(self.generator))

    # --------------------------------------------------------------------------------------------
    def _capture(self) -> dict[str, Any]:
        s = self.state
        return {"format": CHECKPOINT_FORMAT, "uqgan_version": __version__, "seed": self.seed,
                "config": self.config.to_dict(), "model_config": copy.deepcopy(self.model_config),
                "step": s.step, "generator": to_cpu(self.generator.state_dict()),
                "critic": to_cpu(self.critic.state_dict()), "optimizer_generator": to_cpu(self.opt_g.state_dict()),
                "optimizer_critic": to_cpu(self.opt_c.state_dict()),
                "torch_rng": self.torch_generator.get_state().clone(),
                "numpy_rng": json.dumps(self.rng.bit_generator.state),
                "validation_history": [list(h) for h in s.history], "best_step": s.best_step,
                "best_value": s.best_value, "best_generator": to_cpu(s.best_generator), "rollbacks": s.rollbacks,
                "lr_scale": s.lr_scale, "accumulators": dict(s.acc), "wall_time_s": s.wall_time_s}

    def _restore(self, ck) -> None:
        try:
            self.generator.load_state_dict(ck["generator"])
            self.critic.load_state_dict(ck["critic"])
        except RuntimeError as err:
            raise ValueError(f"the checkpoint's networks do not match the ones being trained ({err}); resume with "
                             "the same network options or start in a new directory") from err
        self.opt_g.load_state_dict(copy.deepcopy(ck["optimizer_generator"]))  # the optimiser would alias the tensors
        self.opt_c.load_state_dict(copy.deepcopy(ck["optimizer_critic"]))

    def _roll_back(self, cause: str) -> None:
        """Back to the last good state with halved learning rates; raises after ``max_rollbacks``."""
        cfg = self.config
        rollbacks, lr_scale = self.state.rollbacks + 1, self.state.lr_scale * 0.5
        if rollbacks > cfg.max_rollbacks:
            raise TrainingDiverged(
                f"training diverged at {cause}; gave up after {cfg.max_rollbacks} rollback(s) (max_rollbacks="
                f"{cfg.max_rollbacks}), each halving the learning rates (now x{self.state.lr_scale:g}). Lower lr, "
                "raise n_critic, check the data for NaN/inf, or allow more rollbacks")
        self._restore(self._good)
        self.state = _State.from_checkpoint(self._good)
        self.state.rollbacks, self.state.lr_scale = rollbacks, lr_scale
        for opt, lr in ((self.opt_g, cfg.lr_generator), (self.opt_c, cfg.lr_critic)):
            for group in opt.param_groups:
                group["lr"] = lr * lr_scale
        self.state.wall_time_s = time.perf_counter() - self._t_start  # the time lost stays on the clock
        self.metrics.truncate(self.state.step)
        logger.warning("%s: rolled back to step %d, learning rates halved (critic %.3g, generator %.3g); rollback %d "
                       "of at most %d", cause, self.state.step, self.opt_c.param_groups[0]["lr"],
                       self.opt_g.param_groups[0]["lr"], rollbacks, cfg.max_rollbacks)

    def _log_row(self, value: float) -> None:
        s = self.state
        a = s.acc
        nc, ng = a["n_critic"] or math.nan, a["n_generator"] or math.nan  # step 0: no losses yet
        row = (s.step, a["critic"] / nc, a["generator"] / ng, a["penalty"] / nc, value, s.wall_time_s)
        s.acc = _State().acc
        self.metrics.append(row)
        logger.debug("step %d: critic loss %.4g, generator loss %.4g, penalty %.4g, validation ED %.4g", *row[:5])
        if self._pbar is not None:
            self._pbar.set_postfix(W=f"{-row[1]:.3g}", ED=f"{value:.3g}", refresh=False)

    def _note(self, value: float) -> None:
        """Record a validation value; keep the generator when it is the best so far."""
        s = self.state
        if self.validator is not None and math.isfinite(value) and value < s.best_value:
            s.best_value, s.best_step = value, s.step
            s.best_generator = to_cpu(self.generator.state_dict())

    # --------------------------------------------------------------------------------------------
    def run(self, *, show_progress: bool = False) -> TrainingResult:
        """Train up to ``config.steps``: validate and log every ``log_every`` steps, checkpoint every
        ``checkpoint_every`` steps and at the end, and leave the best validated generator in the module.

        Raises
        ------
        TrainingDiverged
            when a divergence happens more than ``max_rollbacks`` times. Each earlier time the models,
            optimisers and counters are rolled back to the last checkpoint (kept in memory), the
            learning rates are halved, and training continues with the next random draws (the random
            generators are not rolled back, or the same draws would diverge again).
        """
        from tqdm.auto import tqdm

        cfg, validating = self.config, self.validator is not None
        start_step, start_wall = self.state.step, self.state.wall_time_s
        self._pbar = tqdm(total=cfg.steps, initial=min(self.state.step, cfg.steps), disable=not show_progress,
                          desc="wgan", unit="step")
        if self.state.step == 0 and validating and not self.state.history:
            # the initial generator competes too (for a zero-initialised correction it is the Gaussian model)
            value = self.validate()
            self.state.history.append([0, value])
            self._note(value)
            self._log_row(value)
            self._good = self._capture()
        try:
            while self.state.step < cfg.steps:
                cause = self.step()
                value = float("nan")
                if cause is None and self.state.step % cfg.log_every == 0:
                    value = self.validate()
                    if validating and not math.isfinite(value):
                        cause = (f"step {self.state.step}: validation energy distance is {value} (the generator "
                                 "outputs NaN/inf)")
                if cause is not None:
                    self._roll_back(cause)
                    self._pbar.n = self.state.step
                    self._pbar.refresh()
                    continue
                self._pbar.update(1)
                s = self.state
                if s.step % cfg.log_every == 0:
                    if validating:
                        s.history.append([s.step, value])
                        self._note(value)
                    self._log_row(value)
                if s.step % cfg.checkpoint_every == 0 or s.step == cfg.steps:
                    self._good = self._capture()
                    if self.directory is not None:
                        save_checkpoint(self._good, self.directory, keep=cfg.keep_checkpoints)
        finally:
            self._pbar.close()
            self._pbar = None
        return self._finish(start_step, start_wall)

    def _finish(self, start_step: int, start_wall: float) -> TrainingResult:
        s, validating = self.state, self.validator is not None
        final_value = s.history[-1][1] if s.history and s.history[-1][0] == s.step else None
        if s.step > start_step and s.step % self.config.log_every != 0:
            # a last row (and validation) outside the checkpointed history, so a later resume sees the same one
            value = self.validate()
            self._log_row(value)
            if validating:
                final_value = value
                self._note(value)
        if validating and s.best_generator is not None and s.best_step != s.step:
            self.generator.load_state_dict(s.best_generator)
            logger.info("keeping the generator of step %d (validation energy distance %.4g; %.4g at the final step "
                        "%d)", s.best_step, s.best_value, final_value if final_value is not None else math.nan,
                        s.step)
        best_step = s.best_step if (validating and s.best_step is not None) else s.step
        done = s.step - start_step
        if done:
            spent = s.wall_time_s - start_wall
            logger.info("trained %d generator steps in %.1f s (%.2f steps/s) on %s", done, spent,
                        done / max(spent, 1e-12), self.device)
        return TrainingResult(
            steps=s.step, best_step=best_step, best_validation=s.best_value if math.isfinite(s.best_value) else None,
            final_validation=final_value, rollbacks=s.rollbacks, wall_time_s=s.wall_time_s,
            lr_critic=self.opt_c.param_groups[0]["lr"], lr_generator=self.opt_g.param_groups[0]["lr"],
            history=[(int(a), float(b)) for a, b in s.history])


def train_wgan(generator, critic, real: np.ndarray, cond: np.ndarray, config: WGANTrainConfig, *,
               num_threads: int | None = None, show_progress: bool = False, **options) -> TrainingResult:
    """``Trainer(generator, critic, real, cond, config, **options).run(show_progress=...)`` with torch's
    CPU threads set to ``num_threads`` meanwhile (restored afterwards; None leaves torch's setting).

    These small networks are overhead-bound: on a busy 2-core machine one thread was faster than
    two (docs/generators.md).
    """
    import torch

    if num_threads is not None and not (isinstance(num_threads, int) and num_threads >= 1):
        raise ValueError(f"num_threads={num_threads!r}: must be None or an integer >= 1")
    threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        return Trainer(generator, critic, real, cond, config, **options).run(show_progress=show_progress)
    finally:
        torch.set_num_threads(threads)
