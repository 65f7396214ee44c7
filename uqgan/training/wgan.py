"""The Wasserstein GAN training loop: gradient penalty or weight clipping, checkpoints, resume,
a divergence guard, validation by energy distance and the best model.

The loop trains a *generator* module ``G(noise, c) -> x`` against a *critic* ``D(x, c) -> (B,)`` on
real pairs ``(x, c)``; it knows nothing about POD or kriging (the caller,
:class:`uqgan.generators.wgan.WGANGP`, hands it residuals of the POD coefficients).

Losses (Arjovsky et al. 2017; Gulrajani et al. 2017, Algorithm 1)::

    critic:     L_D = E[D(x̃, c)] − E[D(x, c)] + λ E[(‖∇_x̂ D(x̂, c)‖₂ − 1)²],  x̂ = t x + (1 − t) x̃, t ~ U(0, 1)
    generator:  L_G = −E[D(x̃, c)] + μ E_c ‖E[G(noise, c) | c]‖²,  x̃ = G(noise, c)

The second generator term (``mean_penalty`` μ, 0 by default; not in the papers) is for real
samples with zero conditional mean, such as residuals around a fitted mean. The adversarial game
alone does not hold the generator's conditional mean at zero (the critic's gradient pushes it
around and it oscillates); the penalty pins it there. It is estimated without bias from two noise
draws per condition (:func:`conditional_mean_penalty`), on ``generator.correction`` when the
module has one (then the rest of the output must have zero mean by construction), else on the
whole output.

``n_critic`` critic steps per generator step, Adam(lr 1e-4, betas (0, 0.9)); with ``loss="clip"``
the penalty is replaced by clipping every critic weight to [−clip, clip] after each critic step,
with RMSProp (lr 5e-5). Separate ``lr_critic`` / ``lr_generator`` give the two time-scale update
rule (Heusel et al. 2017).

Reproducibility: every random draw comes from the ``torch_generator`` (noise, interpolation
weights; drawn on the CPU, then moved to the device, so the draws do not depend on the device) or
the numpy ``rng`` (minibatch indices). A checkpoint stores both generators' states with the
models and optimisers, so a resumed run follows the trajectory of an uninterrupted one exactly.

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

from .. import __version__

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["EnergyValidator", "TrainingDiverged", "TrainingResult", "WGANTrainConfig", "conditional_mean_penalty",
           "gradient_penalty", "latest_checkpoint", "load_checkpoint", "train_wgan"]

logger = logging.getLogger(__name__)

METRICS_COLUMNS = ("step", "critic_loss", "generator_loss", "penalty", "validation_energy_distance", "wall_time_s")
CHECKPOINT_FORMAT = 1
# settings that change the trajectory: a resumed run must use the checkpoint's values
_TRAJECTORY_KEYS = ("batch_size", "n_critic", "loss", "gp_lambda", "clip", "lr_critic", "lr_generator", "betas",
                    "mean_penalty")


class TrainingDiverged(RuntimeError):
    """The divergence guard rolled back ``max_rollbacks`` times and the losses still blew up."""


@dataclass(frozen=True, kw_only=True)
class WGANTrainConfig:
    """Settings of :func:`train_wgan` (checked on construction; errors name the field and the fix).

    Parameters
    ----------
    steps : generator steps in all (a resumed run continues up to this many)
    batch_size : real and fake samples per critic and generator step
    n_critic : critic steps per generator step (Gulrajani et al.: 5)
    loss : ``"gp"`` (gradient penalty, Adam) or ``"clip"`` (weight clipping, RMSProp)
    gp_lambda : penalty weight λ (Gulrajani et al.: 10)
    clip : weight-clipping bound for ``loss="clip"`` (Arjovsky et al.: 0.01)
    lr_critic, lr_generator : learning rates (equal by default; different = TTUR)
    betas : Adam's (β1, β2) (Gulrajani et al.: (0, 0.9))
    checkpoint_every : generator steps between checkpoints (and one at the end)
    log_every : generator steps between rows of ``metrics.csv`` and validations
    keep_checkpoints : checkpoint files kept on disk (the newest; ``None`` keeps all)
    max_rollbacks : divergences survived (by rolling back and halving the learning rates) before
        :class:`TrainingDiverged` is raised
    penalty_threshold : a gradient penalty above this counts as a divergence
    mean_penalty : weight μ of the conditional-mean penalty ``μ E_c ‖E[G | c]‖²`` in the generator
        loss (0, the default, turns it off), for real samples with zero conditional mean (residuals).
        The critic's gradient has norm ~1 under the gradient penalty, so the generator's conditional
        mean settles within ~1/(2μ) of zero (per unit of the data); :class:`~uqgan.generators.wgan.WGANGP`
        uses μ = 100
    """

    steps: int = 2000
    batch_size: int = 64
    n_critic: int = 5
    loss: str = "gp"
    gp_lambda: float = 10.0
    clip: float = 0.01
    lr_critic: float = 1e-4
    lr_generator: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.9)
    checkpoint_every: int = 500
    log_every: int = 50
    keep_checkpoints: int | None = 5
    max_rollbacks: int = 3
    penalty_threshold: float = 1e4
    mean_penalty: float = 0.0

    def __post_init__(self):
        def need(ok: bool, name: str, rule: str):
            if not ok:
                raise ValueError(f"{name}={getattr(self, name)!r}: {rule}")

        def is_int(v) -> bool:
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

        need(is_int(self.steps) and self.steps >= 0, "steps", "must be an integer >= 0 (generator steps; 2000 is "
             "the default, 0 keeps the initial model)")
        need(is_int(self.batch_size) and self.batch_size >= 1, "batch_size", "must be an integer >= 1 (64 is usual)")
        need(is_int(self.n_critic) and self.n_critic >= 1, "n_critic", "must be >= 1 (WGAN-GP usually uses 5)")
        need(self.loss in ("gp", "clip"), "loss", "must be 'gp' (gradient penalty) or 'clip' (weight clipping)")
        need(_is_real(self.gp_lambda) and self.gp_lambda >= 0, "gp_lambda", "must be >= 0 (Gulrajani et al. use 10)")
        need(_is_real(self.clip) and self.clip > 0, "clip", "must be > 0 (Arjovsky et al. use 0.01)")
        for name in ("lr_critic", "lr_generator"):
            need(_is_real(getattr(self, name)) and getattr(self, name) > 0, name,
                 "must be > 0 (1e-4 for WGAN-GP, 5e-5 for weight clipping)")
        b = self.betas
        need(isinstance(b, (tuple, list)) and len(b) == 2 and all(_is_real(x) and 0 <= x < 1 for x in b), "betas",
             "must be two numbers in [0, 1) (Gulrajani et al. use (0, 0.9))")
        object.__setattr__(self, "betas", (float(b[0]), float(b[1])))
        need(is_int(self.checkpoint_every) and self.checkpoint_every >= 1, "checkpoint_every",
             "must be an integer >= 1 (generator steps between checkpoints)")
        need(is_int(self.log_every) and self.log_every >= 1, "log_every",
             "must be an integer >= 1 (generator steps between metrics rows)")
        need(self.keep_checkpoints is None or (is_int(self.keep_checkpoints) and self.keep_checkpoints >= 1),
             "keep_checkpoints", "must be None (keep all) or an integer >= 1")
        need(is_int(self.max_rollbacks) and self.max_rollbacks >= 0, "max_rollbacks",
             "must be an integer >= 0 (0 stops at the first divergence)")
        need(_is_real(self.penalty_threshold) and self.penalty_threshold > 0, "penalty_threshold",
             "must be > 0 (1e4 is the default)")
        need(_is_real(self.mean_penalty) and self.mean_penalty >= 0, "mean_penalty",
             "must be >= 0 (0 turns the conditional-mean penalty off)")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class TrainingResult:
    """What a training run did.

    ``history`` holds ``(step, validation energy distance)`` pairs; ``best_step`` is the step whose
    generator the loop left in the module (the final step when there is no validation).
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


def _energy_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Energy distance ``2 E|X − Y| − E|X − X'| − E|Y − Y'|`` (Székely & Rizzo 2013), Euclidean norm,
    with unbiased (U-statistic) within-sample terms; a sample of one contributes 0 to its term."""
    from scipy.spatial.distance import cdist, pdist

    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    y = np.asarray(y, dtype=float).reshape(len(y), -1)
    xy = cdist(x, y).mean()
    xx = pdist(x).mean() if len(x) > 1 else 0.0
    yy = pdist(y).mean() if len(y) > 1 else 0.0
    return float(2 * xy - xx - yy)


def _metric_energy_distance():
    """The project's :func:`uqgan.stats.metrics.energy_distance` when present, else the local one."""
    try:
        from ..stats.metrics import energy_distance
    except ImportError:
        return _energy_distance
    return energy_distance


class EnergyValidator:
    """Validation metric: the mean over validation design points of the energy distance between
    the true samples at a point and ``n_fake`` generated ones at the same ``c``.

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
    """

    def __init__(self, real: np.ndarray, cond: np.ndarray, groups: np.ndarray, *, noise_dim: int, n_fake: int = 64,
                 generator: torch.Generator):
        import torch

        real, cond, groups = np.asarray(real, dtype=float), np.asarray(cond, dtype=float), np.asarray(groups)
        ids, first = np.unique(groups, return_index=True)
        self.real = [real[groups == g] for g in ids]
        self.n_fake = int(n_fake)
        self.cond = torch.as_tensor(np.repeat(cond[first], self.n_fake, axis=0), dtype=torch.float32)
        self.noise = torch.randn(ids.size * self.n_fake, noise_dim, generator=generator)
        # the project's estimator (uqgan.stats.metrics, a V-statistic) needs two samples a side; a point without
        # replicates is still scored by the unbiased local one (its one-sample term is 0: the energy score)
        self._ed = _metric_energy_distance() if min(len(r) for r in self.real) >= 2 else _energy_distance

    def __call__(self, module) -> float:
        import torch

        device = _module_device(module)
        with torch.no_grad():
            fake = module(self.noise.to(device), self.cond.to(device)).double().cpu().numpy()
        if not np.all(np.isfinite(fake)):
            return float("nan")
        parts = np.split(fake, len(self.real))
        return float(np.mean([self._ed(r, f) for r, f in zip(self.real, parts, strict=True)]))


def _module_device(module):
    import torch

    for t in (*module.parameters(), *module.buffers()):
        return t.device
    return torch.device("cpu")


# ------------------------------------------------------------------------------------------------
def latest_checkpoint(directory: str | Path) -> Path | None:
    """The newest ``<directory>/checkpoints/step_XXXXXXX.pt``, or None."""
    d = Path(directory) / "checkpoints"
    found = []
    for p in d.glob("step_*.pt"):
        try:
            found.append((int(p.stem.removeprefix("step_")), p))
        except ValueError:
            continue
    return max(found)[1] if found else None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)`` (tensors and plain containers only),
    onto the CPU.

    Keys: ``format``, ``uqgan_version``, ``seed``, ``config`` (the training settings), ``model_config``,
    ``step``, ``generator``, ``critic``,
    ``optimizer_generator``, ``optimizer_critic``, ``torch_rng`` (ByteTensor), ``numpy_rng`` (the
    bit generator state as JSON), ``validation_history`` (``[step, value]`` pairs), ``best_step``,
    ``best_value``, ``best_generator``, ``rollbacks``, ``lr_scale``, ``accumulators``,
    ``wall_time_s``.
    """
    import torch

    return torch.load(Path(path), map_location="cpu", weights_only=True)


def _to_cpu(obj):
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_cpu(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_to_cpu(v) for v in obj)
    return copy.deepcopy(obj)


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


def _capture(s: _State, generator, critic, opt_g, opt_c, torch_generator, rng, config, seed,
             model_config) -> dict[str, Any]:
    return {"format": CHECKPOINT_FORMAT, "uqgan_version": __version__, "seed": seed, "config": config.to_dict(),
            "model_config": copy.deepcopy(model_config),
            "step": s.step, "generator": _to_cpu(generator.state_dict()), "critic": _to_cpu(critic.state_dict()),
            "optimizer_generator": _to_cpu(opt_g.state_dict()), "optimizer_critic": _to_cpu(opt_c.state_dict()),
            "torch_rng": torch_generator.get_state().clone(), "numpy_rng": json.dumps(rng.bit_generator.state),
            "validation_history": [list(h) for h in s.history], "best_step": s.best_step, "best_value": s.best_value,
            "best_generator": _to_cpu(s.best_generator), "rollbacks": s.rollbacks, "lr_scale": s.lr_scale,
            "accumulators": dict(s.acc), "wall_time_s": s.wall_time_s}


def _restore_models(ck, generator, critic, opt_g, opt_c) -> None:
    try:
        generator.load_state_dict(ck["generator"])
        critic.load_state_dict(ck["critic"])
    except RuntimeError as err:
        raise ValueError(f"the checkpoint's networks do not match the ones being trained ({err}); resume with the "
                         "same network options or start in a new directory") from err
    opt_g.load_state_dict(copy.deepcopy(ck["optimizer_generator"]))  # the optimiser would alias the tensors
    opt_c.load_state_dict(copy.deepcopy(ck["optimizer_critic"]))


def _state_from(ck) -> _State:
    return _State(step=int(ck["step"]), history=[list(h) for h in ck["validation_history"]],
                  best_step=ck["best_step"], best_value=float(ck["best_value"]),
                  best_generator=_to_cpu(ck["best_generator"]), rollbacks=int(ck["rollbacks"]),
                  lr_scale=float(ck["lr_scale"]), wall_time_s=float(ck["wall_time_s"]), acc=dict(ck["accumulators"]))


def _write_checkpoint(ck: dict, directory: Path, keep: int | None) -> Path:
    import torch

    from ..data.io import write_atomic

    d = directory / "checkpoints"
    path = d / f"step_{ck['step']:07d}.pt"
    write_atomic(path, lambda tmp: torch.save(ck, tmp))
    if keep is not None:
        old = sorted(d.glob("step_*.pt"))[:-keep]
        for p in old:
            p.unlink(missing_ok=True)
    return path


def _truncate_metrics(path: Path, step: int) -> None:
    """Keep the header and the rows up to ``step`` (a resumed or rolled-back run rewrites the rest)."""
    from ..data.io import write_atomic

    if not path.is_file():
        _write_header(path)
        return
    lines = path.read_text().splitlines()
    keep = [ln for ln in lines[1:] if ln and int(ln.split(",")[0]) <= step]
    write_atomic(path, lambda tmp: tmp.write_text("\n".join([",".join(METRICS_COLUMNS), *keep]) + "\n"))


def _write_header(path: Path) -> None:
    from ..data.io import write_atomic

    write_atomic(path, lambda tmp: tmp.write_text(",".join(METRICS_COLUMNS) + "\n"))


def _check_resume_config(saved: dict, config: WGANTrainConfig) -> None:
    now = config.to_dict()
    saved = {"mean_penalty": 0.0, **saved}  # checkpoints from before the option trained without the penalty
    diff = [k for k in _TRAJECTORY_KEYS if saved.get(k) != now.get(k)]
    if diff:
        pairs = ", ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {now.get(k)!r}" for k in diff)
        raise ValueError(f"cannot resume: the settings differ from the checkpoint's ({pairs}); resume with the "
                         "checkpoint's settings or start in a new directory")


def _optimizers(config: WGANTrainConfig, generator, critic):
    import torch

    if config.loss == "gp":
        opt_c = torch.optim.Adam(critic.parameters(), lr=config.lr_critic, betas=config.betas)
        opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_generator, betas=config.betas)
    else:  # Arjovsky et al. 2017: RMSProp, no momentum
        opt_c = torch.optim.RMSprop(critic.parameters(), lr=config.lr_critic)
        opt_g = torch.optim.RMSprop(generator.parameters(), lr=config.lr_generator)
    return opt_g, opt_c


# ------------------------------------------------------------------------------------------------
def train_wgan(generator, critic, real: np.ndarray, cond: np.ndarray, config: WGANTrainConfig, *,
               torch_generator: torch.Generator, rng: np.random.Generator,
               validate: Callable[[Any], float] | None = None, directory: str | Path | None = None,
               resume: bool = False, device: str = "cpu", seed: int | None = None, num_threads: int | None = None,
               model_config: dict[str, Any] | None = None, show_progress: bool = False) -> TrainingResult:
    """Train ``generator`` against ``critic`` on ``(real, cond)`` pairs (WGAN-GP or weight clipping).

    Parameters
    ----------
    generator : torch module ``G(noise (B, generator.noise_dim), c (B, p)) -> (B, d)``
    critic : torch module ``D(x (B, d), c (B, p)) -> (B,)``
    real : ``(n, d)`` training samples; ``cond`` : ``(n, p)`` their conditioning (a minibatch draws
        rows with replacement; the fakes use the same ``c``)
    config : the settings (:class:`WGANTrainConfig`)
    torch_generator : the noise and interpolation weights (keyword-only; its state is checkpointed)
    rng : the minibatch indices (keyword-only; its state is checkpointed)
    validate : ``validate(generator) -> float``, lower is better (e.g. :class:`EnergyValidator`),
        called every ``log_every`` steps; the generator with the lowest value is the one left in the
        module at the end
    directory : where ``checkpoints/step_XXXXXXX.pt``, ``metrics.csv`` and ``training.png`` go
        (None: nothing is written; the divergence guard still rolls back in memory)
    resume : continue from the newest checkpoint in ``directory`` along the same trajectory
    device : torch device for the models and data (the random draws stay on the CPU)
    seed : recorded in the checkpoints
    model_config : the models' settings (plain JSON-like values), recorded in the checkpoints
    num_threads : torch CPU threads while training (restored afterwards; None leaves torch's
        setting). These small networks are overhead-bound: on a 2-core machine shared with other
        work, 1 thread ran the default network ~10x faster than 2 (20 vs 1.9 steps/s)
    show_progress : tqdm progress bar

    Returns
    -------
    TrainingResult

    Raises
    ------
    TrainingDiverged
        when a loss or the penalty is NaN/inf, or the penalty exceeds ``penalty_threshold``, more
        than ``max_rollbacks`` times. Each earlier time the models, optimisers and counters are
        rolled back to the last checkpoint (kept in memory), the learning rates are halved, and
        training continues with the next random draws (the random generators are not rolled back,
        or the same draws would diverge again).
    FileExistsError
        when ``directory`` already holds checkpoints and ``resume`` is False.
    """
    import torch

    threads = torch.get_num_threads()
    if num_threads is not None:
        if not (isinstance(num_threads, int) and num_threads >= 1):
            raise ValueError(f"num_threads={num_threads!r}: must be None or an integer >= 1")
        torch.set_num_threads(num_threads)
    try:
        return _train(generator, critic, real, cond, config, torch_generator=torch_generator, rng=rng,
                      validate=validate, directory=directory, resume=resume, device=device, seed=seed,
                      model_config=model_config, show_progress=show_progress)
    finally:
        torch.set_num_threads(threads)


def _train(generator, critic, real, cond, config, *, torch_generator, rng, validate, directory, resume, device, seed,
           model_config, show_progress) -> TrainingResult:
    import torch
    from tqdm.auto import tqdm

    if resume and directory is None:
        raise ValueError("resume=True needs the directory that holds the checkpoints")
    dev = torch.device(device)
    real = np.asarray(real, dtype=np.float32)
    cond = np.asarray(cond, dtype=np.float32)
    if real.ndim != 2 or cond.ndim != 2 or real.shape[0] != cond.shape[0] or real.shape[0] == 0:
        raise ValueError(f"train_wgan: real {real.shape} and cond {cond.shape} must be (n, d) and (n, p), n >= 1")
    n = real.shape[0]
    real_t = torch.from_numpy(real).to(dev)
    cond_t = torch.from_numpy(cond).to(dev)
    generator.to(dev)
    critic.to(dev)
    opt_g, opt_c = _optimizers(config, generator, critic)
    out_dir = Path(directory) if directory is not None else None
    metrics = out_dir / "metrics.csv" if out_dir is not None else None

    s = _State()
    if out_dir is not None:
        last = latest_checkpoint(out_dir)
        if resume and last is not None:
            ck = load_checkpoint(last)
            _check_resume_config(ck["config"], config)
            _restore_models(ck, generator, critic, opt_g, opt_c)
            torch_generator.set_state(ck["torch_rng"])
            rng.bit_generator.state = json.loads(ck["numpy_rng"])
            s = _state_from(ck)
            _truncate_metrics(metrics, s.step)
            logger.info("resumed from %s (step %d of %d)", last, s.step, config.steps)
        elif last is not None:
            raise FileExistsError(f"{out_dir} already holds checkpoints (newest {last.name}): pass resume=True to "
                                  "continue that run, or train into a new directory")
        else:
            if resume:
                logger.info("resume: no checkpoint in %s, starting at step 0", out_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
            _write_header(metrics)

    gp = config.loss == "gp"
    bs = config.batch_size
    noise_dim = int(generator.noise_dim)
    mean_part = getattr(generator, "correction", generator)  # the part whose conditional mean is penalised
    good = _capture(s, generator, critic, opt_g, opt_c, torch_generator, rng, config, seed, model_config)
    start_step, start_wall = s.step, s.wall_time_s
    t_start = time.perf_counter() - s.wall_time_s

    def batch():
        idx = torch.from_numpy(rng.integers(0, n, size=bs)).to(dev)
        noise = torch.randn(bs, noise_dim, generator=torch_generator).to(dev)
        return idx, noise

    def one_step() -> str | None:
        """n_critic critic steps and one generator step; a divergence cause or None."""
        critic.requires_grad_(True)
        for j in range(config.n_critic):
            idx, noise = batch()
            x, c = real_t[idx], cond_t[idx]
            with torch.no_grad():
                fake = generator(noise, c)
            w_neg = critic(fake, c).mean() - critic(x, c).mean()
            if gp:
                t = torch.rand(bs, *([1] * (x.dim() - 1)), generator=torch_generator).to(dev)
                pen = gradient_penalty(critic, x, fake, c, t=t)
                loss = w_neg + config.gp_lambda * pen
            else:
                pen = torch.zeros((), device=dev)
                loss = w_neg
            lv, pv = float(loss.detach()), float(pen.detach())
            where = f"step {s.step + 1} (critic iteration {j + 1} of {config.n_critic})"
            if not math.isfinite(lv):
                return f"{where}: critic loss is {lv}"
            if not math.isfinite(pv):
                return f"{where}: gradient penalty is {pv}"
            if pv > config.penalty_threshold:
                return f"{where}: gradient penalty {pv:.4g} exceeds penalty_threshold={config.penalty_threshold:g}"
            opt_c.zero_grad(set_to_none=True)
            loss.backward()
            opt_c.step()
            if not gp:
                with torch.no_grad():
                    for p in critic.parameters():
                        p.clamp_(-config.clip, config.clip)
            s.acc["critic"] += float(w_neg.detach())
            s.acc["penalty"] += pv
            s.acc["n_critic"] += 1
        critic.requires_grad_(False)
        idx, noise = batch()
        c = cond_t[idx]
        loss_g = -critic(generator(noise, c), c).mean()
        gv = float(loss_g.detach())
        if config.mean_penalty > 0:
            noise2 = torch.randn(bs, noise_dim, generator=torch_generator).to(dev)
            loss_g = loss_g + config.mean_penalty * conditional_mean_penalty(mean_part, c, noise=noise,
                                                                             noise2=noise2)
        lg = float(loss_g.detach())
        if not math.isfinite(lg):
            return f"step {s.step + 1} (generator update): generator loss is {lg}"
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        critic.requires_grad_(True)
        s.acc["generator"] += gv
        s.acc["n_generator"] += 1
        return None

    def log_row(value: float) -> None:
        a = s.acc
        nc, ng = a["n_critic"] or math.nan, a["n_generator"] or math.nan  # step 0: no losses yet
        row = (s.step, a["critic"] / nc, a["generator"] / ng, a["penalty"] / nc, value, s.wall_time_s)
        s.acc = _State().acc
        if metrics is not None:
            with metrics.open("a") as f:
                f.write(",".join([str(row[0]), *(f"{v:.8g}" for v in row[1:])]) + "\n")
        logger.debug("step %d: critic loss %.4g, generator loss %.4g, penalty %.4g, validation ED %.4g", *row[:5])
        pbar.set_postfix(W=f"{-row[1]:.3g}", ED=f"{value:.3g}", refresh=False)

    def validate_now() -> float:
        if validate is None:
            return float("nan")
        return float(validate(generator))

    def note_best(value: float) -> None:
        if validate is not None and math.isfinite(value) and value < s.best_value:
            s.best_value, s.best_step = value, s.step
            s.best_generator = _to_cpu(generator.state_dict())

    pbar = tqdm(total=config.steps, initial=min(s.step, config.steps), disable=not show_progress, desc="wgan",
                unit="step")
    if s.step == 0 and validate is not None and not s.history:
        # the initial generator competes too (for the zero-initialised correction it is the Gaussian model)
        value = validate_now()
        s.history.append([0, value])
        note_best(value)
        log_row(value)
        good = _capture(s, generator, critic, opt_g, opt_c, torch_generator, rng, config, seed, model_config)
    try:
        while s.step < config.steps:
            cause = one_step()
            value = float("nan")
            if cause is None:
                s.step += 1
                s.wall_time_s = time.perf_counter() - t_start
                if s.step % config.log_every == 0:
                    value = validate_now()
                    if validate is not None and not math.isfinite(value):
                        cause = f"step {s.step}: validation energy distance is {value} (the generator outputs NaN/inf)"
            if cause is not None:
                s.rollbacks += 1
                if s.rollbacks > config.max_rollbacks:
                    raise TrainingDiverged(
                        f"training diverged at {cause}; gave up after {config.max_rollbacks} rollback(s) "
                        f"(max_rollbacks={config.max_rollbacks}), each halving the learning rates (now x"
                        f"{s.lr_scale:g}). Lower lr, raise n_critic, check the data for NaN/inf, or allow more "
                        "rollbacks")
                rollbacks, lr_scale = s.rollbacks, s.lr_scale * 0.5
                _restore_models(good, generator, critic, opt_g, opt_c)
                s = _state_from(good)
                s.rollbacks, s.lr_scale = rollbacks, lr_scale
                for opt, lr in ((opt_g, config.lr_generator), (opt_c, config.lr_critic)):
                    for group in opt.param_groups:
                        group["lr"] = lr * s.lr_scale
                s.wall_time_s = time.perf_counter() - t_start  # the time lost stays on the clock
                if metrics is not None:
                    _truncate_metrics(metrics, s.step)
                pbar.n = s.step
                pbar.refresh()
                logger.warning("%s: rolled back to step %d, learning rates halved (critic %.3g, generator %.3g); "
                               "rollback %d of at most %d", cause, s.step, opt_c.param_groups[0]["lr"],
                               opt_g.param_groups[0]["lr"], s.rollbacks, config.max_rollbacks)
                continue
            pbar.update(1)
            if s.step % config.log_every == 0:
                if validate is not None:
                    s.history.append([s.step, value])
                    note_best(value)
                log_row(value)
            if s.step % config.checkpoint_every == 0 or s.step == config.steps:
                good = _capture(s, generator, critic, opt_g, opt_c, torch_generator, rng, config, seed, model_config)
                if out_dir is not None:
                    _write_checkpoint(good, out_dir, config.keep_checkpoints)
    finally:
        pbar.close()

    final_value = s.history[-1][1] if s.history and s.history[-1][0] == s.step else None
    if s.step > start_step and s.step % config.log_every != 0:
        # a last row (and validation) outside the checkpointed history, so a later resume sees the same one
        value = validate_now()
        log_row(value)
        if validate is not None:
            final_value = value
            note_best(value)
    if validate is not None and s.best_generator is not None and s.best_step != s.step:
        generator.load_state_dict(s.best_generator)
        logger.info("keeping the generator of step %d (validation energy distance %.4g; %.4g at the final step %d)",
                    s.best_step, s.best_value, final_value if final_value is not None else math.nan, s.step)
    best_step = s.best_step if (validate is not None and s.best_step is not None) else s.step
    result = TrainingResult(
        steps=s.step, best_step=best_step, best_validation=s.best_value if math.isfinite(s.best_value) else None,
        final_validation=final_value, rollbacks=s.rollbacks, wall_time_s=s.wall_time_s,
        lr_critic=opt_c.param_groups[0]["lr"], lr_generator=opt_g.param_groups[0]["lr"],
        history=[(int(a), float(b)) for a, b in s.history])
    if out_dir is not None and s.step > start_step:
        _plot_metrics(metrics, out_dir / "training.png", best_step=best_step)
    done = s.step - start_step
    if done:
        spent = s.wall_time_s - start_wall
        logger.info("trained %d generator steps in %.1f s (%.2f steps/s) on %s", done, spent,
                    done / max(spent, 1e-12), dev)
    return result


def _plot_metrics(csv_path: Path, png_path: Path, *, best_step: int | None) -> None:
    """Loss curves and the validation metric, ``training.png`` (matplotlib's Figure API, no pyplot)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is a hard dependency, but the plot is optional
        logger.warning("matplotlib is missing: no training.png")
        return
    from ..data.io import write_atomic

    data = np.genfromtxt(csv_path, delimiter=",", names=True, ndmin=1)
    if data.size == 0:
        return
    fig = Figure(figsize=(10, 6.5), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True)
    step = data["step"]
    panels = [(axes[0, 0], -data["critic_loss"], "Wasserstein estimate E[D(real)] − E[D(fake)]"),
              (axes[0, 1], data["generator_loss"], "generator loss −E[D(fake)]"),
              (axes[1, 0], data["penalty"], "gradient penalty"),
              (axes[1, 1], data["validation_energy_distance"], "validation energy distance")]
    for ax, y, title in panels:
        ax.plot(step, y, lw=1.2)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    if best_step is not None:
        axes[1, 1].axvline(best_step, color="C3", ls="--", lw=1, label=f"best step {best_step}")
        axes[1, 1].legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("generator step")
    write_atomic(png_path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
